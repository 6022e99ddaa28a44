//! A dry run: the outbox replayed through the workflows, reporting what would have fired,
//! writing nothing. For trying a new rule against past changes before switching it on.

use crm_core::entity::EntityRef;
use crm_core::error::Result;
use crm_core::event::EventQuery;
use crm_core::ids::{TenantId, WorkflowId};
use crm_core::model::Workflow;
use serde::Serialize;

use crate::history::states_at;
use crate::matching::{fires, may_fire};
use crate::runner::Automation;

/// A workflow a past change would have set off.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct WouldFire {
    /// The change's position in the outbox.
    pub seq: u64,
    /// The workflow.
    pub workflow_id: WorkflowId,
    /// Its name.
    pub workflow: String,
    /// The record.
    pub subject: EntityRef,
    /// The steps' actions, in order.
    pub actions: Vec<String>,
}

impl Automation {
    /// Replays `tenant`'s changes after outbox position `after` (at most `limit` events) through
    /// `flows` (enabled or not, saved or not: a rule can be tried before it is switched on),
    /// and reports what each would have done. Records are judged as each change left them;
    /// records deleted since are passed over. Writes nothing.
    pub async fn dry_run(
        &self,
        tenant: TenantId,
        flows: &[Workflow],
        after: u64,
        limit: usize,
    ) -> Result<Vec<WouldFire>> {
        let store = self.crm().store().clone();
        let mut out = Vec::new();
        let mut q = EventQuery::after(after, limit.clamp(1, crm_core::query::MAX_PAGE_SIZE));
        let mut left = limit;
        while left > 0 {
            q.limit = q.limit.min(left);
            let events = store.read_events(tenant, &q).await?;
            let Some(last) = events.last().map(|e| e.seq) else { break };
            for e in &events {
                let candidates: Vec<&Workflow> = flows.iter().filter(|f| may_fire(f, &e.event)).collect();
                if candidates.is_empty() {
                    continue;
                }
                let Some(states) = states_at(store.as_ref(), tenant, e).await? else { continue };
                for flow in candidates.into_iter().filter(|f| fires(f, &e.event, &states)) {
                    out.push(WouldFire {
                        seq: e.seq,
                        workflow_id: flow.id,
                        workflow: flow.name.clone(),
                        subject: e.event.subject,
                        actions: flow.steps.iter().map(|s| s.action().to_owned()).collect(),
                    });
                }
            }
            left -= events.len();
            q.after = last;
        }
        Ok(out)
    }
}
