//! Records of the kinds an import does not read, made from field values as a command line or
//! an HTTP body names them: users, relations, cases and campaigns. Each refuses a field it does
//! not have, and a value it cannot read, naming the field.

use std::str::FromStr;

use crm_core::entity::{EntityKind, EntityRef};
use crm_core::error::{Error, FieldErrorCode};
use crm_core::ids::{CompanyId, ContactId, OrderId, ProductId, SegmentId, UserId};
use crm_core::model::*;
use crm_core::money::Money;
use crm_core::service::{NewCampaign, NewCase, NewUser, Session};
use rust_decimal::Decimal;
use uuid::Uuid;

use crate::Result;

/// Field values by name, read for one kind.
struct Fields<'a> {
    kind: EntityKind,
    all: &'a [(String, String)],
}

impl<'a> Fields<'a> {
    /// `all`, refused if it names a field not in `known`.
    fn new(kind: EntityKind, all: &'a [(String, String)], known: &[&str]) -> Result<Self> {
        if let Some((unknown, _)) = all.iter().find(|(k, _)| !known.contains(&k.as_str())) {
            let why = format!("{kind} records have no field `{unknown}` ({})", known.join(", "));
            return Err(Error::invalid(unknown.clone(), FieldErrorCode::UnknownField, why).into());
        }
        Ok(Fields { kind, all })
    }

    /// The trimmed text of `field`, if given and not empty.
    fn text(&self, field: &str) -> Option<String> {
        self.all.iter().find(|(k, _)| k == field).map(|(_, v)| v.trim().to_owned()).filter(|v| !v.is_empty())
    }

    /// `field` read as `T`, if given.
    fn parse<T: FromStr<Err = String>>(&self, field: &str) -> Result<Option<T>> {
        self.text(field)
            .map(|v| v.parse().map_err(|why: String| Error::invalid(field, FieldErrorCode::NotAnOption, why).into()))
            .transpose()
    }

    /// `field` read as `T`, required.
    fn required<T: FromStr<Err = String>>(&self, field: &str) -> Result<T> {
        self.parse(field)?.ok_or_else(|| {
            let why = format!("a {} needs `{field}`", self.kind);
            Error::invalid(field, FieldErrorCode::Required, why).into()
        })
    }

    /// `field` read as a record id, if given.
    fn id(&self, field: &str) -> Result<Option<Uuid>> {
        self.text(field)
            .map(|v| {
                Uuid::parse_str(&v).map_err(|_| {
                    Error::invalid(field, FieldErrorCode::InvalidFormat, format!("`{v}` is not an id")).into()
                })
            })
            .transpose()
    }

    /// `field` read as a comma-separated list.
    fn list(&self, field: &str) -> Vec<String> {
        self.text(field)
            .map(|v| v.split(',').map(str::trim).filter(|t| !t.is_empty()).map(str::to_owned).collect())
            .unwrap_or_default()
    }
}

/// A user from `name`, `email`, `roles` (comma-separated keys), `title` and `manager_id`.
pub(crate) async fn user(cx: &Session, fields: &[(String, String)]) -> Result<Record> {
    let f = Fields::new(EntityKind::User, fields, &["name", "email", "roles", "title", "manager_id"])?;
    let mut input = NewUser::new(f.text("name").unwrap_or_default(), f.text("email").unwrap_or_default());
    for role in f.list("roles") {
        input = input.role(role);
    }
    if let Some(t) = f.text("title") {
        input = input.title(t);
    }
    if let Some(m) = f.id("manager_id")? {
        input = input.manager(UserId::from_uuid(m));
    }
    Ok(cx.users().create(input).await?.into_record())
}

/// A relation from `from_kind`, `from_id`, `to_kind`, `to_id`, `label` and `role`.
pub(crate) async fn relation(cx: &Session, fields: &[(String, String)]) -> Result<Record> {
    let f = Fields::new(EntityKind::Relation, fields, &["from_kind", "from_id", "to_kind", "to_id", "label", "role"])?;
    let end = |kind: &str, id: &str| -> Result<EntityRef> {
        let k: EntityKind = f.required(kind)?;
        let id = f.id(id)?.ok_or_else(|| Error::invalid(id, FieldErrorCode::Required, "the record's id"))?;
        Ok(EntityRef::new(k, id))
    };
    let (from, to) = (end("from_kind", "from_id")?, end("to_kind", "to_id")?);
    let label: RelationLabel = f.required("label")?;
    let role = f.text("role");
    Ok(cx.relations().link(from, to, label, role.as_deref()).await?.into_record())
}

