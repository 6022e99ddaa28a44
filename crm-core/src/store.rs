//! The storage contract every backend implements.

use async_trait::async_trait;
use uuid::Uuid;

use crate::aggregate::{AggregateRow, Plan};
use crate::chain::ChainReport;
use crate::entity::EntityKind;
use crate::error::{Error, Result};
use crate::event::{Event, EventQuery, StoredEvent};
use crate::ids::TenantId;
use crate::model::{Entity, Record};
use crate::query::{Filter, Page, Query};

/// Whether a transaction may write.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TxMode {
    /// Reads only; writes are refused with [`Error::Forbidden`].
    ReadOnly,
    /// Reads and writes.
    ReadWrite,
}

/// A storage backend. Object-safe: use it as `Arc<dyn Store>`.
///
/// The contract (checked by the conformance kit, feature `testkit`):
/// - Every transaction is bound to one tenant; no read, write or event crosses tenants.
/// - Writes are optimistic: an update must carry `version = stored version + 1`, a delete the
///   stored version, an insert version 1 and a fresh id; otherwise [`Error::Conflict`]. A
///   concurrent transaction that committed first wins; the later commit fails with `Conflict`
///   and writes nothing.
/// - Unique keys ([`Record::unique_keys`]) hold per tenant and kind: a write (or a commit racing
///   another) that would give two records the same key fails with [`Error::Validation`], code
///   `Duplicate`, naming the key's field, and the transaction writes nothing. Keys are checked
///   write by write, as SQL's immediate constraints are: within one transaction a key is freed
///   (delete, or update to another value) before another record claims it.
/// - A write that fails poisons its transaction: `commit` fails and nothing of it is written.
///   (Later writes may fail too, as every statement does after a failed one in PostgreSQL.)
/// - Events appended in a transaction are committed with it, atomically, and numbered per
///   tenant in commit order.
/// - Each committed event is linked to the one before it in a hash chain ([`crate::chain`]),
///   in the same transaction, so that [`Store::verify_events`] finds any later edit.
/// - Dropping a transaction without `commit` rolls it back.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Starts a transaction for `tenant`.
    async fn begin(&self, tenant: TenantId, mode: TxMode) -> Result<Box<dyn Transaction>>;

    /// Reads committed events of `tenant` in commit order.
    async fn read_events(&self, tenant: TenantId, query: &EventQuery) -> Result<Vec<StoredEvent>>;

    /// Replaces the stored text of committed events of `tenant` with that of `events` (matched
    /// by `seq` and event id), all or none, and marks them scrubbed: their digest and link stay,
    /// so the chain still verifies and [`verify_events`](Self::verify_events) lists them. For
    /// the audit retention policy and erasure, which remove values from history on purpose.
    /// An event that is not stored is [`Error::Validation`] naming `events[i]`.
    async fn scrub_events(&self, tenant: TenantId, events: &[StoredEvent]) -> Result<()>;

    /// Walks `tenant`'s events as the hash chain they were committed in ([`crate::chain`]):
    /// every edited, removed or inserted event, rewritten link or moved head is a fault of
    /// the report. Events committed while it runs may be left out.
    async fn verify_events(&self, tenant: TenantId) -> Result<ChainReport>;

    /// Makes the data `tenant`'s deleted and overwritten records held unrecoverable from the
    /// store's files, as far as the store can: what an erasure asks for after its commit. The
    /// default does nothing, which suits in-memory stores.
    async fn purge(&self, _tenant: TenantId) -> Result<()> {
        Ok(())
    }

    /// Makes filters and sorts on the custom field `key` of `kind` fast (an index, for stores
    /// that have them). Idempotent; the default does nothing, which suits in-memory stores.
    async fn ensure_custom_index(&self, _kind: EntityKind, _key: &str) -> Result<()> {
        Ok(())
    }
}

/// A unit of work on one tenant's records.
#[async_trait]
pub trait Transaction: Send {
    /// The tenant this transaction is bound to.
    fn tenant(&self) -> TenantId;

    /// The record of `kind` with `id`, as this transaction sees it.
    async fn get(&mut self, kind: EntityKind, id: Uuid) -> Result<Option<Record>>;

    /// Adds a new record (version 1, tenant = this transaction's tenant).
    async fn insert(&mut self, record: Record) -> Result<()>;

    /// Adds many new records, as [`Transaction::insert`] of each in order would. Stores
    /// override this with a batched write; if one record fails, the error is the one its
    /// `insert` would return and the transaction can no longer commit.
    async fn insert_many(&mut self, records: &[Record]) -> Result<()> {
        for r in records {
            self.insert(r.clone()).await?;
        }
        Ok(())
    }

