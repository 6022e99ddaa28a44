//! The record commands every kind has: `list`, `count`, `get`, `create`, `update`, `delete`.

use clap::{Subcommand, ValueEnum};
use crm::entity::EntityKind;
use crm::io::{Preset, any};
use crm::model::Record;
use crm::service::Session;
use uuid::Uuid;

use crate::error::CliError;
use crate::output::Out;

/// What to do with records of one kind.
#[derive(Debug, Subcommand)]
pub enum RecordCmd {
    /// Lists records: `--filter stage=lead --sort -updated_at --limit 20`.
    List {
        /// FIELD=VALUE (also !=, >, >=, <, <=, ^= starts with, ~= contains; a|b for any of
        /// them; nothing after = for none). Several must all hold.
        #[arg(long = "filter", short = 'f', value_name = "EXPR")]
        filters: Vec<String>,
        /// A field to sort by (`-field` for descending); repeat for ties.
        #[arg(long = "sort", short = 's', value_name = "FIELD", allow_hyphen_values = true)]
        sorts: Vec<String>,
        /// At most this many (1 to 1000).
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Counts records (`--filter` as for `list`).
    Count {
        /// As for `list`.
        #[arg(long = "filter", short = 'f', value_name = "EXPR")]
        filters: Vec<String>,
    },
    /// Shows one record.
    Get {
        /// Its id.
        id: Uuid,
    },
    /// Creates a record from FIELD=VALUE pairs, read as an import row reads its columns
    /// (`given_name=Ada family_name=Lovelace email=ada@example.org`).
    Create {
        /// The fields.
        #[arg(value_name = "FIELD=VALUE", required = true)]
        fields: Vec<String>,
    },
    /// Changes fields of a record: FIELD=VALUE (JSON values are read as JSON, anything else as
    /// text; `custom.KEY=VALUE` for a custom field; nothing after = clears it).
    Update {
        /// Its id.
        id: Uuid,
        /// The fields.
        #[arg(value_name = "FIELD=VALUE", required = true)]
        fields: Vec<String>,
    },
    /// Deletes a record.
    Delete {
        /// Its id.
        id: Uuid,
    },
}

/// A kind of record, as commands name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    /// People.
    Contacts,
    /// Organisations.
    Companies,
    /// Sales opportunities.
    Deals,
    /// Calls, meetings, emails, notes, tasks.
    Activities,
    /// The catalogue.
    Products,
    /// Orders.
    Orders,
    /// Invoices.
    Invoices,
    /// Payments.
    Payments,
    /// Service cases.
    Cases,
    /// Feedback.
    Feedback,
    /// Marketing campaigns.
    Campaigns,
    /// Saved filters of contacts.
    Segments,
    /// Sales pipelines.
    Pipelines,
    /// The CRM's users.
    Users,
    /// Teams of users.
    Teams,
    /// The consent ledger.
    Consents,
    /// Records shared with one more user or team.
    Shares,
}

impl Kind {
    /// The record kind.
    pub fn entity(self) -> EntityKind {
        let name = self.to_possible_value().map(|v| v.get_name().to_owned()).unwrap_or_default();
        any::kind_named(&name).expect("every kind the command line names is one crm-io names")
    }
}

/// Runs a record command.
pub async fn run(cx: &Session, kind: Kind, cmd: RecordCmd, out: &mut Out) -> Result<(), CliError> {
    let k = kind.entity();
    match cmd {
        RecordCmd::List { filters, sorts, limit } => {
            if !(1..=1000).contains(&limit) {
                return Err(CliError::Usage(format!("--limit {limit}: give 1 to 1000")));
            }
            let q = crate::filter::query(cx, k, &filters, &sorts, limit).await?;
            let page = any::list(cx, k, &q).await?;
            out.records(&page.items.iter().map(body).collect::<Vec<_>>())
        }
        RecordCmd::Count { filters } => {
            let q = crate::filter::query(cx, k, &filters, &[], 1).await?;
            out.count(any::count(cx, k, &q).await?)
        }
        RecordCmd::Get { id } => out.record(&body(&any::get(cx, k, id).await?)),
        RecordCmd::Delete { id } => {
            let r = any::get(cx, k, id).await?;
            any::delete(cx, k, id, r.version()).await?;
            out.done(&format!("deleted {k} {id}"))
        }
        RecordCmd::Create { fields } => out.record(&body(&any::create(cx, k, &pairs(&fields)?).await?)),
        RecordCmd::Update { id, fields } => {
            let patch: serde_json::Map<String, serde_json::Value> = pairs(&fields)?
                .into_iter()
                .map(|(f, v)| {
                    let value = match v.as_str() {
                        "" => serde_json::Value::Null,
                        raw => serde_json::from_str(raw).unwrap_or(serde_json::Value::String(v.clone())),
                    };
                    (f, value)
                })
                .collect();
            out.record(&body(&any::update(cx, k, id, None, &patch).await?))
        }
    }
}

/// A record as JSON, without the kind's envelope.
pub fn body(r: &Record) -> serde_json::Value {
    let mut v = serde_json::to_value(r).unwrap_or_default();
    v.get_mut("record").map(std::mem::take).unwrap_or_default()
}

/// FIELD=VALUE pairs, split.
fn pairs(fields: &[String]) -> Result<Vec<(String, String)>, CliError> {
    fields
        .iter()
        .map(|f| match f.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.to_owned())),
            _ => Err(CliError::Usage(format!("`{f}`: write FIELD=VALUE"))),
        })
        .collect()
}

/// The presets of other CRMs' exports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PresetArg {
    /// HubSpot.
    Hubspot,
    /// Salesforce.
    Salesforce,
    /// Pipedrive.
    Pipedrive,
    /// Zoho CRM.
    Zoho,
}

impl From<PresetArg> for Preset {
    fn from(p: PresetArg) -> Self {
        match p {
            PresetArg::Hubspot => Preset::HubSpot,
            PresetArg::Salesforce => Preset::Salesforce,
            PresetArg::Pipedrive => Preset::Pipedrive,
            PresetArg::Zoho => Preset::Zoho,
        }
    }
}
