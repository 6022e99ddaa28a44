//! A run of a workflow on one record: its steps in order, each exactly once, with retries for
//! what a retry may cure and the failure logged for the rest.

use crm_core::actor::Actor;
use crm_core::entity::EntityRef;
use crm_core::error::Result;
use crm_core::ids::TenantId;
use crm_core::model::{RunOutcome, Step, Trigger, Workflow};
use crm_core::service::{RunStep, Session, is_logged};

use crate::report::{Failed, Fired, RunReport};
use crate::runner::{Automation, origin_of, transient};
use crate::steps::perform;

impl Automation {
    /// Carries out `flow`'s steps on `subject` for one occurrence from step `from`, each once:
    /// a step logged done is skipped, one logged failed or stopped ends the run, and a wait
    /// sets the timer the run goes on from. A `fresh` run (its caller found nothing logged for
    /// the occurrence) does not look for log entries: a step another runner took meanwhile is
    /// refused by its entry's key, and from then on the log is read.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn run_steps(
        &self,
        tenant: TenantId,
        flow: &Workflow,
        subject: EntityRef,
        occurrence: &str,
        from: u32,
        depth: u8,
        mut fresh: bool,
        report: &mut RunReport,
    ) -> Result<()> {
        let actor = Actor::automation(tenant, origin_of(flow.id), depth);
        let cx = self.crm().as_actor(&actor);
        let mut done = 0u32;
        for (i, step) in flow.steps.iter().enumerate().skip(from as usize) {
            let n = u32::try_from(i).unwrap_or(u32::MAX);
            let entry = run_step(flow, subject, occurrence, n, step.action());
            let logged = if fresh { None } else { cx.run_logged(&entry.key()).await? };
            match logged {
                // A wait that ran set the timer the rest of the run goes on from.
                Some(run) if run.outcome == RunOutcome::Done && matches!(step, Step::Wait { .. }) => break,
                Some(run) if run.outcome == RunOutcome::Done => continue,
                Some(_) => break,
                None => {}
            }
            let mut attempt = 0;
            let outcome = loop {
                match self.attempt(tenant, &cx, flow, step, entry.clone(), occurrence, depth).await {
                    Err(e) if transient(&e) && attempt < self.options().retries => attempt += 1,
                    other => break other,
                }
            };
            match outcome {
                Ok(()) if matches!(step, Step::Wait { .. }) => {
                    done += 1;
                    break;
                }
                Ok(()) => done += 1,
                // Another runner carried the step out meanwhile (a wait: it goes on from its timer).
                Err(e) if is_logged(&e) => {
                    fresh = false;
                    if matches!(step, Step::Wait { .. }) {
                        break;
                    }
                }
                Err(e) if transient(&e) => return Err(e),
                Err(e) => {
                    tracing::warn!(workflow = %flow.id, record = %subject, step = n, error = %e, "workflow step failed");
                    if cx.log_run(entry, RunOutcome::Failed, Some(e.to_string())).await? {
                        report.failed.push(Failed {
                            workflow_id: flow.id,
                            subject,
                            occurrence: occurrence.to_owned(),
                            step: n,
                            error: e.to_string(),
                        });
                    }
                    break;
                }
            }
        }
        if done > 0 || flow.steps.is_empty() {
            report.fired.push(Fired {
                workflow_id: flow.id,
                subject,
                occurrence: occurrence.to_owned(),
                steps_done: done,
            });
        }
        Ok(())
    }

    /// One try at one step: its changes and its log entry in one write.
    #[allow(clippy::too_many_arguments)]
    async fn attempt(
        &self,
        tenant: TenantId,
        cx: &Session,
        flow: &Workflow,
        step: &Step,
        mut entry: RunStep,
        occurrence: &str,
        depth: u8,
    ) -> Result<()> {
        let subject = entry.subject;
        let gone = matches!(flow.trigger, Trigger::Deleted);
        let once = match step {
            Step::Assign { method, pool, open } => {
                let user = self.choose(tenant, flow, entry.step, *method, pool, open.as_ref(), subject).await?;
                entry.detail = Some(user.to_string());
                let once = cx.with_receipt(entry);
                perform(&once, &Step::AssignOwner { user_id: user }, subject, gone, flow.tz()).await?;
                once
            }
            Step::Wait { delay } => {
                let n = entry.step;
                let once = cx.with_receipt(entry);
                self.wait(&once, flow, subject, occurrence, n, depth, *delay).await?;
                once
            }
            _ => {
                let once = cx.with_receipt(entry);
                perform(&once, step, subject, gone, flow.tz()).await?;
                once
            }
        };
        once.commit_receipt().await?;
        Ok(())
    }
}

/// The log entry of step `n` of `flow` on `subject`.
pub(crate) fn run_step(flow: &Workflow, subject: EntityRef, occurrence: &str, n: u32, action: &str) -> RunStep {
    RunStep {
        workflow_id: flow.id,
        workflow_version: flow.version,
        subject,
        occurrence: occurrence.to_owned(),
        step: n,
        action: action.to_owned(),
        detail: None,
    }
}
