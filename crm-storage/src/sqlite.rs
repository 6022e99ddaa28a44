//! Opening a SQLite file and sharing it with other processes: [`SqliteOptions`], the switch
//! to WAL, and write transactions that wait for another process's lock.
//!
//! Within one process, writes queue on the store's single writer connection. Across
//! processes they meet at SQLite's file lock: a write waits [`SqliteOptions::busy_timeout`]
//! for it at a time and, while another process still holds it, tries again until
//! [`SqliteOptions::write_wait`] has passed, then fails with [`Error::Busy`] having written
//! nothing.

use std::path::Path;
use std::time::{Duration, Instant};

use crm_core::error::{Error, Result};
use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions, SqliteSynchronous};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, SqliteTransactionMode, Statement,
    TransactionOptions, TransactionTrait,
};

use crate::store::{db_err, migrate};

/// How a SQLite file is opened by [`SqlStore::sqlite_with`](crate::SqlStore::sqlite_with).
///
/// ```
/// use std::time::Duration;
/// use crm_storage::SqliteOptions;
/// let options = SqliteOptions::default().write_wait(Duration::from_secs(30)).readers(8);
/// assert_eq!(options.write_wait_time(), Duration::from_secs(30));
/// ```
#[derive(Clone, Debug)]
pub struct SqliteOptions {
    busy_timeout: Duration,
    write_wait: Duration,
    readers: u32,
    analyze_every: u64,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            busy_timeout: Duration::from_secs(10),
            write_wait: Duration::from_secs(120),
            readers: 4,
            analyze_every: ANALYZE_EVERY,
        }
    }
}

impl SqliteOptions {
    /// How long one attempt waits for a lock another connection or process holds (SQLite's
    /// busy timeout; default 10 s).
    pub fn busy_timeout(mut self, wait: Duration) -> Self {
        self.busy_timeout = wait;
        self
    }

    /// How long a write waits in all for another process's write transaction to end before
    /// failing with [`Error::Busy`] (default 120 s, as long as a write waits for this
    /// process's own writers).
    pub fn write_wait(mut self, wait: Duration) -> Self {
        self.write_wait = wait;
        self
    }

    /// After how many rows written by this store the query planner's statistics are first
    /// refreshed (default 20,000; 0 never); each later refresh waits for twice as many rows
    /// as the one before, so they grow rare as the data grows. They let SQLite pick the most
    /// selective index, for instance the owner's for a sales rep's list of one stage rather
    /// than the stage's. A file without statistics gets them on open.
    pub fn analyze_every(mut self, rows: u64) -> Self {
        self.analyze_every = rows;
        self
    }

    /// The rows written between refreshes of the planner's statistics.
    pub fn analyze_every_rows(&self) -> u64 {
        self.analyze_every
    }

    /// Reader connections (default 4, at least 1).
    pub fn readers(mut self, readers: u32) -> Self {
        self.readers = readers.max(1);
        self
    }

    /// The total wait of a write (see [`write_wait`](Self::write_wait)).
    pub fn write_wait_time(&self) -> Duration {
        self.write_wait
    }
}

/// The writer and reader pools of the file at `path`, created if missing, in WAL mode and
/// migrated.
pub(crate) async fn open(path: &Path, options: &SqliteOptions) -> Result<(DatabaseConnection, DatabaseConnection)> {
    // No `journal_mode` here: WAL is set once per file by `ensure_wal`, which waits for
    // another process opening the file at the same moment.
    let opts = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(options.busy_timeout)
        .foreign_keys(true);
    // Checkpoint the WAL every ~40 MB instead of SQLite's 4 MB: bulk writes then copy a
    // hot index page to the database once per checkpoint rather than once per batch
    // (measured: imports ~20 % faster); the WAL file may grow to that size.
    // Deleted content is overwritten with zeros, so that what an erasure removes is gone from
    // the file (and from the WAL once it is checkpointed: see `purge`).
    let write_opts = opts.clone().pragma("wal_autocheckpoint", "10000").pragma("secure_delete", "on");
    let write = pool(write_opts, 1).await?;
    ensure_wal(&write, options.write_wait).await?;
    // Migrate before the readers connect, so they see the final schema.
    migrate(&write, Some(options.write_wait)).await?;
    if !has_statistics(&write).await? {
        analyze(&write).await;
    }
    let read = pool(opts.create_if_missing(false).read_only(true), options.readers).await?;
    Ok((write, read))
}

/// After how many rows written the planner's statistics are refreshed, by default.
const ANALYZE_EVERY: u64 = 20_000;

/// Refreshes the planner's statistics, so that it knows, say, that one owner's contacts are
/// fewer than one stage's and lists a sales rep's leads from the owner's index. Without
/// statistics SQLite takes every equality as equally selective. The whole of every index is
/// read: a sampled `ANALYZE` (`analysis_limit`) reads the first rows in index order, and its
/// samples then make the stages past them look rare (measured: half of a rep's stage lists
/// went back to the stage's index). The refreshes grow rare as the data grows (see
/// [`SqliteOptions::analyze_every`]). A failure (another process holding the lock) only
/// leaves the old statistics.
pub(crate) async fn analyze(db: &DatabaseConnection) {
    // Other connections read statistics when they load the schema: a table made and dropped
    // in the same transaction changes it, so that the readers load the new ones.
    let sql = "BEGIN IMMEDIATE; ANALYZE; CREATE TABLE crm_analyzed (x); DROP TABLE crm_analyzed; COMMIT;";
    if let Err(e) = db.execute_unprepared(sql).await {
        tracing::debug!(error = %e, "refreshing SQLite statistics failed; the old ones stay");
    }
}

