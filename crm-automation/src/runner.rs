//! The runner: reads the outbox from a cursor kept in the CRM, finds the workflows each change
//! sets off, and carries out their steps, each exactly once per occurrence.

use std::sync::Arc;

use crm_core::actor::Actor;
use crm_core::entity::{EntityKind, EntityRef};
use crm_core::error::{Error, FieldErrorCode, Result};
use crm_core::event::Change;
use crm_core::event::{EventQuery, StoredEvent};
use crm_core::ids::{TenantId, WorkflowId};
use crm_core::model::{Notification, RunOutcome, Workflow};
use crm_core::query::Filter;
use crm_core::service::{Crm, Session};
use crm_core::store::TxMode;

use crate::history::states_at;
use crate::matching::{fires, may_fire};
use crate::report::{Counters, PassedOver, RunReport, StopReason, Stopped};
use crate::run::run_step;

/// Where the runner keeps its outbox position, as integration state of the tenant.
pub const CURSOR_KEY: &str = "automation/cursor";

/// How the runner works.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// Events read from the outbox at a time (default 200).
    pub batch: usize,
    /// Changes this many automated reactions deep set nothing off (default 4): a rule's change
    /// is one deeper than the change it reacted to.
    pub max_depth: u8,
    /// A workflow runs at most this often on one record within an hour (default 20).
    pub max_runs_per_hour: u64,
    /// A step that meets a conflict or a storage error is tried this many more times (default 3)
    /// before it is logged as failed.
    pub retries: u32,
}

impl Default for Options {
    fn default() -> Self {
        Options { batch: 200, max_depth: 4, max_runs_per_hour: 20, retries: 3 }
    }
}

/// The actor origin of a workflow's changes: `workflow:<id>`.
pub fn origin_of(workflow: WorkflowId) -> String {
    format!("workflow:{workflow}")
}

/// Where notifications go beyond the CRM (email, chat, a phone): given each notification as the
/// runner meets its creation in the outbox. At least once: after a crash before the runner
/// saved its place, a notification is given again, so deliver idempotently (by its id).
#[async_trait::async_trait]
pub trait Notifier: Send + Sync + 'static {
    /// Delivers one notification. An error of the kinds a retry may cure (a conflict, the store
    /// or the channel down: [`Error::Storage`], [`Error::Integration`]) stops the run here, to
    /// be tried again; any other is logged and the notification passed over.
    async fn deliver(&self, notification: &Notification) -> Result<()>;
}

/// Runs a CRM's workflows. Cheap to clone; runtime-agnostic: call
/// [`run_pending`](Automation::run_pending) after commits, on a timer, or from a worker.
#[derive(Clone)]
pub struct Automation {
    crm: Crm,
    options: Options,
    counters: Arc<Counters>,
    notifier: Option<Arc<dyn Notifier>>,
}

impl std::fmt::Debug for Automation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Automation").field("options", &self.options).finish_non_exhaustive()
    }
}

impl Automation {
    /// A runner over `crm`'s workflows with the default [`Options`].
    pub fn new(crm: Crm) -> Self {
        Automation { crm, options: Options::default(), counters: Arc::default(), notifier: None }
    }

    /// Gives every new notification to `notifier` too (see [`Notifier`]).
    pub fn with_notifier(mut self, notifier: Arc<dyn Notifier>) -> Self {
        self.notifier = Some(notifier);
        self
    }

    /// With these options.
    pub fn with_options(mut self, options: Options) -> Result<Self> {
        if options.batch == 0 || options.batch > crm_core::query::MAX_PAGE_SIZE {
            return Err(Error::invalid(
                "batch",
                FieldErrorCode::OutOfRange,
                format!("read 1–{} events at a time", crm_core::query::MAX_PAGE_SIZE),
            ));
        }
        if options.max_depth == 0 {
            return Err(Error::invalid("max_depth", FieldErrorCode::OutOfRange, "a depth of 0 runs nothing"));
        }
        if options.max_runs_per_hour == 0 {
            return Err(Error::invalid("max_runs_per_hour", FieldErrorCode::OutOfRange, "0 runs nothing"));
        }
        self.options = options;
        Ok(self)
    }

    /// The totals since this runner was made.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// The CRM it runs in.
    pub fn crm(&self) -> &Crm {
        &self.crm
    }

    /// Its options.
    pub fn options(&self) -> &Options {
        &self.options
    }

    pub(crate) fn system(&self, tenant: TenantId) -> Session {
        self.crm.as_actor(&Actor::system(tenant))
    }

