//! The crm-core conformance kit, unchanged, against SQLite: in memory, and a file shared by
//! every case (each case opens its own store on it, as separate processes would).

use std::path::PathBuf;
use std::sync::Arc;

use crm_core::store::Store;
use crm_storage::SqlStore;

mod memory {
    use super::*;
    crm_core::store_conformance_tests!(|| async {
        Arc::new(SqlStore::sqlite_in_memory().await.expect("open in-memory SQLite")) as Arc<dyn Store>
    });
}

/// One database file per test run (removed by the OS's temp cleaning; cases use fresh tenants).
fn shared_file() -> PathBuf {
    static PATH: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    PATH.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("crm-storage-conformance-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        dir.join("crm.db")
    })
    .clone()
}

mod file {
    use super::*;
    crm_core::store_conformance_tests!(|| async {
        Arc::new(SqlStore::sqlite(shared_file()).await.expect("open SQLite file")) as Arc<dyn Store>
    });
}
