//! Customer analytics on SQLite against hand-written floors, in one run on one machine: RFM
//! scoring, and customer lifetime value.
//!
//! `CRM_BENCH_ORDERS` orders (default 200,000; a few hundred under `cargo test`) by a fifth as
//! many customers (a few buy often: the customer is drawn with a skew), 85 % of them placed,
//! paid or fulfilled over two years, the rest cancelled or drafts, are written into a library
//! SQLite file, and the same orders into a plain table of a second file the way one would
//! hand-write it (totals as integer cents, instants as ISO text, an index on tenant and
//! placed_at). Then, alternating, the customers of the trailing twelve months are scored both
//! ways: `Customers::rfm` (one aggregate through the service, decoding, ranking in Rust,
//! segments) and one SQL statement (`GROUP BY` and `RANK()` window functions). Then every
//! customer's lifetime value, both ways: `Customers::clv` (one aggregate by contact and day
//! through the service, the models fitted, every customer predicted) and one hand-written
//! `GROUP BY contact, day` statement whose rows are folded into histories by hand and given
//! to the same models (the fit is the same work either way: the floor measures what the
//! library adds around it). Medians of the alternating runs and their ratios are printed at the
//! end (what `BENCHMARKS.md` records).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use crm_analytics::{BgNbd, ClvOptions, Customers, GammaGamma, Purchases, RfmOptions, Window};
use crm_core::actor::Actor;
use crm_core::ids::{ContactId, OrderId, TenantId};
use crm_core::model::{Entity, Order, OrderStatus, Record};
use crm_core::money::{Currency, Money};
use crm_core::service::{Crm, CrmBuilder};
use crm_core::store::{Store, TxMode};
use crm_core::testkit::fixtures;
use crm_storage::SqlStore;
use rust_decimal::Decimal;
use tokio::runtime::Runtime;
use uuid::Uuid;

fn benchmarking() -> bool {
    std::env::args().any(|a| a == "--bench")
}

fn orders_wanted() -> usize {
    if !benchmarking() {
        return 300;
    }
    std::env::var("CRM_BENCH_ORDERS").ok().and_then(|v| v.parse().ok()).unwrap_or(200_000)
}

/// The end of the window scored: the trailing twelve months before it.
fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).single().expect("instant")
}

/// An order and its plain-table row (contact, status, placed_at as ISO text or none, cents).
struct Row {
    order: Order,
    contact: Uuid,
    status: &'static str,
    placed: Option<String>,
    cents: i64,
}

fn data(t: TenantId, n: usize) -> Vec<Row> {
    let mut rng = fastrand::Rng::with_seed(0x2545_f491_4f6c_dd1d);
    let customers = (n / 5).max(1) as u64;
    let start = now() - chrono::Duration::days(730);
    (0..n)
        .map(|i| {
            // Squaring the draw skews it: low numbers (the whales) come up far more often.
            let draw = rng.u64(..customers);
            let contact =
                Uuid::from_u128(0x0195_0000_0000_7000_8000_0000_0000_0000 + (draw * draw / customers) as u128);
            let (status, st) = match rng.u64(..100) {
                0..40 => ("placed", OrderStatus::Placed),
                40..70 => ("paid", OrderStatus::Paid),
                70..85 => ("fulfilled", OrderStatus::Fulfilled),
                85..95 => ("cancelled", OrderStatus::Cancelled),
                _ => ("draft", OrderStatus::Draft),
            };
            let placed_at =
                (st != OrderStatus::Draft).then(|| start + chrono::Duration::minutes(rng.i64(0..730 * 1440)));
            // Each customer spends around their own mean (5–205 EUR), half to one and a half times it.
            let mean = 500 + (draw * draw / customers * 7_919 % 20_000) as i64;
            let cents = mean * rng.i64(50..150) / 100;
            let total = Money::new(Decimal::new(cents, 2), Currency::EUR);
            let created = placed_at.unwrap_or(start);
            // The fixture order, with this data set's id, number, status, times and total.
            let mut order = fixtures::order(t, ContactId::from_uuid(contact), &format!("SO-{i}"));
            order.id = OrderId::from_uuid(Uuid::from_u128(0x0196_0000_0000_7000_8000_0000_0000_0000 + i as u128));
            (order.created_at, order.updated_at) = (created, created);
            (order.status, order.placed_at, order.payment_method) = (st, placed_at, None);
            (order.lines, order.subtotal, order.tax, order.total) =
                (Vec::new(), total, Money::zero(Currency::EUR), total);
            let placed = placed_at.map(|p| p.format("%Y-%m-%dT%H:%M:%S").to_string());
            Row { order, contact, status, placed, cents }
        })
        .collect()
}