    /// The outbox position the runner has handled up to in `tenant` (0 before its first run).
    pub async fn cursor(&self, tenant: TenantId) -> Result<u64> {
        Ok(self.cursor_state(tenant).await?.0)
    }

    async fn cursor_state(&self, tenant: TenantId) -> Result<(u64, Option<u64>)> {
        let state = self.system(tenant).sync().state(CURSOR_KEY).await?;
        Ok(match state {
            Some(s) => (s.value.get("seq").and_then(serde_json::Value::as_u64).unwrap_or(0), Some(s.version)),
            None => (0, None),
        })
    }

    /// Handles every change `tenant` committed since the last run, and the changes the
    /// workflows make in turn, until the outbox is drained: the workflows each change sets off
    /// run their steps, and the cursor moves past it. Safe to call again after a crash or an
    /// error at any point: a step that ran is not run again (its log entry was committed with
    /// its changes), and one that did not, runs.
    pub async fn run_pending(&self, tenant: TenantId) -> Result<RunReport> {
        let store = self.crm.store().clone();
        let (mut cursor, mut version) = self.cursor_state(tenant).await?;
        let mut report = RunReport { cursor, ..RunReport::default() };
        loop {
            let events = store.read_events(tenant, &EventQuery::after(cursor, self.options.batch)).await?;
            let Some(last) = events.last().map(|e| e.seq) else { break };
            let flows = self.system(tenant).workflows().enabled(None).await?;
            let mut part = RunReport::default();
            for e in &events {
                match self.handle(tenant, &flows, e, &mut part).await {
                    // What a retry may cure is left for the next run, from this event on.
                    Err(err) if transient(&err) => return Err(err),
                    // Anything else would stop every later change too: it is reported and the
                    // runner goes on.
                    Err(err) => {
                        tracing::warn!(seq = e.seq, error = %err, "a change could not be handled and is passed over");
                        part.passed_over.push(PassedOver { seq: e.seq, error: err.to_string() });
                    }
                    Ok(()) => {}
                }
            }
            part.events = events.len() as u64;
            cursor = last;
            let saved =
                self.system(tenant).sync().put_state(CURSOR_KEY, serde_json::json!({ "seq": cursor }), version).await?;
            version = Some(saved.version);
            part.cursor = cursor;
            self.counters.add(&part);
            report.absorb(part);
        }
        Ok(report)
    }

    /// Runs workflow `id` on record `subject` now, by hand (its conditions are checked against
    /// the record as it is; a workflow with another trigger may be run this way too).
    pub async fn run_manual(&self, tenant: TenantId, id: WorkflowId, subject: EntityRef) -> Result<RunReport> {
        let cx = self.system(tenant);
        let flow = cx.workflows().get(id).await?;
        if subject.kind != flow.entity_kind {
            return Err(Error::invalid(
                "subject",
                FieldErrorCode::Rule,
                format!("the workflow runs on {} records, not {}", flow.entity_kind, subject.kind),
            ));
        }
        let rec = cx.record(subject).await?.ok_or(Error::NotFound { kind: subject.kind, id: subject.id })?;
        let mut report = RunReport::default();
        if flow.condition.matches(&rec) {
            let occurrence = format!("manual:{}", uuid::Uuid::now_v7());
            self.run_steps(tenant, &flow, subject, &occurrence, 0, 1, true, &mut report).await?;
        }
        self.counters.add(&report);
        Ok(report)
    }

