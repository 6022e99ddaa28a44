//! The extension point: code outside crm-core (an embedder's Rust code, the WASM plugin
//! host) adds custom fields, validates and computes fields before commit, and reacts to
//! committed events. crm-core never depends on how an extension is implemented.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::actor::Actor;
use crate::error::Result;
use crate::event::StoredEvent;
use crate::ids::{EventId, TenantId};
use crate::model::FieldDefinition;
use crate::model::Record;
use crate::service::{Crm, Session};
use crate::value::Value;

/// How deep changes made by extensions in reaction to events may nest: a user's change (depth
/// 0) may trigger an extension's change (depth 1), which may trigger another extension's change,
/// up to this depth; events of a change at this depth are not dispatched (a warning is logged).
pub const MAX_EXTENSION_DEPTH: u8 = 3;

/// The records an event was about, as the committing transaction saw them.
#[derive(Clone, Debug, Default)]
pub(crate) struct Snapshot {
    // Boxed: a batch keeps one per record, and the table moves its entries as it grows.
    pub(crate) before: Option<Box<Record>>,
    pub(crate) after: Option<Box<Record>>,
}

/// What [`Extension::on_events`] knows about a commit: the CRM, who committed, and the records
/// the events are about as they were written.
#[derive(Clone, Copy)]
pub struct EventContext<'a> {
    pub(crate) crm: &'a Crm,
    pub(crate) actor: &'a Actor,
    pub(crate) snapshots: &'a HashMap<EventId, Snapshot>,
}

impl std::fmt::Debug for EventContext<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventContext").field("actor", self.actor).finish_non_exhaustive()
    }
}

impl<'a> EventContext<'a> {
    /// The CRM the events were committed in.
    pub fn crm(&self) -> &'a Crm {
        self.crm
    }

    /// Who committed the change.
    pub fn actor(&self) -> &'a Actor {
        self.actor
    }

    /// The tenant of the events.
    pub fn tenant(&self) -> TenantId {
        self.actor.tenant_id
    }

    /// The subject as stored before the change, for `Updated` events of a user's change.
    pub fn before(&self, event: &StoredEvent) -> Option<&'a Record> {
        self.snapshots.get(&event.event.id).and_then(|s| s.before.as_deref())
    }

    /// The subject as written by the change, for `Created` and `Updated` events (other events:
    /// read the record's current state through [`crm`](Self::crm)).
    pub fn after(&self, event: &StoredEvent) -> Option<&'a Record> {
        self.snapshots.get(&event.event.id).and_then(|s| s.after.as_deref())
    }

    /// A session acting as extension `id` in reaction to these events: its changes are
    /// attributed to the extension, are not dispatched back to it, and nest one level deeper
    /// (see [`MAX_EXTENSION_DEPTH`]).
    pub fn act_as(&self, id: &str) -> Session {
        let actor = Actor {
            tenant_id: self.actor.tenant_id,
            user_id: None,
            roles: self.crm.inner.extension_roles.get(id).cloned().unwrap_or_default(),
            customer: None,
            origin: Some(id.to_owned()),
            depth: self.actor.depth.saturating_add(1),
        };
        self.crm.as_actor(&actor)
    }
}

/// Whether a record is being created or updated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteOp {
    /// A new record.
    Create,
    /// A change to an existing record.
    Update,
}

/// What an extension hook knows about the write in progress.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct HookContext<'a> {
    /// Who is writing.
    pub actor: &'a Actor,
    /// The time of the write (from the injected clock).
    pub now: DateTime<Utc>,
    /// Create or update.
    pub op: WriteOp,
    /// The record as stored before this write (updates only).
    pub before: Option<&'a Record>,
    /// Identifies this write's round of hooks: the same in the `validate` and `compute` calls
    /// (or `validate_many` and `compute_many`) of one write, different for every other write
    /// in the process. An extension whose `validate` already produced what its `compute`
    /// returns can keep it under this number and the record's id, instead of working twice.
    pub write: u64,
}

impl HookContext<'_> {
    /// A fresh [`write`](HookContext::write) number (unique in this process).
    pub(crate) fn next_write() -> u64 {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }
}

