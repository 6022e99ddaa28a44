//! `crm webhooks`: the subscriptions `crm serve` and `crm automation run` deliver to.

use clap::Subcommand;
use crm::entity::EntityKind;
use crm::integrations::webhooks::{Subscription, Subscriptions};
use crm::service::Session;

use crate::error::CliError;
use crate::output::Out;

/// Webhook commands.
#[derive(Debug, Subcommand)]
pub(crate) enum WebhookCmd {
    /// Subscribes a URL to events; prints the signing secret, once.
    Add {
        /// Where events are POSTed (https).
        url: String,
        /// Only events about records of this kind (`deal`, `contact`…); repeatable.
        #[arg(long = "kind", value_name = "KIND")]
        kinds: Vec<String>,
        /// What it is for.
        #[arg(long)]
        description: Option<String>,
    },
    /// The subscriptions, oldest first.
    List,
    /// Ends a subscription (its delivery state goes too).
    Remove {
        /// The subscription's id.
        id: String,
    },
}

fn line(s: &Subscription) -> String {
    let kinds = if s.kinds.is_empty() {
        "every event".to_owned()
    } else {
        s.kinds.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(", ")
    };
    format!("{}  {}  ({kinds}){}", s.id, s.url, s.description.as_deref().map(|d| format!("  {d}")).unwrap_or_default())
}

/// Runs a webhook command.
pub(crate) async fn run(cx: &Session, cmd: WebhookCmd, out: &mut Out) -> Result<(), CliError> {
    let subs = Subscriptions::of(cx);
    let failed = |e: crm::integrations::IntegrationError| CliError::Crm(e.into());
    match cmd {
        WebhookCmd::Add { url, kinds, description } => {
            let kinds = kinds
                .iter()
                .map(|k| {
                    k.parse::<EntityKind>().map_err(|_| CliError::Usage(format!("--kind: `{k}` is not a record kind")))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let (s, secret) = subs.add(&url, kinds, description).await.map_err(failed)?;
            if out.is_json() {
                let mut v = serde_json::to_value(&s).map_err(|e| CliError::Io(e.to_string()))?;
                v["secret"] = serde_json::json!(secret.expose());
                return out.value(&v);
            }
            out.done(&format!("subscribed {}\nits signing secret, shown only now:\n{}", line(&s), secret.expose()))
        }
        WebhookCmd::List => {
            let all = subs.list().await.map_err(failed)?;
            if out.is_json() {
                return out.value(&serde_json::to_value(&all).map_err(|e| CliError::Io(e.to_string()))?);
            }
            if all.is_empty() {
                return out.done("no subscriptions: `crm webhooks add URL`");
            }
            out.done(&all.iter().map(line).collect::<Vec<_>>().join("\n"))
        }
        WebhookCmd::Remove { id } => {
            if !subs.remove(&id).await.map_err(failed)? {
                return Err(CliError::Usage(format!("no subscription `{id}` (see `crm webhooks list`)")));
            }
            out.done(&format!("subscription {id} removed"))
        }
    }
}
