//! Aggregates on SQLite against the hand-written floor, in one run on one machine.
//!
//! `CRM_BENCH_DEALS` deals (default 200,000; a few hundred under `cargo test`) are written
//! into a library SQLite file, and the same deals into a plain table of a second file the way
//! one would hand-write it (amounts as integer cents, dates as ISO text, an index on tenant
//! and status). Then, alternating, each question asked both ways:
//!
//! - `forecast_by_month`: open deals per currency and month of expected close, count and sum;
//! - `won_by_owner`: won deals per owner and currency, count, sum and average;
//! - `open_count_by_month`, `open_sum_by_currency`: the two halves of the first, apart;
//! - `count_by_status`: deals per status.
//!
//! The library's answer is exact (decimal sums) and goes through the plan, SQL, decoding and
//! finishing; the floor's is one prepared rusqlite statement. Medians of the alternating runs
//! and their ratio are printed at the end (what `BENCHMARKS.md` records).

use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{Days, NaiveDate, TimeZone, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use crm_core::aggregate::{Aggregate, Bucket};
use crm_core::entity::EntityKind;
use crm_core::ids::{DealId, PipelineId, StageId, TenantId, UserId};
use crm_core::model::{Deal, DealStatus, Entity, FieldRegistry, Record};
use crm_core::money::{Currency, Money};
use crm_core::query::Filter;
use crm_core::store::{Store, TxMode};
use crm_storage::SqlStore;
use rust_decimal::Decimal;
use tokio::runtime::Runtime;
use uuid::Uuid;

fn benchmarking() -> bool {
    std::env::args().any(|a| a == "--bench")
}

fn deals_wanted() -> usize {
    if !benchmarking() {
        return 300;
    }
    std::env::var("CRM_BENCH_DEALS").ok().and_then(|v| v.parse().ok()).unwrap_or(200_000)
}

/// One deal of the data set and its plain-table row (status, currency, cents, close date, owner).
struct Row {
    deal: Deal,
    status: &'static str,
    currency: &'static str,
    cents: i64,
    close: String,
    owner: Uuid,
}

fn data(t: TenantId, n: usize) -> Vec<Row> {
    let mut rng = fastrand::Rng::with_seed(0x9e37_79b9_7f4a_7c15);
    let owners: Vec<UserId> =
        (0..20).map(|i| UserId::from_uuid(Uuid::from_u128(0x0193_0000_0000_7000_8000_0000_0000_0000 + i))).collect();
    let pipeline = PipelineId::from_uuid(Uuid::from_u128(1));
    let stage = StageId::from_uuid(Uuid::from_u128(2));
    let base = NaiveDate::from_ymd_opt(2025, 1, 1).expect("date");
    let created = Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).single().expect("instant");
    (0..n)
        .map(|i| {
            let (status, st) = match rng.u64(..100) {
                0..60 => ("open", DealStatus::Open),
                60..85 => ("won", DealStatus::Won),
                _ => ("lost", DealStatus::Lost),
            };
            let (currency, cur) =
                [("EUR", Currency::EUR), ("USD", Currency::USD), ("GBP", Currency::GBP)][rng.usize(..3)];
            let cents = rng.i64(10_000..5_010_000);
            let close = base + Days::new(rng.u64(..730));
            let owner = owners[rng.usize(..20)];
            let deal = Deal {
                id: DealId::from_uuid(Uuid::from_u128(0x0194_0000_0000_7000_8000_0000_0000_0000 + i as u128)),
                tenant_id: t,
                version: 1,
                created_at: created,
                updated_at: created,
                name: format!("Deal {i}"),
                pipeline_id: pipeline,
                stage_id: stage,
                status: st,
                amount: Some(Money::new(Decimal::new(cents, 2), cur)),
                expected_close_date: Some(close),
                closed_at: (st != DealStatus::Open).then_some(created),
                contact_ids: Vec::new(),
                company_id: None,
                owner_id: Some(owner),
                line_items: Vec::new(),
                lost_reason: (st == DealStatus::Lost).then(|| "price".to_owned()),
                stage_history: Vec::new(),
                probability: None,
                forecast_category: None,
                lead_source: None,
                campaign_id: None,
                tags: Vec::new(),
                external_refs: Vec::new(),
                custom: Default::default(),
            };
            Row { deal, status, currency, cents, close: close.to_string(), owner: owner.into() }
        })
        .collect()
}

async fn library(path: &Path, t: TenantId, rows: &[Row]) -> SqlStore {
    let store = SqlStore::sqlite(path).await.expect("store");
    for chunk in rows.chunks(5_000) {
        let mut tx = store.begin(t, TxMode::ReadWrite).await.expect("begin");
        let records: Vec<Record> = chunk.iter().map(|r| r.deal.clone().into_record()).collect();
        tx.insert_many(&records).await.expect("insert");
        tx.commit().await.expect("commit");
    }
    store
}

