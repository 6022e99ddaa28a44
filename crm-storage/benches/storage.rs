//! crm-storage benchmarks against the raw floor, in one run on one machine.
//!
//! - `import/*`: 100,000 contacts (`CRM_BENCH_ROWS`) imported through the library
//!   (`Contacts::import`, batches of 1,000: validation, events, search index) into a fresh
//!   SQLite file, vs the floor: plain rusqlite writing *the same rows* (read back from a
//!   library-written database) into the same tables and indexes (contact row, search rows,
//!   outbox rows), one transaction, prepared statements. With feature `postgres` and
//!   `CRM_PG_URL`, the same on PostgreSQL, vs `COPY … FROM STDIN` of the same rows.
//! - `list/*` and `search/*`: the page of 50 contacts of one lifecycle stage and custom
//!   region, newest first, and a two-word full-text search, through the library, at 100,000
//!   and 1,000,000 contacts (`CRM_BENCH_BIG`; 0 skips the big database).
//!
//! Besides criterion's report, a summary with rows/s, ratios and p50/p99 latencies is printed
//! at the end and written to `target/crm-bench/summary.md` (what `BENCHMARKS.md` records).
//! Run with `scripts/bench.sh`.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use crm_core::query::Query;
use crm_core::{
    actor::Actor, entity::EntityKind, ids::TenantId, ids::UserId, model::FieldDefinition, model::FieldType,
    profile::LifecycleStage, query::Filter, service::Crm, service::ImportOptions, service::NewContact,
    service::NewUser, service::Session,
};
use crm_storage::SqlStore;
use rusqlite::types::Value as RValue;
use tokio::runtime::Runtime;
use uuid::Uuid;

const GIVEN: [&str; 40] = [
    "Ada",
    "Alan",
    "Grace",
    "Linus",
    "Barbara",
    "Dennis",
    "Ken",
    "Margaret",
    "Edsger",
    "Donald",
    "Frances",
    "John",
    "Radia",
    "Tim",
    "Katherine",
    "Claude",
    "Hedy",
    "Niklaus",
    "Leslie",
    "Shafi",
    "Yukihiro",
    "Guido",
    "Bjarne",
    "Anita",
    "Sophie",
    "Karen",
    "Jean",
    "Mary",
    "Fran",
    "Annie",
    "Evelyn",
    "Ruth",
    "Betty",
    "Kathleen",
    "Marlyn",
    "Susan",
    "Carol",
    "Ida",
    "Lynn",
    "Joan",
];
const FAMILY: [&str; 60] = [
    "Lovelace",
    "Turing",
    "Hopper",
    "Torvalds",
    "Liskov",
    "Ritchie",
    "Thompson",
    "Hamilton",
    "Dijkstra",
    "Knuth",
    "Allen",
    "Backus",
    "Perlman",
    "Lee",
    "Johnson",
    "Shannon",
    "Lamarr",
    "Wirth",
    "Lamport",
    "Goldwasser",
    "Matsumoto",
    "Rossum",
    "Stroustrup",
    "Borg",
    "Wilson",
    "Jones",
    "Sammet",
    "Keller",
    "Bilas",
    "Easley",
    "Clarke",
    "Teitelbaum",
    "Holberton",
    "Booth",
    "Wescoff",
    "Kare",
    "Shaw",
    "Rhodes",
    "Conway",
    "Clark",
    "Sutherland",
    "Engelbart",
    "Kay",
    "Cerf",
    "Kahn",
    "Metcalfe",
    "Postel",
    "Baran",
    "Davies",
    "Kleinrock",
    "Hellman",
    "Diffie",
    "Rivest",
    "Shamir",
    "Adleman",
    "Merkle",
    "Bernstein",
    "Gosling",
    "Hejlsberg",
    "Pike",
];
const STAGES: [LifecycleStage; 6] = [
    LifecycleStage::Subscriber,
    LifecycleStage::Lead,
    LifecycleStage::MarketingQualifiedLead,
    LifecycleStage::SalesQualifiedLead,
    LifecycleStage::Opportunity,
    LifecycleStage::Customer,
];
const REGIONS: [&str; 5] = ["north", "south", "east", "west", "central"];
/// Tables a contact import writes (SQLite), in insert order.
const SQLITE_TABLES: [&str; 5] = ["contacts", "crm_search_docs", "crm_search", "crm_events", "crm_event_touches"];

