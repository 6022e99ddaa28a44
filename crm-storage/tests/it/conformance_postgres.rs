//! The crm-core conformance kit, unchanged, against a real PostgreSQL server: the one
//! `CRM_PG_URL` points at (scripts/test.sh starts a throw-away cluster and sets it).
#![cfg(feature = "postgres")]

use std::sync::Arc;

use crm_core::store::Store;
use crm_storage::SqlStore;

fn url() -> String {
    std::env::var("CRM_PG_URL")
        .expect("CRM_PG_URL must name a PostgreSQL database (see scripts/pg.sh; scripts/test.sh sets it)")
}

crm_core::store_conformance_tests!(|| async {
    Arc::new(SqlStore::postgres_with(&url(), 8).await.expect("connect to PostgreSQL")) as Arc<dyn Store>
});
