//! Two processes writing one SQLite file: one imports contacts in large batches (each a long
//! write transaction) while the other edits a contact again and again. The editor's writes
//! wait for the importer's batches instead of failing with "database is locked", none is lost,
//! and every imported row is there. Both open the file with a 50 ms busy timeout, so that
//! nearly every edit meets a batch longer than one wait.

use std::process::{Command, Stdio};
use std::time::Duration;

use crm_core::query::Filter;
use crm_core::{actor::Actor, ids::TenantId, service::Crm, service::ImportOptions, service::NewContact};
use crm_storage::{SqlStore, SqliteOptions};

/// Contacts the importer writes, and its batch size.
const ROWS: usize = 12_000;
const BATCH: usize = 3_000;

fn tenant() -> TenantId {
    TenantId::from_uuid(uuid::Uuid::from_u128(0x0193_0000_0000_7000_8000_0000_0000_5a7e))
}

fn options() -> SqliteOptions {
    SqliteOptions::default().busy_timeout(Duration::from_millis(50))
}

/// The child's part: `CRM_SHARED_CHILD` is `import:<file>` or `edit:<file>:<contact id>`.
pub fn as_child(rt: &tokio::runtime::Runtime) -> bool {
    let Ok(role) = std::env::var("CRM_SHARED_CHILD") else { return false };
    let outcome = rt.block_on(async {
        match role.split(':').collect::<Vec<_>>()[..] {
            ["import", path] => import(path).await,
            ["edit", path, id] => edit(path, id).await,
            _ => panic!("unknown role {role}"),
        }
    });
    if let Err(e) = outcome {
        eprintln!("{role}: {e}");
        std::process::exit(1);
    }
    true
}

async fn import(path: &str) -> crm_core::error::Result<()> {
    let cx = Crm::new(SqlStore::sqlite_with(path, &options()).await?).as_actor(&Actor::system(tenant()));
    let rows = (0..ROWS).map(|i| NewContact::new("Bulk", format!("Row {i:05}")));
    let report = cx.contacts().import(rows, &ImportOptions::default().batch_size(BATCH), |_| {}).await?;
    assert_eq!(report.imported.len(), ROWS);
    std::fs::write(format!("{path}.imported"), b"done").expect("marker");
    Ok(())
}

/// Renames the contact until the importer is done; prints how many edits it saved.
async fn edit(path: &str, id: &str) -> crm_core::error::Result<()> {
    let cx = Crm::new(SqlStore::sqlite_with(path, &options()).await?).as_actor(&Actor::system(tenant()));
    let id = crm_core::ids::ContactId::from_uuid(id.parse().expect("contact id"));
    let mut edits = 0u64;
    while !std::path::Path::new(&format!("{path}.imported")).exists() || edits < 3 {
        let mut c = cx.contacts().get(id).await?;
        c.family_name = format!("Edit {}", edits + 1);
        cx.contacts().update(c).await?;
        edits += 1;
    }
    println!("{edits}");
    Ok(())
}

/// The parent's part.
pub fn run(rt: &tokio::runtime::Runtime) {
    let exe = std::env::current_exe().expect("test binary");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("shared.db");
    let path = path.to_str().expect("utf-8 path");
    let contact = rt.block_on(async {
        let cx = Crm::new(SqlStore::sqlite(path).await.expect("open")).as_actor(&Actor::system(tenant()));
        cx.contacts().create(NewContact::new("Edited", "Edit 0")).await.expect("contact")
    });
    let spawn = |role: String| {
        Command::new(&exe)
            .env("CRM_SHARED_CHILD", role)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn child")
    };
    let importer = spawn(format!("import:{path}"));
    let editor = spawn(format!("edit:{path}:{}", contact.id.as_uuid()));
    let (importer, editor) =
        (importer.wait_with_output().expect("importer"), editor.wait_with_output().expect("editor"));
    assert!(importer.status.success(), "importer: {}", String::from_utf8_lossy(&importer.stderr));
    assert!(editor.status.success(), "editor: {}", String::from_utf8_lossy(&editor.stderr));
    let edits: u64 = String::from_utf8_lossy(&editor.stdout).trim().parse().expect("edit count");
    rt.block_on(async {
        let cx = Crm::new(SqlStore::sqlite(path).await.expect("reopen")).as_actor(&Actor::system(tenant()));
        let c = cx.contacts().get(contact.id).await.expect("edited contact");
        assert_eq!(
            (c.version, c.family_name.as_str()),
            (edits + 1, format!("Edit {edits}").as_str()),
            "an edit was lost"
        );
        assert_eq!(cx.contacts().count(&Filter::All).await.expect("count"), ROWS as u64 + 1);
    });
    println!(
        "shared writes: {ROWS} contacts imported in batches of {BATCH} beside {edits} edits from another process, none refused or lost"
    );
}
