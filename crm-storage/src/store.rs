//! [`SqlStore`]: crm-core's `Store` on SQL, through sea-orm.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use crm_core::aggregate::{AggregateRow, Plan};
use crm_core::query::{Cursor, Filter, MAX_PAGE_SIZE, Page, Query};
use crm_core::{
    chain::ChainReport, entity::EntityKind, error::Error, error::Result, event::Event, event::EventQuery,
    event::StoredEvent, ids::TenantId, model::Record, store::Store, store::Transaction, store::TxMode,
};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, OnConflict, Order, Query as Sql};
use sea_orm::{
    AccessMode, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, TransactionOptions,
    TransactionTrait,
};
use sea_orm_migration::MigratorTrait;
use uuid::Uuid;

use crate::filter::{Compiler, Dialect};
use crate::migration::{Migrator, sync_record_tables};
use crate::rows::{decode, insert_stmt, rows_per_statement, update_derived_query};
use crate::schema::{columns, table};
#[cfg(feature = "sqlite")]
use crate::sqlite::SqliteOptions;

/// A [`Store`] on SQLite (embedded, the default) or PostgreSQL.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> crm_core::error::Result<()> {
/// use crm_core::{actor::Actor, service::Crm, service::NewContact, ids::TenantId};
/// use crm_storage::SqlStore;
///
/// let dir = tempfile::tempdir().map_err(|e| crm_core::error::Error::storage(e.to_string()))?;
/// let store = SqlStore::sqlite(dir.path().join("crm.db")).await?;
/// let crm = Crm::new(store);
/// let cx = crm.as_actor(&Actor::system(TenantId::new()));
/// let ada = cx.contacts().create(NewContact::new("Ada", "Lovelace").email("ada@example.com")).await?;
/// assert_eq!(cx.contacts().get(ada.id).await?.full_name(), "Ada Lovelace");
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct SqlStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// Write transactions (on SQLite: one connection, so writers queue instead of failing).
    write: DatabaseConnection,
    /// Read-only transactions and outbox reads.
    read: DatabaseConnection,
    dialect: Dialect,
    /// On a SQLite file: how long a write waits for another process's write lock.
    lock_wait: Option<Duration>,
    /// Rows written since the planner's statistics were last refreshed (SQLite).
    #[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
    since_analyze: std::sync::atomic::AtomicU64,
    /// Rows written before the first refresh (0: never; SQLite files only).
    #[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
    analyze_every: u64,
    /// Rows written before the next refresh (doubles after each).
    #[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
    analyze_at: std::sync::atomic::AtomicU64,
}

impl Inner {
    fn new(
        write: DatabaseConnection,
        read: DatabaseConnection,
        dialect: Dialect,
        lock_wait: Option<Duration>,
        analyze_every: u64,
    ) -> Self {
        let (since_analyze, analyze_at) = Default::default();
        Inner { write, read, dialect, lock_wait, since_analyze, analyze_every, analyze_at }
    }
}

fn aborted(why: &str) -> Error {
    Error::storage(format!("the transaction was aborted by an earlier failed write: {why}"))
}

pub(crate) fn db_err(e: DbErr) -> Error {
    Error::Storage(Box::new(e))
}

impl SqlStore {
    /// Opens (creating if needed) the SQLite database file at `path` with the default
    /// [`SqliteOptions`]: WAL journal, foreign keys, one writer connection (write transactions
    /// of this process queue rather than fail with "database is locked"), four reader
    /// connections; writes wait up to two minutes for another process's. Migrates it to the
    /// current schema.
    #[cfg(feature = "sqlite")]
    pub async fn sqlite(path: impl AsRef<std::path::Path>) -> Result<Self> {
        Self::sqlite_with(path, &SqliteOptions::default()).await
    }

