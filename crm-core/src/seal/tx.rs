//! The store wrapper that seals on the way in and opens on the way out, and the rewriting of
//! filters on sealed fields into blind-index lookups.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use uuid::Uuid;

use super::{BLIND, Keyring, SEALED};
use crate::chain::ChainReport;
use crate::entity::EntityKind;
use crate::error::{Error, FieldErrorCode, Result};
use crate::event::{Event, EventQuery, StoredEvent};
use crate::ids::TenantId;
use crate::model::{CustomField, Record, sensitive_fields};
use crate::query::{CmpOp, Field, Filter, Page, Query};
use crate::store::{Store, Transaction, TxMode};
use crate::value::Value;

/// Sensitive field paths of a kind, each with whether filters can name it (blind index).
type Fields = Arc<Vec<(String, bool)>>;

/// A store whose sensitive fields are sealed: see the [module docs](super).
pub(crate) struct SealedStore {
    inner: Arc<dyn Store>,
    keys: Arc<Keyring>,
    /// Sensitive custom fields the extensions define, per kind (`custom.<ext>.<key>`).
    extension_fields: Arc<HashMap<EntityKind, Vec<String>>>,
}

impl SealedStore {
    pub(crate) fn new(
        inner: Arc<dyn Store>,
        keys: Arc<Keyring>,
        extension_fields: HashMap<EntityKind, Vec<String>>,
    ) -> SealedStore {
        SealedStore { inner, keys, extension_fields: Arc::new(extension_fields) }
    }

    fn wrap(&self, tenant: TenantId, tx: Box<dyn Transaction>) -> SealedTx {
        SealedTx {
            inner: tx,
            tenant,
            keys: self.keys.clone(),
            extension_fields: self.extension_fields.clone(),
            fields: HashMap::new(),
        }
    }

    /// Seals every record of `tenant` sealed with a retired key (or not sealed) again with
    /// the sealing key, a page per transaction; `progress` gets the records resealed so far.
    pub(crate) async fn reseal(&self, tenant: TenantId, progress: &mut (dyn FnMut(u64) + Send)) -> Result<u64> {
        let mut done = 0;
        for kind in EntityKind::ALL.iter().copied().filter(|k| k.has_custom_fields()) {
            let mut q = Query::new(Filter::All).limit(500);
            loop {
                let mut tx = self.wrap(tenant, self.inner.begin(tenant, TxMode::ReadWrite).await?);
                let page = tx.inner.query(kind, &q).await?;
                let fields = tx.fields(kind).await?;
                for stored in &page.items {
                    let ids = Keyring::key_ids(stored);
                    let plain_left =
                        fields.iter().any(|(f, _)| !crate::model::field_security::value_of(stored, f).is_null());
                    if ids.iter().all(|id| *id == self.keys.sealing_key()) && !plain_left {
                        continue;
                    }
                    let mut rec = stored.clone();
                    self.keys.open_record(tenant, &mut rec)?;
                    rec.set_version(rec.version() + 1);
                    tx.update(rec).await?;
                    done += 1;
                }
                Box::new(tx).commit().await?;
                progress(done);
                match page.next {
                    Some(c) => q.after = Some(c),
                    None => break,
                }
            }
        }
        Ok(done)
    }
}

#[async_trait]
impl Store for SealedStore {
    async fn begin(&self, tenant: TenantId, mode: TxMode) -> Result<Box<dyn Transaction>> {
        Ok(Box::new(self.wrap(tenant, self.inner.begin(tenant, mode).await?)))
    }

    async fn read_events(&self, tenant: TenantId, query: &EventQuery) -> Result<Vec<StoredEvent>> {
        let mut events = self.inner.read_events(tenant, query).await?;
        for e in &mut events {
            self.keys.open_event(&mut e.event)?;
        }
        Ok(events)
    }