async fn library(path: &Path, t: TenantId, rows: &[Row]) -> Crm {
    let store = SqlStore::sqlite(path).await.expect("store");
    for chunk in rows.chunks(5_000) {
        let mut tx = store.begin(t, TxMode::ReadWrite).await.expect("begin");
        let records: Vec<Record> = chunk.iter().map(|r| r.order.clone().into_record()).collect();
        tx.insert_many(&records).await.expect("insert");
        tx.commit().await.expect("commit");
    }
    CrmBuilder::from_arc(Arc::new(store) as Arc<dyn Store>).build().expect("crm")
}

fn floor(path: &Path, t: TenantId, rows: &[Row]) -> rusqlite::Connection {
    let mut c = rusqlite::Connection::open(path).expect("open");
    c.execute_batch(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;
         CREATE TABLE orders (tenant BLOB NOT NULL, id INTEGER NOT NULL, contact BLOB, status TEXT NOT NULL,
           placed_at TEXT, total_cents INTEGER NOT NULL, PRIMARY KEY (tenant, id));
         CREATE INDEX ix_orders_placed ON orders (tenant, placed_at);",
    )
    .expect("schema");
    let tx = c.transaction().expect("tx");
    {
        let mut ins = tx.prepare("INSERT INTO orders VALUES (?1, ?2, ?3, ?4, ?5, ?6)").expect("prepare");
        for (i, r) in rows.iter().enumerate() {
            let tenant = t.as_uuid().as_bytes().to_vec();
            let contact = r.contact.as_bytes().to_vec();
            ins.execute(rusqlite::params![tenant, i as i64, contact, r.status, r.placed, r.cents]).expect("insert");
        }
    }
    tx.commit().expect("commit");
    c
}

fn window() -> Window {
    Window::trailing_months(now(), 12)
}

/// The library's scores: (recency, frequency, monetary) per customer, sorted.
fn run_library(rt: &Runtime, crm: &Crm, t: TenantId) -> Vec<(u8, u8, u8)> {
    let cx = crm.as_actor(&Actor::system(t));
    let o = RfmOptions { window: Some(window()), currency: Some(Currency::EUR), ..Default::default() };
    let report = rt.block_on(Customers::new(&cx).rfm(&o)).expect("rfm");
    let mut scores: Vec<(u8, u8, u8)> =
        report.customers.iter().map(|c| (c.rfm.recency, c.rfm.frequency, c.rfm.monetary)).collect();
    scores.sort();
    scores
}

/// The same scores by hand: one statement, ranks by window functions, integer arithmetic.
const FLOOR: &str = "
    WITH c AS (
      SELECT contact, MAX(placed_at) AS last, COUNT(*) AS n, SUM(total_cents) AS spent FROM orders
      WHERE tenant = ?1 AND status IN ('placed', 'paid', 'fulfilled') AND placed_at >= ?2 AND placed_at < ?3
      GROUP BY contact),
    r AS (SELECT RANK() OVER (ORDER BY last) - 1 AS r, RANK() OVER (ORDER BY n) - 1 AS f,
                 RANK() OVER (ORDER BY spent) - 1 AS m, MAX(COUNT(*) OVER () - 1, 1) AS d FROM c)
    SELECT 1 + MIN(4, r * 5 / d), 1 + MIN(4, f * 5 / d), 1 + MIN(4, m * 5 / d) FROM r";

