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

/// The record commands, one per kind: `crm contacts list`, `crm deals get ID`…
#[derive(Debug, Subcommand)]
pub enum KindCmd {
    /// People.
    #[command(subcommand)]
    Contacts(RecordCmd),
    /// Organisations.
    #[command(subcommand)]
    Companies(RecordCmd),
    /// Sales opportunities.
    #[command(subcommand)]
    Deals(RecordCmd),
    /// Calls, meetings, emails, notes and tasks.
    #[command(subcommand)]
    Activities(RecordCmd),
    /// The catalogue.
    #[command(subcommand)]
    Products(RecordCmd),
    /// Orders.
    #[command(subcommand)]
    Orders(RecordCmd),
    /// Invoices.
    #[command(subcommand)]
    Invoices(RecordCmd),
    /// Payments.
    #[command(subcommand)]
    Payments(RecordCmd),
    /// Service cases.
    #[command(subcommand)]
    Cases(RecordCmd),
    /// Feedback.
    #[command(subcommand)]
    Feedback(RecordCmd),
    /// Marketing campaigns.
    #[command(subcommand)]
    Campaigns(RecordCmd),
    /// Saved filters of contacts.
    #[command(subcommand)]
    Segments(RecordCmd),
    /// Sales pipelines.
    #[command(subcommand)]
    Pipelines(RecordCmd),
    /// The CRM's users (`create name=… email=… roles=sales_rep`).
    #[command(subcommand)]
    Users(RecordCmd),
    /// Teams of users.
    #[command(subcommand)]
    Teams(RecordCmd),
    /// The consent ledger.
    #[command(subcommand)]
    Consents(RecordCmd),
    /// Records shared with one more user or team.
    #[command(subcommand)]
    Shares(RecordCmd),
    /// Links between records (`from_kind`, `from_id`, `to_kind`, `to_id`, `label`, `role`).
    #[command(subcommand)]
    Relations(RecordCmd),
}

impl KindCmd {
    /// The kind of record and the command.
    pub fn split(self) -> (EntityKind, RecordCmd) {
        use EntityKind as K;
        match self {
            KindCmd::Contacts(c) => (K::Contact, c),
            KindCmd::Companies(c) => (K::Company, c),
            KindCmd::Deals(c) => (K::Deal, c),
            KindCmd::Activities(c) => (K::Activity, c),
            KindCmd::Products(c) => (K::Product, c),
            KindCmd::Orders(c) => (K::Order, c),
            KindCmd::Invoices(c) => (K::Invoice, c),
            KindCmd::Payments(c) => (K::Payment, c),
            KindCmd::Cases(c) => (K::Case, c),
            KindCmd::Feedback(c) => (K::Feedback, c),
            KindCmd::Campaigns(c) => (K::Campaign, c),
            KindCmd::Segments(c) => (K::Segment, c),
            KindCmd::Pipelines(c) => (K::Pipeline, c),
            KindCmd::Users(c) => (K::User, c),
            KindCmd::Teams(c) => (K::Team, c),
            KindCmd::Consents(c) => (K::Consent, c),
            KindCmd::Shares(c) => (K::Share, c),
            KindCmd::Relations(c) => (K::Relation, c),
        }
    }
}

/// Runs a record command.
pub async fn run(cx: &Session, k: EntityKind, cmd: RecordCmd, out: &mut Out) -> Result<(), CliError> {
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