/// A case from `subject`, `type`, `channel` (default `web`), `priority`, `description`, the
/// ids of its `contact_id`, `company_id`, `order_id`, `product_id` and `owner_id`,
/// `return_reason` and `tags` (comma-separated).
pub(crate) async fn case(cx: &Session, fields: &[(String, String)]) -> Result<Record> {
    let known = [
        "subject",
        "type",
        "channel",
        "priority",
        "description",
        "contact_id",
        "company_id",
        "order_id",
        "product_id",
        "owner_id",
        "return_reason",
        "tags",
    ];
    let f = Fields::new(EntityKind::Case, fields, &known)?;
    let channel = f.parse("channel")?.unwrap_or(CaseChannel::Web);
    let mut input = NewCase::new(f.text("subject").unwrap_or_default(), f.required("type")?, channel);
    if let Some(p) = f.parse::<Priority>("priority")? {
        input = input.priority(p);
    }
    if let Some(d) = f.text("description") {
        input = input.description(d);
    }
    if let Some(id) = f.id("contact_id")? {
        input = input.contact(ContactId::from_uuid(id));
    }
    if let Some(id) = f.id("company_id")? {
        input = input.company(CompanyId::from_uuid(id));
    }
    if let Some(id) = f.id("order_id")? {
        input = input.order(OrderId::from_uuid(id));
    }
    if let Some(id) = f.id("product_id")? {
        input = input.product(ProductId::from_uuid(id));
    }
    if let Some(id) = f.id("owner_id")? {
        input = input.owner(UserId::from_uuid(id));
    }
    if let Some(r) = f.text("return_reason") {
        input = input.return_reason(r);
    }
    for t in f.list("tags") {
        input = input.tag(t);
    }
    Ok(cx.cases().create(input).await?.into_record())
}

/// A campaign from `name`, `channel`, `goal`, `start_date` and `end_date` (ISO dates), a
/// `budget` with its `currency`, `segment_id`, `owner_id` and `tags` (comma-separated).
pub(crate) async fn campaign(cx: &Session, fields: &[(String, String)]) -> Result<Record> {
    let known =
        ["name", "channel", "goal", "start_date", "end_date", "budget", "currency", "segment_id", "owner_id", "tags"];
    let f = Fields::new(EntityKind::Campaign, fields, &known)?;
    let mut input = NewCampaign::new(f.text("name").unwrap_or_default(), f.required("channel")?);
    if let Some(g) = f.text("goal") {
        input = input.goal(g);
    }
    for field in ["start_date", "end_date"] {
        if let Some(d) = f.text(field) {
            let day = chrono::NaiveDate::parse_from_str(&d, "%Y-%m-%d").map_err(|_| {
                Error::invalid(field, FieldErrorCode::InvalidFormat, format!("`{d}` is not a date (YYYY-MM-DD)"))
            })?;
            input = if field == "start_date" { input.start_date(day) } else { input.end_date(day) };
        }
    }
    if let Some(b) = f.text("budget") {
        let amount = Decimal::from_str(&b)
            .map_err(|_| Error::invalid("budget", FieldErrorCode::InvalidFormat, format!("`{b}` is not an amount")))?;
        let code = f.text("currency").ok_or_else(|| {
            Error::invalid("currency", FieldErrorCode::Required, "a budget needs its currency (ISO 4217)")
        })?;
        input = input.budget(Money::new(amount, Money::currency_from_code(&code)?));
    }
    if let Some(id) = f.id("segment_id")? {
        input = input.segment(SegmentId::from_uuid(id));
    }
    if let Some(id) = f.id("owner_id")? {
        input = input.owner(UserId::from_uuid(id));
    }
    for t in f.list("tags") {
        input = input.tag(t);
    }
    Ok(cx.campaigns().create(input).await?.into_record())
}
