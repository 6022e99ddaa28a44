//! `crm reports`: a pipeline's stages and forecast, a campaign's results — as lines for people,
//! as JSON with `--json`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::Subcommand;
use crm::ids::{CampaignId, PipelineId};
use crm::money::Currency;
use crm::rust_decimal::Decimal;
use crm::service::Session;
use uuid::Uuid;

use crate::charts;
use crate::error::CliError;
use crate::output::Out;

/// The reports.
#[derive(Debug, Subcommand)]
pub enum ReportCmd {
    /// A pipeline: every stage's deals, totals and weighted value, and the forecast.
    Pipeline {
        /// The pipeline's id (`crm pipelines list`).
        id: Uuid,
        /// Also draws it as a bar chart into this SVG file.
        #[arg(long, value_name = "FILE.svg")]
        chart: Option<PathBuf>,
    },
    /// A campaign: members, responses and their rates, cost per conversion, revenue.
    Campaign {
        /// The campaign's id (`crm campaigns list`).
        id: Uuid,
        /// Also draws it as a bar chart into this SVG file.
        #[arg(long, value_name = "FILE.svg")]
        chart: Option<PathBuf>,
    },
}

/// "1000.00 EUR + 20.00 USD", or "0" for no amounts.
fn amounts(m: &BTreeMap<Currency, Decimal>) -> String {
    if m.is_empty() {
        return "0".into();
    }
    m.iter().map(|(c, a)| format!("{a} {}", c.code())).collect::<Vec<_>>().join(" + ")
}

/// Runs a report command.
pub async fn run(cx: &Session, cmd: ReportCmd, out: &mut Out) -> Result<(), CliError> {
    match cmd {
        ReportCmd::Pipeline { id, chart } => {
            let r = cx.deals().pipeline_report(PipelineId::from_uuid(id)).await?;
            if let Some(path) = &chart {
                charts::write(path, &charts::pipeline(&r)?)?;
            }
            if out.is_json() {
                return out.value(&serde_json::to_value(&r).map_err(|e| CliError::Io(e.to_string()))?);
            }
            let mut lines = vec![format!("{}:", r.pipeline.name)];
            for s in &r.stages {
                let rotting = if s.rotting > 0 { format!(", {} rotting", s.rotting) } else { String::new() };
                lines.push(format!(
                    "  {:<24} {:>5} deals  {}  (weighted {}){rotting}",
                    s.stage.name,
                    s.count,
                    amounts(&s.total),
                    amounts(&s.weighted)
                ));
            }
            lines.push(format!("forecast: {}", amounts(&r.forecast)));
            out.done(&lines.join("\n"))
        }
        ReportCmd::Campaign { id, chart } => {
            let r = cx.campaigns().results(CampaignId::from_uuid(id)).await?;
            if let Some(path) = &chart {
                charts::write(path, &charts::campaign(&r)?)?;
            }
            if out.is_json() {
                return out.value(&serde_json::to_value(&r).map_err(|e| CliError::Io(e.to_string()))?);
            }
            let mut lines = vec![format!("{}: {} members", r.campaign.name, r.members)];
            for (kind, n) in &r.counts {
                let rate = r.rates.get(kind).map(|x| format!(" ({x})")).unwrap_or_default();
                lines.push(format!("  {kind:<14} {n:>6}{rate}"));
            }
            if let Some(c) = r.cost_per_conversion {
                lines.push(format!("cost per conversion: {c}"));
            }
            lines.push(format!("revenue: {}", amounts(&r.revenue)));
            out.done(&lines.join("\n"))
        }
    }
}
