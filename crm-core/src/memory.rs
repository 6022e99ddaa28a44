//! [`MemoryStore`]: the complete in-memory implementation of [`Store`].

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use uuid::Uuid;

use crate::chain::{self, ChainHead, ChainReport, ChainWalk};
use crate::entity::{EntityKind, UniqueKey};
use crate::error::{Error, Result};
use crate::event::{Event, EventQuery, StoredEvent};
use crate::ids::TenantId;
use crate::model::Record;
use crate::query::{Filter, Page, Query};
use crate::store::{Store, Transaction, TxMode};

/// An in-memory store: fast, complete (transactions, optimistic concurrency, unique keys,
/// outbox, tenant isolation), and gone when dropped. Clones share the same data.
///
/// ```
/// # tokio_test_shim::block_on(async {
/// use crm_core::{actor::Actor, service::Crm, memory::MemoryStore, service::NewContact, ids::TenantId};
/// let crm = Crm::new(MemoryStore::new());
/// let cx = crm.as_actor(&Actor::system(TenantId::new()));
/// let ada = cx.contacts().create(NewContact::new("Ada", "Lovelace").email("ada@example.com")).await?;
/// assert_eq!(cx.contacts().get(ada.id).await?.full_name(), "Ada Lovelace");
/// # Ok::<_, crm_core::error::Error>(()) }).unwrap();
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
    /// Who holds each unique key.
    unique: HashMap<(EntityKind, UniqueKey), Uuid>,
    events: Vec<StoredEvent>,
    /// Each event's digest and link ([`crate::chain`]), beside `events`.
    links: Vec<(String, String)>,
    /// The events whose text was scrubbed since they were committed.
    scrubbed: std::collections::BTreeSet<u64>,
}

