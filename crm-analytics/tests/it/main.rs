//! crm-analytics' integration tests, one binary: each suite runs on every store.

mod attribution;
mod churn;
mod clv;
mod cross_sell;
mod customers;
mod lead_score;
mod propensity;
mod sales;

use std::sync::Arc;

use crm_core::prelude::MemoryStore;
use crm_core::store::Store;
use tempfile::TempDir;

/// A store with the directory its file lives in, if any (removed when dropped).
type Made = (Arc<dyn Store>, Option<TempDir>);

async fn memory() -> Made {
    (Arc::new(MemoryStore::new()), None)
}

async fn sqlite() -> Made {
    let dir = tempfile::tempdir().unwrap();
    let store = crm_storage::SqlStore::sqlite(dir.path().join("crm.db")).await.unwrap();
    (Arc::new(store), Some(dir))
}

async fn postgres() -> Made {
    let url = std::env::var("CRM_PG_URL")
        .expect("CRM_PG_URL must name a PostgreSQL database (see scripts/pg.sh; scripts/test.sh sets it)");
    let store = crm_storage::SqlStore::postgres_with(&url, 4).await.unwrap();
    (Arc::new(store), None)
}