    /// Replaces a record; `record.version()` must be the stored version + 1.
    async fn update(&mut self, record: Record) -> Result<()>;

    /// Removes a record; `version` must be the stored version.
    async fn delete(&mut self, kind: EntityKind, id: Uuid, version: u64) -> Result<()>;

    /// One page of records of `kind` matching the query.
    async fn query(&mut self, kind: EntityKind, query: &Query) -> Result<Page<Record>>;

    /// How many records of `kind` match.
    async fn count(&mut self, kind: EntityKind, filter: &Filter) -> Result<u64>;

    /// The rows of a checked aggregate ([`crate::aggregate`]) over this transaction's records
    /// of `plan.kind`. The default folds the matching records page by page through the
    /// reference ([`Plan::fold`]), never holding more than a page; SQL stores override it
    /// with one `GROUP BY` and hand their per-group results to [`Plan::finish`].
    async fn aggregate(&mut self, plan: &Plan) -> Result<Vec<AggregateRow>> {
        let mut fold = plan.fold();
        let mut q = Query::new(plan.aggregate.filter.clone()).limit(crate::query::MAX_PAGE_SIZE);
        loop {
            let page = self.query(plan.kind, &q).await?;
            for r in &page.items {
                fold.add(r)?;
            }
            match page.next {
                Some(c) => q.after = Some(c),
                None => return fold.finish(),
            }
        }
    }

    /// Full-text search over records of `kinds` (see [`crate::search`]): the records in which
    /// every term is a prefix of a token of their search text, best match first, at most
    /// `limit`. Each kind comes with a filter its records must also match ([`Filter::All`]
    /// for every record; [`crate::search::every`] builds that list): the reader's access
    /// scope, applied before ranking and the limit, never to the results. Empty `terms` find
    /// nothing. The index follows this transaction's own writes.
    async fn search(&mut self, kinds: &[(EntityKind, Filter)], terms: &[String], limit: usize) -> Result<Vec<Record>>;

    /// Adds events to the outbox, committed with this transaction.
    async fn append_events(&mut self, events: Vec<Event>) -> Result<()>;

    /// Makes every write and event durable and visible; returns the numbered events.
    async fn commit(self: Box<Self>) -> Result<Vec<StoredEvent>>;

    /// Discards every write and event.
    async fn rollback(self: Box<Self>) -> Result<()>;
}

impl dyn Transaction + '_ {
    /// A typed record by id (`None` if absent in this tenant).
    pub async fn fetch<E: Entity>(&mut self, id: E::Id) -> Result<Option<E>> {
        let rec = self.get(E::KIND, id.into()).await?;
        Ok(rec.and_then(E::from_record))
    }

    /// A typed record by id, or [`Error::NotFound`].
    pub async fn require<E: Entity>(&mut self, id: E::Id) -> Result<E> {
        self.fetch::<E>(id).await?.ok_or(Error::NotFound { kind: E::KIND, id: id.into() })
    }

    /// A page of typed records.
    pub async fn find<E: Entity>(&mut self, query: &Query) -> Result<Page<E>> {
        let page = self.query(E::KIND, query).await?;
        Ok(Page { items: page.items.into_iter().filter_map(E::from_record).collect(), next: page.next })
    }

    /// Every matching typed record, walking all pages.
    pub async fn find_all<E: Entity>(&mut self, filter: Filter) -> Result<Vec<E>> {
        Ok(self.query_all(E::KIND, filter).await?.into_iter().filter_map(E::from_record).collect())
    }

    /// Every matching record of `kind`, walking all pages.
    pub async fn query_all(&mut self, kind: EntityKind, filter: Filter) -> Result<Vec<Record>> {
        let mut q = Query::new(filter).limit(crate::query::MAX_PAGE_SIZE);
        let mut out = Vec::new();
        loop {
            let page = self.query(kind, &q).await?;
            out.extend(page.items);
            match page.next {
                Some(c) => q.after = Some(c),
                None => return Ok(out),
            }
        }
    }
}

/// The error for `events[i]` of a scrub that is not a stored event of the tenant.
pub fn not_stored(i: usize, e: &StoredEvent) -> Error {
    Error::invalid(
        format!("events[{i}]"),
        crate::error::FieldErrorCode::NotFound,
        format!("event {} is not stored as number {}", e.event.id, e.seq),
    )
}
