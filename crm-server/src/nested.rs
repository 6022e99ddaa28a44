//! Records that hold lists, created over HTTP from JSON bodies shaped like the records
//! themselves: invoices (their lines), segments (their conditions), pipelines (their stages).
//! The other kinds are made from flat objects of fields, as an import reads a row.

use axum::body::Bytes;
use crm::chrono::NaiveDate;
use crm::entity::EntityKind;
use crm::error::FieldErrorCode;
use crm::ids::{CompanyId, ContactId, DealId, OrderId};
use crm::model::{Entity, ForecastCategory, LineItem, Record, StageKind};
use crm::money::Currency;
use crm::service::{NewInvoice, NewPipeline, NewSegment, NewStage, Session};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::problem::Problem;

/// The kinds made from nested JSON bodies.
pub(crate) const KINDS: &[EntityKind] = &[EntityKind::Invoice, EntityKind::Segment, EntityKind::Pipeline];

/// A new (draft) invoice.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InvoiceBody {
    number: Option<String>,
    contact_id: Option<Uuid>,
    company_id: Option<Uuid>,
    order_id: Option<Uuid>,
    deal_id: Option<Uuid>,
    currency: Option<Currency>,
    lines: Vec<LineItem>,
    issue_date: Option<NaiveDate>,
    due_date: Option<NaiveDate>,
    notes: Option<String>,
}

/// A new segment: its conditions in the list API's filter syntax, all of which a contact meets.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SegmentBody {
    name: String,
    description: Option<String>,
    filter: Vec<String>,
}

/// A new pipeline and its stages, in order.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PipelineBody {
    name: String,
    #[serde(default)]
    is_default: bool,
    stages: Vec<StageBody>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StageBody {
    name: String,
    #[serde(default)]
    probability: u8,
    #[serde(default = "open")]
    kind: StageKind,
    rotting_days: Option<u32>,
    #[serde(default)]
    required_fields: Vec<String>,
    #[serde(default)]
    forecast_category: Option<ForecastCategory>,
}

fn open() -> StageKind {
    StageKind::Open
}

/// `body` read as `T`; what cannot be read is refused naming the field (`lines[0].quantity`).
pub(crate) fn read<T: DeserializeOwned>(body: &Bytes) -> Result<T, Problem> {
    let mut de = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            return Problem::bad_request(format!("the body is not JSON: {inner}"));
        }
        let message = inner.to_string();
        // Serde names an unknown or missing field in its message, at the path of its object.
        let named = [("unknown field `", FieldErrorCode::UnknownField), ("missing field `", FieldErrorCode::Required)]
            .into_iter()
            .find_map(|(p, code)| {
                let (_, rest) = message.split_once(p)?;
                Some((rest.split_once('`')?.0.to_owned(), code))
            });
        let (named, code) = match named {
            Some((f, code)) => (Some(f), code),
            None => (None, FieldErrorCode::TypeMismatch),
        };
        // An unknown field's path ends with it; a missing one's is its object's.
        let field = match (named, path.as_str()) {
            (Some(f), "." | "") => f,
            (Some(f), at) if at == f || at.ends_with(&format!(".{f}")) => at.to_owned(),
            (Some(f), at) => format!("{at}.{f}"),
            (None, at) => at.to_owned(),
        };
        let message = message.split(" at line ").next().unwrap_or_default().to_owned();
        Problem::from(crm::error::Error::invalid(field, code, message))
    })
}

/// Makes a record of `kind` (one of [`KINDS`]) from `body`.
pub(crate) async fn make(cx: &Session, kind: EntityKind, body: &Bytes) -> Result<Record, Problem> {
    match kind {
        EntityKind::Invoice => {
            let b: InvoiceBody = read(body)?;
            let input = NewInvoice {
                number: b.number,
                contact_id: b.contact_id.map(ContactId::from_uuid),
                company_id: b.company_id.map(CompanyId::from_uuid),
                order_id: b.order_id.map(OrderId::from_uuid),
                deal_id: b.deal_id.map(DealId::from_uuid),
                currency: b.currency,
                lines: b.lines,
                issue_date: b.issue_date,
                due_date: b.due_date,
                notes: b.notes,
                ..NewInvoice::default()
            };
            Ok(cx.invoices().create(input).await?.into_record())
        }
        EntityKind::Segment => {
            let b: SegmentBody = read(body)?;
            let query = cx.text_query(EntityKind::Contact, &b.filter, &[] as &[&str], 1).await?;
            let mut input = NewSegment::new(b.name, query.filter);
            input.description = b.description;
            Ok(cx.segments().create(input).await?.into_record())
        }
        EntityKind::Pipeline => {
            let b: PipelineBody = read(body)?;
            let stages = b
                .stages
                .into_iter()
                .map(|s| NewStage {
                    name: s.name,
                    probability: s.probability,
                    kind: s.kind,
                    rotting_days: s.rotting_days,
                    required_fields: s.required_fields,
                    forecast_category: s.forecast_category,
                })
                .collect();
            let mut input = NewPipeline::new(b.name, stages);
            input.is_default = b.is_default;
            Ok(cx.pipelines().create(input).await?.into_record())
        }
        other => Err(Problem::bad_request(format!("{other} records are not made from nested bodies"))),
    }
}

/// The schema of the body that makes a record of `kind` (one of [`KINDS`]).
pub(crate) fn schema(kind: EntityKind) -> Value {
    let id = json!({ "type": ["string", "null"], "format": "uuid" });
    let text = json!({ "type": ["string", "null"] });
    let date = json!({ "type": ["string", "null"], "format": "date" });
    match kind {
        EntityKind::Invoice => json!({
            "type": "object",
            "required": ["lines"],
            "additionalProperties": false,
            "description": "A draft invoice: the customer (contact or company), its lines, and optionally the number, \
                currency, dates and notes (defaults: a new number, the lines' currency, today, the customer's terms).",
            "properties": {
                "number": text, "contact_id": id, "company_id": id, "order_id": id, "deal_id": id,
                "currency": { "type": ["string", "null"], "pattern": "^[A-Z]{3}$" },
                "lines": { "type": "array", "items": { "$ref": "#/components/schemas/LineItem" } },
                "issue_date": date, "due_date": date, "notes": text
            }
        }),
        EntityKind::Segment => json!({
            "type": "object",
            "required": ["name", "filter"],
            "additionalProperties": false,
            "description": "A segment of the contacts meeting every condition of `filter` (the list API's syntax: \
                `lifecycle_stage=customer`, `tags=vip`).",
            "properties": {
                "name": { "type": "string" }, "description": text,
                "filter": { "type": "array", "items": { "type": "string" } }
            }
        }),
        EntityKind::Pipeline => json!({
            "type": "object",
            "required": ["name", "stages"],
            "additionalProperties": false,
            "properties": {
                "name": { "type": "string" },
                "is_default": { "type": "boolean" },
                "stages": { "type": "array", "items": {
                    "type": "object",
                    "required": ["name"],
                    "additionalProperties": false,
                    "properties": {
                        "name": { "type": "string" },
                        "probability": { "type": "integer", "minimum": 0, "maximum": 100 },
                        "kind": { "enum": ["open", "won", "lost"] },
                        "rotting_days": { "type": ["integer", "null"], "minimum": 0 },
                        "forecast_category": {
                            "type": ["string", "null"],
                            "enum": ["pipeline", "best_case", "commit", "closed", "omitted", null]
                        },
                        "required_fields": { "type": "array", "items": { "type": "string" } }
                    }
                } }
            }
        }),
        _ => json!({ "type": "object" }),
    }
}
