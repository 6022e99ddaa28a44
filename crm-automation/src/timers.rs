//! Time: date triggers, schedules and waiting steps, run from the index of due times
//! ([`WorkflowTimer`]) — never a scan of the records. The runner keeps the index: a change to a
//! record's date field moves its timer, a new or changed workflow sets the timers of the records
//! it watches, a schedule's tick sets the next one, and a wait sets the timer its run goes on
//! from.

use chrono::{DateTime, Duration, Utc};
use crm_core::entity::EntityRef;
use crm_core::error::{Error, FieldErrorCode, Result};
use crm_core::event::{Change, StoredEvent};
use crm_core::ids::{TenantId, WorkflowId};
use crm_core::model::{Delay, Entity, Record, Trigger, Workflow, WorkflowTimer};
use crm_core::query::{Filter, Query};
use crm_core::service::{NewTimer, Session};
use crm_core::store::TxMode;

use crate::report::RunReport;
use crate::runner::Automation;

/// Records read at a time when a workflow's timers are set, or a schedule ticks.
const PAGE: usize = 500;

/// The timer that starts `flow` on `rec` next, at or after `from` (a date trigger's).
fn date_timer(flow: &Workflow, rec: &Record, from: DateTime<Utc>) -> Option<NewTimer> {
    let Trigger::Date { field, .. } = &flow.trigger else { return None };
    let due = flow.next_due(rec, from)?;
    Some(NewTimer {
        workflow_id: flow.id,
        subject: Some(rec.entity_ref()),
        due_at: due,
        occurrence: format!("date:{field}:{}", due.to_rfc3339()),
        step: 0,
        depth: 1,
    })
}

/// The timer of `flow`'s next tick after `after` (a schedule's).
fn tick_timer(flow: &Workflow, after: DateTime<Utc>) -> Option<NewTimer> {
    let due = flow.next_tick(after)?;
    Some(NewTimer {
        workflow_id: flow.id,
        subject: None,
        due_at: due,
        occurrence: format!("cron:{}", due.to_rfc3339()),
        step: 0,
        depth: 1,
    })
}

impl Automation {
    /// Runs what is due in `tenant` by the CRM's clock: date triggers whose time came,
    /// schedules' ticks, and runs whose wait is over. Safe to call again after a crash: a
    /// step that ran is not run again, and a timer goes only once its run is done.
    pub async fn run_due(&self, tenant: TenantId) -> Result<RunReport> {
        let cx = self.system(tenant);
        let now = cx.now();
        let mut report = RunReport::default();
        loop {
            let due = cx.due_timers(now, self.options().batch).await?;
            if due.is_empty() {
                break;
            }
            let flows = cx.workflows().enabled(None).await?;
            for t in &due {
                self.fire(tenant, &flows, t, now, &mut report).await?;
            }
        }
        self.counters().add(&report);
        Ok(report)
    }

    /// [`run_pending`](Self::run_pending), then [`run_due`](Self::run_due): everything there is
    /// to do in `tenant` now.
    pub async fn run(&self, tenant: TenantId) -> Result<RunReport> {
        let mut report = self.run_pending(tenant).await?;
        report.absorb(self.run_due(tenant).await?);
        Ok(report)
    }

    async fn fire(
        &self,
        tenant: TenantId,
        flows: &[Workflow],
        t: &WorkflowTimer,
        now: DateTime<Utc>,
        report: &mut RunReport,
    ) -> Result<()> {
        let cx = self.system(tenant);
        // A workflow switched off or removed since: its timers go.
        let Some(flow) = flows.iter().find(|f| f.id == t.workflow_id) else { return cx.finish_timer(t, None).await };
        let Some(subject) = t.subject else {
            // A tick of the workflow's schedule as it is now, or a stale one (the workflow was
            // given another expression, or another trigger, since it was set).
            let current = matches!(flow.trigger, Trigger::Schedule { .. })
                && t.due_at.checked_sub_signed(Duration::minutes(1)).and_then(|b| flow.next_tick(b)) == Some(t.due_at);
            if current {
                self.tick(tenant, flow, t, report).await?;
            }
            return cx.finish_timer(t, tick_timer(flow, t.due_at.max(now))).await;
        };
        let Some(rec) = cx.record(subject).await? else { return cx.finish_timer(t, None).await };
        if t.step > 0 {
            self.run_steps(tenant, flow, subject, &t.occurrence, t.step, t.depth, false, report).await?;
            return cx.finish_timer(t, None).await;
        }
        // A yearly trigger's next anniversary (one, however long the runner was away).
        let next = t.due_at.checked_add_signed(Duration::minutes(1)).unwrap_or(t.due_at).max(now);
        // A run begun before a crash goes on, whatever its first steps changed since.
        if self.resumed(tenant, flow, subject, &t.occurrence, t.depth, report).await? {
            return cx.finish_timer(t, date_timer(flow, &rec, next)).await;
        }
        // The record's date may have moved, or the workflow changed, since the timer was set.
        if flow.next_due(&rec, t.due_at) != Some(t.due_at) {
            return cx.finish_timer(t, date_timer(flow, &rec, now)).await;
        }
        if flow.condition.matches(&rec) {
            self.run_steps(tenant, flow, subject, &t.occurrence, 0, t.depth, true, report).await?;
        }
        cx.finish_timer(t, date_timer(flow, &rec, next)).await
    }