/// `cargo bench` passes `--bench`; under `cargo test --all-targets` the benchmarks run once
/// each as a smoke test, on small databases.
fn benchmarking() -> bool {
    std::env::args().any(|a| a == "--bench")
}

fn env_usize(name: &str, default: usize) -> usize {
    if !benchmarking() {
        return if name == "CRM_BENCH_BIG" { 0 } else { 300 };
    }
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn tenant() -> TenantId {
    TenantId::from_uuid(Uuid::from_u128(0x0193_0000_0000_7000_8000_0000_0000_be4c))
}

/// Contact `i` of the data set: names repeat (40 × 60 pairs), e-mails and phones vary,
/// stage and region cycle independently.
fn contact(i: usize) -> NewContact {
    let given = GIVEN[i % GIVEN.len()];
    let family = FAMILY[(i / GIVEN.len()) % FAMILY.len()];
    NewContact::new(given, family)
        .email(format!("{}.{}{i}@example{}.com", given.to_lowercase(), family.to_lowercase(), i % 50))
        .phone(format!("+44 20 7946 0{:03}", i % 1000))
        .lifecycle_stage(STAGES[i % STAGES.len()])
        .tag(if i.is_multiple_of(3) { "newsletter" } else { "trade-show" })
        .custom("region", REGIONS[(i / 7) % REGIONS.len()])
}

fn session(store: SqlStore) -> Session {
    Crm::new(store).as_actor(&Actor::system(tenant()))
}

/// How many users own the queries benchmark's contacts (runs of six contacts, one of each
/// stage, go to each user in turn, so each owns 1 % of every stage).
const OWNERS: usize = 100;

/// The owners of the queries benchmark's contacts; the first is a sales rep, the second an
/// administrator, the others plain users.
async fn define_owners(cx: &Session) -> Vec<UserId> {
    let mut owners = Vec::with_capacity(OWNERS);
    for u in 0..OWNERS {
        let mut user = NewUser::new(format!("Owner {u}"), format!("owner{u}@bench.example"));
        user = match u {
            0 => user.role("sales_rep"),
            1 => user.role("administrator"),
            _ => user,
        };
        owners.push(cx.users().create(user).await.expect("create owner").id);
    }
    owners
}

async fn define_region(cx: &Session) {
    let options = REGIONS.iter().map(|r| r.to_string()).collect();
    cx.custom_fields()
        .define(FieldDefinition::new(EntityKind::Contact, "region", "Region", FieldType::Enum { options }))
        .await
        .expect("define region");
}

/// A fresh library database at `path`, with the custom field defined.
async fn fresh(path: &Path) -> Session {
    let cx = session(SqlStore::sqlite(path).await.expect("open"));
    define_region(&cx).await;
    cx
}

/// Imports contacts `0..n`, owned in turn by `owners` (none when empty).
async fn import(cx: &Session, n: usize, owners: &[UserId]) -> Duration {
    let started = Instant::now();
    let rows = (0..n).map(|i| match owners {
        [] => contact(i),
        _ => contact(i).owner(owners[(i / STAGES.len()) % owners.len()]),
    });
    let report = cx.contacts().import(rows, &ImportOptions::default().batch_size(1000), |_| {}).await.expect("import");
    let took = started.elapsed();
    assert_eq!(report.imported.len(), n, "every row imports");
    took
}

/// Every row of the tables an import writes, as rusqlite values (the floor's input).
struct Rows {
    tables: Vec<(String, Vec<String>, Vec<Vec<RValue>>)>,
}

fn read_rows(path: &Path) -> Rows {
    let conn = rusqlite::Connection::open(path).expect("open source");
    let mut tables = Vec::new();
    for table in SQLITE_TABLES {
        let sql = if table == "crm_search" {
            "SELECT rowid, body FROM crm_search".into()
        } else {
            format!("SELECT * FROM {table}")
        };
        let mut stmt = conn.prepare(&sql).expect("select");
        let cols: Vec<String> = stmt.column_names().iter().map(|c| c.to_string()).collect();
        let n = cols.len();
        let rows = stmt
            .query_map([], |row| (0..n).map(|i| row.get::<_, RValue>(i)).collect::<rusqlite::Result<Vec<_>>>())
            .expect("query")
            .collect::<rusqlite::Result<Vec<_>>>()
            .expect("rows");
        tables.push((table.to_string(), cols, rows));
    }
    Rows { tables }
}

/// The floor: the same rows into the same (fresh, library-made) schema with plain rusqlite.
fn raw_insert(path: &Path, rows: &Rows) -> Duration {
    let mut conn = rusqlite::Connection::open(path).expect("open");
    conn.pragma_update(None, "journal_mode", "WAL").expect("wal");
    conn.pragma_update(None, "synchronous", "NORMAL").expect("sync");
    let started = Instant::now();
    let tx = conn.transaction().expect("begin");
    for (table, cols, values) in &rows.tables {
        let slots = vec!["?"; cols.len()].join(", ");
        let sql = format!("INSERT INTO {table} ({}) VALUES ({slots})", cols.join(", "));
        let mut stmt = tx.prepare(&sql).expect("prepare");
        for row in values {
            stmt.execute(rusqlite::params_from_iter(row.iter())).expect("insert");
        }
    }
    tx.execute(
        "INSERT INTO crm_tenants (tenant_id, last_seq) VALUES (?1, ?2)",
        rusqlite::params![tenant().as_uuid().as_bytes().to_vec(), rows.tables[3].2.len() as i64],
    )
    .expect("counter");
    tx.commit().expect("commit");
    started.elapsed()
}

/// Measured durations per benchmark, for the summary.
static SAMPLES: Mutex<Vec<(String, Duration)>> = Mutex::new(Vec::new());

fn record(name: &str, d: Duration) {
    SAMPLES.lock().expect("samples").push((name.to_string(), d));
}

fn median(name: &str) -> Option<Duration> {
    let mut v: Vec<Duration> =
        SAMPLES.lock().expect("samples").iter().filter(|(n, _)| n == name).map(|(_, d)| *d).collect();
    v.sort();
    v.get(v.len() / 2).copied()
}

static SUMMARY: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn summary(line: String) {
    println!("{line}");
    SUMMARY.lock().expect("summary").push(line);
}

fn rt() -> Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime")
}