    /// The workflows `event` sets off, run.
    async fn handle(
        &self,
        tenant: TenantId,
        flows: &[Workflow],
        e: &StoredEvent,
        report: &mut RunReport,
    ) -> Result<()> {
        let event = &e.event;
        match event.subject.kind {
            EntityKind::Workflow => return self.arm(tenant, flows, event.subject.id.into()).await,
            EntityKind::Notification => return self.deliver(tenant, e, report).await,
            EntityKind::WorkflowRun | EntityKind::WorkflowTimer => return Ok(()),
            _ => {}
        }
        self.follow_dates(tenant, flows, e).await?;
        let candidates: Vec<&Workflow> = flows.iter().filter(|f| may_fire(f, event)).collect();
        if candidates.is_empty() {
            return Ok(());
        }
        let Some(states) = states_at(self.crm.store().as_ref(), tenant, e).await? else {
            return Ok(());
        };
        let occurrence = format!("event:{}", e.seq);
        for flow in candidates {
            // Changes from before it was switched on are not its business.
            if flow.enabled_at.is_some_and(|t| event.occurred_at < t) || !fires(flow, event, &states) {
                continue;
            }
            // A run begun before a crash goes on without its guards checked again (its own
            // first step would count against the rate limit).
            let depth = event.depth.saturating_add(1);
            if self.resumed(tenant, flow, event.subject, &occurrence, depth, report).await? {
                continue;
            }
            let stop = if event.origin.as_deref() == Some(origin_of(flow.id).as_str()) {
                Some(StopReason::OwnChange)
            } else if event.depth >= self.options.max_depth {
                Some(StopReason::Depth { depth: event.depth })
            } else {
                self.rate_limited(tenant, flow.id, event.subject).await?
            };
            match stop {
                Some(reason) => self.stop(tenant, flow, event.subject, &occurrence, reason, report).await?,
                None => self.run_steps(tenant, flow, event.subject, &occurrence, 0, depth, true, report).await?,
            }
        }
        Ok(())
    }

    /// Whether `flow` already began a run on `subject` for `occurrence`: if so, it is carried on
    /// (the steps logged done are skipped) and true. A run logged as stopped or failed stays so.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn resumed(
        &self,
        tenant: TenantId,
        flow: &Workflow,
        subject: EntityRef,
        occurrence: &str,
        depth: u8,
        report: &mut RunReport,
    ) -> Result<bool> {
        let first = run_step(flow, subject, occurrence, 0, "").key();
        let Some(run) = self.system(tenant).run_logged(&first).await? else { return Ok(false) };
        if run.outcome == RunOutcome::Done {
            self.run_steps(tenant, flow, subject, occurrence, 0, depth, false, report).await?;
        }
        Ok(true)
    }

    /// A new notification, given to the notifier.
    async fn deliver(&self, tenant: TenantId, e: &StoredEvent, report: &mut RunReport) -> Result<()> {
        let (Some(notifier), Change::Created) = (&self.notifier, &e.event.change) else { return Ok(()) };
        let mut tx = self.crm.store().begin(tenant, TxMode::ReadOnly).await?;
        let n = tx.fetch::<Notification>(e.event.subject.id.into()).await?;
        tx.rollback().await?;
        let Some(n) = n else { return Ok(()) };
        match notifier.deliver(&n).await {
            Ok(()) => report.delivered += 1,
            Err(err) if transient(&err) || matches!(err, Error::Integration { .. }) => return Err(err),
            Err(err) => {
                tracing::warn!(notification = %n.id, error = %err, "a notification could not be delivered");
                report.passed_over.push(PassedOver { seq: e.seq, error: err.to_string() });
            }
        }
        Ok(())
    }

    /// A rate-limit stop when `flow` ran on `subject` too often within the last hour.
    async fn rate_limited(&self, tenant: TenantId, flow: WorkflowId, subject: EntityRef) -> Result<Option<StopReason>> {
        let since = self.system(tenant).now() - chrono::Duration::hours(1);
        let filter = Filter::eq("workflow_id", flow)
            .and(Filter::eq("record_id", subject.id))
            .and(Filter::eq("step", 0))
            .and(Filter::eq("outcome", RunOutcome::Done))
            .and(Filter::gte("created_at", since));
        let mut tx = self.crm.store().begin(tenant, TxMode::ReadOnly).await?;
        let runs = tx.count(EntityKind::WorkflowRun, &filter).await?;
        tx.rollback().await?;
        Ok((runs >= self.options.max_runs_per_hour).then_some(StopReason::RateLimit { runs }))
    }

    async fn stop(
        &self,
        tenant: TenantId,
        flow: &Workflow,
        subject: EntityRef,
        occurrence: &str,
        reason: StopReason,
        report: &mut RunReport,
    ) -> Result<()> {
        let step = run_step(flow, subject, occurrence, 0, "trigger");
        tracing::info!(workflow = %flow.id, record = %subject, %occurrence, %reason, "workflow stopped");
        if self.system(tenant).log_run(step, RunOutcome::Stopped, Some(reason.to_string())).await? {
            report.stopped.push(Stopped { workflow_id: flow.id, subject, occurrence: occurrence.to_owned(), reason });
        }
        Ok(())
    }
}

/// Errors a retry may cure: a concurrent write, or the store failing for a moment.
pub(crate) fn transient(e: &Error) -> bool {
    matches!(e, Error::Conflict { .. } | Error::Storage(_))
}
