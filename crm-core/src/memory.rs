//! [`MemoryStore`]: the complete in-memory implementation of [`Store`].

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use uuid::Uuid;

use crate::entity::{EntityKind, Record};
use crate::error::{Error, Result};
use crate::event::{Event, EventQuery, StoredEvent};
use crate::ids::TenantId;
use crate::query::{Filter, Page, Query};
use crate::store::{Store, Transaction, TxMode};

/// An in-memory store: fast, complete (transactions, optimistic concurrency, outbox, tenant
/// isolation), and gone when dropped. Clones share the same data.
///
/// ```
/// # tokio_test_shim::block_on(async {
/// use crm_core::{Actor, Crm, MemoryStore, NewContact, TenantId};
/// let crm = Crm::new(MemoryStore::new());
/// let cx = crm.as_actor(&Actor::system(TenantId::from_uuid(uuid::Uuid::now_v7())));
/// let ada = cx.contacts().create(NewContact::new("Ada", "Lovelace").email("ada@example.com")).await?;
/// assert_eq!(cx.contacts().get(ada.id).await?.full_name(), "Ada Lovelace");
/// # Ok::<_, crm_core::Error>(()) }).unwrap();
/// # mod tokio_test_shim { pub fn block_on<F: std::future::Future>(f: F) -> F::Output { futures::executor::block_on(f) } }
/// ```
#[derive(Clone, Debug, Default)]
pub struct MemoryStore {
    state: Arc<Mutex<State>>,
}

#[derive(Debug, Default)]
struct State {
    tenants: HashMap<TenantId, TenantState>,
}

#[derive(Debug, Default)]
struct TenantState {
    records: HashMap<EntityKind, BTreeMap<Uuid, Record>>,
    events: Vec<StoredEvent>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

fn lock(state: &Mutex<State>) -> Result<MutexGuard<'_, State>> {
    state.lock().map_err(|_| Error::storage("memory store lock poisoned"))
}

#[async_trait]
impl Store for MemoryStore {
    async fn begin(&self, tenant: TenantId, mode: TxMode) -> Result<Box<dyn Transaction>> {
        Ok(Box::new(MemoryTx { state: self.state.clone(), tenant, mode, writes: BTreeMap::new(), events: Vec::new() }))
    }

    async fn read_events(&self, tenant: TenantId, query: &EventQuery) -> Result<Vec<StoredEvent>> {
        let state = lock(&self.state)?;
        let Some(t) = state.tenants.get(&tenant) else { return Ok(Vec::new()) };
        let start = t.events.partition_point(|e| e.seq <= query.after);
        Ok(t.events[start..]
            .iter()
            .filter(|e| query.touching.as_ref().is_none_or(|r| e.event.touches(r)))
            .take(query.limit)
            .cloned()
            .collect())
    }
}

#[derive(Debug)]
enum Write {
    /// Insert or replace. `base` is the committed version this write was based on (None: insert).
    Put { record: Box<Record>, base: Option<u64> },
    /// Delete of the committed version `base`.
    Delete { base: Option<u64> },
}

struct MemoryTx {
    state: Arc<Mutex<State>>,
    tenant: TenantId,
    mode: TxMode,
    writes: BTreeMap<(EntityKind, Uuid), Write>,
    events: Vec<Event>,
}

impl MemoryTx {
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

    fn committed(&self, kind: EntityKind, id: Uuid) -> Result<Option<Record>> {
        let state = lock(&self.state)?;
        Ok(state.tenants.get(&self.tenant).and_then(|t| t.records.get(&kind)).and_then(|m| m.get(&id)).cloned())
    }

    /// The record as this transaction sees it, and the committed version underneath.
    fn view(&self, kind: EntityKind, id: Uuid) -> Result<(Option<Record>, Option<u64>)> {
        match self.writes.get(&(kind, id)) {
            Some(Write::Put { record, base }) => Ok((Some((**record).clone()), *base)),
            Some(Write::Delete { base }) => Ok((None, *base)),
            None => {
                let c = self.committed(kind, id)?;
                let v = c.as_ref().map(Record::version);
                Ok((c, v))
            }
        }
    }

    fn visible(&self, kind: EntityKind) -> Result<Vec<Record>> {
        let state = lock(&self.state)?;
        let committed = state.tenants.get(&self.tenant).and_then(|t| t.records.get(&kind));
        let mut out: BTreeMap<Uuid, Record> = committed.cloned().unwrap_or_default();
        for ((k, id), w) in self.writes.range((kind, Uuid::nil())..) {
            if *k != kind {
                break;
            }
            match w {
                Write::Put { record, .. } => {
                    out.insert(*id, (**record).clone());
                }
                Write::Delete { .. } => {
                    out.remove(id);
                }
            }
        }
        Ok(out.into_values().collect())
    }
}

