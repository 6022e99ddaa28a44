//! Crash safety of bulk import: a child process imports contacts in batches and is killed
//! with SIGKILL at a random moment (while opening and migrating, between batches, or inside
//! one), again and again on the same database. After every kill the parent opens the
//! database and checks:
//!
//! - every batch the child reported committed is there, and every batch there is whole
//!   (no partial batch is ever visible);
//! - the outbox matches the data: events numbered 1..=n without gaps, exactly one `Created`
//!   event per stored contact and none for anything else;
//! - the search index holds exactly the stored contacts and finds a committed one;
//! - on SQLite, `PRAGMA integrity_check` and the FTS5 integrity check pass.
//!
//! It runs on a SQLite file and, with feature `postgres` and `CRM_PG_URL` set, on PostgreSQL.
//! Run with `CRM_CRASH_CHILD` set, the binary is the child. `CRM_CRASH_SEED` replays a run's
//! random kill times.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crm_core::query::Query;
use crm_core::{
    actor::Actor, entity::EntityKind, event::Change, event::EventQuery, ids::TenantId, model::Contact, model::Entity,
    query::Filter, service::Crm, service::CrmBuilder, service::ImportOptions, service::NewContact, store::Store,
    store::TxMode,
};
use crm_storage::SqlStore;
use sea_orm::ConnectionTrait;
use uuid::Uuid;

/// Kills per backend.
const KILLS: usize = 24;
/// Rows per import batch.
const BATCH: usize = 100;
/// Batches a child imports at most (so a kill that comes late still finds it working).
const MAX_BATCHES: usize = 40;

/// The child's part, when this process is one (`CRM_CRASH_CHILD` names the target).
pub fn as_child(rt: &tokio::runtime::Runtime) -> bool {
    let Ok(target) = std::env::var("CRM_CRASH_CHILD") else { return false };
    rt.block_on(child(&target));
    true
}

/// The parent's part: kills children on SQLite and (when configured) PostgreSQL.
pub fn run(rt: &tokio::runtime::Runtime) {
    let seed = std::env::var("CRM_CRASH_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64) | 1
    });
    println!("crash test seed {seed} (CRM_CRASH_SEED={seed} replays it)");
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("crash.db");
    let sqlite = format!("sqlite:{}", file.display());
    rt.block_on(crash_loop(&sqlite, seed));
    #[cfg(feature = "postgres")]
    match std::env::var("CRM_PG_URL") {
        Ok(url) => {
            let schema = format!("crash_{}", Uuid::now_v7().simple());
            let url = with_schema(rt, &url, &schema);
            rt.block_on(crash_loop(&format!("pg:{url}"), seed.rotate_left(17)));
        }
        Err(_) => println!("CRM_PG_URL not set: PostgreSQL crash test skipped"),
    }
    println!("crash test passed");
}

/// A URL whose connections use a fresh schema (so runs never share tables).
#[cfg(feature = "postgres")]
fn with_schema(rt: &tokio::runtime::Runtime, url: &str, schema: &str) -> String {
    rt.block_on(async {
        let db = sea_orm::Database::connect(url).await.expect("connect to PostgreSQL");
        db.execute_unprepared(&format!("CREATE SCHEMA {schema}")).await.expect("create schema");
    });
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}options=-csearch_path%3D{schema}")
}

async fn open(target: &str) -> crm_core::error::Result<SqlStore> {
    match target.split_once(':') {
        Some(("sqlite", path)) => SqlStore::sqlite(path).await,
        #[cfg(feature = "postgres")]
        Some(("pg", url)) => SqlStore::postgres(url).await,
        _ => panic!("unknown target {target}"),
    }
}

fn tenant() -> TenantId {
    TenantId::from_uuid(Uuid::from_u128(0x0193_0000_0000_7000_8000_0000_0000_c4a5))
}

/// The family name of row `i` of `run`: names its run and batch.
fn row_name(run: usize, i: usize) -> String {
    format!("r{run}b{}n{i}", i / BATCH)
}

