//! `crm automation run`: the work that falls due with time, run once (from cron, a systemd timer
//! or by hand): invoices past due become overdue, cases past their SLA are flagged, the
//! tenant's workflows run on what changed and what fell due, and the webhook subscriptions get
//! the events committed since their last delivery.

use clap::Subcommand;
use crm::integrations::webhooks::{DeliveryPolicy, Subscriptions, WebhookSender, dispatch_pending};
use crm::service::Session;

use crate::error::CliError;
use crate::output::Out;

/// Automation commands.
#[derive(Debug, Subcommand)]
pub(crate) enum AutomationCmd {
    /// Runs what is due now: overdue invoices, SLA breaches, workflows, webhook deliveries.
    Run {
        /// Skips the webhook deliveries.
        #[arg(long)]
        no_webhooks: bool,
        /// The most events delivered per subscription in this run.
        #[arg(long, value_name = "N", default_value_t = 1000)]
        max_events: usize,
        /// Delivers to subscribers on loopback and private networks too (refused by default).
        #[arg(long)]
        allow_private_targets: bool,
    },
}

/// Runs an automation command.
pub(crate) async fn run(cx: &Session, cmd: AutomationCmd, out: &mut Out) -> Result<(), CliError> {
    let AutomationCmd::Run { no_webhooks, max_events, allow_private_targets } = cmd;
    let overdue = cx.invoices().mark_overdue(cx.now().date_naive()).await?;
    let breached = cx.cases().flag_breaches().await?;
    // After the sweeps, so that rules on overdue invoices and breached cases see them.
    let flows = crm::automation::Automation::new(cx.crm().clone()).run(cx.tenant()).await?;
    let (mut delivered, mut failed) = (0, Vec::new());
    if !no_webhooks {
        let endpoints = Subscriptions::of(cx).endpoints().await.map_err(crm::error::Error::from)?;
        if !endpoints.is_empty() {
            let policy = DeliveryPolicy { allow_private_targets, ..DeliveryPolicy::default() };
            let sender = WebhookSender::new(policy).map_err(crm::error::Error::from)?;
            let report =
                dispatch_pending(cx, &sender, &endpoints, max_events).await.map_err(crm::error::Error::from)?;
            delivered = report.delivered;
            failed = report.dead_letters;
        }
    }
    if out.is_json() {
        return out.value(&serde_json::json!({
            "overdue_invoices": overdue.iter().map(|i| &i.number).collect::<Vec<_>>(),
            "sla_breaches": breached.iter().map(|c| c.id).collect::<Vec<_>>(),
            "workflow_runs": flows.fired.len(),
            "workflow_steps": flows.steps_done(),
            "workflow_failures": flows.failed,
            "webhooks_delivered": delivered,
            "webhooks_failed": failed,
        }));
    }
    let mut lines = vec![
        format!("{} invoice(s) now overdue", overdue.len()),
        format!("{} case(s) past their SLA", breached.len()),
        format!(
            "{} workflow run(s), {} step(s) done, {} failed",
            flows.fired.len(),
            flows.steps_done(),
            flows.failed.len()
        ),
    ];
    if !no_webhooks {
        lines.push(format!("{delivered} webhook delivery(ies), {} failed (dead letters)", failed.len()));
    }
    out.done(&lines.join("\n"))
}