    /// [`sqlite`](Self::sqlite) with chosen [`SqliteOptions`].
    #[cfg(feature = "sqlite")]
    pub async fn sqlite_with(path: impl AsRef<std::path::Path>, options: &SqliteOptions) -> Result<Self> {
        let (write, read) = crate::sqlite::open(path.as_ref(), options).await?;
        let lock_wait = Some(options.write_wait_time());
        let analyze_every = options.analyze_every_rows();
        Ok(SqlStore { inner: Arc::new(Inner::new(write, read, Dialect::Sqlite, lock_wait, analyze_every)) })
    }

    /// A private in-memory SQLite database (one connection; gone when the store is dropped).
    #[cfg(feature = "sqlite")]
    pub async fn sqlite_in_memory() -> Result<Self> {
        let db = crate::sqlite::open_in_memory().await?;
        migrate(&db, None).await?;
        Ok(SqlStore { inner: Arc::new(Inner::new(db.clone(), db, Dialect::Sqlite, None, 0)) })
    }

    /// Connects to PostgreSQL at `url` (`postgres://user:pass@host:port/db`) with a pool of
    /// `max_connections` and migrates the database (or the schema named by `search_path`).
    #[cfg(feature = "postgres")]
    pub async fn postgres(url: &str) -> Result<Self> {
        Self::postgres_with(url, 10).await
    }

    /// [`postgres`](Self::postgres) with a chosen pool size.
    #[cfg(feature = "postgres")]
    pub async fn postgres_with(url: &str, max_connections: u32) -> Result<Self> {
        let mut opt = sea_orm::ConnectOptions::new(url.to_owned());
        opt.max_connections(Ord::max(max_connections, 1)).sqlx_logging(false);
        let db = sea_orm::Database::connect(opt).await.map_err(db_err)?;
        migrate(&db, None).await?;
        Ok(SqlStore { inner: Arc::new(Inner::new(db.clone(), db, Dialect::Postgres, None, 0)) })
    }

    /// The sea-orm connection writes go through (for reports, backups, custom SQL).
    pub fn connection(&self) -> &DatabaseConnection {
        &self.inner.write
    }

    /// The database's plan for the page of `kind` records that `query` asks for in `tenant`,
    /// one line per plan node: `EXPLAIN` on PostgreSQL, `EXPLAIN QUERY PLAN` on SQLite. For
    /// seeing which index serves a list: standard fields are indexed as [`schema::indexes`]
    /// lists, custom fields when defined `indexed`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> crm_core::error::Result<()> {
    /// use crm_core::{entity::EntityKind, ids::TenantId, query::{Filter, Query}};
    /// let store = crm_storage::SqlStore::sqlite_in_memory().await?;
    /// let newest = Query::new(Filter::All).sort_desc("updated_at");
    /// let plan = store.explain(TenantId::new(), EntityKind::Contact, &newest).await?;
    /// assert!(plan.contains("ix_contacts_updated_at"), "{plan}");
    /// # Ok(()) }
    /// ```
    ///
    /// [`schema::indexes`]: crate::schema::indexes
    pub async fn explain(&self, tenant: TenantId, kind: EntityKind, query: &Query) -> Result<String> {
        let (q, _) = crate::list::page(self.inner.dialect, tenant, kind, query)?;
        let db = &self.inner.read;
        let backend = db.get_database_backend();
        let mut stmt = backend.build(&q);
        let (prefix, column) = match self.inner.dialect {
            Dialect::Postgres => ("EXPLAIN ", "QUERY PLAN"),
            Dialect::Sqlite => ("EXPLAIN QUERY PLAN ", "detail"),
        };
        stmt.sql = format!("{prefix}{}", stmt.sql);
        let rows = db.query_all_raw(stmt).await.map_err(db_err)?;
        let lines = rows.iter().map(|r| r.try_get::<String>("", column).map_err(db_err)).collect::<Result<Vec<_>>>()?;
        Ok(lines.join("\n"))
    }
}