    async fn scrub_events(&self, tenant: TenantId, events: &[StoredEvent]) -> Result<()> {
        let mut tx = self.wrap(tenant, self.inner.begin(tenant, TxMode::ReadOnly).await?);
        let mut sealed = events.to_vec();
        for e in &mut sealed {
            let fields = tx.fields(e.event.subject.kind).await?;
            self.keys.seal_event(&mut e.event, &fields)?;
        }
        Box::new(tx).rollback().await?;
        self.inner.scrub_events(tenant, &sealed).await
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

/// A transaction of a [`SealedStore`].
struct SealedTx {
    inner: Box<dyn Transaction>,
    tenant: TenantId,
    keys: Arc<Keyring>,
    extension_fields: Arc<HashMap<EntityKind, Vec<String>>>,
    /// The sensitive fields of each kind, read once per transaction.
    fields: HashMap<EntityKind, Fields>,
}

impl SealedTx {
    /// The sensitive fields of `kind`: the built-in ones, the tenant's custom fields defined
    /// sensitive (as this transaction sees them), the extensions'.
    async fn fields(&mut self, kind: EntityKind) -> Result<Fields> {
        if let Some(f) = self.fields.get(&kind) {
            return Ok(f.clone());
        }
        let mut out: Vec<(String, bool)> =
            sensitive_fields(kind).iter().map(|f| (f.to_string(), kind.std_field(f).is_some())).collect();
        if kind.has_custom_fields() {
            let defs = self.inner.find_all::<CustomField>(Filter::eq("entity_kind", kind)).await?;
            out.extend(
                defs.into_iter()
                    .filter(|d| d.definition.sensitive)
                    .map(|d| (format!("custom.{}", d.definition.key), true)),
            );
            if let Some(ext) = self.extension_fields.get(&kind) {
                out.extend(ext.iter().map(|f| (f.clone(), true)));
            }
        }
        let out = Arc::new(out);
        self.fields.insert(kind, out.clone());
        Ok(out)
    }

    async fn seal(&mut self, mut rec: Record) -> Result<Record> {
        let fields = self.fields(rec.kind()).await?;
        if !fields.is_empty() {
            self.keys.seal_record(self.tenant, &mut rec, &fields)?;
        }
        if rec.kind() == EntityKind::CustomField {
            // A definition changed: the sensitive set is read again.
            self.fields.clear();
        }
        Ok(rec)
    }

    fn open(&self, mut rec: Record) -> Result<Record> {
        self.keys.open_record(self.tenant, &mut rec)?;
        Ok(rec)
    }

    async fn filter(&mut self, kind: EntityKind, f: &Filter) -> Result<Filter> {
        let fields = self.fields(kind).await?;
        if fields.is_empty() {
            return Ok(f.clone());
        }
        rewrite(&self.keys, self.tenant, kind, &fields, f.clone())
    }
}

/// The path of a field as sealing names it.
fn path(field: &Field) -> String {
    match field {
        Field::Std(s) => s.clone(),
        Field::Custom(k) => format!("custom.{k}"),
    }
}

/// `f` with every condition on a sealed field turned into one on its blind index.
fn rewrite(keys: &Keyring, tenant: TenantId, kind: EntityKind, fields: &[(String, bool)], f: Filter) -> Result<Filter> {
    let sealed = |field: &Field| fields.iter().any(|(p, _)| *p == path(field));
    let blind = |field: &Field, values: &[Value]| {
        let p = path(field);
        let all: Vec<Value> = values.iter().flat_map(|v| keys.blinds(tenant, kind, &p, v)).map(Value::Text).collect();
        Filter::is_in(Field::Custom(format!("{}{p}", &BLIND)), all)
    };
    let refused = |field: &Field, what: &str| {
        Error::invalid(
            format!("filter.{}", path(field)),
            FieldErrorCode::Rule,
            format!("`{}` is sealed: it can be compared with = and !=, not {what}", path(field)),
        )
    };
    let r = |f: Filter| rewrite(keys, tenant, kind, fields, f);
    Ok(match f {
        Filter::And(v) => Filter::And(v.into_iter().map(r).collect::<Result<_>>()?),
        Filter::Or(v) => Filter::Or(v.into_iter().map(r).collect::<Result<_>>()?),
        Filter::Not(b) => Filter::Not(Box::new(r(*b)?)),
        Filter::Cmp { field, op, value } if sealed(&field) => match op {
            CmpOp::Eq => blind(&field, &[value]),
            CmpOp::Ne => Filter::Not(Box::new(blind(&field, &[value]))),
            _ => return Err(refused(&field, "ordered")),
        },
        Filter::In { field, values } if sealed(&field) => blind(&field, &values),
        Filter::IsNull { field } if sealed(&field) => {
            Filter::IsNull { field: Field::Custom(format!("{}{}", &SEALED, path(&field))) }
        }
        Filter::Contains { field, .. } | Filter::StartsWith { field, .. } if sealed(&field) => {
            return Err(refused(&field, "searched in"));
        }
        other => other,
    })
}

#[async_trait]
impl Transaction for SealedTx {
    fn tenant(&self) -> TenantId {
        self.tenant
    }

    async fn get(&mut self, kind: EntityKind, id: Uuid) -> Result<Option<Record>> {
        self.inner.get(kind, id).await?.map(|r| self.open(r)).transpose()
    }

    async fn insert(&mut self, record: Record) -> Result<()> {
        let rec = self.seal(record).await?;
        self.inner.insert(rec).await
    }

    async fn insert_many(&mut self, records: &[Record]) -> Result<()> {
        let mut sealed = Vec::with_capacity(records.len());
        for r in records {
            sealed.push(self.seal(r.clone()).await?);
        }
        self.inner.insert_many(&sealed).await
    }

    async fn update(&mut self, record: Record) -> Result<()> {
        let rec = self.seal(record).await?;
        self.inner.update(rec).await
    }

    async fn delete(&mut self, kind: EntityKind, id: Uuid, version: u64) -> Result<()> {
        self.inner.delete(kind, id, version).await
    }

    async fn query(&mut self, kind: EntityKind, query: &Query) -> Result<Page<Record>> {
        let fields = self.fields(kind).await?;
        if let Some(s) = query.sort.iter().find(|s| fields.iter().any(|(p, _)| *p == path(&s.field))) {
            return Err(Error::invalid(
                format!("sort.{}", path(&s.field)),
                FieldErrorCode::Rule,
                format!("`{}` is sealed: records cannot be sorted by it", path(&s.field)),
            ));
        }
        let mut q = query.clone();
        q.filter = self.filter(kind, &query.filter).await?;
        let page = self.inner.query(kind, &q).await?;
        let items = page.items.into_iter().map(|r| self.open(r)).collect::<Result<_>>()?;
        Ok(Page { items, next: page.next })
    }

    async fn count(&mut self, kind: EntityKind, filter: &Filter) -> Result<u64> {
        let f = self.filter(kind, filter).await?;
        self.inner.count(kind, &f).await
    }

    async fn search(&mut self, kinds: &[(EntityKind, Filter)], terms: &[String], limit: usize) -> Result<Vec<Record>> {
        let mut rewritten = Vec::with_capacity(kinds.len());
        for (k, f) in kinds {
            rewritten.push((*k, self.filter(*k, f).await?));
        }
        let hits = self.inner.search(&rewritten, terms, limit).await?;
        hits.into_iter().map(|r| self.open(r)).collect()
    }

    async fn append_events(&mut self, mut events: Vec<Event>) -> Result<()> {
        for e in &mut events {
            if !e.values.is_empty() {
                let fields = self.fields(e.subject.kind).await?;
                self.keys.seal_event(e, &fields)?;
            }
        }
        self.inner.append_events(events).await
    }

    async fn commit(self: Box<Self>) -> Result<Vec<StoredEvent>> {
        let keys = self.keys.clone();
        let mut stored = self.inner.commit().await?;
        for e in &mut stored {
            keys.open_event(&mut e.event)?;
        }
        Ok(stored)
    }

    async fn rollback(self: Box<Self>) -> Result<()> {
        self.inner.rollback().await
    }
}