fn floor(path: &Path, t: TenantId, rows: &[Row]) -> rusqlite::Connection {
    let mut c = rusqlite::Connection::open(path).expect("open");
    c.execute_batch(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;
         CREATE TABLE deals (tenant BLOB NOT NULL, id INTEGER NOT NULL, status TEXT NOT NULL, currency TEXT,
           amount_cents INTEGER, close_date TEXT, owner BLOB, PRIMARY KEY (tenant, id));
         CREATE INDEX ix_deals_status ON deals (tenant, status);",
    )
    .expect("schema");
    let tx = c.transaction().expect("tx");
    {
        let mut ins = tx.prepare("INSERT INTO deals VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)").expect("prepare");
        for (i, r) in rows.iter().enumerate() {
            ins.execute(rusqlite::params![
                t.as_uuid().as_bytes().to_vec(),
                i as i64,
                r.status,
                r.currency,
                r.cents,
                r.close,
                r.owner.as_bytes().to_vec()
            ])
            .expect("insert");
        }
    }
    tx.commit().expect("commit");
    c
}

/// One question: the library's aggregate and the floor's SQL.
struct Question {
    name: &'static str,
    aggregate: Aggregate,
    sql: &'static str,
}

fn questions() -> Vec<Question> {
    vec![
        Question {
            name: "forecast_by_month",
            aggregate: Aggregate::new(Filter::eq("status", "open"))
                .currency("amount")
                .bucket("expected_close_date", Bucket::Month)
                .count()
                .sum("amount"),
            sql: "SELECT currency, substr(close_date, 1, 7), COUNT(*), SUM(amount_cents) FROM deals
                  WHERE tenant = ?1 AND status = 'open' GROUP BY 1, 2",
        },
        Question {
            name: "won_by_owner",
            aggregate: Aggregate::new(Filter::eq("status", "won"))
                .group_by("owner_id")
                .currency("amount")
                .count()
                .sum("amount")
                .avg("amount"),
            sql: "SELECT owner, currency, COUNT(*), SUM(amount_cents), AVG(amount_cents) FROM deals
                  WHERE tenant = ?1 AND status = 'won' GROUP BY 1, 2",
        },
        Question {
            name: "open_count_by_month",
            aggregate: Aggregate::new(Filter::eq("status", "open"))
                .bucket("expected_close_date", Bucket::Month)
                .count(),
            sql: "SELECT substr(close_date, 1, 7), COUNT(*) FROM deals WHERE tenant = ?1 AND status = 'open' GROUP BY 1",
        },
        Question {
            name: "open_sum_by_currency",
            aggregate: Aggregate::new(Filter::eq("status", "open")).currency("amount").count().sum("amount"),
            sql: "SELECT currency, COUNT(*), SUM(amount_cents) FROM deals WHERE tenant = ?1 AND status = 'open' GROUP BY 1",
        },
        Question {
            name: "count_by_status",
            aggregate: Aggregate::default().group_by("status").count(),
            sql: "SELECT status, COUNT(*) FROM deals WHERE tenant = ?1 GROUP BY 1",
        },
    ]
}

fn run_library(rt: &Runtime, store: &SqlStore, t: TenantId, q: &Question) -> usize {
    let plan = q.aggregate.plan(EntityKind::Deal, &FieldRegistry::default()).expect("plan");
    rt.block_on(async {
        let mut tx = store.begin(t, TxMode::ReadOnly).await.expect("begin");
        tx.aggregate(&plan).await.expect("aggregate").len()
    })
}

fn run_floor(c: &rusqlite::Connection, t: TenantId, q: &Question) -> usize {
    let mut st = c.prepare_cached(q.sql).expect("prepare");
    let mut rows = st.query([t.as_uuid().as_bytes().to_vec()]).expect("query");
    let mut n = 0;
    while rows.next().expect("row").is_some() {
        n += 1;
    }
    n
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn bench(c: &mut Criterion) {
    let n = deals_wanted();
    let rt = Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let t = TenantId::from_uuid(Uuid::from_u128(0xa66));
    let rows = data(t, n);
    let store = rt.block_on(library(&dir.path().join("crm.db"), t, &rows));
    let plain = floor(&dir.path().join("plain.db"), t, &rows);

    drop(rows);
    let mut lines = Vec::new();
    for q in questions() {
        // The same groups both ways (the floor's month text and the library's bucket agree).
        assert_eq!(run_library(&rt, &store, t, &q), run_floor(&plain, t, &q), "{}", q.name);
        let mut g = c.benchmark_group("aggregate");
        g.sample_size(10);
        g.bench_function(format!("{}/library/{n}", q.name), |b| b.iter(|| run_library(&rt, &store, t, &q)));
        g.bench_function(format!("{}/floor/{n}", q.name), |b| b.iter(|| run_floor(&plain, t, &q)));
        g.finish();
        let repeats = if benchmarking() { 11 } else { 1 };
        let (mut lib, mut raw) = (Vec::new(), Vec::new());
        for _ in 0..repeats {
            let s = Instant::now();
            run_library(&rt, &store, t, &q);
            lib.push(s.elapsed());
            let s = Instant::now();
            run_floor(&plain, t, &q);
            raw.push(s.elapsed());
        }
        let (l, f) = (median(lib), median(raw));
        lines.push(format!(
            "| {} | {n} | {:.1} ms | {:.1} ms | {:.2}× |",
            q.name,
            l.as_secs_f64() * 1e3,
            f.as_secs_f64() * 1e3,
            l.as_secs_f64() / f.as_secs_f64().max(1e-9)
        ));
    }
    println!("\n| question | deals | library p50 | floor p50 | ratio |\n|---|---|---|---|---|");
    for l in lines {
        println!("{l}");
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