/// Applies pending migrations and syncs the record tables, in one transaction.
pub(crate) async fn migrate(db: &DatabaseConnection, lock_wait: Option<Duration>) -> Result<()> {
    let tx = begin_write(db, lock_wait).await?;
    if db.get_database_backend() == DbBackend::Postgres {
        // Concurrent opens (several app instances) migrate one at a time.
        tx.execute_unprepared("SELECT pg_advisory_xact_lock(7243198211)").await.map_err(db_err)?;
    }
    // Record tables first: they derive from crm-core, and migrations may read them.
    sync_record_tables(&tx).await.map_err(db_err)?;
    Migrator::up(&tx, None).await.map_err(db_err)?;
    tx.commit().await.map_err(db_err)
}

/// A write transaction: on SQLite `BEGIN IMMEDIATE`, taken at once so that writers queue on
/// the lock rather than fail on upgrading a read; with `lock_wait` (a file other processes may
/// write), tried again while another process holds the lock, for that long in all.
async fn begin_write(db: &DatabaseConnection, lock_wait: Option<Duration>) -> Result<DatabaseTransaction> {
    match db.get_database_backend() {
        #[cfg(feature = "sqlite")]
        DbBackend::Sqlite => crate::sqlite::begin_immediate(db, lock_wait).await,
        _ => {
            let _ = lock_wait;
            db.begin_with_options(TransactionOptions::default()).await.map_err(db_err)
        }
    }
}

#[async_trait]
impl Store for SqlStore {
    async fn begin(&self, tenant: TenantId, mode: TxMode) -> Result<Box<dyn Transaction>> {
        Ok(Box::new(SqlTx {
            inner: self.inner.clone(),
            tenant,
            mode,
            tx: None,
            poisoned: None,
            events: Vec::new(),
            rows: 0,
        }))
    }

    async fn read_events(&self, tenant: TenantId, query: &EventQuery) -> Result<Vec<StoredEvent>> {
        let db = &self.inner.read;
        let limit = query.limit.min(100_000) as u64;
        let mut q = Sql::select();
        q.columns([Alias::new("seq"), Alias::new("data")]).from(Alias::new("crm_events"));
        q.and_where(Expr::col(Alias::new("tenant_id")).eq(tenant.as_uuid()));
        q.and_where(Expr::col(Alias::new("seq")).gt(i64::try_from(query.after).unwrap_or(i64::MAX)));
        if let Some(r) = &query.touching {
            let mut sub = Sql::select();
            sub.column(Alias::new("seq")).from(Alias::new("crm_event_touches"));
            sub.and_where(Expr::col(Alias::new("tenant_id")).eq(tenant.as_uuid()));
            sub.and_where(Expr::col(Alias::new("kind")).eq(r.kind.as_str()));
            sub.and_where(Expr::col(Alias::new("ref_id")).eq(r.id));
            sub.and_where(Expr::col(Alias::new("seq")).gt(i64::try_from(query.after).unwrap_or(i64::MAX)));
            q.and_where(Expr::col(Alias::new("seq")).in_subquery(sub));
        }
        q.order_by(Alias::new("seq"), Order::Asc).limit(limit);
        let rows = db.query_all(&q).await.map_err(db_err)?;
        rows.iter()
            .map(|row| {
                let seq: i64 = row.try_get("", "seq").map_err(db_err)?;
                let data: String = row.try_get("", "data").map_err(db_err)?;
                let event: Event = serde_json::from_str(&data)
                    .map_err(|e| Error::storage(format!("stored event {seq} does not decode: {e}")))?;
                Ok(StoredEvent { seq: seq as u64, event })
            })
            .collect()
    }

    async fn scrub_events(&self, tenant: TenantId, events: &[StoredEvent]) -> Result<()> {
        let tx = begin_write(&self.inner.write, self.inner.lock_wait).await?;
        // On an error the transaction is dropped, and rolled back.
        crate::chain::scrub(&tx, tenant, events).await?;
        tx.commit().await.map_err(db_err)
    }

