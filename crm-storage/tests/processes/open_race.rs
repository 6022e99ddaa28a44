//! Processes opening one new SQLite file at the same moment: every one of them opens it (the
//! first migration and the switch to WAL wait for each other, never fail with "database is
//! locked") and writes through it, and the file holds every write. Several rounds, each on a
//! fresh file, with the children released at one instant.

use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crm_core::query::Filter;
use crm_core::{actor::Actor, ids::TenantId, service::Crm, service::NewContact};
use crm_storage::SqlStore;
use sea_orm::ConnectionTrait;

/// Rounds, each on a new file.
const ROUNDS: usize = 12;
/// Processes opening the file in each round.
const PROCESSES: usize = 3;

fn tenant() -> TenantId {
    TenantId::from_uuid(uuid::Uuid::from_u128(0x0193_0000_0000_7000_8000_0000_0000_0be9))
}

/// The child's part (`CRM_OPEN_CHILD` names the file): waits for the instant in
/// `CRM_OPEN_AT` (ns since the epoch), opens the store and creates one contact.
pub fn as_child(rt: &tokio::runtime::Runtime) -> bool {
    let Ok(path) = std::env::var("CRM_OPEN_CHILD") else { return false };
    let at: u128 = std::env::var("CRM_OPEN_AT").expect("CRM_OPEN_AT").parse().expect("start instant");
    let name = std::env::var("CRM_OPEN_NAME").expect("CRM_OPEN_NAME");
    let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_nanos();
    std::thread::sleep(Duration::from_nanos(at.saturating_sub(now) as u64));
    let outcome = rt.block_on(async {
        let store = SqlStore::sqlite(&path).await?;
        let cx = Crm::new(store).as_actor(&Actor::system(tenant()));
        cx.contacts().create(NewContact::new("Opened", name)).await
    });
    if let Err(e) = outcome {
        eprintln!("child could not open and write: {e}");
        std::process::exit(1);
    }
    true
}

/// The parent's part.
pub fn run(rt: &tokio::runtime::Runtime) {
    let exe = std::env::current_exe().expect("test binary");
    let dir = tempfile::tempdir().expect("tempdir");
    for round in 0..ROUNDS {
        let path = dir.path().join(format!("new{round}.db"));
        let at = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock") + Duration::from_millis(400);
        let children: Vec<_> = (0..PROCESSES)
            .map(|i| {
                Command::new(&exe)
                    .env("CRM_OPEN_CHILD", &path)
                    .env("CRM_OPEN_AT", at.as_nanos().to_string())
                    .env("CRM_OPEN_NAME", format!("p{i}"))
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .expect("spawn child")
            })
            .collect();
        let mut failed = Vec::new();
        for (i, c) in children.into_iter().enumerate() {
            let out = c.wait_with_output().expect("child");
            if !out.status.success() {
                failed.push(format!("process {i}: {}", String::from_utf8_lossy(&out.stderr).trim()));
            }
        }
        assert!(failed.is_empty(), "round {round}: {failed:?}");
        rt.block_on(async {
            let store = SqlStore::sqlite(&path).await.expect("parent opens");
            let cx = Crm::new(store.clone()).as_actor(&Actor::system(tenant()));
            assert_eq!(cx.contacts().count(&Filter::All).await.expect("count"), PROCESSES as u64, "round {round}");
            let db = store.connection();
            let mode = db
                .query_one_raw(sea_orm::Statement::from_string(db.get_database_backend(), "PRAGMA journal_mode"))
                .await
                .expect("journal mode")
                .expect("a row");
            assert_eq!(mode.try_get::<String>("", "journal_mode").expect("mode"), "wal", "round {round}");
        });
    }
    println!("open race: {ROUNDS} rounds of {PROCESSES} processes opening a new SQLite file, all opened and wrote");
}
