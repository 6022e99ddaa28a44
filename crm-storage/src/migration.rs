//! Schema versions, applied on open with sea-orm-migration, then the record tables synced
//! with crm-core's field catalogue.
//!
//! Versioned migrations own the system tables and every change that needs a hand-written
//! transformation. The per-kind record tables are *derived* from `EntityKind::std_fields()`:
//! on open, a missing table, column or index is created and a new column is backfilled from
//! the stored records, so a field added to crm-core needs no migration of its own.
//! Everything runs in one transaction (under an advisory lock on PostgreSQL), so concurrent
//! opens and crashes never leave a half-migrated database.

use std::collections::HashSet;

use crm_core::entity::EntityKind;
use sea_orm::{ConnectionTrait, DatabaseTransaction, DbBackend, DbErr, Statement};
use sea_orm_migration::{MigrationName, MigrationTrait, MigratorTrait, SchemaManager, async_trait};

use crate::schema::{self, quote};

/// The versioned migrations of crm-storage.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(M0001SystemTables),
            Box::new(M0002Search),
            Box::new(M0003SearchWords),
            Box::new(M0004EventChain),
            Box::new(M0005SearchWithoutSensitive),
        ]
    }

    fn migration_table_name() -> sea_orm::DynIden {
        "crm_migrations".into()
    }
}

fn types(backend: DbBackend) -> (&'static str, &'static str) {
    match backend {
        DbBackend::Postgres => ("UUID", "JSONB"),
        _ => ("BLOB", "TEXT"),
    }
}

/// Version 1: the outbox, per-tenant event counters, unique keys.
struct M0001SystemTables;

