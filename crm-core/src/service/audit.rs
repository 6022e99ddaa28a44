//! The audit trail: who changed which field of which record, when, from what to what; the
//! changes a user made; putting a field back; and the check that nothing in it was edited.
//!
//! Every update's event carries the fields it wrote with their old and new values
//! ([`Event::values`](crate::event::Event::values)), in the transaction of the change, and the
//! events of a tenant form a hash chain ([`crate::chain`]). This service reads them back.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::Session;
use super::uow::Uow;
use crate::chain::ChainReport;
use crate::entity::{EntityKind, EntityRef};
use crate::error::{Error, FieldErrorCode, Result};
use crate::event::{EventQuery, StoredEvent};
use crate::ids::UserId;
use crate::model::{Action, Entity, Permission, Record};
use crate::value::{Value, ValueType};

/// Events read per page while the trail is gathered.
const PAGE: usize = 1000;

/// One field of one record changed by one update.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// The number of the event that recorded it (its place in the tenant's history).
    pub seq: u64,
    /// When.
    pub at: DateTime<Utc>,
    /// Who (None for the system and for integrations acting without a user).
    pub actor: Option<UserId>,
    /// The record.
    pub record: EntityRef,
    /// The field (`custom.<key>` for a custom field).
    pub field: String,
    /// Its value before, as the record stores it (JSON `null`: none).
    pub old: serde_json::Value,
    /// Its value after.
    pub new: serde_json::Value,
}

impl AuditEntry {
    /// The value before, typed: for a custom field and for a standard field filters can name
    /// (None for structured fields such as a contact's emails: see [`old`](Self::old)).
    pub fn old_value(&self) -> Option<Value> {
        typed(self.record.kind, &self.field, &self.old)
    }

    /// The value after, typed (see [`old_value`](Self::old_value)).
    pub fn new_value(&self) -> Option<Value> {
        typed(self.record.kind, &self.field, &self.new)
    }

    pub(crate) fn of(e: &StoredEvent) -> impl Iterator<Item = AuditEntry> + '_ {
        e.event.values.iter().map(move |v| AuditEntry {
            seq: e.seq,
            at: e.event.occurred_at,
            actor: e.event.actor,
            record: e.event.subject,
            field: v.field.clone(),
            old: v.old.clone(),
            new: v.new.clone(),
        })
    }
}

/// `json`, the stored form of `field` of a `kind` record, as a [`Value`].
fn typed(kind: EntityKind, field: &str, json: &serde_json::Value) -> Option<Value> {
    use serde_json::from_value as from;
    if json.is_null() {
        return Some(Value::Null);
    }
    if let Some(key) = field.strip_prefix("custom.") {
        return (!key.is_empty()).then(|| from::<Value>(json.clone()).ok()).flatten();
    }
    let j = json.clone();
    match kind.std_field(field)?.ty {
        ValueType::Bool => from(j).ok().map(Value::Bool),
        ValueType::Int => from(j).ok().map(Value::Int),
        ValueType::Decimal => from(j).ok().map(Value::Decimal),
        ValueType::Money => from(j).ok().map(Value::Money),
        ValueType::Text => from(j).ok().map(Value::Text),
        ValueType::Date => from(j).ok().map(Value::Date),
        ValueType::DateTime => from(j).ok().map(Value::DateTime),
        ValueType::Id => from(j).ok().map(Value::Id),
        ValueType::TextList => {
            from::<Vec<String>>(j).ok().map(|v| Value::List(v.into_iter().map(Value::Text).collect()))
        }
        ValueType::IdList => {
            from::<Vec<uuid::Uuid>>(j).ok().map(|v| Value::List(v.into_iter().map(Value::Id).collect()))
        }
    }
}

/// The audit trail, from [`Session::audit`]. Every update's event carries the fields it wrote
/// with their old and new values ([`Event::values`](crate::event::Event::values)), in the
/// transaction of the change, and a tenant's events form a hash chain ([`crate::chain`]).
pub struct Audit<'s> {
    s: &'s Session,
}

impl Session {
    /// The audit trail: field history per record and per user, restoring a field, verifying
    /// that the history was not edited.
    pub fn audit(&self) -> Audit<'_> {
        Audit { s: self }
    }
}

impl<'s> Audit<'s> {
    /// Refuses unless the actor holds [`Permission::ReadAudit`].
    async fn require_permission(&self, what: &str) -> Result<()> {
        let access = self.s.access().await?;
        if access.has(Permission::ReadAudit) {
            return Ok(());
        }
        Err(Error::Forbidden(format!("{} may not {what}: it needs the `read_audit` permission", access.who())))
    }