fn run_floor(c: &rusqlite::Connection, t: TenantId) -> Vec<(u8, u8, u8)> {
    let w = window();
    let iso = |d: DateTime<Utc>| d.format("%Y-%m-%dT%H:%M:%S").to_string();
    let mut st = c.prepare_cached(FLOOR).expect("prepare");
    let rows = st
        .query_map(rusqlite::params![t.as_uuid().as_bytes().to_vec(), iso(w.from), iso(w.to)], |r| {
            Ok((r.get::<_, u8>(0)?, r.get::<_, u8>(1)?, r.get::<_, u8>(2)?))
        })
        .expect("query");
    let mut scores: Vec<(u8, u8, u8)> = rows.map(|r| r.expect("row")).collect();
    scores.sort();
    scores
}

/// The library's lifetime values: the fitted purchase model and the total predicted.
fn run_library_clv(rt: &Runtime, crm: &Crm, t: TenantId) -> (BgNbd, GammaGamma, usize) {
    let cx = crm.as_actor(&Actor::system(t));
    let o = ClvOptions { until: Some(now()), currency: Some(Currency::EUR), ..Default::default() };
    let r = rt.block_on(Customers::new(&cx).clv(&o)).expect("clv");
    let m = r.models.expect("fitted");
    (m.purchases, m.spend, r.customers.len())
}

/// Each customer's purchase days, by hand: one statement, folded in Rust.
const CLV_FLOOR: &str = "
    SELECT contact, substr(placed_at, 1, 10) AS day, SUM(total_cents) FROM orders
    WHERE tenant = ?1 AND status IN ('placed', 'paid', 'fulfilled') AND placed_at < ?2
    GROUP BY contact, day ORDER BY contact, day";

