//! Erasure below the API: after a person is erased (the conformance scenario), the bytes of
//! the SQLite file and its WAL, and every PostgreSQL row of the tenant, hold nothing naming
//! them.

use std::sync::Arc;

use crm_core::prelude::*;
use crm_core::store::Store;
use crm_core::testkit::{ERASED_NEEDLES, erasure_scenario};
use crm_storage::SqlStore;
use sea_orm::{ConnectionTrait, DbBackend, Statement};

/// The lower-cased bytes of the database file and its WAL.
fn file_bytes(path: &std::path::Path) -> Vec<u8> {
    let mut out = std::fs::read(path).expect("the database file");
    let wal = path.with_extension("db-wal");
    if let Ok(w) = std::fs::read(&wal) {
        out.extend(w);
    }
    out.make_ascii_lowercase();
    out
}

fn holds(bytes: &[u8], needle: &str) -> bool {
    let n = needle.to_lowercase().into_bytes();
    bytes.windows(n.len()).any(|w| w == n.as_slice())
}

#[tokio::test]
async fn an_erased_person_is_gone_from_the_sqlite_file_and_wal() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crm.db");
    let store = SqlStore::sqlite(&path).await.expect("open");
    let t = TenantId::new();
    erasure_scenario(Arc::new(store.clone()) as Arc<dyn Store>, t).await;
    let bytes = file_bytes(&path);
    for needle in ERASED_NEEDLES {
        assert!(!holds(&bytes, needle), "the file or its WAL still holds `{needle}`");
    }
    // The scan sees what is there: a contact written now is in the file or the WAL.
    let cx = Crm::new(store.clone()).as_actor(&Actor::system(t));
    cx.contacts().create(NewContact::new("Quentin", "Xylophonist")).await.unwrap();
    assert!(holds(&file_bytes(&path), "Xylophonist"), "the scan finds live data");
}

#[tokio::test]
async fn an_erased_person_is_gone_from_every_postgres_row_of_the_tenant() {
    let url = std::env::var("CRM_PG_URL")
        .expect("CRM_PG_URL must name a PostgreSQL database (see scripts/pg.sh; scripts/test.sh sets it)");
    let store = SqlStore::postgres_with(&url, 4).await.expect("connect to PostgreSQL");
    let t = TenantId::new();
    erasure_scenario(Arc::new(store.clone()) as Arc<dyn Store>, t).await;
    let db = store.connection();
    let sql = "SELECT table_name::text AS t FROM information_schema.columns \
               WHERE table_schema = current_schema() AND column_name = 'tenant_id' ORDER BY 1";
    let tables = db.query_all_raw(Statement::from_string(DbBackend::Postgres, sql)).await.unwrap();
    let tables: Vec<String> = tables.iter().map(|r| r.try_get::<String>("", "t").unwrap()).collect();
    assert!(tables.len() > 20, "every record table, the events and the search index: {tables:?}");
    let mut rows = 0;
    for table in &tables {
        let q = format!("SELECT lower(x::text) AS row FROM \"{table}\" x WHERE tenant_id = $1");
        let stmt = Statement::from_sql_and_values(DbBackend::Postgres, q, [t.as_uuid().into()]);
        for r in db.query_all_raw(stmt).await.unwrap() {
            let row: String = r.try_get("", "row").unwrap();
            rows += 1;
            for needle in ERASED_NEEDLES {
                assert!(!row.contains(&needle.to_lowercase()), "a row of {table} still holds `{needle}`: {row}");
            }
        }
    }
    assert!(rows > 10, "the tenant's rows were scanned ({rows})");
}
