//! Workflows: automation rules a tenant defines as data. When something happens to a record of
//! the workflow's kind (its [`Trigger`]) and the record matches its conditions, its [`Step`]s
//! run. crm-core keeps and checks them ([`Workflows`](crate::service::Workflows)); the
//! `crm-automation` crate runs them, and logs every step it runs as a [`WorkflowRun`].

use chrono::{DateTime, NaiveTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::entity::{EntityKind, EntityRef, Links, UniqueKey};
use crate::event::Change;
use crate::ids::{UserId, WorkflowId, WorkflowRunId};
use crate::macros::{record, str_enum};
use crate::model::{Delay, impl_entity};
use crate::query::Filter;

str_enum! {
    /// A domain event a workflow can be triggered by, beyond creation, update and deletion.
    #[non_exhaustive]
    pub enum EventType {
        /** A deal moved between stages. */ StageChanged = "stage_changed",
        /** A deal was won. */ DealWon = "deal_won",
        /** A deal was lost. */ DealLost = "deal_lost",
        /** A won or lost deal was reopened. */ DealReopened = "deal_reopened",
        /** A contact's lifecycle stage changed. */ LifecycleChanged = "lifecycle_changed",
        /** An activity was logged (an email received is an inbound email logged). */ ActivityLogged = "activity_logged",
        /** A task was marked done. */ TaskCompleted = "task_completed",
        /** An order, invoice, case or campaign changed status (an invoice going overdue, a case breaching its SLA). */
        StatusChanged = "status_changed",
        /** An order was placed. */ OrderPlaced = "order_placed",
        /** A payment was applied to an invoice. */ PaymentApplied = "payment_applied",
        /** A campaign member responded. */ CampaignResponded = "campaign_responded",
    }
}

impl EventType {
    /// The kinds of record whose events of this type a workflow can watch.
    pub fn kinds(self) -> &'static [EntityKind] {
        match self {
            EventType::StageChanged | EventType::DealWon | EventType::DealLost | EventType::DealReopened => {
                &[EntityKind::Deal]
            }
            EventType::LifecycleChanged => &[EntityKind::Contact],
            EventType::ActivityLogged | EventType::TaskCompleted => &[EntityKind::Activity],
            EventType::StatusChanged => {
                &[EntityKind::Order, EntityKind::Invoice, EntityKind::Case, EntityKind::Campaign]
            }
            EventType::OrderPlaced => &[EntityKind::Order],
            EventType::PaymentApplied => &[EntityKind::Invoice],
            EventType::CampaignResponded => &[EntityKind::CampaignMember],
        }
    }

    /// The type of a change, for the changes that are not a creation, update or deletion.
    pub fn of(change: &Change) -> Option<EventType> {
        Some(match change {
            Change::StageChanged { .. } => EventType::StageChanged,
            Change::DealWon => EventType::DealWon,
            Change::DealLost { .. } => EventType::DealLost,
            Change::DealReopened { .. } => EventType::DealReopened,
            Change::LifecycleChanged { .. } => EventType::LifecycleChanged,
            Change::ActivityLogged { .. } => EventType::ActivityLogged,
            Change::TaskCompleted => EventType::TaskCompleted,
            Change::StatusChanged { .. } => EventType::StatusChanged,
            Change::OrderPlaced { .. } => EventType::OrderPlaced,
            Change::PaymentApplied { .. } => EventType::PaymentApplied,
            Change::CampaignResponded { .. } => EventType::CampaignResponded,
            _ => return None,
        })
    }
}

/// What sets a workflow off, for a record of its kind.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "on", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Trigger {
    /// The record was created.
    Created,
    /// The record was updated and one of `fields` changed (any field when empty; `custom.KEY`
    /// for a custom field).
    Updated {
        /// The fields listened to.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        fields: Vec<String>,
    },
    /// The record was deleted. A deleted record is gone, so such a workflow has no conditions.
    Deleted,
    /// A domain event about the record.
    Event {
        /// Which.
        event: EventType,
    },
    /// At a time worked out from a date or time field of the record (`expected_close_date`,
    /// `due_at`, `birthday`, a custom date): the field's value (for a date, at `at` o'clock in
    /// the workflow's time zone, 09:00 by default) moved `before` or `after` it by a delay;
    /// every year on its anniversary with `yearly` (a birthday: 29 February is kept on 28
    /// February in common years). A change to the field moves the time.
    Date {
        /// The field.
        field: String,
        /// This long before the field's time.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        before: Option<Delay>,
        /// This long after it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after: Option<Delay>,
        /// Each year, for a date field.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        yearly: bool,
        /// The time of day, for a date field.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, example = "09:00:00"))]
        at: Option<NaiveTime>,
    },
    /// On a schedule: a cron expression (minute, hour, day of month, month, day of week; or
    /// `@daily` and the like) in the workflow's time zone. Each tick runs the workflow on every
    /// record its condition matches.
    Schedule {
        /// The expression.
        cron: String,
    },
    /// Only when run by hand, on a record chosen then.
    Manual,
}

