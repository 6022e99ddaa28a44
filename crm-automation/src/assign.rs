//! Assignment: picking an owner for a record among a pool of users — in turn, the least
//! loaded, or by weight — among those whose territory holds it, who are active and under their
//! capacity. The run log remembers who each assignment picked, so turns and shares survive
//! restarts and need no state of their own.

use crm_core::entity::{EntityKind, EntityRef};
use crm_core::error::{Error, FieldErrorCode, Result};
use crm_core::ids::{TenantId, UserId};
use crm_core::model::{AssignMethod, Assignee, CaseStatus, DealStatus, Entity, RunOutcome, User, Workflow};
use crm_core::query::{Filter, Query};
use crm_core::store::TxMode;

use crate::runner::Automation;

/// The records of `kind` that count as open for a user's load by default.
fn default_open(kind: EntityKind) -> Filter {
    match kind {
        EntityKind::Deal => Filter::eq("status", DealStatus::Open),
        EntityKind::Case => Filter::ne("status", CaseStatus::Closed),
        _ => Filter::All,
    }
}

impl Automation {
    /// The user assignment step `step` of `flow` gives `subject` to.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn choose(
        &self,
        tenant: TenantId,
        flow: &Workflow,
        step: u32,
        method: AssignMethod,
        pool: &[Assignee],
        open: Option<&Filter>,
        subject: EntityRef,
    ) -> Result<UserId> {
        let cx = self.system(tenant);
        let rec = cx.record(subject).await?.ok_or(Error::NotFound { kind: subject.kind, id: subject.id })?;
        let open = open.cloned().unwrap_or_else(|| default_open(subject.kind));
        let mut tx = self.crm().store().begin(tenant, TxMode::ReadOnly).await?;
        // (position in the pool, the assignee, their open records)
        let mut eligible: Vec<(usize, &Assignee, u64)> = Vec::new();
        for (i, a) in pool.iter().enumerate() {
            let active = tx.fetch::<User>(a.user_id).await?.is_some_and(|u| u.active);
            if !active || !a.territory.as_ref().is_none_or(|t| t.matches(&rec)) {
                continue;
            }
            let load = match (a.capacity, method) {
                (None, AssignMethod::RoundRobin | AssignMethod::Weighted) => 0,
                _ => tx.count(subject.kind, &Filter::eq("owner_id", a.user_id).and(open.clone())).await?,
            };
            if a.capacity.is_some_and(|c| load >= u64::from(c)) {
                continue;
            }
            eligible.push((i, a, load));
        }
        let given = |user: Option<UserId>| {
            let mut f = Filter::eq("workflow_id", flow.id)
                .and(Filter::eq("step", step))
                .and(Filter::eq("outcome", RunOutcome::Done));
            if let Some(u) = user {
                f = f.and(Filter::eq("detail", u.to_string()));
            }
            f
        };
        let picked = match method {
            AssignMethod::LeastLoaded => eligible.iter().min_by_key(|(i, _, load)| (*load, *i)).map(|e| e.1.user_id),
            AssignMethod::RoundRobin => {
                let q = Query::new(given(None)).sort_desc("id").limit(1);
                let last = tx.query(EntityKind::WorkflowRun, &q).await?.items.into_iter().next();
                let last = last
                    .and_then(crm_core::model::WorkflowRun::from_record)
                    .and_then(|r| r.detail)
                    .and_then(|d| pool.iter().position(|a| a.user_id.to_string() == d));
                let after = |(i, _, _): &&(usize, &Assignee, u64)| last.is_none_or(|l| *i > l);
                eligible.iter().find(after).or(eligible.first()).map(|e| e.1.user_id)
            }
            AssignMethod::Weighted => {
                let mut best: Option<(u64, u32, UserId)> = None;
                for (_, a, _) in &eligible {
                    let n = tx.count(EntityKind::WorkflowRun, &given(Some(a.user_id))).await? + 1;
                    // The least given for the weight: n / weight, compared without division.
                    let better = best.is_none_or(|(bn, bw, _)| {
                        u128::from(n) * u128::from(bw) < u128::from(bn) * u128::from(a.weight)
                    });
                    if better {
                        best = Some((n, a.weight, a.user_id));
                    }
                }
                best.map(|b| b.2)
            }
        };
        tx.rollback().await?;
        picked.ok_or_else(|| {
            Error::invalid(
                "pool",
                FieldErrorCode::Rule,
                "no one in the pool can take the record: each is inactive, out of its territory or at capacity",
            )
        })
    }
}
