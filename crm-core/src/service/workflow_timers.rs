//! The index of due times automation runs from ([`WorkflowTimer`]): set, read when due,
//! replaced when a record's date moves, finished when run. Bookkeeping of the runner's, kept
//! by the system: no events, guarded by the `manage_automations` permission.

use chrono::{DateTime, Utc};

use super::Session;
use super::uow::Uow;
use crate::entity::{EntityKind, EntityRef};
use crate::error::Result;
use crate::ids::WorkflowId;
use crate::macros::new_record;
use crate::model::{Action, Entity, WorkflowTimer};
use crate::query::{Filter, Query};

/// A timer to set: when workflow `workflow_id` is to run from `step` on `subject` (the
/// records of a schedule, when None), for `occurrence`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewTimer {
    /// The workflow.
    pub workflow_id: WorkflowId,
    /// The record (None for a schedule's tick).
    pub subject: Option<EntityRef>,
    /// When.
    pub due_at: DateTime<Utc>,
    /// What the run is for.
    pub occurrence: String,
    /// The step it starts from.
    pub step: u32,
    /// How many automated reactions deep its changes are.
    pub depth: u8,
}

impl NewTimer {
    fn key(&self) -> String {
        WorkflowTimer::key_of(self.workflow_id, self.subject, &self.occurrence, self.step)
    }
}

async fn writer(s: &Session) -> Result<Uow<'_>> {
    let uow = Uow::write(s).await?;
    uow.access.check_kind(EntityKind::WorkflowTimer, Action::Create)?;
    Ok(uow)
}

fn timer(uow: &Uow<'_>, t: NewTimer) -> WorkflowTimer {
    let key = t.key();
    new_record!(
        uow,
        WorkflowTimer {
            workflow_id: t.workflow_id,
            subject: t.subject,
            due_at: t.due_at,
            occurrence: t.occurrence,
            step: t.step,
            depth: t.depth,
            key,
        }
    )
}

impl Session {
    /// Sets a timer (with this session's receipt, when it has one: a waiting step). False when
    /// the same timer is set already.
    pub async fn set_timer(&self, t: NewTimer) -> Result<bool> {
        let mut uow = writer(self).await?;
        let key = t.key();
        if !uow.tx.find_all::<WorkflowTimer>(Filter::eq("key", key.as_str())).await?.is_empty() {
            return Ok(false);
        }
        let rec = timer(&uow, t);
        uow.tx.insert(rec.into_record()).await?;
        // A step's receipt taken by this write may be a duplicate: the step ran already
        // ([`is_logged`](super::is_logged) tells).
        uow.commit().await?;
        Ok(true)
    }

    /// The timers due by `now`, soonest first, at most `limit`.
    pub async fn due_timers(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<WorkflowTimer>> {
        let mut uow = Uow::read(self).await?;
        uow.access.check_kind(EntityKind::WorkflowTimer, Action::Read)?;
        let q = Query::new(Filter::lte("due_at", now))
            .sort_asc("due_at")
            .limit(limit.clamp(1, crate::query::MAX_PAGE_SIZE));
        Ok(uow.tx.find::<WorkflowTimer>(&q).await?.items)
    }

    /// The timers of `workflow` on `subject` that start a run (step 0), soonest first.
    pub async fn start_timers(&self, workflow: WorkflowId, subject: Option<EntityRef>) -> Result<Vec<WorkflowTimer>> {
        let mut uow = Uow::read(self).await?;
        uow.access.check_kind(EntityKind::WorkflowTimer, Action::Read)?;
        let on = match subject {
            Some(s) => Filter::eq("record_id", s.id),
            None => Filter::is_null("record_id"),
        };
        let f = Filter::eq("workflow_id", workflow).and(on).and(Filter::eq("step", 0));
        let mut found = uow.tx.find_all::<WorkflowTimer>(f).await?;
        found.sort_by_key(|t| t.due_at);
        Ok(found)
    }

    /// Makes `next` the only timer starting a run of `workflow` on `subject` (none: no timer),
    /// in one write: what a change to the record's date field does.
    pub async fn replace_start_timer(
        &self,
        workflow: WorkflowId,
        subject: Option<EntityRef>,
        next: Option<NewTimer>,
    ) -> Result<()> {
        let now = self.start_timers(workflow, subject).await?;
        let keep = next.as_ref().map(NewTimer::key);
        if now.len() == usize::from(keep.is_some()) && now.iter().all(|t| Some(&t.key) == keep.as_ref()) {
            return Ok(());
        }
        let mut uow = writer(self).await?;
        for t in now.iter().filter(|t| Some(&t.key) != keep.as_ref()) {
            uow.tx.delete(EntityKind::WorkflowTimer, t.id.into(), t.version).await?;
        }
        if let Some(n) = next
            && !now.iter().any(|t| Some(&t.key) == keep.as_ref())
        {
            let rec = timer(&uow, n);
            uow.tx.insert(rec.into_record()).await?;
        }
        uow.commit().await?;
        Ok(())
    }

    /// Removes a timer that has run, and sets `next` (a yearly date's next anniversary, a
    /// schedule's next tick) in the same write. A timer removed already is not an error.
    pub async fn finish_timer(&self, done: &WorkflowTimer, next: Option<NewTimer>) -> Result<()> {
        let mut uow = writer(self).await?;
        if uow.tx.get(EntityKind::WorkflowTimer, done.id.into()).await?.is_some() {
            uow.tx.delete(EntityKind::WorkflowTimer, done.id.into(), done.version).await?;
        }
        if let Some(n) = next {
            let key = n.key();
            if uow.tx.find_all::<WorkflowTimer>(Filter::eq("key", key.as_str())).await?.is_empty() {
                let rec = timer(&uow, n);
                uow.tx.insert(rec.into_record()).await?;
            }
        }
        uow.commit().await?;
        Ok(())
    }
}
