//! What a run did: the steps it ran, the runs it stopped and why, the steps that failed, and
//! counters an embedder can export.

use std::sync::atomic::{AtomicU64, Ordering};

use crm_core::entity::EntityRef;
use crm_core::ids::WorkflowId;
use serde::Serialize;

/// Why a safeguard stopped a workflow from running on a record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
#[non_exhaustive]
pub enum StopReason {
    /// The change was the workflow's own: a rule is not set off by what it did itself.
    OwnChange,
    /// The change was this many automated reactions deep, at or past the limit
    /// ([`Options::max_depth`](crate::Options::max_depth)): rules setting each other off stop here.
    Depth {
        /// The change's depth.
        depth: u8,
    },
    /// The workflow already ran this often on the record within the last hour
    /// ([`Options::max_runs_per_hour`](crate::Options::max_runs_per_hour)).
    RateLimit {
        /// Runs in the last hour.
        runs: u64,
    },
}

impl std::fmt::Display for StopReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StopReason::OwnChange => f.write_str("the change was the workflow's own"),
            StopReason::Depth { depth } => write!(f, "the change was {depth} automated reactions deep"),
            StopReason::RateLimit { runs } => write!(f, "it ran {runs} times on this record within the hour"),
        }
    }
}

/// One workflow set off on one record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Fired {
    /// The workflow.
    pub workflow_id: WorkflowId,
    /// The record.
    pub subject: EntityRef,
    /// What set it off (`event:<seq>`, `manual:<id>`).
    pub occurrence: String,
    /// The steps this run carried out (those done before a crash are not counted again).
    pub steps_done: u32,
}

/// A workflow a safeguard kept from running.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Stopped {
    /// The workflow.
    pub workflow_id: WorkflowId,
    /// The record.
    pub subject: EntityRef,
    /// What would have set it off.
    pub occurrence: String,
    /// Why not.
    pub reason: StopReason,
}

/// A step that failed: it is logged with the reason, not retried, and the run's later steps
/// do not run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Failed {
    /// The workflow.
    pub workflow_id: WorkflowId,
    /// The record.
    pub subject: EntityRef,
    /// What set it off.
    pub occurrence: String,
    /// The step (0 for the first).
    pub step: u32,
    /// The error.
    pub error: String,
}

/// A change the runner could not handle and went past, so as not to stop at it for ever.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PassedOver {
    /// Its position in the outbox.
    pub seq: u64,
    /// Why.
    pub error: String,
}

/// What one call of the runner did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RunReport {
    /// Events read from the outbox.
    pub events: u64,
    /// Workflows run.
    pub fired: Vec<Fired>,
    /// Runs a safeguard stopped.
    pub stopped: Vec<Stopped>,
    /// Steps that failed.
    pub failed: Vec<Failed>,
    /// Changes that could not be handled at all.
    pub passed_over: Vec<PassedOver>,
    /// Notifications given to the [`Notifier`](crate::Notifier).
    pub delivered: u64,
    /// The outbox position after the run: the last event handled.
    pub cursor: u64,
}

impl RunReport {
    /// Steps carried out in all.
    pub fn steps_done(&self) -> u64 {
        self.fired.iter().map(|f| u64::from(f.steps_done)).sum()
    }

    pub(crate) fn absorb(&mut self, other: RunReport) {
        self.events += other.events;
        self.fired.extend(other.fired);
        self.stopped.extend(other.stopped);
        self.failed.extend(other.failed);
        self.passed_over.extend(other.passed_over);
        self.delivered += other.delivered;
        self.cursor = self.cursor.max(other.cursor);
    }
}

/// Running totals since the runner was made, for an embedder's metrics (Prometheus and the like).
#[derive(Debug, Default)]
pub struct Counters {
    pub(crate) events: AtomicU64,
    pub(crate) fired: AtomicU64,
    pub(crate) steps: AtomicU64,
    pub(crate) stopped: AtomicU64,
    pub(crate) failed: AtomicU64,
}

/// A snapshot of [`Counters`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CounterValues {
    /// Events read.
    pub events: u64,
    /// Workflow runs.
    pub fired: u64,
    /// Steps carried out.
    pub steps: u64,
    /// Runs stopped by a safeguard.
    pub stopped: u64,
    /// Steps failed.
    pub failed: u64,
}

impl Counters {
    pub(crate) fn add(&self, r: &RunReport) {
        self.events.fetch_add(r.events, Ordering::Relaxed);
        self.fired.fetch_add(r.fired.len() as u64, Ordering::Relaxed);
        self.steps.fetch_add(r.steps_done(), Ordering::Relaxed);
        self.stopped.fetch_add(r.stopped.len() as u64, Ordering::Relaxed);
        self.failed.fetch_add(r.failed.len() as u64, Ordering::Relaxed);
    }

    /// The totals now.
    pub fn values(&self) -> CounterValues {
        CounterValues {
            events: self.events.load(Ordering::Relaxed),
            fired: self.fired.load(Ordering::Relaxed),
            steps: self.steps.load(Ordering::Relaxed),
            stopped: self.stopped.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
        }
    }
}
