//! A store that fails on purpose: [`FaultyStore`] wraps any store and asks a policy, at every
//! commit and every outbox read, whether to fail there and how. For tests of what a failure
//! leaves behind: a commit that fails before it lands (nothing written), or after (written,
//! yet the caller hears an error, as when a process dies just after its commit).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use uuid::Uuid;

use crate::aggregate::{AggregateRow, Plan};
use crate::chain::ChainReport;
use crate::entity::EntityKind;
use crate::error::{Error, Result};
use crate::event::{Event, EventQuery, StoredEvent};
use crate::ids::TenantId;
use crate::model::Record;
use crate::query::{Filter, Page, Query};
use crate::store::{Store, Transaction, TxMode};

/// Where a fault may strike.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum At {
    /// The commit of a transaction: the `nth` (from 1) of its mode.
    Commit {
        /// The transaction's mode.
        mode: TxMode,
        /// How many commits of that mode, this one included.
        nth: usize,
    },
    /// A read of the outbox.
    ReadEvents,
}

/// What a fault does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The commit does not happen (rolled back); the caller gets an error. For a read of the
    /// outbox: the read fails.
    Before,
    /// The commit lands, and the caller gets an error anyway.
    After,
}

/// The error a fault returns.
pub fn injected() -> Error {
    Error::storage("injected fault")
}

type Policy = dyn Fn(At) -> Option<Fault> + Send + Sync;

/// A store over `inner` that fails where its policy says.
///
/// ```
/// use std::sync::Arc;
/// use crm_core::memory::MemoryStore;
/// use crm_core::store::TxMode;
/// use crm_core::testkit::faults::{At, Fault, FaultyStore};
/// // The second write commit fails without landing.
/// let store = FaultyStore::new(Arc::new(MemoryStore::new()), |at| match at {
///     At::Commit { mode: TxMode::ReadWrite, nth: 2 } => Some(Fault::Before),
///     _ => None,
/// });
/// # let _ = store;
/// ```
#[derive(Clone)]
pub struct FaultyStore {
    inner: Arc<dyn Store>,
    policy: Arc<Policy>,
    writes: Arc<AtomicUsize>,
    reads: Arc<AtomicUsize>,
}

impl FaultyStore {
    /// Wraps `inner`; `policy` is asked at every commit and outbox read.
    pub fn new(inner: Arc<dyn Store>, policy: impl Fn(At) -> Option<Fault> + Send + Sync + 'static) -> Self {
        FaultyStore { inner, policy: Arc::new(policy), writes: Arc::default(), reads: Arc::default() }
    }

    /// How many write transactions were committed or tried.
    pub fn write_commits(&self) -> usize {
        self.writes.load(Ordering::SeqCst)
    }
}

struct FaultyTx {
    inner: Box<dyn Transaction>,
    mode: TxMode,
    store: FaultyStore,
}

#[async_trait]
impl Store for FaultyStore {
    async fn begin(&self, tenant: TenantId, mode: TxMode) -> Result<Box<dyn Transaction>> {
        Ok(Box::new(FaultyTx { inner: self.inner.begin(tenant, mode).await?, mode, store: self.clone() }))
    }
    async fn read_events(&self, tenant: TenantId, query: &EventQuery) -> Result<Vec<StoredEvent>> {
        if (self.policy)(At::ReadEvents).is_some() {
            return Err(injected());
        }
        self.inner.read_events(tenant, query).await
    }
    async fn scrub_events(&self, tenant: TenantId, events: &[StoredEvent]) -> Result<()> {
        self.inner.scrub_events(tenant, events).await
    }
    async fn verify_events(&self, tenant: TenantId) -> Result<ChainReport> {
        self.inner.verify_events(tenant).await
    }
    async fn purge(&self, tenant: TenantId) -> Result<()> {
        self.inner.purge(tenant).await
    }
    async fn ensure_custom_index(&self, kind: EntityKind, key: &str) -> Result<()> {
        self.inner.ensure_custom_index(kind, key).await
    }
}

#[async_trait]
impl Transaction for FaultyTx {
    fn tenant(&self) -> TenantId {
        self.inner.tenant()
    }
    async fn get(&mut self, kind: EntityKind, id: Uuid) -> Result<Option<Record>> {
        self.inner.get(kind, id).await
    }
    async fn insert(&mut self, record: Record) -> Result<()> {
        self.inner.insert(record).await
    }
    async fn insert_many(&mut self, records: &[Record]) -> Result<()> {
        self.inner.insert_many(records).await
    }
    async fn update(&mut self, record: Record) -> Result<()> {
        self.inner.update(record).await
    }
    async fn delete(&mut self, kind: EntityKind, id: Uuid, version: u64) -> Result<()> {
        self.inner.delete(kind, id, version).await
    }
    async fn query(&mut self, kind: EntityKind, query: &Query) -> Result<Page<Record>> {
        self.inner.query(kind, query).await
    }
    async fn count(&mut self, kind: EntityKind, filter: &Filter) -> Result<u64> {
        self.inner.count(kind, filter).await
    }
    async fn aggregate(&mut self, plan: &Plan) -> Result<Vec<AggregateRow>> {
        self.inner.aggregate(plan).await
    }
    async fn search(&mut self, kinds: &[(EntityKind, Filter)], terms: &[String], limit: usize) -> Result<Vec<Record>> {
        self.inner.search(kinds, terms, limit).await
    }
    async fn append_events(&mut self, events: Vec<Event>) -> Result<()> {
        self.inner.append_events(events).await
    }
    async fn commit(self: Box<Self>) -> Result<Vec<StoredEvent>> {
        let FaultyTx { inner, mode, store } = *self;
        let counter = if mode == TxMode::ReadWrite { &store.writes } else { &store.reads };
        let nth = counter.fetch_add(1, Ordering::SeqCst) + 1;
        match (store.policy)(At::Commit { mode, nth }) {
            None => inner.commit().await,
            Some(Fault::Before) => {
                inner.rollback().await?;
                Err(injected())
            }
            Some(Fault::After) => {
                inner.commit().await?;
                Err(injected())
            }
        }
    }
    async fn rollback(self: Box<Self>) -> Result<()> {
        self.inner.rollback().await
    }
}
