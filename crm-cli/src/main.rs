//! `crm`: the embeddable CRM from a shell, on a SQLite file.
//!
//! ```text
//! crm init                                   # crm.db and crm.toml in this folder
//! crm contacts create given_name=Ada family_name=Lovelace email=ada@example.org
//! crm contacts list --filter lifecycle_stage=lead --sort -updated_at --json
//! crm import hubspot-contacts.csv --preset hubspot
//! crm export contacts --format jsonl --out contacts.jsonl
//! ```

mod automation;
mod charts;
mod config;
mod customer_reports;
mod error;
mod filter;
mod lead_scores;
mod output;
mod plugins;
mod records;
mod reports;
mod serve;
mod sync;
mod webhooks;
mod workflows;

use std::path::PathBuf;

use clap::{CommandFactory, Parser, Subcommand, ValueEnum};
use crm::actor::Actor;
use crm::ids::{ApiKeyId, TenantId, UserId};
use crm::io::{Export, FileImport, Table};
use crm::model::{Activity, Company, Contact, Deal, Order, Product};
use crm::service::{NewApiKey, Session};
use uuid::Uuid;

use crate::error::CliError;
use crate::output::Out;
use crate::records::{KindCmd, PresetArg};

/// The embeddable CRM from a shell.
#[derive(Debug, Parser)]
#[command(name = "crm", version, about, long_about = None)]
struct Cli {
    /// The config file `crm init` writes.
    #[arg(long, global = true, env = "CRM_CONFIG", default_value = "crm.toml")]
    config: PathBuf,
    /// The SQLite database file (overrides the config file's).
    #[arg(long, global = true, env = "CRM_DB")]
    db: Option<PathBuf>,
    /// The tenant (overrides the config file's).
    #[arg(long, global = true, env = "CRM_TENANT")]
    tenant: Option<Uuid>,
    /// Act as this user (their roles apply); the system by default.
    #[arg(long, global = true, env = "CRM_USER")]
    user: Option<Uuid>,
    /// Print JSON, for scripts (errors too, on standard error).
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Creates a CRM here: a database file, a tenant, and `crm.toml` naming them.
    Init {
        /// The database file to create.
        #[arg(long = "file", default_value = "crm.db")]
        file: PathBuf,
        /// Writes a new config even if one is there.
        #[arg(long)]
        force: bool,
    },
    #[command(flatten)]
    Records(KindCmd),
    /// Finds contacts, companies and deals by words of their names, emails, phones.
    Search {
        /// The words (each must start a word of the record).
        #[arg(required = true)]
        words: Vec<String>,
    },
    /// Imports a CSV file (another CRM's export, with `--preset`), showing progress.
    Import {
        /// The CSV file.
        file: PathBuf,
        /// What its rows are.
        #[arg(long, value_enum, default_value = "contacts")]
        kind: ImportArg,
        /// The CRM it comes from (its column names).
        #[arg(long, value_enum)]
        preset: Option<PresetArg>,
        /// Write the rows not imported, with why, to this CSV file.
        #[arg(long)]
        rejected: Option<PathBuf>,
    },
    /// Exports records as CSV or JSON Lines.
    Export {
        /// Which records.
        #[arg(value_parser = clap::builder::PossibleValuesParser::new(crm::io::any::KINDS.iter().map(|(n, _)| *n)))]
        kind: String,
        /// The format.
        #[arg(long, value_enum, default_value = "csv")]
        format: Format,
        /// The file to write (standard output without).
        #[arg(long)]
        out: Option<PathBuf>,
        /// As for `list`.
        #[arg(long = "filter", short = 'f', value_name = "EXPR")]
        filters: Vec<String>,
        /// As for `list`.
        #[arg(long = "sort", short = 's', value_name = "FIELD", allow_hyphen_values = true)]
        sorts: Vec<String>,
    },
    /// Reports: a pipeline, a campaign, the sales forecast, performance and funnel.
    #[command(subcommand)]
    Reports(reports::ReportCmd),
    /// API keys: what a program uses to call `crm serve` as a user.
    #[command(subcommand, name = "api-keys")]
    ApiKeys(KeyCmd),
    /// Serves the HTTP API (`/v1/{kind}`), and the customer portal if asked, until interrupted (Ctrl-C).
    Serve(Box<serve::ServeArgs>),
    /// Automation: run the work that falls due with time (from cron or a timer).
    #[command(subcommand)]
    Automation(automation::AutomationCmd),
    /// Accounting sync with Xero or QuickBooks Online: customers both ways, invoices and payments in.
    #[command(subcommand)]
    Sync(sync::SyncCmd),
    /// Webhook subscriptions: add, list, remove (delivered by `crm serve` and `crm automation run`).
    #[command(subcommand)]
    Webhooks(webhooks::WebhookCmd),
    /// Workflow rules (run by `crm automation run`): add from JSON, list, enable, disable, runs, dry-run.
    #[command(subcommand)]
    Workflows(workflows::WorkflowCmd),
    /// Plugins: install a WebAssembly plugin, list, enable and disable them.
    #[command(subcommand)]
    Plugin(plugins::PluginCmd),
    /// Prints a shell completion script (`crm completions bash > /etc/bash_completion.d/crm`).
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// API key commands.
#[derive(Debug, Subcommand)]
enum KeyCmd {
    /// Issues a key acting as a user; the secret is printed once.
    Issue {
        /// What it is for.
        name: String,
        /// The user it acts as (their roles apply).
        #[arg(long = "for", value_name = "USER_ID")]
        holder: Uuid,
    },
    /// Revokes a key: it stops working at once.
    Revoke {
        /// The key's id.
        id: Uuid,
    },
}

/// The kinds an import reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum ImportArg {
    Contacts,
    Companies,
    Deals,
    Activities,
    Products,
    Orders,
}