/// An event's stored text (what its digest is taken of).
fn event_text(e: &Event) -> Result<String> {
    serde_json::to_string(e).map_err(|e| Error::storage(format!("event does not encode: {e}")))
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
        Ok(Box::new(MemoryTx {
            state: self.state.clone(),
            tenant,
            mode,
            writes: BTreeMap::new(),
            staged_keys: HashMap::new(),
            poisoned: None,
            events: Vec::new(),
        }))
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

    async fn scrub_events(&self, tenant: TenantId, events: &[StoredEvent]) -> Result<()> {
        let mut state = lock(&self.state)?;
        let t = state.tenants.entry(tenant).or_default();
        let mut at = Vec::with_capacity(events.len());
        for (i, e) in events.iter().enumerate() {
            let found =
                t.events.binary_search_by_key(&e.seq, |s| s.seq).ok().filter(|&j| t.events[j].event.id == e.event.id);
            at.push(found.ok_or_else(|| crate::store::not_stored(i, e))?);
        }
        for (j, e) in at.into_iter().zip(events) {
            t.events[j].event = e.event.clone();
            t.scrubbed.insert(e.seq);
        }
        Ok(())
    }

    async fn verify_events(&self, tenant: TenantId) -> Result<ChainReport> {
        let state = lock(&self.state)?;
        let mut walk = ChainWalk::new();
        let Some(t) = state.tenants.get(&tenant) else { return Ok(walk.finish(None)) };
        for (e, (digest, link)) in t.events.iter().zip(&t.links) {
            walk.push(e.seq, &event_text(&e.event)?, Some(digest), Some(link), t.scrubbed.contains(&e.seq));
        }
        let head = t.events.last().zip(t.links.last()).map(|(e, l)| ChainHead { seq: e.seq, hash: l.1.clone() });
        Ok(walk.finish(head))
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
    /// Unique keys of the records this transaction writes.
    staged_keys: HashMap<(EntityKind, UniqueKey), Uuid>,
    /// Why the transaction can no longer commit (a write failed).
    poisoned: Option<String>,
    events: Vec<Event>,
}

impl MemoryTx {
    fn writable(&self) -> Result<()> {
        match self.mode {
            TxMode::ReadWrite => Ok(()),
            TxMode::ReadOnly => Err(Error::Forbidden("write in a read-only transaction".into())),
        }
    }

    /// Marks the transaction failed if `res` is an error.
    fn track<T>(&mut self, res: Result<T>) -> Result<T> {
        if let Err(e) = &res
            && self.poisoned.is_none()
        {
            self.poisoned = Some(e.to_string());
        }
        res
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

    fn insert_inner(&mut self, record: Record) -> Result<()> {
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
        self.stage_keys(&record)?;
        // Re-inserting an id deleted in this transaction keeps the committed base for the commit check.
        self.writes.insert((kind, id), Write::Put { record: Box::new(record), base });
        Ok(())
    }

    fn update_inner(&mut self, record: Record) -> Result<()> {
        self.writable()?;
        self.own_tenant(&record)?;
        let (kind, id) = (record.kind(), record.id());
        let (current, base) = self.view(kind, id)?;
        let expected = record.version().saturating_sub(1);
        match current {
            Some(c) if c.version() == expected && record.version() > 0 => {
                self.stage_keys(&record)?;
                self.writes.insert((kind, id), Write::Put { record: Box::new(record), base });
                Ok(())
            }
            Some(c) => Err(Error::Conflict { kind, id, expected, found: Some(c.version()) }),
            None => Err(Error::Conflict { kind, id, expected, found: None }),
        }
    }

    fn delete_inner(&mut self, kind: EntityKind, id: Uuid, version: u64) -> Result<()> {
        self.writable()?;
        let (current, base) = self.view(kind, id)?;
        match current {
            Some(c) if c.version() == version => {
                self.unstage_keys(kind, id);
                self.writes.insert((kind, id), Write::Delete { base });
                Ok(())
            }
            Some(c) => Err(Error::Conflict { kind, id, expected: version, found: Some(c.version()) }),
            None => Err(Error::NotFound { kind, id }),
        }
    }

    /// Refuses `record` if another record of its kind, as this transaction sees them, holds one
    /// of its unique keys; otherwise stages its keys (replacing those it had staged before).
    fn stage_keys(&mut self, record: &Record) -> Result<()> {
        let (kind, id) = (record.kind(), record.id());
        let keys = record.unique_keys();
        let committed = {
            let state = lock(&self.state)?;
            let t = state.tenants.get(&self.tenant);
            keys.iter()
                .map(|k| t.and_then(|t| t.unique.get(&(kind, k.clone())).copied()))
                .collect::<Vec<Option<Uuid>>>()
        };
        for (k, holder) in keys.iter().zip(committed) {
            if let Some(other) = self.staged_keys.get(&(kind, k.clone()))
                && *other != id
            {
                return Err(k.duplicate_error(kind));
            }
            // A committed holder counts unless this transaction rewrote or deleted it.
            if let Some(holder) = holder
                && holder != id
                && !self.writes.contains_key(&(kind, holder))
            {
                return Err(k.duplicate_error(kind));
            }
        }
        self.unstage_keys(kind, id);
        for k in keys {
            self.staged_keys.insert((kind, k), id);
        }
        Ok(())
    }

    /// Forgets the keys staged for the record `id` (before it is replaced or deleted).
    fn unstage_keys(&mut self, kind: EntityKind, id: Uuid) {
        if let Some(Write::Put { record, .. }) = self.writes.get(&(kind, id)) {
            for k in record.unique_keys() {
                self.staged_keys.remove(&(kind, k));
            }
        }
    }
}

fn aborted(why: &str) -> Error {
    Error::storage(format!("the transaction was aborted by an earlier failed write: {why}"))
}

/// Checks, at commit, that no committed record outside `writes` holds a key a write claims.
fn check_unique_at_commit(tenant: &TenantState, writes: &BTreeMap<(EntityKind, Uuid), Write>) -> Result<()> {
    for ((kind, id), w) in writes {
        if let Write::Put { record, .. } = w {
            for k in record.unique_keys() {
                if let Some(holder) = tenant.unique.get(&(*kind, k.clone()))
                    && holder != id
                    && !writes.contains_key(&(*kind, *holder))
                {
                    return Err(k.duplicate_error(*kind));
                }
            }
        }
    }
    Ok(())
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
        let res = self.insert_inner(record);
        self.track(res)
    }

    async fn update(&mut self, record: Record) -> Result<()> {
        let res = self.update_inner(record);
        self.track(res)
    }

    async fn delete(&mut self, kind: EntityKind, id: Uuid, version: u64) -> Result<()> {
        let res = self.delete_inner(kind, id, version);
        self.track(res)
    }
    async fn query(&mut self, kind: EntityKind, query: &Query) -> Result<Page<Record>> {
        let rows = self.visible(kind)?;
        query.apply(rows.iter())
    }

    async fn count(&mut self, kind: EntityKind, filter: &Filter) -> Result<u64> {
        Ok(self.visible(kind)?.iter().filter(|r| filter.matches(r)).count() as u64)
    }

    async fn search(&mut self, kinds: &[(EntityKind, Filter)], terms: &[String], limit: usize) -> Result<Vec<Record>> {
        let mut hits: Vec<(usize, Record)> = Vec::new();
        for (kind, filter) in kinds {
            for r in self.visible(*kind)? {
                if !filter.matches(&r) {
                    continue;
                }
                if let Some(score) = crate::search::search_text(&r).and_then(|t| crate::search::score(&t, terms)) {
                    hits.push((score, r));
                }
            }
        }
        hits.sort_by(|(sa, a), (sb, b)| sb.cmp(sa).then(a.id().cmp(&b.id())));
        Ok(hits.into_iter().take(limit).map(|(_, r)| r).collect())
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
        if let Some(why) = &this.poisoned {
            return Err(aborted(why));
        }
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
        check_unique_at_commit(tenant, &this.writes)?;
        // Release every key the old versions held before claiming the new ones (one write may
        // free a key another claims).
        for (kind, id) in this.writes.keys() {
            if let Some(old) = tenant.records.get(kind).and_then(|t| t.get(id)) {
                for k in old.unique_keys() {
                    tenant.unique.remove(&(*kind, k));
                }
            }
        }
        for ((kind, id), w) in &this.writes {
            if let Write::Put { record, .. } = w {
                for k in record.unique_keys() {
                    tenant.unique.insert((*kind, k), *id);
                }
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
        for e in &stored {
            let digest = chain::digest(&event_text(&e.event)?);
            let prev = tenant.links.last().map_or("", |l| l.1.as_str());
            let link = chain::link(prev, e.seq, &digest);
            tenant.links.push((digest, link));
        }
        tenant.events.extend(stored.iter().cloned());
        Ok(stored)
    }

    async fn rollback(self: Box<Self>) -> Result<()> {
        Ok(())
    }
}
