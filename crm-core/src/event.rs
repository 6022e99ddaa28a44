//! Domain events: what changed, written by the store in the same transaction as the change.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::entity::EntityRef;
use crate::ids::{CampaignId, EventId, PaymentId, PipelineId, StageId, TenantId, UserId};
use crate::model::{ActivityKind, ResponseKind};
use crate::money::Money;
use crate::profile::LifecycleStage;

/// What happened to the subject of an event.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Change {
    /// The record was created.
    Created,
    /// The record was updated; these fields changed (`custom.<key>` for custom fields).
    Updated {
        /// Names of the changed fields.
        fields: Vec<String>,
    },
    /// The record was deleted.
    Deleted,
    /// A deal moved between stages.
    StageChanged {
        /// The deal's pipeline.
        pipeline_id: PipelineId,
        /// The stage it left.
        from: StageId,
        /// The stage it entered.
        to: StageId,
    },
    /// A deal was won.
    DealWon,
    /// A deal was lost.
    DealLost {
        /// Why.
        reason: String,
    },
    /// A won or lost deal was reopened.
    DealReopened {
        /// The open stage it went back to.
        to: StageId,
    },
    /// A contact's lifecycle stage changed.
    LifecycleChanged {
        /// Before.
        from: LifecycleStage,
        /// After.
        to: LifecycleStage,
        /// True when moved backwards by an explicit reset.
        reset: bool,
    },
    /// An activity was logged.
    ActivityLogged {
        /// Its kind.
        activity_kind: ActivityKind,
    },
    /// A task was marked done.
    TaskCompleted,
    /// An order, invoice, case or campaign changed status (orders' placement is `OrderPlaced`).
    StatusChanged {
        /// Before (the status's string form).
        from: String,
        /// After.
        to: String,
    },
    /// An order was placed.
    OrderPlaced {
        /// Its total.
        total: Money,
    },
    /// Part of a payment was applied to an invoice (the event's subject is the invoice).
    PaymentApplied {
        /// The payment.
        payment_id: PaymentId,
        /// How much.
        amount: Money,
    },
    /// A campaign member responded (the subject is the member; related: campaign and contact).
    CampaignResponded {
        /// The campaign.
        campaign_id: CampaignId,
        /// What they did.
        kind: ResponseKind,
    },
}

/// A domain event, before the store numbers it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Id (UUIDv7).
    pub id: EventId,
    /// Tenant of the change.
    pub tenant_id: TenantId,
    /// When it happened.
    pub occurred_at: DateTime<Utc>,
    /// Who did it (None for the system).
    pub actor: Option<UserId>,
    /// The record that changed.
    pub subject: EntityRef,
    /// Other records the change touches (a deal's contacts, an activity's links…).
    pub related: Vec<EntityRef>,
    /// What happened.
    pub change: Change,
    /// The fields the change wrote, each with its old and new value: the audit trail (see
    /// [`Audit`](crate::service::Audit)). Empty for creations, deletions and events that
    /// change no field of their subject.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<FieldChange>,
    /// What made the change when no person did it directly: the id of the extension reacting
    /// to events, or `workflow:<id>` for an automation. None for a user's or the system's own
    /// change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    /// How many automated reactions deep the change is: 0 for a person's change, 1 for a
    /// reaction to it, 2 for a reaction to that… (what stops rules setting each other off
    /// forever).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub depth: u8,
}

fn is_zero(n: &u8) -> bool {
    *n == 0
}

/// One field of a record written by a change: its value before and after, as the record
/// stores it (a custom field's as its [`Value`](crate::value::Value)), so the field can be
/// shown or put back exactly.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldChange {
    /// The field (`custom.<key>` for a custom field).
    pub field: String,
    /// Before (JSON `null` when it had no value).
    pub old: serde_json::Value,
    /// After (JSON `null` when it has none now).
    pub new: serde_json::Value,
}

impl Event {
    /// Whether the event is about `r` or touches it.
    pub fn touches(&self, r: &EntityRef) -> bool {
        self.subject == *r || self.related.contains(r)
    }
}

/// An event as committed: numbered in commit order within its tenant (1, 2, 3, …).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredEvent {
    /// Position in the tenant's outbox; strictly increasing in commit order.
    pub seq: u64,
    /// The event.
    pub event: Event,
}

/// Which events to read from the outbox.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventQuery {
    /// Only events with `seq` greater than this (0 = from the start).
    pub after: u64,
    /// At most this many.
    pub limit: usize,
    /// Only events about or touching this record.
    pub touching: Option<EntityRef>,
}

impl EventQuery {
    /// Up to `limit` events after `seq`.
    pub fn after(seq: u64, limit: usize) -> Self {
        Self { after: seq, limit, touching: None }
    }
}
