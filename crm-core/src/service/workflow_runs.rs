//! The run log of automation ([`WorkflowRun`]): the entry each step of a workflow run commits
//! with its changes — what makes a step run at most once — and reading it.

use std::sync::{Arc, Mutex};

use super::Session;
use super::uow::Uow;
use crate::entity::{EntityKind, EntityRef};
use crate::error::{Error, FieldErrorCode, Result};
use crate::ids::WorkflowId;
use crate::macros::new_record;
use crate::model::{Entity, RunOutcome, WorkflowRun};
use crate::query::Filter;

/// Which step of which run a log entry ([`WorkflowRun`]) is for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunStep {
    /// The workflow.
    pub workflow_id: WorkflowId,
    /// Its version.
    pub workflow_version: u64,
    /// The record it runs on.
    pub subject: EntityRef,
    /// What set it off (`event:<seq>`, `manual:<id>`).
    pub occurrence: String,
    /// The step (0 for the first).
    pub step: u32,
    /// The step's action (`create_task`…; `trigger` for a run stopped before its steps).
    pub action: String,
    /// What the step did, when it says (the user an assignment picked).
    pub detail: Option<String>,
}

impl RunStep {
    /// The unique key of this step's log entry.
    pub fn key(&self) -> String {
        WorkflowRun::key_of(self.workflow_id, self.subject, &self.occurrence, self.step)
    }
}

/// The log entry a step's changes commit with: taken by the first unit of work that commits.
#[derive(Clone, Debug)]
pub(crate) struct ReceiptSlot(Arc<Mutex<Option<(RunStep, std::time::Instant)>>>);

impl ReceiptSlot {
    /// The entry, once, stamped by `uow` and timed from when the session was given it.
    pub(crate) fn take(&self, uow: &Uow<'_>) -> Option<crate::model::Record> {
        let (step, started) = self.0.lock().map(|mut g| g.take()).unwrap_or(None)?;
        let detail = step.detail.clone();
        Some(run_entry(uow, step, RunOutcome::Done, detail, started.elapsed()).into_record())
    }
}

fn run_entry(
    uow: &Uow<'_>,
    step: RunStep,
    outcome: RunOutcome,
    detail: Option<String>,
    took: std::time::Duration,
) -> WorkflowRun {
    let key = step.key();
    new_record!(
        uow,
        WorkflowRun {
            workflow_id: step.workflow_id,
            workflow_version: step.workflow_version,
            subject: step.subject,
            occurrence: step.occurrence,
            step: step.step,
            action: step.action,
            key,
            outcome,
            detail,
            micros: u64::try_from(took.as_micros()).unwrap_or(u64::MAX),
        }
    )
}

impl Session {
    /// This session, with the log entry of `step` (outcome [`Done`](RunOutcome::Done)) to be
    /// committed with its next write, in the same transaction: the step's changes and the
    /// proof they were made land together or not at all. An entry with the same
    /// [`key`](RunStep::key) already there fails that write with [`Error::Validation`] (code
    /// `Duplicate`, field `key`), writing nothing: the step ran already. A step that writes
    /// nothing leaves the entry for [`commit_receipt`](Session::commit_receipt).
    pub fn with_receipt(&self, step: RunStep) -> Session {
        let slot = ReceiptSlot(Arc::new(Mutex::new(Some((step, std::time::Instant::now())))));
        Session { receipt: Some(slot), ..self.clone() }
    }

    /// Commits the entry of [`with_receipt`](Session::with_receipt) on its own if no write
    /// took it; true if it did.
    pub async fn commit_receipt(&self) -> Result<bool> {
        let Some(slot) = &self.receipt else { return Ok(false) };
        let mut uow = Uow::write(self).await?;
        let Some(run) = slot.take(&uow) else { return Ok(false) };
        uow.tx.insert(run).await?;
        uow.commit().await?;
        Ok(true)
    }

    /// Logs `step` as failed or stopped (`detail` says why), on its own. False when the step
    /// has an entry already.
    pub async fn log_run(&self, step: RunStep, outcome: RunOutcome, detail: Option<String>) -> Result<bool> {
        let mut uow = Uow::write(self).await?;
        uow.access.check_kind(EntityKind::WorkflowRun, crate::model::Action::Create)?;
        let run = run_entry(&uow, step, outcome, detail, std::time::Duration::ZERO);
        match uow.tx.insert(run.into_record()).await {
            Err(e) if is_logged(&e) => return Ok(false),
            other => other?,
        }
        match uow.commit().await {
            Err(e) if is_logged(&e) => Ok(false),
            other => other.map(|_| true),
        }
    }

    /// The log entry with this key, if the step ran (or was stopped, or failed).
    pub async fn run_logged(&self, key: &str) -> Result<Option<WorkflowRun>> {
        let mut uow = Uow::read(self).await?;
        uow.access.check_kind(EntityKind::WorkflowRun, crate::model::Action::Read)?;
        Ok(uow.tx.find_all::<WorkflowRun>(Filter::eq("key", key)).await?.into_iter().next())
    }

    /// The log entries of workflow runs matching `filter`, newest first, at most `limit`.
    pub async fn workflow_runs(&self, filter: Filter, limit: usize) -> Result<Vec<WorkflowRun>> {
        let mut uow = Uow::read(self).await?;
        uow.access.check_kind(EntityKind::WorkflowRun, crate::model::Action::Read)?;
        let reg = uow.registry(EntityKind::WorkflowRun).await?;
        filter.validate(EntityKind::WorkflowRun, &reg)?;
        let q =
            crate::query::Query::new(filter).sort_desc("created_at").limit(limit.clamp(1, crate::query::MAX_PAGE_SIZE));
        Ok(uow.tx.find::<WorkflowRun>(&q).await?.items)
    }
}

/// Whether `e` says a step's log entry is there already (its unique key is taken).
pub fn is_logged(e: &Error) -> bool {
    matches!(e, Error::Validation(_))
        && e.field_errors().iter().any(|f| f.field == "key" && f.code == FieldErrorCode::Duplicate)
}