fn bench_import(c: &mut Criterion) {
    let n = env_usize("CRM_BENCH_ROWS", 100_000);
    let rt = rt();
    let dir = tempfile::tempdir().expect("tempdir");
    let source = dir.path().join("source.db");
    rt.block_on(async {
        let cx = fresh(&source).await;
        import(&cx, n, &[]).await;
    });
    let rows = read_rows(&source);
    let counter = std::sync::atomic::AtomicUsize::new(0);
    let next_path = || dir.path().join(format!("db{}.db", counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed)));

    let mut g = c.benchmark_group("import");
    g.sampling_mode(SamplingMode::Flat).sample_size(10).warm_up_time(Duration::from_millis(1));
    g.measurement_time(Duration::from_secs(30)).throughput(Throughput::Elements(n as u64));
    g.bench_function(BenchmarkId::new("sqlite_library", n), |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let path = next_path();
                let d = rt.block_on(async {
                    let cx = fresh(&path).await;
                    import(&cx, n, &[]).await
                });
                record("import_sqlite_library", d);
                total += d;
                remove_db(&path);
            }
            total
        })
    });
    g.bench_function(BenchmarkId::new("sqlite_rusqlite_floor", n), |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let path = next_path();
                // The same schema, made by the library, without any row.
                rt.block_on(async { drop(SqlStore::sqlite(&path).await.expect("open")) });
                let d = raw_insert(&path, &rows);
                record("import_sqlite_floor", d);
                total += d;
                remove_db(&path);
            }
            total
        })
    });
    g.finish();
    report_import("SQLite", "import_sqlite_library", "import_sqlite_floor", "rusqlite, prepared, one transaction", n);
}

