//! Hostile input cannot touch the schema: the conformance kit's hostile records (SQL-injection
//! classics, LIKE wildcards, placeholder look-alikes, JSON-path syntax, our own tag prefixes,
//! odd unicode, long strings, hostile custom-field *keys*) are stored, every hostile filter is
//! run, and afterwards every table still exists with its row count unchanged. (That each
//! result equals the reference semantics is the kit's `hostile_strings_filter_and_search_as_the_reference`,
//! which every backend runs.) On SQLite in memory, on a SQLite file and (feature `postgres`)
//! on PostgreSQL in a schema of its own.

use std::collections::BTreeMap;

use crm_core::query::{Filter, Query};
use crm_core::testkit::{self, fixtures};
use crm_core::{entity::EntityKind, store::Store, store::TxMode};
use crm_storage::SqlStore;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};

/// Every table's name and row count, as the database itself reports them.
async fn table_counts(db: &DatabaseConnection) -> BTreeMap<String, i64> {
    let backend = db.get_database_backend();
    let list = match backend {
        DbBackend::Postgres => {
            "SELECT table_name AS name FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
        }
        _ => "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
    };
    let rows = db.query_all_raw(Statement::from_string(backend, list)).await.expect("list the tables");
    let mut out = BTreeMap::new();
    for r in rows {
        let name: String = r.try_get("", "name").expect("table name");
        let q = format!("SELECT COUNT(*) AS n FROM \"{}\"", name.replace('"', "\"\""));
        let row = db.query_one_raw(Statement::from_string(backend, q)).await.expect("count rows").expect("one row");
        out.insert(name, row.try_get::<i64>("", "n").expect("a count"));
    }
    out
}

/// Stores the hostile records and runs every hostile filter (query and count): no table is
/// dropped, added or changed in size.
async fn run(store: SqlStore) {
    let t = fixtures::tenant();
    let corpus = testkit::hostile_corpus();
    let keys = testkit::hostile_keys();
    let recs = testkit::hostile_records(t, &corpus, &keys);
    let mut tx = store.begin(t, TxMode::ReadWrite).await.expect("begin");
    for r in &recs {
        tx.insert(r.clone()).await.unwrap_or_else(|e| panic!("insert of {:?} failed: {e}", r.id()));
    }
    tx.commit().await.expect("commit the hostile records");
    let before = table_counts(store.connection()).await;
    assert!(before.get("contacts").copied().unwrap_or(0) >= recs.len() as i64, "the contacts were stored: {before:?}");
    let filters = testkit::hostile_filters(&corpus, &keys);
    let mut tx = store.begin(t, TxMode::ReadOnly).await.expect("begin");
    for f in &filters {
        let q = Query::new(f.clone()).limit(1000);
        tx.query(EntityKind::Contact, &q).await.unwrap_or_else(|e| panic!("{f:?}: {e}"));
        tx.count(EntityKind::Contact, f).await.unwrap_or_else(|e| panic!("{f:?}: {e}"));
    }
    drop(tx);
    let after = table_counts(store.connection()).await;
    assert_eq!(after, before, "tables or row counts changed while querying");
    let mut tx = store.begin(t, TxMode::ReadOnly).await.expect("begin");
    assert_eq!(tx.count(EntityKind::Contact, &Filter::All).await.expect("count"), recs.len() as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_strings_sqlite_in_memory() {
    run(SqlStore::sqlite_in_memory().await.expect("open in-memory SQLite")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_strings_sqlite_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    run(SqlStore::sqlite(dir.path().join("crm.db")).await.expect("open SQLite file")).await;
}

#[cfg(feature = "postgres")]
mod postgres {
    use uuid::Uuid;

    use super::*;

    /// A fresh schema on the `CRM_PG_URL` server, and a URL whose connections use it.
    pub(crate) async fn fresh_schema(prefix: &str) -> (String, String) {
        let base = std::env::var("CRM_PG_URL")
            .expect("CRM_PG_URL must name a PostgreSQL database (see scripts/pg.sh; scripts/test.sh sets it)");
        let schema = format!("{prefix}_{}", Uuid::now_v7().simple());
        let admin = sea_orm::Database::connect(base.as_str()).await.expect("connect to CRM_PG_URL");
        admin.execute_unprepared(&format!("CREATE SCHEMA {schema}")).await.expect("create a test schema");
        admin.close().await.expect("close");
        let sep = if base.contains('?') { '&' } else { '?' };
        (format!("{base}{sep}options=-csearch_path%3D{schema}"), schema)
    }

    pub(crate) async fn drop_schema(schema: &str) {
        let base = std::env::var("CRM_PG_URL").expect("CRM_PG_URL");
        let admin = sea_orm::Database::connect(base.as_str()).await.expect("connect to CRM_PG_URL");
        admin.execute_unprepared(&format!("DROP SCHEMA {schema} CASCADE")).await.expect("drop the test schema");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn hostile_strings_postgres() {
        let (url, schema) = fresh_schema("inj").await;
        let store = SqlStore::postgres_with(&url, 4).await.expect("connect to PostgreSQL");
        let row = store
            .connection()
            .query_one_raw(Statement::from_string(DbBackend::Postgres, "SELECT current_schema() AS s"))
            .await
            .expect("current_schema()")
            .expect("one row");
        assert_eq!(row.try_get::<String>("", "s").expect("schema"), schema, "search_path from the URL applies");
        run(store).await;
        drop_schema(&schema).await;
    }
}