/// An extension of the CRM, registered with [`CrmBuilder::extension`](crate::service::CrmBuilder::extension).
///
/// Hooks run in this order on every create and update a user makes (through `create`, `log`,
/// `update`, `define`…) of a record with custom fields:
/// the core checks standard fields and custom values against their definitions, then every
/// extension's [`validate`](Extension::validate), then every [`compute`](Extension::compute)
/// (results are type-checked against the extension's own field definitions), then the write
/// commits and [`on_events`](Extension::on_events) sees the committed events. Changes the rules
/// make themselves (stage moves, win/lose/reopen, lifecycle promotions and resets, task
/// completion) skip `validate`/`compute`; extensions see them as events.
///
/// ```
/// use crm_core::{service::extension::Extension, service::extension::HookContext, model::Record, error::Result, error::Error, error::FieldErrorCode, value::Value};
/// use crm_core::model::{FieldDefinition, FieldType};
/// use crm_core::entity::EntityKind;
///
/// /// Scores contacts: 10 points per email address.
/// struct Scoring;
///
/// impl Extension for Scoring {
///     fn id(&self) -> &str { "scoring" }
///     fn fields(&self) -> Vec<FieldDefinition> {
///         vec![FieldDefinition::new(EntityKind::Contact, "score", "Lead score", FieldType::Number)]
///     }
///     fn compute(&self, _cx: &HookContext<'_>, record: &Record) -> Result<Vec<(String, Value)>> {
///         match record {
///             Record::Contact(c) => Ok(vec![("score".into(), Value::Int(10 * c.emails.len() as i64))]),
///             _ => Ok(vec![]),
///         }
///     }
/// }
/// ```
#[async_trait]
pub trait Extension: Send + Sync + 'static {
    /// A unique id: lower-case letters, digits and `_`, starting with a letter. Its fields are
    /// namespaced under it (`<id>.<key>`).
    fn id(&self) -> &str;

    /// Custom fields this extension adds (keys without the namespace). They exist in every tenant.
    fn fields(&self) -> Vec<FieldDefinition> {
        Vec::new()
    }

    /// Cross-field rules. Return [`Error::Validation`](crate::error::Error::Validation) to refuse the write.
    fn validate(&self, _cx: &HookContext<'_>, _record: &Record) -> Result<()> {
        Ok(())
    }

    /// Values of this extension's computed fields (keys without the namespace).
    fn compute(&self, _cx: &HookContext<'_>, _record: &Record) -> Result<Vec<(String, Value)>> {
        Ok(Vec::new())
    }

    /// [`validate`](Extension::validate) for many new records of one write (a batch of a bulk
    /// import; `cx.before` is `None`). Returns one result per record, in order. The default
    /// calls `validate` for each; override it when checking a batch at once is cheaper (the
    /// plugin host runs a whole batch in one sandboxed instance).
    fn validate_many(&self, cx: &HookContext<'_>, records: &[&Record]) -> Vec<Result<()>> {
        records.iter().map(|r| self.validate(cx, r)).collect()
    }

    /// [`compute`](Extension::compute) for many new records of one write, one result per
    /// record, in order (see [`validate_many`](Extension::validate_many)).
    fn compute_many(&self, cx: &HookContext<'_>, records: &[&Record]) -> Vec<Result<Vec<(String, Value)>>> {
        records.iter().map(|r| self.compute(cx, r)).collect()
    }

    /// Sees events after they are committed. Errors are logged, never undo the write.
    ///
    /// Changes the extension makes in reaction go through [`EventContext::act_as`]; their
    /// events are not sent back to it, and nesting stops at [`MAX_EXTENSION_DEPTH`].
    ///
    /// Reactions are dispatched as they commit, so an extension registered after a reacting
    /// one may see the reaction's events (higher `seq`) before the events that caused them.
    /// An extension that tracks its position in the outbox should keep the highest `seq` it
    /// has seen rather than the last.
    async fn on_events(&self, _cx: &EventContext<'_>, _events: &[StoredEvent]) -> Result<()> {
        Ok(())
    }
}