/// The same by hand: histories folded from the statement's rows, the same models fitted, every
/// customer predicted (like histories once).
fn run_floor_clv(c: &rusqlite::Connection, t: TenantId) -> (BgNbd, GammaGamma, usize) {
    let end = (now() - chrono::Duration::nanoseconds(1)).date_naive();
    let mut st = c.prepare_cached(CLV_FLOOR).expect("prepare");
    let iso = now().format("%Y-%m-%dT%H:%M:%S").to_string();
    let rows = st
        .query_map(rusqlite::params![t.as_uuid().as_bytes().to_vec(), iso], |r| {
            Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?))
        })
        .expect("query");
    // (first day, last day, days, first day's cents, all cents) per contact, in contact order.
    let mut customers: Vec<(Vec<u8>, chrono::NaiveDate, chrono::NaiveDate, u32, i64, i64)> = Vec::new();
    for row in rows {
        let (contact, day, cents) = row.expect("row");
        let day: chrono::NaiveDate = day.parse().expect("day");
        match customers.last_mut() {
            Some(c) if c.0 == contact => (c.2, c.3, c.5) = (day, c.3 + 1, c.5 + cents),
            _ => customers.push((contact, day, day, 1, cents, cents)),
        }
    }
    let histories: Vec<Purchases> = customers
        .iter()
        .map(|c| Purchases {
            repeats: c.3 - 1,
            recency: (c.2 - c.1).num_days() as f64,
            age: (end - c.1).num_days() as f64,
        })
        .collect();
    // The mean spend per repeat day as the library works it out: exactly, then as a float.
    let spends: Vec<f64> = customers
        .iter()
        .map(|c| {
            let repeats = Decimal::from(c.3.saturating_sub(1));
            let spent = Decimal::new(c.5 - c.4, 2);
            spent.checked_div(repeats).and_then(|s| rust_decimal::prelude::ToPrimitive::to_f64(&s)).unwrap_or(0.0)
        })
        .collect();
    let buyers: Vec<(u32, f64)> =
        histories.iter().zip(&spends).filter(|(h, _)| h.repeats > 0).map(|(h, s)| (h.repeats, *s)).collect();
    let (bg, _) = BgNbd::fit(&histories).expect("fit");
    let (gg, _) = GammaGamma::fit(&buyers).expect("fit");
    let mut seen = std::collections::HashMap::new();
    let mut total = 0.0;
    for (h, own) in histories.iter().zip(&spends) {
        let discounted = *seen.entry((h.repeats, h.recency.to_bits(), h.age.to_bits())).or_insert_with(|| {
            let (mut before, mut sum) = (0.0, 0.0);
            for month in 1..=12 {
                let by = bg.expected_purchases(h, 30.0 * f64::from(month));
                sum += (by - before) / 1.01f64.powi(month);
                before = by;
            }
            let _ = bg.p_alive(h);
            sum
        });
        total += discounted * gg.expected_spend(h.repeats, *own).unwrap_or(0.0);
    }
    assert!(total > 0.0);
    (bg, gg, customers.len())
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn bench(c: &mut Criterion) {
    let n = orders_wanted();
    let rt = Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let t = TenantId::from_uuid(Uuid::from_u128(0xbee));
    let rows = data(t, n);
    let crm = rt.block_on(library(&dir.path().join("crm.db"), t, &rows));
    let plain = floor(&dir.path().join("plain.db"), t, &rows);
    drop(rows);

    // Both ways score every customer alike.
    let scores = run_library(&rt, &crm, t);
    assert!(!scores.is_empty());
    assert_eq!(scores, run_floor(&plain, t));
    let mut g = c.benchmark_group("rfm");
    g.sample_size(10);
    g.bench_function(format!("library/{n}"), |b| b.iter(|| run_library(&rt, &crm, t)));
    g.bench_function(format!("floor/{n}"), |b| b.iter(|| run_floor(&plain, t)));
    g.finish();
    let repeats = if benchmarking() { 11 } else { 1 };
    let (mut lib, mut raw) = (Vec::new(), Vec::new());
    for _ in 0..repeats {
        let s = Instant::now();
        run_library(&rt, &crm, t);
        lib.push(s.elapsed());
        let s = Instant::now();
        run_floor(&plain, t);
        raw.push(s.elapsed());
    }
    let rfm = (median(lib), median(raw));

    // Lifetime value: both ways fit the same models to the same histories.
    let (bg, gg, customers) = run_library_clv(&rt, &crm, t);
    assert_eq!((bg, gg, customers), run_floor_clv(&plain, t));
    let mut g = c.benchmark_group("clv");
    g.sample_size(10);
    g.bench_function(format!("library/{n}"), |b| b.iter(|| run_library_clv(&rt, &crm, t)));
    g.bench_function(format!("floor/{n}"), |b| b.iter(|| run_floor_clv(&plain, t)));
    g.finish();
    let (mut lib, mut raw) = (Vec::new(), Vec::new());
    for _ in 0..repeats {
        let s = Instant::now();
        run_library_clv(&rt, &crm, t);
        lib.push(s.elapsed());
        let s = Instant::now();
        run_floor_clv(&plain, t);
        raw.push(s.elapsed());
    }
    let clv = (median(lib), median(raw));
    println!("\n| question | orders | customers | library p50 | floor p50 | ratio |\n|---|---|---|---|---|---|");
    for (what, count, (l, f)) in [("RFM, trailing 12 months", scores.len(), rfm), ("CLV, all history", customers, clv)]
    {
        println!(
            "| {what} | {n} | {count} | {:.1} ms | {:.1} ms | {:.2}× |",
            l.as_secs_f64() * 1e3,
            f.as_secs_f64() * 1e3,
            l.as_secs_f64() / f.as_secs_f64().max(1e-9)
        );
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