impl MigrationName for M0001SystemTables {
    fn name(&self) -> &str {
        "m0001_system_tables"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0001SystemTables {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let (uuid, _) = types(db.get_database_backend());
        let text = if db.get_database_backend() == DbBackend::Postgres { "TEXT COLLATE \"C\"" } else { "TEXT" };
        for sql in [
            format!(
                "CREATE TABLE IF NOT EXISTS crm_tenants (tenant_id {uuid} NOT NULL PRIMARY KEY, last_seq BIGINT NOT NULL)"
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS crm_events (tenant_id {uuid} NOT NULL, seq BIGINT NOT NULL, \
                 event_id {uuid} NOT NULL, data TEXT NOT NULL, PRIMARY KEY (tenant_id, seq))"
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS crm_event_touches (tenant_id {uuid} NOT NULL, kind {text} NOT NULL, \
                 ref_id {uuid} NOT NULL, seq BIGINT NOT NULL, PRIMARY KEY (tenant_id, kind, ref_id, seq))"
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS crm_unique (tenant_id {uuid} NOT NULL, kind {text} NOT NULL, \
                 field {text} NOT NULL, value {text} NOT NULL, owner_id {uuid} NOT NULL, \
                 PRIMARY KEY (tenant_id, kind, field, value))"
            ),
            "CREATE INDEX IF NOT EXISTS ix_crm_unique_owner ON crm_unique (tenant_id, kind, owner_id)".to_owned(),
        ] {
            db.execute_unprepared(&sql).await?;
        }
        Ok(())
    }
}

/// Version 2: full-text search over contacts, companies and deals (indexing what is stored).
struct M0002Search;

impl MigrationName for M0002Search {
    fn name(&self) -> &str {
        "m0002_search"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0002Search {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for sql in crate::search::ddl(db.get_database_backend()) {
            db.execute_unprepared(sql).await?;
        }
        crate::search::backfill(db).await
    }
}

/// Version 3: searchable words are NFKC-normalised (`²` is `2`) and cut to
/// `crm_core::search::MAX_TERM_CHARS` characters; the index is rebuilt in those words.
struct M0003SearchWords;

impl MigrationName for M0003SearchWords {
    fn name(&self) -> &str {
        "m0003_search_words"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0003SearchWords {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::search::backfill(manager.get_connection()).await
    }
}

/// Version 4: events linked in a hash chain per tenant (`crm_core::chain`): each event's
/// digest and link and whether it was scrubbed since, each tenant's head; the events stored
/// before are linked in seq order.
struct M0004EventChain;

impl MigrationName for M0004EventChain {
    fn name(&self) -> &str {
        "m0004_event_chain"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0004EventChain {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for sql in [
            "ALTER TABLE crm_events ADD COLUMN digest TEXT",
            "ALTER TABLE crm_events ADD COLUMN hash TEXT",
            // Scrubbed on purpose since committed (audit retention, erasure): the text changed,
            // the digest and link did not.
            "ALTER TABLE crm_events ADD COLUMN scrubbed BOOLEAN NOT NULL DEFAULT FALSE",
            "ALTER TABLE crm_tenants ADD COLUMN last_hash TEXT",
        ] {
            db.execute_unprepared(sql).await?;
        }
        crate::chain::backfill(db).await
    }
}

/// Version 5: sensitive fields (a contact's family notes) leave the search index, so that a
/// search cannot probe them; every searchable record is indexed again.
struct M0005SearchWithoutSensitive;

impl MigrationName for M0005SearchWithoutSensitive {
    fn name(&self) -> &str {
        "m0005_search_without_sensitive"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0005SearchWithoutSensitive {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::search::backfill(manager.get_connection()).await
    }
}

/// Creates missing record tables, columns and indexes; backfills new columns.
/// Returns the tables whose columns were added.
pub(crate) async fn sync_record_tables(tx: &DatabaseTransaction) -> Result<Vec<&'static str>, DbErr> {
    let backend = tx.get_database_backend();
    let pg = backend == DbBackend::Postgres;
    let (uuid, json) = types(backend);
    let mut changed = Vec::new();
    // Only what is missing is created: even `CREATE INDEX IF NOT EXISTS` on an index that exists
    // takes a share lock on its table until commit on PostgreSQL, which waits for (and can
    // deadlock with) any write transaction open on that table in another connection.
    let indexes = existing_indexes(tx).await?;
    for kind in EntityKind::ALL.iter().copied() {
        let table = schema::table(kind);
        let t = quote(table);
        let existing = existing_columns(tx, table).await?;
        if existing.is_empty() {
            tx.execute_unprepared(&format!(
                "CREATE TABLE IF NOT EXISTS {t} (tenant_id {uuid} NOT NULL, id {uuid} NOT NULL, version BIGINT NOT NULL, \
                 data TEXT NOT NULL, custom {json}, PRIMARY KEY (tenant_id, id))"
            ))
            .await?;
        }
        let mut added = Vec::new();
        for c in schema::columns(kind) {
            if !existing.contains(c.name.as_ref()) {
                tx.execute_unprepared(&format!(
                    "ALTER TABLE {t} ADD COLUMN {} {}",
                    quote(&c.name),
                    schema::sql_type(c.ty, pg)
                ))
                .await?;
                added.push(c);
            }
        }
        if !added.is_empty() && !existing.is_empty() {
            backfill(tx, kind).await?;
            changed.push(table);
        }
        for cols in schema::indexes(kind) {
            let exprs: Vec<String> = cols.iter().map(|c| quote(c)).collect();
            let def = schema::index_def(schema::index_name(table, &cols), &exprs, pg);
            create_index(tx, &indexes, table, &def).await?;
        }
    }
    Ok(changed)
}

/// Creates the index `def` on `table` unless it exists (`existing`), and drops the one it replaces.
pub(crate) async fn create_index(
    conn: &impl ConnectionTrait,
    existing: &HashSet<String>,
    table: &str,
    def: &schema::IndexDef,
) -> Result<(), DbErr> {
    if !existing.contains(&def.name) {
        let sql = format!("CREATE INDEX IF NOT EXISTS {} ON {} ({})", quote(&def.name), quote(table), def.columns);
        conn.execute_unprepared(&sql).await?;
    }
    if let Some(old) = def.replaces.as_ref().filter(|old| existing.contains(*old)) {
        conn.execute_unprepared(&format!("DROP INDEX IF EXISTS {}", quote(old))).await?;
    }
    Ok(())
}

/// The names of the indexes in the current schema (every table's).
pub(crate) async fn existing_indexes(conn: &impl ConnectionTrait) -> Result<HashSet<String>, DbErr> {
    let backend = conn.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => "SELECT indexname AS name FROM pg_indexes WHERE schemaname = current_schema()",
        _ => "SELECT name FROM sqlite_master WHERE type = 'index'",
    };
    let rows = conn.query_all_raw(Statement::from_string(backend, sql)).await?;
    rows.iter().map(|r| r.try_get::<String>("", "name")).collect()
}

async fn existing_columns(tx: &DatabaseTransaction, table: &str) -> Result<HashSet<String>, DbErr> {
    let backend = tx.get_database_backend();
    let stmt = match backend {
        DbBackend::Postgres => Statement::from_sql_and_values(
            backend,
            "SELECT column_name AS name FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = $1",
            [table.into()],
        ),
        _ => Statement::from_sql_and_values(backend, "SELECT name FROM pragma_table_info(?)", [table.into()]),
    };
    let rows = tx.query_all_raw(stmt).await?;
    rows.iter().map(|r| r.try_get::<String>("", "name")).collect()
}

/// Recomputes every derived column of `kind` from the stored records.
async fn backfill(tx: &DatabaseTransaction, kind: EntityKind) -> Result<(), DbErr> {
    let backend = tx.get_database_backend();
    let mut after = None;
    while let Some(page) = crate::rows::stored_page(tx, kind, after).await? {
        for record in &page {
            let stmt = crate::rows::update_derived(backend, record).map_err(|e| DbErr::Custom(e.to_string()))?;
            tx.execute_raw(stmt).await?;
        }
        after = page.last().map(|r| (r.tenant_id().as_uuid(), r.id()));
    }
    Ok(())
}