    async fn verify_events(&self, tenant: TenantId) -> Result<ChainReport> {
        crate::chain::verify(&self.inner.read, tenant).await
    }

    // SQLite overwrites deleted content with zeros as it goes (`secure_delete`); what is left
    // are the search index's old segments and the WAL's copies of old pages. PostgreSQL leaves
    // old row versions to VACUUM, which cannot run in a transaction: nothing to do here.
    async fn purge(&self, _tenant: TenantId) -> Result<()> {
        match self.inner.dialect {
            #[cfg(feature = "sqlite")]
            Dialect::Sqlite => {
                crate::sqlite::purge(&self.inner.write, self.inner.lock_wait.unwrap_or(Duration::from_secs(5))).await
            }
            _ => Ok(()),
        }
    }

    // An index on the exact expression the query compiler writes for the key (`custom_scalar_sql`),
    // on SQLite as on PostgreSQL, rather than a generated column on SQLite: SQLite uses an index
    // on a generated column only for queries that name the column (checked: for the expression
    // its plan is `USING INDEX ix (tenant=?)`, for the column `(tenant=? AND g>? AND g<?)`), so
    // the compiler would have to know each table's columns. The expression index holds the same
    // entries (a virtual column's value lives only in its index too), needs no ALTER TABLE, and
    // serves equality and range filters and sorts (tests in crm-plugins' `queries.rs`).
    async fn ensure_custom_index(&self, kind: EntityKind, key: &str) -> Result<()> {
        if !kind.has_custom_fields() || !crate::filter::literal_key(key) {
            return Err(Error::invalid(
                "key",
                crm_core::error::FieldErrorCode::InvalidFormat,
                format!("custom field `{key}` of {kind} records cannot be indexed"),
            ));
        }
        let t = table(kind);
        let mut name = format!("ix_{t}_cf_{}", key.replace('.', "__"));
        if name.len() > 60 {
            use std::hash::{Hash, Hasher};
            let mut h = std::collections::hash_map::DefaultHasher::new();
            key.hash(&mut h);
            name = format!("ix_{t}_cf_{:016x}", h.finish());
        }
        let expr = crate::filter::custom_scalar_sql(self.inner.dialect, key);
        let def = crate::schema::index_def(name, &[expr], self.inner.dialect == Dialect::Postgres);
        // Only a missing index is created (see `sync_record_tables` for why).
        let existing = crate::migration::existing_indexes(&self.inner.write).await.map_err(db_err)?;
        crate::migration::create_index(&self.inner.write, &existing, t, &def).await.map_err(db_err)
    }
}

struct SqlTx {
    inner: Arc<Inner>,
    tenant: TenantId,
    mode: TxMode,
    /// Begun at the first statement, so an idle transaction holds no connection or lock.
    tx: Option<DatabaseTransaction>,
    /// Why the transaction can no longer commit (a write failed).
    poisoned: Option<String>,
    /// Events to write at commit.
    events: Vec<Event>,
    /// Rows this transaction wrote.
    rows: u64,
}

impl SqlTx {
    async fn db(&mut self) -> Result<&DatabaseTransaction> {
        // After a failed write the SQL transaction was rolled back; later statements run in a
        // fresh one (so they still report NotFound, Conflict…), which commit never commits.
        if self.tx.is_none() {
            let tx = match self.mode {
                TxMode::ReadWrite => begin_write(&self.inner.write, self.inner.lock_wait).await?,
                TxMode::ReadOnly => {
                    let access = match self.inner.dialect {
                        Dialect::Postgres => Some(AccessMode::ReadOnly),
                        Dialect::Sqlite => None,
                    };
                    self.inner.read.begin_with_config(None, access).await.map_err(db_err)?
                }
            };
            self.tx = Some(tx);
        }
        self.tx.as_ref().ok_or_else(|| Error::storage("transaction not started"))
    }

