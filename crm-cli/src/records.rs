//! The record commands every kind has: `list`, `count`, `get`, `create`, `update`, `delete`.

use clap::{Subcommand, ValueEnum};
use crm::entity::EntityKind;
use crm::io::{FileImport, Preset, Table};
use crm::model::*;
use crm::query::Field;
use crm::service::Session;
use crm::value::Value;
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

/// Runs `body` with `$E` the record type of `$kind`.
macro_rules! with_kind {
    ($kind:expr, $E:ident => $body:expr) => {
        match $kind {
            Kind::Contacts => {
                type $E = crm::model::Contact;
                $body
            }
            Kind::Companies => {
                type $E = crm::model::Company;
                $body
            }
            Kind::Deals => {
                type $E = crm::model::Deal;
                $body
            }
            Kind::Activities => {
                type $E = crm::model::Activity;
                $body
            }
            Kind::Products => {
                type $E = crm::model::Product;
                $body
            }
            Kind::Orders => {
                type $E = crm::model::Order;
                $body
            }
            Kind::Invoices => {
                type $E = crm::model::Invoice;
                $body
            }
            Kind::Payments => {
                type $E = crm::model::Payment;
                $body
            }
            Kind::Cases => {
                type $E = crm::model::Case;
                $body
            }
            Kind::Feedback => {
                type $E = crm::model::Feedback;
                $body
            }
            Kind::Campaigns => {
                type $E = crm::model::Campaign;
                $body
            }
            Kind::Segments => {
                type $E = crm::model::Segment;
                $body
            }
            Kind::Pipelines => {
                type $E = crm::model::Pipeline;
                $body
            }
            Kind::Users => {
                type $E = crm::model::User;
                $body
            }
            Kind::Teams => {
                type $E = crm::model::Team;
                $body
            }
            Kind::Consents => {
                type $E = crm::model::Consent;
                $body
            }
            Kind::Shares => {
                type $E = crm::model::Share;
                $body
            }
        }
    };
}
pub(crate) use with_kind;

impl Kind {
    /// The record kind.
    pub fn entity(self) -> EntityKind {
        with_kind!(self, E => <E as Entity>::KIND)
    }
}

/// Runs a record command.
pub async fn run(cx: &Session, kind: Kind, cmd: RecordCmd, out: &mut Out) -> Result<(), CliError> {
    match cmd {
        RecordCmd::List { filters, sorts, limit } => {
            if !(1..=1000).contains(&limit) {
                return Err(CliError::Usage(format!("--limit {limit}: give 1 to 1000")));
            }
            let q = crate::filter::query(cx, kind.entity(), &filters, &sorts, limit).await?;
            let rows = with_kind!(kind, E => json_all(cx.records::<E>().list(&q).await?.items)?);
            out.records(&rows)
        }
        RecordCmd::Count { filters } => {
            let q = crate::filter::query(cx, kind.entity(), &filters, &[], 1).await?;
            let n = with_kind!(kind, E => cx.records::<E>().count(&q.filter).await?);
            out.count(n)
        }
        RecordCmd::Get { id } => {
            let rec = with_kind!(kind, E => json(&cx.records::<E>().get(<E as Entity>::Id::from(id)).await?)?);
            out.record(&rec)
        }
        RecordCmd::Delete { id } => {
            with_kind!(kind, E => {
                let r = cx.records::<E>().get(<E as Entity>::Id::from(id)).await?;
                cx.records::<E>().delete(<E as Entity>::Id::from(id), r.version()).await?
            });
            out.done(&format!("deleted {} {id}", kind.entity()))
        }
        RecordCmd::Create { fields } => {
            let id = create(cx, kind, &fields).await?;
            let rec = with_kind!(kind, E => json(&cx.records::<E>().get(<E as Entity>::Id::from(id)).await?)?);
            out.record(&rec)
        }
        RecordCmd::Update { id, fields } => {
            let rec = update(cx, kind, id, &fields).await?;
            out.record(&rec)
        }
    }
}

fn json<T: serde::Serialize>(t: &T) -> Result<serde_json::Value, CliError> {
    serde_json::to_value(t).map_err(|e| CliError::Io(e.to_string()))
}