/// Export formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Format {
    /// Comma-separated values with a header row.
    Csv,
    /// One JSON record per line.
    Jsonl,
}

fn main() {
    let cli = Cli::parse();
    let json = cli.json;
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(r) => r,
        Err(e) => fail(&CliError::Io(format!("cannot start: {e}")), json),
    };
    let mut out = Out::stdout(json);
    if let Err(e) = runtime.block_on(run(cli, &mut out)) {
        fail(&e, json);
    }
}

fn fail(e: &CliError, json: bool) -> ! {
    if json {
        eprintln!("{}", e.to_json());
    } else {
        eprintln!("error: {e}");
    }
    std::process::exit(e.code())
}

async fn run(cli: Cli, out: &mut Out) -> Result<(), CliError> {
    if let Command::Plugin(cmd) = cli.command {
        return plugins::run(&cli.config, cmd, out);
    }
    match &cli.command {
        Command::Init { file, force } => return init(&cli.config, file, *force, out).await,
        Command::Completions { shell } => {
            clap_complete::generate(*shell, &mut Cli::command(), "crm", &mut std::io::stdout());
            return Ok(());
        }
        _ => {}
    }
    let cx = open(&cli).await?;
    match cli.command {
        Command::Records(cmd) => {
            let (kind, cmd) = cmd.split();
            records::run(&cx, kind, cmd, out).await
        }
        Command::Reports(cmd) => reports::run(&cx, cmd, out).await,
        Command::Automation(cmd) => automation::run(&cx, cmd, out).await,
        Command::Sync(cmd) => sync::run(&cx, cmd, out).await,
        Command::Webhooks(cmd) => webhooks::run(&cx, cmd, out).await,
        Command::Workflows(cmd) => workflows::run(&cx, cmd, out).await,
        Command::Search { words } => {
            let hits = cx.search(&words.join(" ")).await?;
            let rows: Vec<serde_json::Value> = hits
                .iter()
                .map(|r| {
                    let mut body = records::body(r);
                    if let Some(o) = body.as_object_mut() {
                        o.insert("kind".into(), r.kind().as_str().into());
                    }
                    body
                })
                .collect();
            out.records(&rows)
        }
        Command::Import { file, kind, preset, rejected } => import(&cx, &file, kind, preset, rejected, out).await,
        Command::ApiKeys(KeyCmd::Issue { name, holder }) => {
            let (key, secret) = cx.api_keys().issue(NewApiKey::new(name, UserId::from_uuid(holder))).await?;
            if out.is_json() {
                return out.value(&serde_json::json!({"id": key.id, "name": key.name, "secret": secret}));
            }
            out.done(&format!("key {} issued; its secret, shown only now:\n{secret}", key.id))
        }
        Command::ApiKeys(KeyCmd::Revoke { id }) => {
            cx.api_keys().revoke(ApiKeyId::from_uuid(id)).await?;
            out.done(&format!("key {id} revoked"))
        }
        Command::Serve(args) => serve::serve(&cx, *args, out).await,
        Command::Export { kind, format, out: path, filters, sorts } => {
            let kind = crm::io::any::kind_named(&kind).ok_or_else(|| CliError::Usage(format!("no kind `{kind}`")))?;
            let q = filter::query(&cx, kind, &filters, &sorts, crm::query::MAX_PAGE_SIZE).await?;
            let spec = Export::new(q);
            let sink: Box<dyn std::io::Write + Send> = match &path {
                Some(p) => Box::new(std::io::BufWriter::new(std::fs::File::create(p)?)),
                None => Box::new(std::io::stdout()),
            };
            let n = match format {
                Format::Csv => crm::io::any::export_csv(&cx, kind, &spec, sink).await?,
                Format::Jsonl => crm::io::any::export_jsonl(&cx, kind, &spec, sink).await?,
            };
            match path {
                Some(p) => out.done(&format!("exported {n} {kind} to {}", p.display())),
                None => Ok(()),
            }
        }
        Command::Init { .. } | Command::Completions { .. } | Command::Plugin(_) => Ok(()),
    }
}