impl Trigger {
    /// Whether `change` (of a record of the workflow's kind) sets this trigger off.
    pub fn fires_on(&self, change: &Change) -> bool {
        match (self, change) {
            (Trigger::Created, Change::Created) | (Trigger::Deleted, Change::Deleted) => true,
            (Trigger::Updated { fields }, Change::Updated { fields: changed }) => {
                fields.is_empty() || changed.iter().any(|c| fields.contains(c))
            }
            (Trigger::Event { event }, other) => EventType::of(other) == Some(*event),
            _ => false,
        }
    }
}

/// One thing a workflow does to the record that set it off.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "action", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Step {
    /// Sets fields of the record, as a JSON object: standard fields by name, custom fields as
    /// `custom.KEY`; `null` clears. The record's own rules apply as to any update.
    Update {
        /// The values, by field.
        #[cfg_attr(feature = "openapi", schema(value_type = Object))]
        fields: serde_json::Map<String, serde_json::Value>,
    },
    /// Adds tags the record does not have yet.
    AddTags {
        /// The tags.
        tags: Vec<String>,
    },
    /// Removes tags.
    RemoveTags {
        /// The tags.
        tags: Vec<String>,
    },
    /// Makes one of a pool of users the record's owner: in turn, the least loaded, or by
    /// weight; only those whose territory holds the record and who are under their capacity.
    Assign {
        /// How the owner is picked.
        method: AssignMethod,
        /// Who may be picked, in order.
        pool: Vec<Assignee>,
        /// Which of a user's records count as open, for loads and capacities (by default: a
        /// deal's while open, a case's until closed, any other kind's always).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        open: Option<Filter>,
    },
    /// Makes a user the record's owner.
    AssignOwner {
        /// The user.
        user_id: UserId,
    },
    /// Creates a task about the record (linked to it, and to its contact and deal where it
    /// has them), owned by `assign_to` or else by the record's owner.
    CreateTask {
        /// The task's subject.
        title: String,
        /// When it is due, after the workflow runs (none: no due time).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        due_in: Option<Delay>,
        /// Who it is for.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        assign_to: Option<UserId>,
    },
    /// Writes a note about the record (linked as a task would be).
    CreateNote {
        /// The note.
        text: String,
    },
    /// Adds the record's contact (the contact itself, or the one an order, invoice, case…
    /// names) to a campaign, as [`Campaigns::add_contact`](crate::service::Campaigns::add_contact)
    /// does: consent for the campaign's channel is required; a member already stays one.
    AddToCampaign {
        /// The campaign.
        campaign_id: crate::ids::CampaignId,
    },
    /// Waits before the next step: the run goes on when the delay has passed (counted in the
    /// workflow's time zone).
    Wait {
        /// How long.
        delay: Delay,
    },
    /// Sends users a [`Notification`](crate::model::Notification) about the record.
    Notify {
        /// What it says.
        message: String,
        /// Users to tell.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        users: Vec<UserId>,
        /// Whether to tell the record's owner too.
        #[serde(default)]
        owner: bool,
    },
}

impl Step {
    /// The step's action, as written in JSON (`update`, `add_tags`…).
    pub fn action(&self) -> &'static str {
        match self {
            Step::Update { .. } => "update",
            Step::AddTags { .. } => "add_tags",
            Step::RemoveTags { .. } => "remove_tags",
            Step::AssignOwner { .. } => "assign_owner",
            Step::Assign { .. } => "assign",
            Step::CreateTask { .. } => "create_task",
            Step::Notify { .. } => "notify",
            Step::CreateNote { .. } => "create_note",
            Step::AddToCampaign { .. } => "add_to_campaign",
            Step::Wait { .. } => "wait",
        }
    }
}

str_enum! {
    /// How an [`Assign`](Step::Assign) step picks an owner.
    pub enum AssignMethod {
        /** Each eligible user in turn, in the pool's order. */ RoundRobin = "round_robin",
        /** The eligible user with the fewest open records of the kind. */ LeastLoaded = "least_loaded",
        /** In proportion to their weights: the eligible user this step gave least for their weight. */ Weighted = "weighted",
    }
}

/// One user an [`Assign`](Step::Assign) step may pick.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Assignee {
    /// The user.
    pub user_id: UserId,
    /// Their share, for the weighted method (1–100; default 1).
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub weight: u32,
    /// The most open records of the kind they may own; none: no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<u32>,
    /// The records they may take (a territory: `country = DE`); none: any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub territory: Option<Filter>,
}