    fn writable(&self) -> Result<()> {
        match self.mode {
            TxMode::ReadWrite => Ok(()),
            TxMode::ReadOnly => Err(Error::Forbidden("write in a read-only transaction".into())),
        }
    }

    fn own_tenant(&self, record: &Record) -> Result<()> {
        if record.tenant_id() != self.tenant {
            return Err(Error::Forbidden(format!(
                "{} {} belongs to another tenant than this transaction",
                record.kind(),
                record.id()
            )));
        }
        Ok(())
    }

    /// Marks the transaction failed if `res` is an error, and rolls the SQL transaction back
    /// at once, so its connection (on SQLite, the one writer) is free for others at once.
    async fn track<T>(&mut self, res: Result<T>) -> Result<T> {
        if let Err(e) = &res
            && self.poisoned.is_none()
        {
            self.poisoned = Some(e.to_string());
            if let Some(tx) = self.tx.take() {
                let _ = tx.rollback().await;
            }
        }
        res
    }

    fn backend(&self) -> DbBackend {
        match self.inner.dialect {
            Dialect::Sqlite => DbBackend::Sqlite,
            Dialect::Postgres => DbBackend::Postgres,
        }
    }

    async fn stored_version(&mut self, kind: EntityKind, id: Uuid) -> Result<Option<u64>> {
        let mut q = Sql::select();
        q.column(Alias::new("version")).from(Alias::new(table(kind)));
        q.and_where(Expr::col(Alias::new("tenant_id")).eq(self.tenant.as_uuid()));
        q.and_where(Expr::col(Alias::new("id")).eq(id));
        let row = self.db().await?.query_one(&q).await.map_err(db_err)?;
        match row {
            Some(r) => Ok(Some(r.try_get::<i64>("", "version").map_err(db_err)? as u64)),
            None => Ok(None),
        }
    }

    async fn claim_keys(&mut self, record: &Record) -> Result<()> {
        let kind = record.kind();
        for key in record.unique_keys() {
            let mut q = Sql::insert();
            q.into_table(Alias::new("crm_unique"))
                .columns(["tenant_id", "kind", "field", "value", "owner_id"].map(Alias::new))
                .values_panic([
                    self.tenant.as_uuid().into(),
                    kind.as_str().into(),
                    key.field.into(),
                    key.value.clone().into(),
                    record.id().into(),
                ])
                .on_conflict(
                    OnConflict::columns(["tenant_id", "kind", "field", "value"].map(Alias::new))
                        .do_nothing()
                        .to_owned(),
                );
            let res = self.db().await?.execute(&q).await.map_err(db_err)?;
            if res.rows_affected() == 0 {
                return Err(key.duplicate_error(kind));
            }
        }
        Ok(())
    }

    async fn release_keys(&mut self, kind: EntityKind, id: Uuid) -> Result<()> {
        let mut q = Sql::delete();
        q.from_table(Alias::new("crm_unique"));
        q.and_where(Expr::col(Alias::new("tenant_id")).eq(self.tenant.as_uuid()));
        q.and_where(Expr::col(Alias::new("kind")).eq(kind.as_str()));
        q.and_where(Expr::col(Alias::new("owner_id")).eq(id));
        self.db().await?.execute(&q).await.map_err(db_err)?;
        Ok(())
    }

    async fn insert_inner(&mut self, record: Record) -> Result<()> {
        self.writable()?;
        self.own_tenant(&record)?;
        let (kind, id) = (record.kind(), record.id());
        if record.version() != 1 {
            let found = self.stored_version(kind, id).await?;
            return Err(Error::Conflict { kind, id, expected: 0, found });
        }
        let stmt = insert_stmt(self.backend(), &[&record], true)?;
        let res = self.db().await?.execute_raw(stmt).await.map_err(db_err)?;
        if res.rows_affected() == 0 {
            let found = self.stored_version(kind, id).await?;
            return Err(Error::Conflict { kind, id, expected: 0, found });
        }
        crate::search::index(self.db().await?, &record, true).await.map_err(db_err)?;
        self.claim_keys(&record).await
    }