/// `crm init`: the database file, a tenant, the config.
async fn init(config: &PathBuf, file: &PathBuf, force: bool, out: &mut Out) -> Result<(), CliError> {
    if config.exists() && !force {
        return Err(CliError::Config(format!(
            "{} exists already: this folder has a CRM. Pass --force to start another (the old database file stays)",
            config.display()
        )));
    }
    crm::sqlite(file).await?;
    let tenant = Uuid::now_v7();
    config::write(config, &config::Config { db: file.clone(), tenant, plugins: Vec::new() })?;
    if out.is_json() {
        return out.value(&serde_json::json!({"db": file, "tenant": tenant, "config": config}));
    }
    out.done(&format!(
        "created {} (tenant {tenant}) and {}; try `crm contacts create given_name=Ada family_name=Lovelace`",
        file.display(),
        config.display()
    ))
}

/// The session the command runs in: the configured database and tenant, as the system or
/// `--user`.
async fn open(cli: &Cli) -> Result<Session, CliError> {
    let c = config::resolve(&cli.config, cli.db.clone(), cli.tenant)?;
    if !c.db.exists() {
        return Err(CliError::Config(format!(
            "the database file {} is missing: run `crm init`, or point --db at it",
            c.db.display()
        )));
    }
    let extensions = plugins::extensions(&cli.config, &c)?;
    let crm = if extensions.is_empty() {
        crm::sqlite(&c.db).await?
    } else {
        let store = crm::prelude::SqlStore::sqlite(&c.db).await?;
        let crm = crm::service::Crm::builder(store).extensions(extensions).build()?;
        crm.ensure_indexes().await?;
        crm
    };
    let tenant = TenantId::from_uuid(c.tenant);
    let actor = match cli.user {
        Some(u) => Actor::user(tenant, UserId::from_uuid(u)),
        None => Actor::system(tenant),
    };
    Ok(crm.as_actor(&actor))
}

/// `crm import`: the rows of a CSV file, with a progress bar on a terminal.
async fn import(
    cx: &Session,
    file: &PathBuf,
    kind: ImportArg,
    preset: Option<PresetArg>,
    rejected: Option<PathBuf>,
    out: &mut Out,
) -> Result<(), CliError> {
    let reader = std::fs::File::open(file).map_err(|e| CliError::Io(format!("cannot read {}: {e}", file.display())))?;
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_style(indicatif::ProgressStyle::with_template("{spinner} {msg} [{elapsed}]").expect("a valid template"));
    macro_rules! go {
        ($E:ty) => {{
            let mut import = FileImport::<$E>::new();
            if let Some(p) = preset {
                import = import.preset(p.into());
            }
            let report = import
                .run(cx, Table::csv(reader)?, |p| {
                    bar.set_message(format!("{} rows read, {} imported, {} set aside", p.rows_read, p.imported, p.rejected))
                })
                .await?;
            bar.finish_and_clear();
            if let Some(path) = &rejected {
                report.write_rejected(std::fs::File::create(path)?)?;
            }
            let lines: Vec<serde_json::Value> = report
                .rejected
                .iter()
                .map(|r| serde_json::json!({"line": r.line, "error": r.error.to_string()}))
                .collect();
            (report.imported.len(), report.updated.len(), lines)
        }};
    }
    let (imported, updated, set_aside) = match kind {
        ImportArg::Contacts => go!(Contact),
        ImportArg::Companies => go!(Company),
        ImportArg::Deals => go!(Deal),
        ImportArg::Activities => go!(Activity),
        ImportArg::Products => go!(Product),
        ImportArg::Orders => go!(Order),
    };
    if out.is_json() {
        return out.value(&serde_json::json!({"imported": imported, "updated": updated, "rejected": set_aside}));
    }
    out.done(&format!("imported {imported}, updated {updated}, set aside {}", set_aside.len()))?;
    for r in set_aside.iter().take(20) {
        out.done(&format!("  line {}: {}", r["line"], r["error"].as_str().unwrap_or("")))?;
    }
    Ok(())
}
