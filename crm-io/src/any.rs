//! Records of a kind named at run time, as a command line or an HTTP API names them
//! (`contacts`, `deals`): listed, read, created from field values, changed from a JSON patch,
//! deleted — each through the kind's own service, so its rules apply.

use crm_core::entity::EntityKind;
use crm_core::error::{Error, FieldErrorCode};
use crm_core::model::*;
use crm_core::query::{Page, Query};
use crm_core::service::Session;
use uuid::Uuid;

use crate::Result;
use crate::batch::Outcome;

/// The kinds by the plural name commands and URLs use, in a stable order.
pub const KINDS: &[(&str, EntityKind)] = &[
    ("contacts", EntityKind::Contact),
    ("companies", EntityKind::Company),
    ("deals", EntityKind::Deal),
    ("activities", EntityKind::Activity),
    ("products", EntityKind::Product),
    ("orders", EntityKind::Order),
    ("invoices", EntityKind::Invoice),
    ("payments", EntityKind::Payment),
    ("cases", EntityKind::Case),
    ("feedback", EntityKind::Feedback),
    ("campaigns", EntityKind::Campaign),
    ("segments", EntityKind::Segment),
    ("pipelines", EntityKind::Pipeline),
    ("users", EntityKind::User),
    ("teams", EntityKind::Team),
    ("consents", EntityKind::Consent),
    ("shares", EntityKind::Share),
    ("relations", EntityKind::Relation),
];

/// The kinds [`create`] makes from field values; the others are made through their services.
pub const CREATABLE: &[EntityKind] = &[
    EntityKind::Contact,
    EntityKind::Company,
    EntityKind::Deal,
    EntityKind::Activity,
    EntityKind::Product,
    EntityKind::Order,
    EntityKind::User,
    EntityKind::Relation,
    EntityKind::Case,
    EntityKind::Campaign,
    EntityKind::Payment,
    EntityKind::Feedback,
    EntityKind::Team,
    EntityKind::Consent,
    EntityKind::Share,
];

/// The fields [`create`] reads for `kind`, by the names its records use. An import row also
/// takes other spellings of the import kinds' columns (`First name`), and `custom.KEY` for a
/// custom field; the other kinds take these names only. Empty for a kind not in [`CREATABLE`].
pub fn create_fields(kind: EntityKind) -> &'static [&'static str] {
    use EntityKind as K;
    match kind {
        K::Contact => &[
            "given_name",
            "family_name",
            "full_name",
            "email",
            "phone",
            "mobile",
            "home_phone",
            "website",
            "lead_source",
            "lifecycle_stage",
            "birthday",
            "tags",
            "notes",
            "job_title",
            "department",
            "company",
            "street",
            "city",
            "region",
            "postal_code",
            "country",
            "phone_region",
        ],
        K::Company => &[
            "name",
            "domain",
            "industry",
            "size",
            "phone",
            "website",
            "street",
            "city",
            "region",
            "postal_code",
            "country",
            "phone_region",
            "tags",
            "legal_name",
            "tax_id",
            "billing_email",
        ],
        K::Deal => &["name", "amount", "currency", "close_date", "pipeline", "stage", "company", "contact", "tags"],
        K::Activity => &[
            "type",
            "subject",
            "body",
            "occurred_at",
            "due_at",
            "completed_at",
            "duration_minutes",
            "duration_seconds",
            "direction",
            "outcome",
            "contact",
            "company",
            "deal",
        ],
        K::Product => &["sku", "name", "description", "price", "currency", "tax_rate", "active", "tags"],
        K::Order => &[
            "number",
            "contact",
            "company",
            "deal",
            "currency",
            "placed_at",
            "payment_method",
            "notes",
            "tags",
            "sku",
            "item",
            "quantity",
            "unit_price",
            "discount",
            "tax_rate",
        ],
        other => crate::create::fields_of(other).unwrap_or_default(),
    }
}

/// The kinds [`create`] reads as an import row reads its columns (other spellings of a field
/// and `custom.KEY` too); the other creatable kinds take their fields by name only.
pub const BY_IMPORT: &[EntityKind] = &[
    EntityKind::Contact,
    EntityKind::Company,
    EntityKind::Deal,
    EntityKind::Activity,
    EntityKind::Product,
    EntityKind::Order,
];

/// The kind a plural name names.
pub fn kind_named(name: &str) -> Option<EntityKind> {
    KINDS.iter().find(|(n, _)| *n == name).map(|(_, k)| *k)
}