    /// Multi-row inserts, per kind in statements of as many rows as the engine's bound-variable
    /// limit allows (SQLite 32766, PostgreSQL 65535), then the search rows and unique keys.
    async fn insert_many_inner(&mut self, records: &[Record]) -> Result<()> {
        self.writable()?;
        for r in records {
            self.own_tenant(r)?;
            if r.version() != 1 {
                let found = self.stored_version(r.kind(), r.id()).await?;
                return Err(Error::Conflict { kind: r.kind(), id: r.id(), expected: 0, found });
            }
        }
        let mut seen = std::collections::HashSet::with_capacity(records.len());
        for r in records {
            if !seen.insert((r.kind(), r.id())) {
                return Err(Error::Conflict { kind: r.kind(), id: r.id(), expected: 0, found: Some(1) });
            }
        }
        let mut kinds: Vec<EntityKind> = records.iter().map(Record::kind).collect();
        kinds.sort();
        kinds.dedup();
        let backend = self.backend();
        for kind in kinds {
            let group: Vec<&Record> = records.iter().filter(|r| r.kind() == kind).collect();
            for chunk in group.chunks(rows_per_statement(backend, 5 + columns(kind).len())) {
                // A savepoint keeps the transaction usable after a clash (PostgreSQL aborts
                // it otherwise), so the clashing id can be looked up and reported.
                let stmt = insert_stmt(backend, chunk, false)?;
                let db = self.db().await?;
                db.execute_unprepared("SAVEPOINT crm_insert_many").await.map_err(db_err)?;
                match db.execute_raw(stmt).await {
                    Ok(_) => {
                        db.execute_unprepared("RELEASE SAVEPOINT crm_insert_many").await.map_err(db_err)?;
                    }
                    Err(e) if matches!(e.sql_err(), Some(sea_orm::SqlErr::UniqueConstraintViolation(_))) => {
                        db.execute_unprepared("ROLLBACK TO SAVEPOINT crm_insert_many").await.map_err(db_err)?;
                        return Err(self.first_clash(chunk).await);
                    }
                    Err(e) => return Err(db_err(e)),
                }
                crate::search::index_new(self.db().await?, chunk).await.map_err(db_err)?;
            }
        }
        for r in records {
            self.claim_keys(r).await?;
        }
        Ok(())
    }

    /// The `Conflict` of the first record of a refused multi-row insert whose id is stored.
    async fn first_clash(&mut self, chunk: &[&Record]) -> Error {
        for r in chunk {
            match self.stored_version(r.kind(), r.id()).await {
                Ok(Some(found)) => {
                    return Error::Conflict { kind: r.kind(), id: r.id(), expected: 0, found: Some(found) };
                }
                Ok(None) => {}
                Err(e) => return e,
            }
        }
        Error::storage("a multi-row insert was refused as a duplicate, but no id of it is stored")
    }

    async fn update_inner(&mut self, record: Record) -> Result<()> {
        self.writable()?;
        self.own_tenant(&record)?;
        let (kind, id) = (record.kind(), record.id());
        let expected = record.version().saturating_sub(1);
        if record.version() == 0 {
            let found = self.stored_version(kind, id).await?;
            return Err(Error::Conflict { kind, id, expected, found });
        }
        let mut stmt = update_derived_query(&record)?;
        stmt.and_where(Expr::col(Alias::new("version")).eq(expected as i64));
        let stmt = self.backend().build(&stmt);
        let res = self.db().await?.execute_raw(stmt).await.map_err(db_err)?;
        if res.rows_affected() == 0 {
            let found = self.stored_version(kind, id).await?;
            return Err(Error::Conflict { kind, id, expected, found });
        }
        crate::search::index(self.db().await?, &record, false).await.map_err(db_err)?;
        self.release_keys(kind, id).await?;
        self.claim_keys(&record).await
    }