impl Assignee {
    /// `user`, weight 1, no capacity, any record.
    pub fn new(user: UserId) -> Self {
        Assignee { user_id: user, weight: 1, capacity: None, territory: None }
    }
}

fn one() -> u32 {
    1
}

fn is_one(n: &u32) -> bool {
    *n == 1
}

record! {
    /// An automation rule: when `trigger` fires for a record of `kind` that matches
    /// `condition` (and, before the change, `was`; with `edge`, did not match `condition`
    /// before), run `steps` in order. Versioned like every record: each run names the version
    /// it ran.
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    pub struct Workflow(WorkflowId) {
        /// Name (required, unique per tenant ignoring case).
        pub name: String,
        /// What it is for.
        pub description: Option<String>,
        /// Whether it runs.
        pub enabled: bool,
        /// The kind of record it watches.
        pub entity_kind: EntityKind,
        /// What sets it off.
        pub trigger: Trigger,
        /// What the record must match after the change (`all`: every record).
        pub condition: Filter,
        /// What the record must have matched before the change (updates and events only).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub was: Option<Filter>,
        /// Only when the record did not match `condition` before the change and does after:
        /// a rule that fires once when a deal crosses 10,000 rather than on every later edit.
        pub edge: bool,
        /// What it does, in order (at least one step).
        pub steps: Vec<Step>,
        /// Since when it runs: changes committed before it was created or last switched on are
        /// not its business (set by the CRM).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub enabled_at: Option<DateTime<Utc>>,
        /// The time zone its dates, delays and schedule are read in (UTC when none).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, example = "Europe/Berlin"))]
        pub time_zone: Option<Tz>,
    }
}

impl_entity! {
    Workflow, WorkflowId, Workflow, custom: false;
    unique: |w| vec![UniqueKey::new("name", w.name.to_lowercase())];
    fields {
        "name": Text => |w| w.name.clone(),
        "enabled": Bool => |w| w.enabled,
        "entity_kind": Text => |w| w.entity_kind,
    }
}

str_enum! {
    /// How a step of a workflow run ended.
    pub enum RunOutcome {
        /** It ran and its changes were committed with this log entry. */ Done = "done",
        /** It failed; `detail` says why. It is not retried. */ Failed = "failed",
        /** A safeguard stopped it (loop, depth or rate limit); `detail` says which. */ Stopped = "stopped",
    }
}

record! {
    /// One step of a workflow run on one record, for one occurrence of its trigger: the run
    /// log, and the proof that the step ran. Its `key` is unique, and a step's log entry is
    /// committed in the same transaction as the step's changes, so a step runs at most once
    /// per occurrence whatever crashes in between.
    #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    pub struct WorkflowRun(WorkflowRunId) {
        /// The workflow.
        pub workflow_id: WorkflowId,
        /// Its version when it ran.
        pub workflow_version: u64,
        /// The record it ran on.
        pub subject: EntityRef,
        /// What set it off: `event:<seq>` for an event of the outbox, `manual:<id>` for a run by hand.
        pub occurrence: String,
        /// The step (0 for the first).
        pub step: u32,
        /// The step's action (`create_task`…), or `trigger` for a run stopped before its steps.
        pub action: String,
        /// `<workflow>/<kind>:<id>/<occurrence>/<step>`: unique.
        pub key: String,
        /// How it ended.
        pub outcome: RunOutcome,
        /// Why it failed or was stopped.
        pub detail: Option<String>,
        /// How long the step took, in microseconds.
        pub micros: u64,
    }
}

impl WorkflowRun {
    /// The key of a step's log entry.
    pub fn key_of(workflow: WorkflowId, subject: EntityRef, occurrence: &str, step: u32) -> String {
        format!("{workflow}/{subject}/{occurrence}/{step}")
    }
}

impl_entity! {
    WorkflowRun, WorkflowRunId, WorkflowRun, custom: false;
    links: |r| Links::default().one("workflow_id", EntityKind::Workflow, Some(r.workflow_id));
    unique: |r| vec![UniqueKey::new("key", r.key.clone())];
    fields {
        "workflow_id": Id => |r| Some(r.workflow_id),
        "record_kind": Text => |r| r.subject.kind,
        "record_id": Id => |r| Some(r.subject.id),
        "step": Int => |r| r.step,
        "occurrence": Text => |r| r.occurrence.clone(),
        "detail": Text => |r| r.detail.clone(),
        "outcome": Text => |r| r.outcome,
        "key": Text => |r| r.key.clone(),
    }
}
