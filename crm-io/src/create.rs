//! Records of the kinds an import does not read, made from field values as a command line or
//! an HTTP body names them: users, relations, cases, campaigns, payments, feedback, teams,
//! consents and shares. Each refuses a field it does
//! not have, and a value it cannot read, naming the field.

use std::str::FromStr;

use crm_core::entity::{EntityKind, EntityRef};
use crm_core::error::{Error, FieldErrorCode};
use crm_core::ids::{CaseId, CompanyId, ContactId, DealId, InvoiceId, OrderId, ProductId, SegmentId, TeamId, UserId};
use crm_core::model::*;
use crm_core::money::Money;
use crm_core::service::{
    NewCampaign, NewCase, NewConsent, NewFeedback, NewPayment, NewShare, NewTeam, NewUser, Session,
};
use rust_decimal::Decimal;
use uuid::Uuid;

use crate::Result;

/// The fields of each kind made here, as they are named.
pub(crate) fn fields_of(kind: EntityKind) -> Option<&'static [&'static str]> {
    use EntityKind as K;
    Some(match kind {
        K::User => &["name", "email", "roles", "title", "manager_id"],
        K::Relation => &["from_kind", "from_id", "to_kind", "to_id", "label", "role"],
        K::Case => &[
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
        ],
        K::Campaign => &[
            "name",
            "channel",
            "goal",
            "start_date",
            "end_date",
            "budget",
            "currency",
            "segment_id",
            "owner_id",
            "tags",
        ],
        K::Payment => &[
            "amount",
            "currency",
            "received_on",
            "method",
            "contact_id",
            "company_id",
            "reference",
            "notes",
            "invoice_id",
        ],
        K::Feedback => &[
            "kind",
            "rating",
            "text",
            "source",
            "competitor",
            "reason",
            "contact_id",
            "company_id",
            "case_id",
            "deal_id",
            "order_id",
            "product_id",
            "tags",
        ],
        K::Team => &["name", "description", "members"],
        K::Consent => &["contact_id", "purpose", "status", "method", "source"],
        K::Share => &["record_kind", "record_id", "user_id", "team_id", "access", "note"],
        _ => return None,
    })
}

/// A record of `kind` (one of those [`fields_of`] names) from its field values.
pub(crate) async fn by_name(cx: &Session, kind: EntityKind, fields: &[(String, String)]) -> Result<Record> {
    use EntityKind as K;
    match kind {
        K::User => user(cx, fields).await,
        K::Relation => relation(cx, fields).await,
        K::Case => case(cx, fields).await,
        K::Campaign => campaign(cx, fields).await,
        K::Payment => payment(cx, fields).await,
        K::Feedback => feedback(cx, fields).await,
        K::Team => team(cx, fields).await,
        K::Consent => consent(cx, fields).await,
        K::Share => share(cx, fields).await,
        other => Err(crate::any::unsupported(other, "created")),
    }
}

/// Field values by name, read for one kind.
struct Fields<'a> {
    kind: EntityKind,
    all: &'a [(String, String)],
}