    async fn delete_inner(&mut self, kind: EntityKind, id: Uuid, version: u64) -> Result<()> {
        self.writable()?;
        let mut q = Sql::delete();
        q.from_table(Alias::new(table(kind)));
        q.and_where(Expr::col(Alias::new("tenant_id")).eq(self.tenant.as_uuid()));
        q.and_where(Expr::col(Alias::new("id")).eq(id));
        q.and_where(Expr::col(Alias::new("version")).eq(i64::try_from(version).unwrap_or(i64::MAX)));
        let res = self.db().await?.execute(&q).await.map_err(db_err)?;
        if res.rows_affected() == 0 {
            return match self.stored_version(kind, id).await? {
                None => Err(Error::NotFound { kind, id }),
                Some(v) => Err(Error::Conflict { kind, id, expected: version, found: Some(v) }),
            };
        }
        let tenant = self.tenant.as_uuid();
        crate::search::unindex(self.db().await?, tenant, kind, id).await.map_err(db_err)?;
        self.release_keys(kind, id).await
    }

    /// `WHERE tenant AND filter` for a kind.
    fn select_base(&self, kind: EntityKind, filter: &Filter) -> (Compiler, sea_orm::sea_query::SelectStatement) {
        crate::list::select(self.inner.dialect, self.tenant, kind, filter)
    }

    async fn commit_inner(&mut self) -> Result<Vec<StoredEvent>> {
        if let Some(why) = &self.poisoned {
            return Err(aborted(why));
        }
        let events = std::mem::take(&mut self.events);
        let mut stored = Vec::new();
        if !events.is_empty() {
            let tenant = self.tenant;
            stored = crate::chain::append(self.db().await?, tenant, events).await?;
        }
        if let Some(tx) = self.tx.take() {
            tx.commit().await.map_err(db_err)?;
        }
        Ok(stored)
    }
}

#[async_trait]
impl Transaction for SqlTx {
    fn tenant(&self) -> TenantId {
        self.tenant
    }

    async fn get(&mut self, kind: EntityKind, id: Uuid) -> Result<Option<Record>> {
        let mut q = Sql::select();
        q.column(Alias::new("data")).from(Alias::new(table(kind)));
        q.and_where(Expr::col(Alias::new("tenant_id")).eq(self.tenant.as_uuid()));
        q.and_where(Expr::col(Alias::new("id")).eq(id));
        let row = self.db().await?.query_one(&q).await.map_err(db_err)?;
        match row {
            Some(r) => Ok(Some(decode(&r.try_get::<String>("", "data").map_err(db_err)?, kind)?)),
            None => Ok(None),
        }
    }

    async fn insert(&mut self, record: Record) -> Result<()> {
        let res = self.insert_inner(record).await;
        self.rows += 1;
        self.track(res).await
    }

    async fn insert_many(&mut self, records: &[Record]) -> Result<()> {
        let res = self.insert_many_inner(records).await;
        self.rows += records.len() as u64;
        self.track(res).await
    }

    async fn update(&mut self, record: Record) -> Result<()> {
        let res = self.update_inner(record).await;
        self.rows += 1;
        self.track(res).await
    }

    async fn delete(&mut self, kind: EntityKind, id: Uuid, version: u64) -> Result<()> {
        let res = self.delete_inner(kind, id, version).await;
        self.rows += 1;
        self.track(res).await
    }

    async fn query(&mut self, kind: EntityKind, query: &Query) -> Result<Page<Record>> {
        let (q, limit) = crate::list::page(self.inner.dialect, self.tenant, kind, query)?;
        let rows = self.db().await?.query_all(&q).await.map_err(db_err)?;
        let mut items = rows
            .iter()
            .map(|r| decode(&r.try_get::<String>("", "data").map_err(db_err)?, kind))
            .collect::<Result<Vec<Record>>>()?;
        let has_more = items.len() > limit;
        items.truncate(limit);
        let next = if has_more { items.last().map(|r| Cursor::after(r, &query.sort)) } else { None };
        Ok(Page { items, next })
    }

