//! The extension point: code outside crm-core (an embedder's Rust code, the WASM plugin
//! host) adds custom fields, validates and computes fields before commit, and reacts to
//! committed events. crm-core never depends on how an extension is implemented.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::entity::Record;
use crate::error::Result;
use crate::event::StoredEvent;
use crate::ids::TenantId;
use crate::model::FieldDefinition;
use crate::service::Actor;
use crate::value::Value;

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
pub struct HookContext<'a> {
    /// Who is writing.
    pub actor: &'a Actor,
    /// The time of the write (from the injected clock).
    pub now: DateTime<Utc>,
    /// Create or update.
    pub op: WriteOp,
    /// The record as stored before this write (updates only).
    pub before: Option<&'a Record>,
}

/// An extension of the CRM, registered with [`CrmBuilder::extension`](crate::CrmBuilder::extension).
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
/// use crm_core::{Extension, HookContext, Record, Result, Error, FieldErrorCode, Value};
/// use crm_core::model::{FieldDefinition, FieldType};
/// use crm_core::EntityKind;
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

    /// Cross-field rules. Return [`Error::Validation`](crate::Error::Validation) to refuse the write.
    fn validate(&self, _cx: &HookContext<'_>, _record: &Record) -> Result<()> {
        Ok(())
    }

    /// Values of this extension's computed fields (keys without the namespace).
    fn compute(&self, _cx: &HookContext<'_>, _record: &Record) -> Result<Vec<(String, Value)>> {
        Ok(Vec::new())
    }

    /// Sees events after they are committed. Errors are logged, never undo the write.
    async fn on_events(&self, _tenant: TenantId, _events: &[StoredEvent]) -> Result<()> {
        Ok(())
    }
}