    /// Every field change of record `r`, oldest first. The actor must be able to read the
    /// record ([`Error::NotFound`] otherwise); a deleted record's history needs
    /// [`Permission::ReadAudit`]. Changes of fields withheld from the actor are left out.
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// use crm_core::prelude::*;
    /// let cx = Crm::new(MemoryStore::new()).as_actor(&Actor::system(TenantId::new()));
    /// let mut ada = cx.contacts().create(NewContact::new("Ada", "Lovelace")).await?;
    /// ada.job_title = Some("Analyst".into());
    /// cx.contacts().update(ada.clone()).await?;
    /// let trail = cx.audit().history(ada.entity_ref()).await?;
    /// assert_eq!(trail[0].field, "job_title");
    /// assert_eq!((trail[0].old_value(), trail[0].new_value()), (Some(Value::Null), Some(Value::from("Analyst"))));
    /// # Ok::<_, Error>(()) }).unwrap();
    /// ```
    pub async fn history(&self, r: EntityRef) -> Result<Vec<AuditEntry>> {
        let mut uow = Uow::read(self.s).await?;
        match uow.tx.get(r.kind, r.id).await? {
            Some(rec) => uow.access.check_record(Action::Read, &rec)?,
            None => {
                let store = &self.s.crm.inner.store;
                let once = EventQuery { after: 0, limit: 1, touching: Some(r) };
                if store.read_events(self.s.tenant(), &once).await?.is_empty() {
                    return Err(Error::NotFound { kind: r.kind, id: r.id });
                }
                self.require_permission(&format!("read the history of deleted {} {}", r.kind, r.id)).await?;
            }
        }
        let hidden = uow.withheld(r.kind).await?;
        drop(uow);
        let mut out = Vec::new();
        let mut q = EventQuery { after: 0, limit: PAGE, touching: Some(r) };
        loop {
            let batch = self.s.crm.inner.store.read_events(self.s.tenant(), &q).await?;
            let entries = batch.iter().filter(|e| e.event.subject == r).flat_map(AuditEntry::of);
            out.extend(entries.filter(|e| !hidden.contains(&e.field)));
            match batch.last() {
                Some(last) if batch.len() == PAGE => q.after = last.seq,
                _ => return Ok(out),
            }
        }
    }

    /// The field changes `user` made after event `after` (0: from the start), oldest first:
    /// whole events until `limit` entries are reached (so a page can run over by the other
    /// fields of its last event; the next page starts after its last entry's `seq`). Needs
    /// [`Permission::ReadAudit`].
    pub async fn by_user(&self, user: UserId, after: u64, limit: usize) -> Result<Vec<AuditEntry>> {
        self.require_permission("read the changes of other users").await?;
        let hidden = Uow::read(self.s).await?.withheld_by_kind().await?;
        let shown = |e: &AuditEntry| hidden.get(&e.record.kind).is_none_or(|h| !h.contains(&e.field));
        let mut out = Vec::new();
        let mut q = EventQuery::after(after, PAGE);
        loop {
            let batch = self.s.crm.inner.store.read_events(self.s.tenant(), &q).await?;
            for e in batch.iter().filter(|e| e.event.actor == Some(user)) {
                // A page ends at an event boundary, so that `after` continues it.
                if out.len() >= limit {
                    return Ok(out);
                }
                out.extend(AuditEntry::of(e).filter(shown));
            }
            match batch.last() {
                Some(last) if batch.len() == PAGE => q.after = last.seq,
                _ => return Ok(out),
            }
        }
    }

    /// Puts `entry`'s field of its record back to the value it had before that change, as an
    /// update by this actor: their roles, the kind's rules and its verbs' fields apply as to any
    /// update (a deal's stage, for one, moves only through `move_to_stage`:
    /// [`Error::InvalidTransition`]). Returns the record as saved.
    pub async fn restore(&self, entry: &AuditEntry) -> Result<Record> {
        let r = entry.record;
        let current = self.s.record(r).await?.ok_or(Error::NotFound { kind: r.kind, id: r.id })?;
        let restored = with_field(&current, &entry.field, &entry.old)?;
        let s = self.s;
        Ok(match restored {
            Record::Contact(x) => s.contacts().update(x).await?.into_record(),
            Record::Company(x) => s.companies().update(x).await?.into_record(),
            Record::Deal(x) => s.deals().update(x).await?.into_record(),
            Record::Activity(x) => s.activities().update(x).await?.into_record(),
            Record::Product(x) => s.products().update(x).await?.into_record(),
            Record::Order(x) => s.orders().update(x).await?.into_record(),
            Record::Invoice(x) => s.invoices().update(x).await?.into_record(),
            Record::Case(x) => s.cases().update(x).await?.into_record(),
            Record::Campaign(x) => s.campaigns().update(x).await?.into_record(),
            Record::Segment(x) => s.segments().update(x).await?.into_record(),
            Record::Pipeline(x) => s.pipelines().update(x).await?.into_record(),
            Record::User(x) => s.users().update(x).await?.into_record(),
            Record::Team(x) => s.teams().update(x).await?.into_record(),
            Record::Role(x) => s.roles().update(x).await?.into_record(),
            other => {
                return Err(Error::invalid(
                    "record",
                    FieldErrorCode::Rule,
                    format!("{} records change only through their own operations", other.kind()),
                ));
            }
        })
    }