/// The child: opens the store, says so, imports until killed (or `MAX_BATCHES`), printing
/// each committed batch.
async fn child(target: &str) {
    let run: usize = std::env::var("CRM_CRASH_RUN").expect("run").parse().expect("run number");
    let store = open(target).await.expect("child opens the store");
    // The phone-number metadata loads on first use, which takes a while in a debug build:
    // load it before saying the store is open, so kill times fall in the import itself.
    crm_core::profile::PhoneNumber::parse("+44 20 7946 0958", None).expect("a valid number");
    println!("open");
    let crm = Crm::new(store);
    let cx = crm.as_actor(&Actor::system(tenant()));
    let rows = (0..MAX_BATCHES * BATCH).map(|i| {
        NewContact::new("Crash", row_name(run, i))
            .email(format!("row{i}.run{run}@crash.example"))
            .phone("+44 20 7946 0958")
            .tag(format!("run-{run}"))
    });
    let opts = ImportOptions::default().batch_size(BATCH);
    cx.contacts()
        .import(rows, &opts, |p| {
            println!("committed {}", p.batches);
        })
        .await
        .expect("child import");
}

/// xorshift64*: enough randomness for kill times, reproducible from the seed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

async fn crash_loop(target: &str, seed: u64) {
    let mut rng = Rng(seed);
    let exe = std::env::current_exe().expect("test binary");
    // Batches each run reported committed.
    let mut reported: BTreeMap<usize, usize> = BTreeMap::new();
    let mut mid_import_kills = 0;
    let mut total = 0;
    for run in 0..KILLS {
        let mut child = Command::new(&exe)
            .env("CRM_CRASH_CHILD", target)
            .env("CRM_CRASH_RUN", run.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn child");
        let stdout = child.stdout.take().expect("child stdout");
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut lines = Vec::new();
        let started = Instant::now();
        // A few kills land while the child opens and migrates; most during the import, timed
        // from when the store is open (opening takes longer on a slow machine).
        let delay = if run % 6 == 0 {
            rng.below(150)
        } else {
            let deadline = Instant::now() + Duration::from_secs(60);
            while !lines.iter().any(|l| l == "open") && Instant::now() < deadline {
                if let Ok(line) = rx.recv_timeout(Duration::from_millis(50)) {
                    lines.push(line);
                }
            }
            rng.below(1000)
        };
        tokio::time::sleep(Duration::from_millis(delay)).await;
        let finished_first = child.try_wait().expect("poll child").is_some();
        child.kill().expect("SIGKILL the child");
        let status = child.wait().expect("reap child");
        reader.join().expect("stdout reader");
        lines.extend(rx.try_iter());
        let committed = lines.iter().filter_map(|l| l.strip_prefix("committed ")).filter_map(|n| n.parse().ok()).max();
        let opened = lines.iter().any(|l| l == "open");
        assert!(!finished_first || status.success(), "child {run} failed on its own: {status:?}, output {lines:?}");
        if !finished_first && opened && committed.unwrap_or(0) < MAX_BATCHES {
            mid_import_kills += 1;
        }
        reported.insert(run, committed.unwrap_or(0));
        total = verify(target, run, &reported).await;
        println!(
            "{}: run {run} killed after {delay} ms ({:?}), {} batches reported, {total} contacts stored",
            target.split(':').next().unwrap_or(target),
            started.elapsed(),
            committed.unwrap_or(0),
        );
    }
    assert!(mid_import_kills >= KILLS / 2, "only {mid_import_kills} kills landed during an import");
    assert!(total > 0, "no batch was ever committed");
}

/// Checks the database after run `last` was killed; returns how many contacts it holds.
async fn verify(target: &str, last: usize, reported: &BTreeMap<usize, usize>) -> usize {
    let store = open(target).await.expect("the database opens after a kill");
    let db = store.connection().clone();
    let store: Arc<dyn Store> = Arc::new(store);
    let t = tenant();

    // Every stored contact, grouped by (run, batch).
    let mut contacts: Vec<Contact> = Vec::new();
    let mut tx = store.begin(t, TxMode::ReadOnly).await.expect("begin");
    let mut q = Query::new(Filter::All).limit(1000);
    loop {
        let page = tx.find::<Contact>(&q).await.expect("list contacts");
        contacts.extend(page.items);
        match page.next {
            Some(c) => q = q.after(Some(c)),
            None => break,
        }
    }
    let mut batches: BTreeMap<(usize, usize), BTreeSet<usize>> = BTreeMap::new();
    for c in &contacts {
        let (run, rest) = c.family_name[1..].split_once('b').expect("run");
        let (batch, row) = rest.split_once('n').expect("batch");
        let (run, batch, row): (usize, usize, usize) =
            (run.parse().expect("run"), batch.parse().expect("batch"), row.parse().expect("row"));
        assert_eq!(c.family_name, row_name(run, row));
        assert!(batches.entry((run, batch)).or_default().insert(row), "row {row} of run {run} stored twice");
    }
    for ((run, batch), rows) in &batches {
        let whole: BTreeSet<usize> = (batch * BATCH..(batch + 1) * BATCH).collect();
        assert_eq!(rows, &whole, "after run {last}: batch {batch} of run {run} is partial ({} rows)", rows.len());
    }
    for (run, &n) in reported {
        let stored = batches.keys().filter(|(r, _)| r == run).count();
        // Batches commit in order; one may commit just before the kill, unreported.
        assert!(stored == n || stored == n + 1, "after run {last}: run {run} reported {n} batches, {stored} stored");
        for b in 0..stored {
            assert!(batches.contains_key(&(*run, b)), "run {run} lost committed batch {b}");
        }
    }

    // The outbox: 1..=n, one Created per stored contact.
    let mut events = Vec::new();
    loop {
        let after = events.last().map_or(0, |e: &crm_core::event::StoredEvent| e.seq);
        let page = store.read_events(t, &EventQuery::after(after, 5000)).await.expect("read events");
        if page.is_empty() {
            break;
        }
        events.extend(page);
    }
    let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=events.len() as u64).collect::<Vec<_>>(), "event numbers have gaps");
    assert!(events.iter().all(|e| e.event.change == Change::Created && e.event.subject.kind == EntityKind::Contact));
    let subjects: BTreeSet<Uuid> = events.iter().map(|e| e.event.subject.id).collect();
    let ids: BTreeSet<Uuid> = contacts.iter().map(|c| c.id().into()).collect();
    assert_eq!(subjects.len(), events.len(), "a contact has two Created events");
    assert_eq!(subjects, ids, "after run {last}: the outbox does not match the stored contacts");

    // The search index holds exactly the stored contacts.
    let indexed = scalar(&db, "SELECT count(*) FROM crm_search_docs", "SELECT count(*) FROM crm_search").await;
    assert_eq!(indexed as usize, contacts.len(), "search rows vs contacts");
    if let Some(c) = contacts.last() {
        let crm = CrmBuilder::from_arc(store.clone()).build().expect("crm");
        let cx = crm.as_actor(&Actor::system(t));
        let hits = cx.search(&c.family_name).await.expect("search");
        assert_eq!(hits.iter().map(|r| r.id()).collect::<Vec<_>>(), vec![c.id().as_uuid()]);
    }
    if target.starts_with("sqlite:") {
        let fts = scalar(&db, "SELECT count(*) FROM crm_search", "").await;
        assert_eq!(fts as usize, contacts.len(), "FTS rows vs contacts");
        let ok = db.query_one_raw(stmt(&db, "PRAGMA integrity_check")).await.expect("integrity_check");
        let ok: String = ok.expect("a row").try_get_by_index(0).expect("text");
        assert_eq!(ok, "ok");
        db.execute_unprepared("INSERT INTO crm_search (crm_search) VALUES ('integrity-check')")
            .await
            .expect("FTS5 integrity check");
    }
    contacts.len()
}

fn stmt(db: &sea_orm::DatabaseConnection, sql: &str) -> sea_orm::Statement {
    sea_orm::Statement::from_string(db.get_database_backend(), sql)
}

async fn scalar(db: &sea_orm::DatabaseConnection, sqlite: &str, pg: &str) -> i64 {
    let sql = if db.get_database_backend() == sea_orm::DbBackend::Postgres { pg } else { sqlite };
    let row = db.query_one_raw(stmt(db, sql)).await.expect(sql).expect("a row");
    row.try_get_by_index(0).expect("a count")
}