/// Runs `$body` with `$E` the record type of `$kind` (one of [`KINDS`]).
macro_rules! with_kind {
    ($kind:expr, $E:ident => $body:expr) => {
        match $kind {
            EntityKind::Contact => {
                type $E = Contact;
                $body
            }
            EntityKind::Company => {
                type $E = Company;
                $body
            }
            EntityKind::Deal => {
                type $E = Deal;
                $body
            }
            EntityKind::Activity => {
                type $E = Activity;
                $body
            }
            EntityKind::Product => {
                type $E = Product;
                $body
            }
            EntityKind::Order => {
                type $E = Order;
                $body
            }
            EntityKind::Invoice => {
                type $E = Invoice;
                $body
            }
            EntityKind::Payment => {
                type $E = Payment;
                $body
            }
            EntityKind::Case => {
                type $E = Case;
                $body
            }
            EntityKind::Feedback => {
                type $E = Feedback;
                $body
            }
            EntityKind::Campaign => {
                type $E = Campaign;
                $body
            }
            EntityKind::Segment => {
                type $E = Segment;
                $body
            }
            EntityKind::Pipeline => {
                type $E = Pipeline;
                $body
            }
            EntityKind::User => {
                type $E = User;
                $body
            }
            EntityKind::Team => {
                type $E = Team;
                $body
            }
            EntityKind::Consent => {
                type $E = Consent;
                $body
            }
            EntityKind::Share => {
                type $E = Share;
                $body
            }
            EntityKind::Relation => {
                type $E = Relation;
                $body
            }
            other => return Err(unsupported(other, "read")),
        }
    };
}

pub(crate) fn unsupported(kind: EntityKind, what: &str) -> crate::IoError {
    Error::invalid("kind", FieldErrorCode::NotAnOption, format!("{kind} records are not {what} this way")).into()
}

/// A page of records of `kind`.
pub async fn list(cx: &Session, kind: EntityKind, query: &Query) -> Result<Page<Record>> {
    with_kind!(kind, E => Ok(cx.records::<E>().list(query).await?.map(Entity::into_record)))
}

/// How many records of `kind` match `query`'s filter.
pub async fn count(cx: &Session, kind: EntityKind, query: &Query) -> Result<u64> {
    with_kind!(kind, E => Ok(cx.records::<E>().count(&query.filter).await?))
}

/// The rows of an aggregate over the records of `kind` ([`crm_core::aggregate`]).
pub async fn aggregate(
    cx: &Session,
    kind: EntityKind,
    aggregate: &crm_core::aggregate::Aggregate,
) -> Result<Vec<crm_core::aggregate::AggregateRow>> {
    with_kind!(kind, E => Ok(cx.records::<E>().aggregate(aggregate).await?))
}

/// Record `id` of `kind`.
pub async fn get(cx: &Session, kind: EntityKind, id: Uuid) -> Result<Record> {
    with_kind!(kind, E => Ok(cx.records::<E>().get(<E as Entity>::Id::from(id)).await?.into_record()))
}

/// Deletes record `id` of `kind` at `version`.
pub async fn delete(cx: &Session, kind: EntityKind, id: Uuid, version: u64) -> Result<()> {
    with_kind!(kind, E => Ok(cx.records::<E>().delete(<E as Entity>::Id::from(id), version).await?))
}

/// Creates a record of `kind` (one of [`CREATABLE`]) from field values: read as an import row
/// reads its columns for contacts, companies, deals, activities, products and orders; by their
/// own names for users, relations, cases, campaigns, payments, feedback, teams, consents and
/// shares. A field the kind does not have is
/// refused before anything is written, naming it.
pub async fn create(cx: &Session, kind: EntityKind, fields: &[(String, String)]) -> Result<Record> {
    match crate::batch::create_many(cx, kind, &[fields.to_vec()], None).await?.pop() {
        Some(Outcome::Created(r) | Outcome::Updated(r) | Outcome::Found(r)) => Ok(r),
        Some(Outcome::Refused(e)) => Err(e),
        Some(Outcome::Deleted) | None => {
            Err(Error::invalid("fields", FieldErrorCode::Required, "nothing to create").into())
        }
    }
}

/// Changes record `id` of `kind` by `patch`, a JSON object of its fields (a custom field as
/// `custom.KEY`, or inside a `custom` object; null clears), through the kind's own update at
/// `version` when given (else the stored one): [`Session::update_fields`].
pub async fn update(
    cx: &Session,
    kind: EntityKind,
    id: Uuid,
    version: Option<u64>,
    patch: &serde_json::Map<String, serde_json::Value>,
) -> Result<Record> {
    Ok(cx.update_fields(crm_core::entity::EntityRef::new(kind, id), version, patch).await?)
}

/// [`export_csv`](crate::export_csv) of records of `kind`.
pub async fn export_csv(
    cx: &Session,
    kind: EntityKind,
    spec: &crate::Export,
    out: impl std::io::Write + Send,
) -> Result<u64> {
    with_kind!(kind, E => crate::export_csv::<E>(cx, spec, out).await)
}

/// [`export_jsonl`](crate::export_jsonl) of records of `kind`.
pub async fn export_jsonl(
    cx: &Session,
    kind: EntityKind,
    spec: &crate::Export,
    out: impl std::io::Write + Send,
) -> Result<u64> {
    with_kind!(kind, E => crate::export_jsonl::<E>(cx, spec, out).await)
}
