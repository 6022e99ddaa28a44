//! `crm workflows`: the tenant's automation rules, kept in the CRM and run by
//! `crm automation run`: added from a JSON file, listed, switched on and off, their run log,
//! and a dry run of a rule over past changes.

use clap::Subcommand;
use crm::automation::Automation;
use crm::ids::WorkflowId;
use crm::model::{Workflow, WorkflowRun};
use crm::query::{Filter, Query};
use crm::service::{NewWorkflow, Session};

use crate::error::CliError;
use crate::output::Out;

/// Workflow commands.
#[derive(Debug, Subcommand)]
pub(crate) enum WorkflowCmd {
    /// Adds a rule from a JSON file (`-` reads standard input): `name`, `entity_kind`,
    /// `trigger`, `steps`, and optionally `condition`, `was`, `edge`, `time_zone`, `enabled`.
    Add {
        /// The file.
        file: String,
    },
    /// The rules, by name.
    List,
    /// Switches a rule on.
    Enable {
        /// The rule's id.
        id: String,
    },
    /// Switches a rule off.
    Disable {
        /// The rule's id.
        id: String,
    },
    /// The run log, newest first.
    Runs {
        /// Only this rule's runs.
        #[arg(long, value_name = "ID")]
        workflow: Option<String>,
        /// The most entries shown.
        #[arg(long, value_name = "N", default_value_t = 50)]
        limit: usize,
    },
    /// What a rule in a JSON file would have done over past changes, writing nothing.
    DryRun {
        /// The file (`-` reads standard input).
        file: String,
        /// Replays the changes after this outbox position.
        #[arg(long, value_name = "SEQ", default_value_t = 0)]
        after: u64,
        /// The most changes replayed.
        #[arg(long, value_name = "N", default_value_t = 10_000)]
        limit: usize,
    },
}

fn read(file: &str) -> Result<NewWorkflow, CliError> {
    let text = match file {
        "-" => std::io::read_to_string(std::io::stdin()).map_err(|e| CliError::Io(format!("standard input: {e}")))?,
        path => std::fs::read_to_string(path).map_err(|e| CliError::Io(format!("{path}: {e}")))?,
    };
    serde_json::from_str(&text).map_err(|e| CliError::Usage(format!("{file}: not a workflow: {e}")))
}

fn id(raw: &str) -> Result<WorkflowId, CliError> {
    raw.parse::<uuid::Uuid>()
        .map(WorkflowId::from_uuid)
        .map_err(|_| CliError::Usage(format!("`{raw}` is not a workflow id (see `crm workflows list`)")))
}

fn json<T: serde::Serialize>(v: &T) -> Result<serde_json::Value, CliError> {
    serde_json::to_value(v).map_err(|e| CliError::Io(e.to_string()))
}

fn line(w: &Workflow) -> String {
    let on = if w.enabled { "on " } else { "off" };
    let steps: Vec<&str> = w.steps.iter().map(|s| s.action()).collect();
    format!("{}  {on}  {}  ({} records: {})", w.id, w.name, w.entity_kind, steps.join(", "))
}

fn run_line(r: &WorkflowRun) -> String {
    let detail = r.detail.as_deref().map(|d| format!("  {d}")).unwrap_or_default();
    format!(
        "{}  {}  step {} {}  {}  {}{detail}",
        r.created_at.format("%F %T"),
        r.workflow_id,
        r.step,
        r.action,
        r.subject,
        r.outcome
    )
}

/// Runs a workflow command.
pub(crate) async fn run(cx: &Session, cmd: WorkflowCmd, out: &mut Out) -> Result<(), CliError> {
    match cmd {
        WorkflowCmd::Add { file } => {
            let w = cx.workflows().create(read(&file)?).await?;
            if out.is_json() {
                return out.value(&json(&w)?);
            }
            out.done(&format!("added {}", line(&w)))
        }
        WorkflowCmd::List => {
            let all = cx.workflows().list(&Query::new(Filter::All).sort_asc("name").limit(1000)).await?.items;
            if out.is_json() {
                return out.value(&json(&all)?);
            }
            if all.is_empty() {
                return out.done("no workflows: `crm workflows add FILE.json`");
            }
            out.done(&all.iter().map(line).collect::<Vec<_>>().join("\n"))
        }
        WorkflowCmd::Enable { id: ref raw } | WorkflowCmd::Disable { id: ref raw } => {
            let on = matches!(cmd, WorkflowCmd::Enable { .. });
            let w = cx.workflows().set_enabled(id(raw)?, on).await?;
            if out.is_json() {
                return out.value(&json(&w)?);
            }
            out.done(&line(&w))
        }
        WorkflowCmd::Runs { workflow, limit } => {
            let filter = match workflow {
                Some(raw) => Filter::eq("workflow_id", id(&raw)?),
                None => Filter::All,
            };
            let runs = cx.workflow_runs(filter, limit).await?;
            if out.is_json() {
                return out.value(&json(&runs)?);
            }
            if runs.is_empty() {
                return out.done("no runs yet: `crm automation run` runs the workflows");
            }
            out.done(&runs.iter().map(run_line).collect::<Vec<_>>().join("\n"))
        }
        WorkflowCmd::DryRun { file, after, limit } => {
            let input = read(&file)?;
            // Checked as it would be saved, then tried without saving.
            let probe = cx.crm().as_actor(cx.actor());
            probe.workflows().check(input.clone()).await?;
            let flow = probe.workflows().draft(input);
            let would = Automation::new(cx.crm().clone()).dry_run(cx.tenant(), &[flow], after, limit).await?;
            if out.is_json() {
                return out.value(&json(&would)?);
            }
            let lines: Vec<String> =
                would.iter().map(|w| format!("#{}  {}  {}", w.seq, w.subject, w.actions.join(", "))).collect();
            out.done(format!("{} change(s) would set it off\n{}", would.len(), lines.join("\n")).trim_end())
        }
    }
}