    async fn count(&mut self, kind: EntityKind, filter: &Filter) -> Result<u64> {
        let (_, mut q) = self.select_base(kind, filter);
        q.expr_as(Expr::cust("COUNT(*)"), Alias::new("n"));
        let row = self.db().await?.query_one(&q).await.map_err(db_err)?;
        let n: i64 = match row {
            Some(r) => r.try_get("", "n").map_err(db_err)?,
            None => 0,
        };
        Ok(n as u64)
    }

    async fn aggregate(&mut self, plan: &Plan) -> Result<Vec<AggregateRow>> {
        let (d, t) = (self.inner.dialect, self.tenant);
        crate::aggregate::run(self.db().await?, d, t, plan).await
    }

    async fn search(&mut self, kinds: &[(EntityKind, Filter)], terms: &[String], limit: usize) -> Result<Vec<Record>> {
        let tenant = self.tenant.as_uuid();
        let limit = limit.min(MAX_PAGE_SIZE);
        let (d, t) = (self.inner.dialect, self.tenant);
        let hits = crate::search::search(self.db().await?, d, t, kinds, terms, limit).await.map_err(db_err)?;
        // Load the records, kind by kind, and return them in rank order.
        let mut found: std::collections::HashMap<(EntityKind, Uuid), Record> = std::collections::HashMap::new();
        for kind in crm_core::search::SEARCHABLE {
            let ids: Vec<Uuid> = hits.iter().filter(|(k, _)| k == kind).map(|(_, id)| *id).collect();
            if ids.is_empty() {
                continue;
            }
            let mut q = Sql::select();
            q.column(Alias::new("data")).from(Alias::new(table(*kind)));
            q.and_where(Expr::col(Alias::new("tenant_id")).eq(tenant));
            q.and_where(Expr::col(Alias::new("id")).is_in(ids));
            for row in self.db().await?.query_all(&q).await.map_err(db_err)? {
                let r = decode(&row.try_get::<String>("", "data").map_err(db_err)?, *kind)?;
                found.insert((*kind, r.id()), r);
            }
        }
        Ok(hits.iter().filter_map(|key| found.remove(key)).collect())
    }

    async fn append_events(&mut self, events: Vec<Event>) -> Result<()> {
        self.writable()?;
        if let Some(e) = events.iter().find(|e| e.tenant_id != self.tenant) {
            return Err(Error::Forbidden(format!("event {} belongs to another tenant", e.id)));
        }
        self.events.extend(events);
        Ok(())
    }

    async fn commit(mut self: Box<Self>) -> Result<Vec<StoredEvent>> {
        let res = self.commit_inner().await;
        if res.is_err()
            && let Some(tx) = self.tx.take()
        {
            let _ = tx.rollback().await;
        }
        #[cfg(feature = "sqlite")]
        if res.is_ok() && self.inner.analyze_every > 0 && self.rows > 0 {
            use std::sync::atomic::Ordering::Relaxed;
            let written = self.inner.since_analyze.fetch_add(self.rows, Relaxed) + self.rows;
            let due = Ord::max(self.inner.analyze_at.load(Relaxed), self.inner.analyze_every);
            if written >= due {
                self.inner.since_analyze.store(0, Relaxed);
                self.inner.analyze_at.store(due.saturating_mul(2), Relaxed);
                crate::sqlite::analyze(&self.inner.write).await;
            }
        }
        res
    }

    async fn rollback(mut self: Box<Self>) -> Result<()> {
        match self.tx.take() {
            Some(tx) => tx.rollback().await.map_err(db_err),
            None => Ok(()),
        }
    }
}