    /// A schedule's tick: the workflow on every record its condition matches, after the runs of
    /// this tick begun before a crash (whose records may match no more).
    async fn tick(&self, tenant: TenantId, flow: &Workflow, t: &WorkflowTimer, report: &mut RunReport) -> Result<()> {
        let begun = Filter::eq("workflow_id", flow.id)
            .and(Filter::eq("occurrence", t.occurrence.as_str()))
            .and(Filter::eq("step", 0))
            .and(Filter::eq("outcome", crm_core::model::RunOutcome::Done));
        let mut q = Query::new(begun).limit(PAGE);
        loop {
            let mut tx = self.crm().store().begin(tenant, TxMode::ReadOnly).await?;
            let page = tx.query(crm_core::entity::EntityKind::WorkflowRun, &q).await?;
            tx.rollback().await?;
            for r in page.items.iter().filter_map(|r| crm_core::model::WorkflowRun::from_record_ref(r)) {
                self.run_steps(tenant, flow, r.subject, &t.occurrence, 0, t.depth, false, report).await?;
            }
            match page.next {
                Some(c) => q.after = Some(c),
                None => break,
            }
        }
        let mut q = Query::new(flow.condition.clone()).limit(PAGE);
        loop {
            let page = self.page(tenant, flow, &q).await?;
            for r in &page.items {
                self.run_steps(tenant, flow, r.entity_ref(), &t.occurrence, 0, t.depth, false, report).await?;
            }
            match page.next {
                Some(c) => q.after = Some(c),
                None => return Ok(()),
            }
        }
    }

    async fn page(&self, tenant: TenantId, flow: &Workflow, q: &Query) -> Result<crm_core::query::Page<Record>> {
        let mut tx = self.crm().store().begin(tenant, TxMode::ReadOnly).await?;
        let page = tx.query(flow.entity_kind, q).await?;
        tx.rollback().await?;
        Ok(page)
    }

    /// A waiting step: sets the timer the run goes on from, committed with the step's log entry.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn wait(
        &self,
        once: &Session,
        flow: &Workflow,
        subject: EntityRef,
        occurrence: &str,
        step: u32,
        depth: u8,
        delay: Delay,
    ) -> Result<()> {
        let due = delay.after_in(once.now(), flow.tz()).ok_or_else(|| {
            Error::invalid("delay", FieldErrorCode::OutOfRange, "the wait ends past the calendar's end")
        })?;
        let next = NewTimer {
            workflow_id: flow.id,
            subject: Some(subject),
            due_at: due,
            occurrence: occurrence.to_owned(),
            step: step + 1,
            depth,
        };
        once.set_timer(next).await?;
        Ok(())
    }

    /// Keeps the timers of the records `e` changed: a record's date trigger timers follow its
    /// date field, and go with the record.
    pub(crate) async fn follow_dates(&self, tenant: TenantId, flows: &[Workflow], e: &StoredEvent) -> Result<()> {
        let event = &e.event;
        let dated = flows.iter().filter(|f| f.entity_kind == event.subject.kind).filter_map(|f| match &f.trigger {
            Trigger::Date { field, .. } => Some((f, field)),
            _ => None,
        });
        let cx = self.system(tenant);
        let mut current: Option<Option<Record>> = None;
        for (flow, field) in dated {
            let path = crm_core::query::Field::parse(field).path();
            // A field worked out from others (a deal's `stage_entered_at`) may move with any
            // change of the record.
            let derived = crm_core::service::derived(flow.entity_kind, field);
            let touched = match &event.change {
                Change::Created | Change::Deleted => true,
                Change::Updated { fields } => derived || fields.contains(&path),
                _ => derived && !event.values.is_empty(),
            } || event.values.iter().any(|v| v.field == path);
            if !touched {
                continue;
            }
            if current.is_none() {
                current = Some(cx.record(event.subject).await?);
            }
            // From when the change happened: a time between then and now is due, not missed.
            let next = current.as_ref().and_then(|r| r.as_ref()).and_then(|r| date_timer(flow, r, event.occurred_at));
            cx.replace_start_timer(flow.id, Some(event.subject), next).await?;
        }
        Ok(())
    }

    /// Sets the timers a new or changed workflow starts from: a date trigger's on every record
    /// with the date, a schedule's next tick.
    pub(crate) async fn arm(&self, tenant: TenantId, flows: &[Workflow], id: WorkflowId) -> Result<()> {
        let Some(flow) = flows.iter().find(|f| f.id == id) else { return Ok(()) };
        let cx = self.system(tenant);
        let now = cx.now();
        if matches!(flow.trigger, Trigger::Schedule { .. }) {
            // A tick that is due runs first; otherwise the next tick by the (maybe changed)
            // expression replaces the one set (the same one: nothing written).
            if !cx.start_timers(flow.id, None).await?.iter().any(|t| t.due_at <= now) {
                cx.replace_start_timer(flow.id, None, tick_timer(flow, now)).await?;
            }
            return Ok(());
        }
        let Trigger::Date { field, .. } = &flow.trigger else { return Ok(()) };
        let mut q = Query::new(Filter::is_null(field.as_str()).not()).limit(PAGE);
        loop {
            let page = self.page(tenant, flow, &q).await?;
            for r in &page.items {
                // A timer that is due runs first.
                let set = cx.start_timers(flow.id, Some(r.entity_ref())).await?;
                if !set.iter().any(|t| t.due_at <= now) {
                    cx.replace_start_timer(flow.id, Some(r.entity_ref()), date_timer(flow, r, now)).await?;
                }
            }
            match page.next {
                Some(c) => q.after = Some(c),
                None => break,
            }
        }
        Ok(())
    }
}