fn json_all<T: serde::Serialize>(items: Vec<T>) -> Result<Vec<serde_json::Value>, CliError> {
    items.iter().map(json).collect()
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

/// Creates a record of `kind` from `fields` as a one-row import: the id of the record.
async fn create(cx: &Session, kind: Kind, fields: &[String]) -> Result<Uuid, CliError> {
    let pairs = pairs(fields)?;
    let mut csv = csv::Writer::from_writer(Vec::new());
    csv.write_record(pairs.iter().map(|(k, _)| k))?;
    csv.write_record(pairs.iter().map(|(_, v)| v))?;
    let bytes = csv.into_inner().map_err(|e| CliError::Io(e.to_string()))?;
    macro_rules! one_row {
        ($E:ty, $Col:ident) => {{
            let import = FileImport::<$E>::new();
            // Every field must be one the import reads, before anything is written.
            let preview = import.preview(cx, Table::csv(bytes.as_slice())?, 1).await?;
            let ignored: Vec<&String> =
                preview.columns.iter().filter(|(_, c)| *c == crm::io::$Col::Ignore).map(|(h, _)| h).collect();
            if !ignored.is_empty() {
                return Err(CliError::Usage(format!("{} records have no fields {ignored:?}", kind.entity())));
            }
            let report = import.run(cx, Table::csv(bytes.as_slice())?, |_| {}).await?;
            if let Some(r) = report.rejected.into_iter().next() {
                return Err(CliError::Crm(r.error));
            }
            report.imported.first().map(|id| (*id).into()).ok_or_else(|| CliError::Usage("nothing to create".into()))
        }};
    }
    match kind {
        Kind::Contacts => one_row!(Contact, ContactColumn),
        Kind::Companies => one_row!(Company, CompanyColumn),
        Kind::Deals => one_row!(Deal, DealColumn),
        Kind::Activities => one_row!(Activity, ActivityColumn),
        Kind::Products => one_row!(Product, ProductColumn),
        Kind::Orders => one_row!(Order, OrderColumn),
        other => Err(CliError::Usage(format!(
            "{} are not created from the command line yet: contacts, companies, deals, activities, products \
             and orders are",
            other.entity()
        ))),
    }
}

/// Sets `fields` on record `id` and saves it through its kind's own update.
async fn update(cx: &Session, kind: Kind, id: Uuid, fields: &[String]) -> Result<serde_json::Value, CliError> {
    let pairs = pairs(fields)?;
    macro_rules! edit {
        ($E:ty, $svc:ident) => {{
            let rec: $E = cx.records::<$E>().get(<$E as Entity>::Id::from(id)).await?;
            let rec: $E = set(rec, &pairs)?;
            json(&cx.$svc().update(rec).await?)
        }};
    }
    match kind {
        Kind::Contacts => edit!(Contact, contacts),
        Kind::Companies => edit!(Company, companies),
        Kind::Deals => edit!(Deal, deals),
        Kind::Activities => edit!(Activity, activities),
        Kind::Products => edit!(Product, products),
        Kind::Orders => edit!(Order, orders),
        Kind::Invoices => edit!(Invoice, invoices),
        Kind::Cases => edit!(Case, cases),
        Kind::Campaigns => edit!(Campaign, campaigns),
        Kind::Segments => edit!(Segment, segments),
        Kind::Users => edit!(User, users),
        Kind::Teams => edit!(Team, teams),
        other => Err(CliError::Usage(format!("{} are not updated from the command line", other.entity()))),
    }
}

/// `rec` with each FIELD=VALUE of `pairs` set, as JSON: a custom field from its text, a
/// standard field from the value as JSON (or as text when it is not JSON).
fn set<E: Entity>(rec: E, pairs: &[(String, String)]) -> Result<E, CliError> {
    let mut whole = json(&rec)?;
    let Some(body) = whole.as_object_mut() else { return Err(CliError::Io("a record is not an object".into())) };
    let mut custom: Vec<(String, Option<Value>)> = Vec::new();
    for (field, raw) in pairs {
        match Field::parse(field) {
            Field::Custom(key) => custom.push((key, (!raw.is_empty()).then(|| Value::Text(raw.clone())))),
            Field::Std(name) => {
                let Some(slot) = body.get_mut(&name) else {
                    return Err(CliError::Usage(format!("{} records have no field `{name}`", E::KIND)));
                };
                *slot = match raw.as_str() {
                    "" => serde_json::Value::Null,
                    r => serde_json::from_str(r).unwrap_or_else(|_| serde_json::Value::String(r.to_owned())),
                };
            }
        }
    }
    let mut rec: E = serde_json::from_value(whole)
        .map_err(|e| CliError::Usage(format!("the new values do not fit a {} record: {e}", E::KIND)))?;
    if let Some(map) = rec.custom_mut() {
        for (key, v) in custom {
            match v {
                Some(v) => map.insert(key, v),
                None => map.remove(&key),
            };
        }
    } else if !custom.is_empty() {
        return Err(CliError::Usage(format!("{} records have no custom fields", E::KIND)));
    }
    Ok(rec)
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
