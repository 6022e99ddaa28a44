//! Workflow timers: the index of due times that time triggers, schedules and waiting steps
//! run from. A runner asks for the timers due by now, never scanning records.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::entity::{EntityKind, EntityRef, Links, UniqueKey};
use crate::ids::{WorkflowId, WorkflowTimerId};
use crate::macros::record;
use crate::model::impl_entity;

record! {
    /// A time at which workflow `workflow_id` is to run from step `step` on `subject` (on the
    /// records its condition matches, for a schedule's tick): a date trigger's next time, a
    /// schedule's next tick, or the end of a waiting step. Its `key` is unique, so setting the
    /// same timer twice keeps one.
    #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    pub struct WorkflowTimer(WorkflowTimerId) {
        /// The workflow.
        pub workflow_id: WorkflowId,
        /// The record (None for a schedule's tick).
        pub subject: Option<EntityRef>,
        /// When.
        pub due_at: DateTime<Utc>,
        /// The occurrence the run is for: `date:<field>:<time>`, `cron:<time>`, or the waiting
        /// run's own.
        pub occurrence: String,
        /// The step the run starts from (0, or the one after a wait).
        pub step: u32,
        /// How many automated reactions deep the run's changes are.
        pub depth: u8,
        /// `<workflow>/<record or schedule>/<occurrence>/<step>`: unique.
        pub key: String,
    }
}

impl WorkflowTimer {
    /// The key of a timer.
    pub fn key_of(workflow: WorkflowId, subject: Option<EntityRef>, occurrence: &str, step: u32) -> String {
        match subject {
            Some(s) => format!("{workflow}/{s}/{occurrence}/{step}"),
            None => format!("{workflow}/schedule/{occurrence}/{step}"),
        }
    }
}

impl_entity! {
    WorkflowTimer, WorkflowTimerId, WorkflowTimer, custom: false;
    links: |t| Links::default().one("workflow_id", EntityKind::Workflow, Some(t.workflow_id));
    unique: |t| vec![UniqueKey::new("key", t.key.clone())];
    fields {
        "workflow_id": Id => |t| Some(t.workflow_id),
        "record_id": Id => |t| t.subject.map(|s| s.id),
        "due_at": DateTime => |t| t.due_at,
        "step": Int => |t| t.step,
        "key": Text => |t| t.key.clone(),
    }
}