fn remove_db(path: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(p));
    }
}

fn report_import(engine: &str, lib: &str, floor: &str, floor_desc: &str, n: usize) {
    if let (Some(l), Some(f)) = (median(lib), median(floor)) {
        let rate = |d: Duration| n as f64 / d.as_secs_f64();
        summary(format!(
            "| import {n} contacts, {engine} | library {:.2} s ({:.0} rows/s) | floor ({floor_desc}) {:.2} s ({:.0} rows/s) | library/floor throughput **{:.2}×** |",
            l.as_secs_f64(),
            rate(l),
            f.as_secs_f64(),
            rate(f),
            rate(l) / rate(f)
        ));
    }
}

/// The list query of the benchmark: one stage, one region, newest first, a page of 50.
fn list_query(i: usize) -> Query {
    Query::new(
        Filter::eq("lifecycle_stage", STAGES[i % STAGES.len()].as_str())
            .and(Filter::eq("custom.region", REGIONS[(i / STAGES.len()) % REGIONS.len()])),
    )
    .sort_desc("updated_at")
    .limit(50)
}

/// The search of the benchmark: the given and family name of a stored contact, picked
/// across the table (about n / 2400 contacts share both).
fn search_text(i: usize, n: usize) -> String {
    let row = (i * 7919) % n;
    format!("{} {}", GIVEN[row % GIVEN.len()], FAMILY[(row / GIVEN.len()) % FAMILY.len()])
}

/// p50 and p99 of `iterations` calls of `f(i)`.
fn percentiles<F, Fut>(rt: &Runtime, iterations: usize, f: F) -> (Duration, Duration)
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = usize>,
{
    let mut v = Vec::with_capacity(iterations);
    rt.block_on(async {
        for i in 0..iterations {
            let started = Instant::now();
            let found = f(i).await;
            v.push(started.elapsed());
            assert!(found > 0, "query {i} found nothing");
        }
    });
    v.sort();
    (v[iterations / 2], v[iterations * 99 / 100])
}

fn bench_queries(c: &mut Criterion) {
    let rt = rt();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut sizes = vec![env_usize("CRM_BENCH_ROWS", 100_000)];
    let big = env_usize("CRM_BENCH_BIG", 1_000_000);
    if big > 0 {
        sizes.push(big);
    }
    for n in sizes {
        let path = dir.path().join(format!("q{n}.db"));
        let (crm, owners) = rt.block_on(async {
            let crm = Crm::new(SqlStore::sqlite(&path).await.expect("open"));
            let cx = crm.as_actor(&Actor::system(tenant()));
            define_region(&cx).await;
            let owners = define_owners(&cx).await;
            let took = import(&cx, n, &owners).await;
            println!("built {n} contacts in {took:?}");
            (crm, owners)
        });
        let cx = Arc::new(crm.as_actor(&Actor::system(tenant())));
        let mut g = c.benchmark_group("queries");
        g.sample_size(50).measurement_time(Duration::from_secs(5));
        let i = std::sync::atomic::AtomicUsize::new(0);
        let next = || i.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        g.bench_function(BenchmarkId::new("list_stage_region_page50", n), |b| {
            b.to_async(&rt).iter(|| {
                let (cx, q) = (cx.clone(), list_query(next()));
                async move { cx.contacts().list(&q).await.expect("list").items.len() }
            })
        });
        g.bench_function(BenchmarkId::new("search_two_words", n), |b| {
            b.to_async(&rt).iter(|| {
                let (cx, q) = (cx.clone(), search_text(next(), n));
                async move { cx.search(&q).await.expect("search").len() }
            })
        });
        g.finish();
        let runs = if benchmarking() { 2000 } else { 20 };
        let (p50, p99) = percentiles(&rt, runs, |i| {
            let (cx, q) = (cx.clone(), list_query(i));
            async move { cx.contacts().list(&q).await.expect("list").items.len() }
        });
        summary(format!(
            "| list (stage + custom region, updated_at desc, 50) at {n} contacts, SQLite | p50 {:.2} ms | p99 {:.2} ms |",
            ms(p50),
            ms(p99)
        ));
        let (p50, p99) = percentiles(&rt, runs, |i| {
            let (cx, q) = (cx.clone(), search_text(i, n));
            async move { cx.search(&q).await.expect("search").len() }
        });
        summary(format!(
            "| search (two words) at {n} contacts, SQLite | p50 {:.2} ms | p99 {:.2} ms |",
            ms(p50),
            ms(p99)
        ));
        scoped_lists(&rt, &crm, &owners, n, runs);
        drop((cx, crm));
        remove_db(&path);
    }
}