#[async_trait]
impl Transaction for MemoryTx {
    fn tenant(&self) -> TenantId {
        self.tenant
    }

    async fn get(&mut self, kind: EntityKind, id: Uuid) -> Result<Option<Record>> {
        Ok(self.view(kind, id)?.0)
    }

    async fn insert(&mut self, record: Record) -> Result<()> {
        self.writable()?;
        self.own_tenant(&record)?;
        let (kind, id) = (record.kind(), record.id());
        let (current, base) = self.view(kind, id)?;
        if let Some(c) = current {
            return Err(Error::Conflict { kind, id, expected: 0, found: Some(c.version()) });
        }
        if record.version() != 1 {
            return Err(Error::Conflict { kind, id, expected: 0, found: None });
        }
        // Re-inserting an id deleted in this transaction keeps the committed base for the commit check.
        self.writes.insert((kind, id), Write::Put { record: Box::new(record), base });
        Ok(())
    }

    async fn update(&mut self, record: Record) -> Result<()> {
        self.writable()?;
        self.own_tenant(&record)?;
        let (kind, id) = (record.kind(), record.id());
        let (current, base) = self.view(kind, id)?;
        let expected = record.version().saturating_sub(1);
        match current {
            Some(c) if c.version() == expected && record.version() > 0 => {
                self.writes.insert((kind, id), Write::Put { record: Box::new(record), base });
                Ok(())
            }
            Some(c) => Err(Error::Conflict { kind, id, expected, found: Some(c.version()) }),
            None => Err(Error::Conflict { kind, id, expected, found: None }),
        }
    }

    async fn delete(&mut self, kind: EntityKind, id: Uuid, version: u64) -> Result<()> {
        self.writable()?;
        let (current, base) = self.view(kind, id)?;
        match current {
            Some(c) if c.version() == version => {
                self.writes.insert((kind, id), Write::Delete { base });
                Ok(())
            }
            Some(c) => Err(Error::Conflict { kind, id, expected: version, found: Some(c.version()) }),
            None => Err(Error::NotFound { kind, id }),
        }
    }

    async fn query(&mut self, kind: EntityKind, query: &Query) -> Result<Page<Record>> {
        let rows = self.visible(kind)?;
        query.apply(rows.iter())
    }

    async fn count(&mut self, kind: EntityKind, filter: &Filter) -> Result<u64> {
        Ok(self.visible(kind)?.iter().filter(|r| filter.matches(r)).count() as u64)
    }

    async fn append_events(&mut self, events: Vec<Event>) -> Result<()> {
        self.writable()?;
        if let Some(e) = events.iter().find(|e| e.tenant_id != self.tenant) {
            return Err(Error::Forbidden(format!("event {} belongs to another tenant", e.id)));
        }
        self.events.extend(events);
        Ok(())
    }

    async fn commit(self: Box<Self>) -> Result<Vec<StoredEvent>> {
        let this = *self;
        let mut state = lock(&this.state)?;
        let tenant = state.tenants.entry(this.tenant).or_default();
        // Validate every write against what is committed now: the first committer wins.
        for ((kind, id), w) in &this.writes {
            let now = tenant.records.get(kind).and_then(|m| m.get(id)).map(Record::version);
            let base = match w {
                Write::Put { base, .. } | Write::Delete { base } => *base,
            };
            if now != base {
                let expected = base.unwrap_or(0);
                return Err(Error::Conflict { kind: *kind, id: *id, expected, found: now });
            }
        }
        for ((kind, id), w) in this.writes {
            let table = tenant.records.entry(kind).or_default();
            match w {
                Write::Put { record, .. } => {
                    table.insert(id, *record);
                }
                Write::Delete { .. } => {
                    table.remove(&id);
                }
            }
        }
        let last = tenant.events.last().map(|e| e.seq).unwrap_or(0);
        let stored: Vec<StoredEvent> =
            (last + 1..).zip(this.events).map(|(seq, event)| StoredEvent { seq, event }).collect();
        tenant.events.extend(stored.iter().cloned());
        Ok(stored)
    }

    async fn rollback(self: Box<Self>) -> Result<()> {
        Ok(())
    }
}