/// Removes deleted data from the files: merges the search index into one segment (dropping the
/// entries of deleted documents, which FTS5 otherwise keeps until its segments merge), then
/// checkpoints the WAL into the database and truncates it. The checkpoint waits for readers
/// still on old pages, for `wait` at most, then fails with [`Error::Busy`].
pub(crate) async fn purge(db: &DatabaseConnection, wait: Duration) -> Result<()> {
    let optimize = "INSERT INTO crm_search(crm_search) VALUES('optimize')";
    db.execute_unprepared(optimize).await.map_err(db_err)?;
    retry_busy(wait, "truncating the WAL after a purge", || async {
        let stmt = Statement::from_string(DbBackend::Sqlite, "PRAGMA wal_checkpoint(TRUNCATE)");
        let busy = db.query_one_raw(stmt).await?.map(|row| row.try_get_by_index::<i64>(0)).transpose()?;
        Ok((busy == Some(0)).then_some(()))
    })
    .await
}

/// Whether the database has planner statistics.
async fn has_statistics(db: &DatabaseConnection) -> Result<bool> {
    let stmt = Statement::from_string(
        DbBackend::Sqlite,
        "SELECT count(*) AS n FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_stat1'",
    );
    let row = db.query_one_raw(stmt).await.map_err(db_err)?;
    Ok(row.map(|r| r.try_get::<i64>("", "n")).transpose().map_err(db_err)?.unwrap_or(0) > 0)
}

/// One connection to a private in-memory database.
pub(crate) async fn open_in_memory() -> Result<DatabaseConnection> {
    pool(SqliteConnectOptions::new().in_memory(true).foreign_keys(true), 1).await
}

async fn pool(opts: SqliteConnectOptions, max: u32) -> Result<DatabaseConnection> {
    let pool = SqlitePoolOptions::new()
        .max_connections(max)
        .min_connections(1)
        // An in-memory database lives as long as its connection: never recycle it.
        .idle_timeout(None)
        .max_lifetime(None)
        .acquire_timeout(Duration::from_secs(120))
        .connect_with(opts)
        .await
        .map_err(|e| Error::storage(format!("cannot open the SQLite database: {e}")))?;
    Ok(sea_orm::SqlxSqliteConnector::from_sqlx_sqlite_pool(pool))
}

/// Tries `attempt` until it succeeds, fails otherwise than busy, or `wait` has passed (then
/// [`Error::Busy`] saying `what`), pausing a little longer each time.
async fn retry_busy<T, F, Fut>(wait: Duration, what: &str, mut attempt: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = std::result::Result<Option<T>, DbErr>>,
{
    let started = Instant::now();
    let mut pause = Duration::from_millis(5);
    loop {
        let why = match attempt().await {
            Ok(Some(t)) => return Ok(t),
            Ok(None) => None,
            Err(e) if is_busy(&e) => Some(e),
            Err(e) => return Err(db_err(e)),
        };
        if started.elapsed() >= wait {
            let why = why.map_or_else(|| "the lock was not to be had".to_owned(), |e| e.to_string());
            return Err(Error::Busy(format!("{what} waited {wait:?} for another process ({why})")));
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(100));
    }
}

/// Puts the database file in WAL mode, which it keeps, unless it is in it already. The switch
/// needs a lock SQLite does not wait for with its busy timeout, so while another process holds
/// it (opening the same new file at the same moment) it is tried again.
async fn ensure_wal(db: &DatabaseConnection, wait: Duration) -> Result<()> {
    retry_busy(wait, "switching the SQLite file to WAL", || async {
        let stmt = Statement::from_string(DbBackend::Sqlite, "PRAGMA journal_mode = WAL");
        let mode = db.query_one_raw(stmt).await?.map(|row| row.try_get::<String>("", "journal_mode")).transpose()?;
        // The mode stays as it was when the lock was not to be had.
        Ok(mode.filter(|m| m.eq_ignore_ascii_case("wal")).map(|_| ()))
    })
    .await
}

/// `BEGIN IMMEDIATE`, tried again while another process holds the write lock (for `wait` in
/// all; once without a `wait`).
pub(crate) async fn begin_immediate(db: &DatabaseConnection, wait: Option<Duration>) -> Result<DatabaseTransaction> {
    let opts =
        TransactionOptions { sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate), ..Default::default() };
    retry_busy(wait.unwrap_or_default(), "a write", || async { db.begin_with_options(opts).await.map(Some) }).await
}

/// Whether a database error is SQLite's "database is locked" (SQLITE_BUSY, code 5).
fn is_busy(e: &DbErr) -> bool {
    use sea_orm::RuntimeErr::SqlxError;
    match e {
        DbErr::Query(SqlxError(x)) | DbErr::Exec(SqlxError(x)) | DbErr::Conn(SqlxError(x)) => {
            matches!(&**x, sea_orm::sqlx::Error::Database(d) if d.code().as_deref() == Some("5"))
        }
        _ => false,
    }
}