impl<'a> Fields<'a> {
    /// `all`, refused if it names a field `kind` does not read ([`fields_of`]).
    fn new(kind: EntityKind, all: &'a [(String, String)]) -> Result<Self> {
        let known = fields_of(kind).unwrap_or_default();
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
async fn user(cx: &Session, fields: &[(String, String)]) -> Result<Record> {
    let f = Fields::new(EntityKind::User, fields)?;
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
async fn relation(cx: &Session, fields: &[(String, String)]) -> Result<Record> {
    let f = Fields::new(EntityKind::Relation, fields)?;
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
async fn case(cx: &Session, fields: &[(String, String)]) -> Result<Record> {
    let f = Fields::new(EntityKind::Case, fields)?;
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
async fn campaign(cx: &Session, fields: &[(String, String)]) -> Result<Record> {
    let f = Fields::new(EntityKind::Campaign, fields)?;
    let mut input = NewCampaign::new(f.text("name").unwrap_or_default(), f.required("channel")?);
    if let Some(g) = f.text("goal") {
        input = input.goal(g);
    }
    if let Some(day) = f.date("start_date")? {
        input = input.start_date(day);
    }
    if let Some(day) = f.date("end_date")? {
        input = input.end_date(day);
    }
    if let Some(budget) = f.money("budget")? {
        input = input.budget(budget);
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

impl Fields<'_> {
    /// `field` read as a day (`YYYY-MM-DD`), if given.
    fn date(&self, field: &str) -> Result<Option<chrono::NaiveDate>> {
        self.text(field)
            .map(|d| {
                chrono::NaiveDate::parse_from_str(&d, "%Y-%m-%d").map_err(|_| {
                    let why = format!("`{d}` is not a date (YYYY-MM-DD)");
                    Error::invalid(field, FieldErrorCode::InvalidFormat, why).into()
                })
            })
            .transpose()
    }

    /// `field` with the `currency` field as money, if given.
    fn money(&self, field: &str) -> Result<Option<Money>> {
        let Some(text) = self.text(field) else { return Ok(None) };
        let amount = Decimal::from_str(&text)
            .map_err(|_| Error::invalid(field, FieldErrorCode::InvalidFormat, format!("`{text}` is not an amount")))?;
        let code = self.text("currency").ok_or_else(|| {
            Error::invalid("currency", FieldErrorCode::Required, format!("`{field}` needs its currency (ISO 4217)"))
        })?;
        Ok(Some(Money::new(amount, Money::currency_from_code(&code)?)))
    }
}

/// A payment from `amount` and `currency`, `received_on` (a day; default today), `method`, the
/// payer's `contact_id` or `company_id`, `reference`, `notes`, and `invoice_id` to apply all of
/// it to.
async fn payment(cx: &Session, fields: &[(String, String)]) -> Result<Record> {
    let f = Fields::new(EntityKind::Payment, fields)?;
    let amount = f
        .money("amount")?
        .ok_or_else(|| Error::invalid("amount", FieldErrorCode::Required, "a payment needs its amount"))?;
    let day = f.date("received_on")?.unwrap_or_else(|| cx.now().date_naive());
    let mut input = NewPayment::new(amount, day, f.required("method")?);
    if let Some(id) = f.id("contact_id")? {
        input = input.from_contact(ContactId::from_uuid(id));
    }
    if let Some(id) = f.id("company_id")? {
        input = input.from_company(CompanyId::from_uuid(id));
    }
    if let Some(r) = f.text("reference") {
        input = input.reference(r);
    }
    if let Some(n) = f.text("notes") {
        input = input.notes(n);
    }
    if let Some(id) = f.id("invoice_id")? {
        input = input.apply(InvoiceId::from_uuid(id), amount);
    }
    Ok(cx.payments().record(input).await?.into_record())
}

/// Feedback from `kind`, `rating` (1–5), `text`, `source`, `competitor`, `reason`, the ids of
/// what it is about (`contact_id`, `company_id`, `case_id`, `deal_id`, `order_id`,
/// `product_id`) and `tags` (comma-separated).
async fn feedback(cx: &Session, fields: &[(String, String)]) -> Result<Record> {
    let f = Fields::new(EntityKind::Feedback, fields)?;
    let mut input = NewFeedback::suggestion("");
    input.kind = f.required("kind")?;
    input.text = f.text("text");
    if let Some(r) = f.text("rating") {
        let rating = r.parse::<u8>().map_err(|_| {
            Error::invalid("rating", FieldErrorCode::InvalidFormat, format!("`{r}` is not a rating (1 to 5)"))
        })?;
        input = input.rating(rating);
    }
    for (field, set) in
        [("source", &mut input.source), ("competitor", &mut input.competitor), ("reason", &mut input.reason)]
    {
        *set = f.text(field);
    }
    input.contact_id = f.id("contact_id")?.map(ContactId::from_uuid);
    input.company_id = f.id("company_id")?.map(CompanyId::from_uuid);
    input.case_id = f.id("case_id")?.map(CaseId::from_uuid);
    input.deal_id = f.id("deal_id")?.map(DealId::from_uuid);
    input.order_id = f.id("order_id")?.map(OrderId::from_uuid);
    input.product_id = f.id("product_id")?.map(ProductId::from_uuid);
    input.tags = f.list("tags");
    Ok(cx.feedback().create(input).await?.into_record())
}

/// A team from `name`, `description` and `members` (comma-separated user ids).
async fn team(cx: &Session, fields: &[(String, String)]) -> Result<Record> {
    let f = Fields::new(EntityKind::Team, fields)?;
    let mut input = NewTeam::new(f.text("name").unwrap_or_default());
    if let Some(d) = f.text("description") {
        input = input.description(d);
    }
    for m in f.list("members") {
        let id = Uuid::parse_str(&m)
            .map_err(|_| Error::invalid("members", FieldErrorCode::InvalidFormat, format!("`{m}` is not a user id")))?;
        input = input.member(UserId::from_uuid(id));
    }
    Ok(cx.teams().create(input).await?.into_record())
}

/// A consent ledger entry from `contact_id`, `purpose`, `status`, `method` and `source`.
async fn consent(cx: &Session, fields: &[(String, String)]) -> Result<Record> {
    let f = Fields::new(EntityKind::Consent, fields)?;
    let contact = f
        .id("contact_id")?
        .ok_or_else(|| Error::invalid("contact_id", FieldErrorCode::Required, "whose consent this is"))?;
    let mut input = NewConsent::new(
        ContactId::from_uuid(contact),
        f.required("purpose")?,
        f.required("status")?,
        f.required("method")?,
    );
    if let Some(s) = f.text("source") {
        input = input.source(s);
    }
    Ok(cx.consents().record(input).await?.into_record())
}

/// A share from `record_kind` and `record_id`, the grantee's `user_id` or `team_id`, `access`
/// (`read` or `edit`) and `note`.
async fn share(cx: &Session, fields: &[(String, String)]) -> Result<Record> {
    let f = Fields::new(EntityKind::Share, fields)?;
    let kind: EntityKind = f.required("record_kind")?;
    let id = f.id("record_id")?.ok_or_else(|| Error::invalid("record_id", FieldErrorCode::Required, "the record"))?;
    let record = EntityRef::new(kind, id);
    let access = f.required("access")?;
    let mut input = match (f.id("user_id")?, f.id("team_id")?) {
        (Some(u), None) => NewShare::with_user(record, UserId::from_uuid(u), access),
        (None, Some(t)) => NewShare::with_team(record, TeamId::from_uuid(t), access),
        _ => {
            let why = "share with a user (`user_id`) or a team (`team_id`), one of them";
            return Err(Error::invalid("user_id", FieldErrorCode::Required, why).into());
        }
    };
    if let Some(n) = f.text("note") {
        input = input.note(n);
    }
    Ok(cx.shares().share(input).await?.into_record())
}