/// A sales rep's lists (their own contacts, 1 % of all) beside the same lists for an
/// administrator (every contact), in the same run: newest first, all and one stage, 50.
fn scoped_lists(rt: &Runtime, crm: &Crm, owners: &[UserId], n: usize, runs: usize) {
    let all = |_: usize| Query::default().sort_desc("updated_at").limit(50);
    let stage = |i: usize| {
        Query::new(Filter::eq("lifecycle_stage", STAGES[i % STAGES.len()].as_str())).sort_desc("updated_at").limit(50)
    };
    let queries: [(&str, &dyn Fn(usize) -> Query); 2] = [("all", &all), ("one stage", &stage)];
    for (name, query) in queries {
        let mut measured = Vec::new();
        for (who, user) in [("administrator", owners[1]), ("sales rep", owners[0])] {
            let cx = Arc::new(crm.as_actor(&Actor::user(tenant(), user)));
            let (p50, p99) = percentiles(rt, runs, |i| {
                let (cx, q) = (cx.clone(), query(i));
                async move {
                    let page = cx.contacts().list(&q).await.expect("list");
                    assert!(page.items.iter().all(|c| who != "sales rep" || c.owner_id == Some(user)));
                    page.items.len()
                }
            });
            measured.push((who, p50, p99));
        }
        let (_, admin50, admin99) = measured[0];
        for (who, p50, p99) in measured {
            summary(format!(
                "| list ({name}, updated_at desc, 50) at {n} contacts as {who}, SQLite | p50 {:.2} ms | p99 {:.2} ms | \
                 p50 {:.2}× / p99 {:.2}× the administrator's |",
                ms(p50),
                ms(p99),
                p50.as_secs_f64() / admin50.as_secs_f64(),
                p99.as_secs_f64() / admin99.as_secs_f64()
            ));
        }
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[cfg(feature = "postgres")]
mod pg {
    use super::*;
    use sea_orm::ConnectionTrait;
    use sea_orm::sqlx::{Connection, PgConnection};

    /// Tables a contact import writes on PostgreSQL, with the columns COPY carries.
    const TABLES: [(&str, &str); 4] = [
        ("contacts", "*"),
        ("crm_search", "tenant_id, kind, id, body"),
        ("crm_events", "*"),
        ("crm_event_touches", "*"),
    ];

    /// One table's rows as COPY text: table, columns, bytes.
    type Dump = (String, String, Vec<u8>);

    /// A URL whose connections use `schema`, made fresh.
    async fn schema_url(base: &str, schema: &str) -> String {
        let db = sea_orm::Database::connect(base).await.expect("connect");
        db.execute_unprepared(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"))
            .await
            .expect("schema");
        let sep = if base.contains('?') { '&' } else { '?' };
        format!("{base}{sep}options=-csearch_path%3D{schema}")
    }

    async fn fresh_pg(base: &str, schema: &str) -> (Session, String) {
        let url = schema_url(base, schema).await;
        let cx = session(SqlStore::postgres(&url).await.expect("open"));
        define_region(&cx).await;
        (cx, url)
    }

    /// The columns of `table` in `COPY` (all but generated ones).
    async fn columns(conn: &mut PgConnection, table: &str, cols: &str) -> String {
        if cols != "*" {
            return cols.to_string();
        }
        let names: Vec<(String,)> = sea_orm::sqlx::query_as(
            "SELECT column_name::text FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
        )
        .bind(table)
        .fetch_all(conn)
        .await
        .expect("columns");
        names.into_iter().map(|(n,)| format!("\"{n}\"")).collect::<Vec<_>>().join(", ")
    }

    pub fn bench(c: &mut Criterion) {
        let Ok(base) = std::env::var("CRM_PG_URL") else {
            println!("CRM_PG_URL not set: PostgreSQL benchmarks skipped");
            return;
        };
        let n = env_usize("CRM_BENCH_ROWS", 100_000);
        let rt = rt();
        // The floor's input: the rows a library import wrote, as COPY text.
        let (source, source_url, dump): (Session, String, Vec<Dump>) = rt.block_on(async {
            let (cx, url) = fresh_pg(&base, "bench_source").await;
            import(&cx, n, &[]).await;
            let mut conn = PgConnection::connect(&url).await.expect("connect");
            let mut out = Vec::new();
            for (table, cols) in TABLES {
                let cols = columns(&mut conn, table, cols).await;
                let mut stream =
                    conn.copy_out_raw(&format!("COPY (SELECT {cols} FROM {table}) TO STDOUT")).await.expect("copy out");
                let mut bytes = Vec::new();
                use futures::StreamExt;
                while let Some(chunk) = stream.next().await {
                    bytes.extend_from_slice(&chunk.expect("chunk"));
                }
                drop(stream);
                out.push((table.to_string(), cols, bytes));
            }
            (cx, url, out)
        });
        let events = dump[2].2.iter().filter(|b| **b == b'\n').count() as i64;
        let mut g = c.benchmark_group("import");
        g.sampling_mode(SamplingMode::Flat).sample_size(10).warm_up_time(Duration::from_millis(1));
        g.measurement_time(Duration::from_secs(30)).throughput(Throughput::Elements(n as u64));
        g.bench_function(BenchmarkId::new("postgres_library", n), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let d = rt.block_on(async {
                        let (cx, _) = fresh_pg(&base, "bench_lib").await;
                        import(&cx, n, &[]).await
                    });
                    record("import_pg_library", d);
                    total += d;
                }
                total
            })
        });
        g.bench_function(BenchmarkId::new("postgres_copy_floor", n), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let d = rt.block_on(async {
                        let url = schema_url(&base, "bench_floor").await;
                        drop(SqlStore::postgres(&url).await.expect("open"));
                        let mut conn = PgConnection::connect(&url).await.expect("connect");
                        let started = Instant::now();
                        let mut tx = conn.begin().await.expect("begin");
                        for (table, cols, bytes) in &dump {
                            let mut copy =
                                tx.copy_in_raw(&format!("COPY {table} ({cols}) FROM STDIN")).await.expect("copy in");
                            copy.send(bytes.as_slice()).await.expect("send");
                            copy.finish().await.expect("finish");
                        }
                        sea_orm::sqlx::query("INSERT INTO crm_tenants (tenant_id, last_seq) VALUES ($1, $2)")
                            .bind(tenant().as_uuid())
                            .bind(events)
                            .execute(&mut *tx)
                            .await
                            .expect("counter");
                        tx.commit().await.expect("commit");
                        started.elapsed()
                    });
                    record("import_pg_floor", d);
                    total += d;
                }
                total
            })
        });
        g.finish();
        report_import("PostgreSQL", "import_pg_library", "import_pg_floor", "COPY FROM STDIN, one transaction", n);
        lists(&rt, source, &source_url, n);
    }

    /// The hand-written floor of a list: the same page's rows (`data`, one more than the page)
    /// straight from SQL, undecoded.
    const NEWEST_SQL: &str = "SELECT data FROM contacts WHERE tenant_id = $1 \
                              ORDER BY updated_at DESC NULLS LAST, id LIMIT 51";
    const STAGE_REGION_SQL: &str = "SELECT data FROM contacts WHERE tenant_id = $1 AND lifecycle_stage = $2 \
                                    AND (custom ->> 'region') COLLATE \"C\" = $3 \
                                    ORDER BY updated_at DESC NULLS LAST, id LIMIT 51";

    /// Lists of 50 at `n` contacts through the library and by hand-written SQL, alternating, in
    /// one run: newest first over all contacts, and one stage and region newest first.
    fn lists(rt: &Runtime, cx: Session, url: &str, n: usize) {
        let cx = Arc::new(cx);
        let conn =
            Arc::new(tokio::sync::Mutex::new(rt.block_on(PgConnection::connect(url)).expect("connect for the floor")));
        rt.block_on(async {
            sea_orm::sqlx::query("ANALYZE").execute(&mut *conn.lock().await).await.expect("analyze");
        });
        let runs = if benchmarking() { 2000 } else { 20 };
        for round in 1..=2 {
            for case in LIST_CASES {
                let (lib50, lib99) = percentiles(rt, runs, |i| {
                    let (cx, q) = (cx.clone(), (case.query)(i));
                    async move { cx.contacts().list(&q).await.expect("list").items.len() }
                });
                let (raw50, raw99) = percentiles(rt, runs, |i| {
                    let conn = conn.clone();
                    async move {
                        let mut conn = conn.lock().await;
                        let mut q = sea_orm::sqlx::query_as::<_, (String,)>(case.sql).bind(tenant().as_uuid());
                        for p in (case.params)(i) {
                            q = q.bind(p);
                        }
                        q.fetch_all(&mut *conn).await.expect("floor").len()
                    }
                });
                summary(format!(
                    "| list ({}) at {n} contacts, PostgreSQL, round {round} | p50 {:.2} ms | p99 {:.2} ms | hand-written SQL p50 {:.2} ms, p99 {:.2} ms | p50 ratio {:.2} |",
                    case.label,
                    ms(lib50),
                    ms(lib99),
                    ms(raw50),
                    ms(raw99),
                    ms(lib50) / ms(raw50)
                ));
            }
        }
    }

    /// A list of the comparison: the library's query of call `i`, and the hand-written
    /// statement with its parameters after the tenant.
    struct ListCase {
        label: &'static str,
        query: fn(usize) -> Query,
        sql: &'static str,
        params: fn(usize) -> Vec<String>,
    }

    const LIST_CASES: [ListCase; 2] = [
        ListCase {
            label: "all, updated_at desc, 50",
            query: |_| Query::new(Filter::All).sort_desc("updated_at").limit(50),
            sql: NEWEST_SQL,
            params: |_| Vec::new(),
        },
        ListCase {
            label: "stage + custom region, updated_at desc, 50",
            query: list_query,
            sql: STAGE_REGION_SQL,
            params: |i| {
                let region = REGIONS[(i / STAGES.len()) % REGIONS.len()];
                vec![STAGES[i % STAGES.len()].as_str().to_owned(), format!("t:{region}")]
            },
        },
    ];
}

fn bench_postgres(_c: &mut Criterion) {
    #[cfg(feature = "postgres")]
    pg::bench(_c);
}

fn write_summary(_c: &mut Criterion) {
    let lines = SUMMARY.lock().expect("summary").join("\n");
    if !benchmarking() {
        return;
    }
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/crm-bench");
    let _ = std::fs::create_dir_all(&dir);
    let _ = std::fs::write(dir.join("summary.md"), format!("{lines}\n"));
    println!("\nSummary (also in target/crm-bench/summary.md):\n{lines}");
}

criterion_group!(benches, bench_import, bench_postgres, bench_queries, write_summary);
criterion_main!(benches);