    /// The retention policy, run on demand: drops the old and new values of every change
    /// committed before `cutoff` from the history (the events stay, naming the fields they
    /// changed, by whom and when), and returns how many events lost values. The chain still
    /// verifies: the stores keep each event's digest and link and mark it scrubbed
    /// ([`ChainReport::scrubbed`]). Needs [`Permission::ManageAudit`].
    pub async fn retain(&self, cutoff: DateTime<Utc>) -> Result<u64> {
        let access = self.s.access().await?;
        if !access.has(Permission::ManageAudit) {
            let who = access.who();
            return Err(Error::Forbidden(format!(
                "{who} may not apply the audit retention policy: it needs `manage_audit`"
            )));
        }
        let scrubbed = scrub_values(self.s, |e| e.event.occurred_at < cutoff).await?;
        Ok(scrubbed.len() as u64)
    }

    /// Walks the tenant's history as the hash chain it was committed in and reports anything
    /// edited, removed or inserted since ([`ChainReport`]). Needs [`Permission::ReadAudit`].
    pub async fn verify(&self) -> Result<ChainReport> {
        self.require_permission("verify the audit trail").await?;
        self.s.crm.inner.store.verify_events(self.s.tenant()).await
    }
}

/// Drops the recorded values of every committed event `pick` chooses (among those that have
/// values), a page at a time, each page's scrub all or none; returns the events scrubbed, as
/// they were. What the retention policy and erasure share.
pub(crate) async fn scrub_values(s: &Session, mut pick: impl FnMut(&StoredEvent) -> bool) -> Result<Vec<StoredEvent>> {
    let store = &s.crm.inner.store;
    let mut q = EventQuery::after(0, PAGE);
    let mut done = Vec::new();
    loop {
        let batch = store.read_events(s.tenant(), &q).await?;
        let chosen: Vec<&StoredEvent> = batch.iter().filter(|e| !e.event.values.is_empty() && pick(e)).collect();
        if !chosen.is_empty() {
            let cleared: Vec<StoredEvent> = chosen
                .iter()
                .map(|e| {
                    let mut e = (*e).clone();
                    e.event.values.clear();
                    e
                })
                .collect();
            store.scrub_events(s.tenant(), &cleared).await?;
            done.extend(chosen.into_iter().cloned());
        }
        match batch.last() {
            Some(last) if batch.len() == PAGE => q.after = last.seq,
            _ => return Ok(done),
        }
    }
}

/// `rec` with `field` set to `value` (its stored form), or the error naming the field.
fn with_field(rec: &Record, field: &str, value: &serde_json::Value) -> Result<Record> {
    let unknown = || {
        Error::invalid(field, FieldErrorCode::UnknownField, format!("{} records have no field `{field}`", rec.kind()))
    };
    let mut whole = serde_json::to_value(rec).map_err(|e| Error::storage(e.to_string()))?;
    let body = whole.get_mut("record").and_then(|b| b.as_object_mut()).ok_or_else(|| Error::storage("record shape"))?;
    if ["id", "tenant_id", "version", "created_at", "updated_at"].contains(&field) {
        return Err(Error::invalid(field, FieldErrorCode::Rule, "a record's identity and version are not restored"));
    }
    match field.strip_prefix("custom.") {
        Some(key) => {
            let custom = body.get_mut("custom").and_then(|c| c.as_object_mut()).ok_or_else(unknown)?;
            match value {
                serde_json::Value::Null => custom.remove(key),
                v => custom.insert(key.to_owned(), v.clone()),
            };
        }
        None => *body.get_mut(field).ok_or_else(unknown)? = value.clone(),
    }
    serde_json::from_value(whole).map_err(|e| {
        Error::invalid(
            field,
            FieldErrorCode::InvalidFormat,
            format!("the recorded value no longer fits the field: {e}"),
        )
    })
}
