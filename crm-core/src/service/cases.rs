use chrono::{DateTime, Utc};

use super::Session;
use super::checks::{Checks, refuse_guarded};
use super::lines::{check_customer, check_links};
use super::uow::Uow;
use super::uow::{count, delete, list};
use crate::entity::{Entity, EntityKind, EntityRef};
use crate::error::{Error, FieldErrorCode, Result};
use crate::event::Change;
use crate::ids::{CaseId, CompanyId, ContactId, DealId, FeedbackId, OrderId, ProductId, UserId, storage_precision};
use crate::model::{Case, CaseChannel, CaseStatus, CaseType, Feedback, FeedbackKind, Priority};
use crate::query::{Filter, Page, Query};
use crate::value::{CustomFields, Value};

/// The source of the survey feedback filed when a case is rated.
const CASE_SURVEY: &str = "case satisfaction survey";

/// Input for a new service case.
#[derive(Clone, Debug, PartialEq)]
pub struct NewCase {
    /// One-line summary (required).
    pub subject: String,
    /// The customer's account.
    pub description: Option<String>,
    /// How it came in.
    pub channel: CaseChannel,
    /// What it is about.
    pub case_type: CaseType,
    /// How urgent (default normal).
    pub priority: Priority,
    /// Who works it.
    pub owner_id: Option<UserId>,
    /// The customer.
    pub contact_id: Option<ContactId>,
    /// The customer's company.
    pub company_id: Option<CompanyId>,
    /// The order concerned.
    pub order_id: Option<OrderId>,
    /// The product concerned (required for returns).
    pub product_id: Option<ProductId>,
    /// Why the product comes back (required for returns).
    pub return_reason: Option<String>,
    /// When it came in (default now; earlier for imports).
    pub opened_at: Option<DateTime<Utc>>,
    /// Tags.
    pub tags: Vec<String>,
    /// Custom field values.
    pub custom: CustomFields,
}

impl NewCase {
    /// A case of `case_type` that came in over `channel`.
    pub fn new(subject: impl Into<String>, case_type: CaseType, channel: CaseChannel) -> Self {
        Self {
            subject: subject.into(),
            description: None,
            channel,
            case_type,
            priority: Priority::Normal,
            owner_id: None,
            contact_id: None,
            company_id: None,
            order_id: None,
            product_id: None,
            return_reason: None,
            opened_at: None,
            tags: Vec::new(),
            custom: CustomFields::new(),
        }
    }
    /// A return (RMA) of `product` for `reason`.
    pub fn return_of(product: ProductId, reason: impl Into<String>, channel: CaseChannel) -> Self {
        let mut c = Self::new("Return", CaseType::Return, channel);
        c.product_id = Some(product);
        c.return_reason = Some(reason.into());
        c
    }
    /// Sets the subject.
    pub fn subject(mut self, s: impl Into<String>) -> Self {
        self.subject = s.into();
        self
    }
    /// Sets the description.
    pub fn description(mut self, s: impl Into<String>) -> Self {
        self.description = Some(s.into());
        self
    }
    /// Sets the priority.
    pub fn priority(mut self, p: Priority) -> Self {
        self.priority = p;
        self
    }
    /// Sets the owner.
    pub fn owner(mut self, id: UserId) -> Self {
        self.owner_id = Some(id);
        self
    }
    /// Sets the contact.
    pub fn contact(mut self, id: ContactId) -> Self {
        self.contact_id = Some(id);
        self
    }
    /// Sets the company.
    pub fn company(mut self, id: CompanyId) -> Self {
        self.company_id = Some(id);
        self
    }
    /// Links the order.
    pub fn order(mut self, id: OrderId) -> Self {
        self.order_id = Some(id);
        self
    }
    /// Links the product.
    pub fn product(mut self, id: ProductId) -> Self {
        self.product_id = Some(id);
        self
    }
    /// Sets when it came in.
    pub fn opened_at(mut self, at: DateTime<Utc>) -> Self {
        self.opened_at = Some(at);
        self
    }
    /// Adds a tag.
    pub fn tag(mut self, tag: impl Into<String>) -> Self {
        self.tags.push(tag.into());
        self
    }
    /// Sets a custom field value.
    pub fn custom(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.custom.insert(key.into(), value.into());
        self
    }
}

fn check_case(c: &mut Case, ch: &mut Checks) {
    ch.name("subject", &mut c.subject, true);
    ch.opt_text("description", &mut c.description);
    ch.opt_text("return_reason", &mut c.return_reason);
    ch.opt_text("resolution", &mut c.resolution);
    ch.opt_text("survey_comment", &mut c.survey_comment);
    ch.rating("satisfaction", c.satisfaction);
    if c.case_type == CaseType::Return {
        if c.product_id.is_none() {
            ch.push("product_id", FieldErrorCode::Required, "a return names the product coming back");
        }
        if c.return_reason.is_none() {
            ch.push("return_reason", FieldErrorCode::Required, "a return says why the product comes back");
        }
    }
    ch.tags(&mut c.tags);
}

async fn check_case_refs(uow: &mut Uow<'_>, c: &Case, before: Option<&Case>, ch: &mut Checks) -> Result<()> {
    check_customer(uow, c.contact_id, c.company_id, before.map(|b| (b.contact_id, b.company_id)), true, ch).await?;
    let order = |c: &Case| c.order_id.map(|o| EntityRef::new(EntityKind::Order, o));
    let product = |c: &Case| c.product_id.map(|p| EntityRef::new(EntityKind::Product, p));
    check_links(
        uow,
        &[("order_id", order(c), before.and_then(order)), ("product_id", product(c), before.and_then(product))],
        ch,
    )
    .await
}

/// Cases: customer service work, from first contact to resolution, within the SLA.
#[derive(Clone, Copy, Debug)]
pub struct Cases<'s> {
    pub(crate) s: &'s Session,
}

impl Cases<'_> {
    /// Opens a case (status new). Its SLA due time is the opening time plus the policy's target
    /// for its priority.
    pub async fn open(&self, input: NewCase) -> Result<Case> {
        let mut uow = Uow::write(self.s).await?;
        let mut ch = Checks::default();
        let opened_at = input.opened_at.map(storage_precision).unwrap_or(uow.now);
        if opened_at > uow.now {
            ch.push("opened_at", FieldErrorCode::OutOfRange, "a case cannot be opened in the future");
        }
        let sla = self.s.crm.inner.sla.target(input.priority);
        let mut case = Case {
            id: uow.new_id(),
            tenant_id: self.s.tenant(),
            version: 1,
            created_at: uow.now,
            updated_at: uow.now,
            subject: input.subject,
            description: input.description,
            channel: input.channel,
            case_type: input.case_type,
            priority: input.priority,
            status: CaseStatus::New,
            owner_id: input.owner_id,
            contact_id: input.contact_id,
            company_id: input.company_id,
            order_id: input.order_id,
            product_id: input.product_id,
            return_reason: input.return_reason,
            opened_at,
            sla_due_at: opened_at + sla,
            sla_breached: false,
            resolved_at: None,
            closed_at: None,
            resolution: None,
            satisfaction: None,
            survey_comment: None,
            tags: input.tags,
            custom: input.custom,
        };
        check_case(&mut case, &mut ch);
        check_case_refs(&mut uow, &case, None, &mut ch).await?;
        let case = uow.create(case, ch.errs).await?;
        uow.commit().await?;
        Ok(case)
    }

    /// The case with this id.
    pub async fn get(&self, id: CaseId) -> Result<Case> {
        Uow::read(self.s).await?.tx.require::<Case>(id).await
    }

    /// Saves changes to a case read earlier. Status, resolution, satisfaction and the SLA
    /// fields change only through the status and rating methods; a new priority moves the SLA
    /// due time.
    pub async fn update(&self, mut case: Case) -> Result<Case> {
        let mut uow = Uow::write(self.s).await?;
        let before = uow.load_for_update(&case).await?;
        let guarded = [
            ("status", before.status != case.status),
            ("resolution", before.resolution != case.resolution),
            ("resolved_at", before.resolved_at != case.resolved_at),
            ("closed_at", before.closed_at != case.closed_at),
            ("opened_at", before.opened_at != case.opened_at),
            ("sla_breached", before.sla_breached != case.sla_breached),
            ("satisfaction", before.satisfaction != case.satisfaction),
            ("survey_comment", before.survey_comment != case.survey_comment),
        ];
        let how = "set_status, resolve, close, reopen and rate";
        refuse_guarded(&guarded, before.status.as_str(), case.status.as_str(), how)?;
        case.sla_due_at = case.opened_at + self.s.crm.inner.sla.target(case.priority);
        let mut ch = Checks::default();
        check_case(&mut case, &mut ch);
        check_case_refs(&mut uow, &case, Some(&before), &mut ch).await?;
        let saved = uow.save(&before, case, ch.errs, &[]).await?;
        uow.commit().await?;
        Ok(saved)
    }

    /// Moves a case to `open` or `pending_customer` (or `closed`). Resolved and closed cases
    /// move only through [`reopen`](Self::reopen); resolving needs [`resolve`](Self::resolve).
    pub async fn set_status(&self, id: CaseId, to: CaseStatus) -> Result<Case> {
        if to == CaseStatus::Resolved {
            return Err(Error::invalid(
                "resolution",
                FieldErrorCode::Required,
                "resolve a case with `resolve(id, resolution)`",
            ));
        }
        self.transition(id, to, None).await
    }

    /// Resolves a case, recording how. A case resolved after its SLA due time is flagged breached.
    pub async fn resolve(&self, id: CaseId, resolution: impl Into<String>) -> Result<Case> {
        let r = resolution.into();
        if r.trim().is_empty() {
            return Err(Error::invalid("resolution", FieldErrorCode::Required, "say how the case was resolved"));
        }
        self.transition(id, CaseStatus::Resolved, Some(r.trim().to_owned())).await
    }

    /// Closes a case.
    pub async fn close(&self, id: CaseId) -> Result<Case> {
        self.transition(id, CaseStatus::Closed, None).await
    }

    /// Reopens a resolved or closed case: back to open, resolution cleared; the SLA clock and
    /// breach flag stand.
    pub async fn reopen(&self, id: CaseId) -> Result<Case> {
        let mut uow = Uow::write(self.s).await?;
        let mut case = uow.tx.require::<Case>(id).await?;
        let from = case.status;
        if from.is_active() {
            return Err(Error::InvalidTransition {
                field: "status".into(),
                from: from.to_string(),
                to: CaseStatus::Open.to_string(),
                reason: "only a resolved or closed case is reopened".into(),
            });
        }
        case.status = CaseStatus::Open;
        case.resolved_at = None;
        case.closed_at = None;
        case.resolution = None;
        let case = uow.save_system(case).await?;
        emit_status(&mut uow, &case, from);
        uow.commit().await?;
        Ok(case)
    }

    async fn transition(&self, id: CaseId, to: CaseStatus, resolution: Option<String>) -> Result<Case> {
        let mut uow = Uow::write(self.s).await?;
        let mut case = uow.tx.require::<Case>(id).await?;
        let from = case.status;
        if from == to && resolution.is_none() {
            return Ok(case);
        }
        if !from.can_become(to) {
            return Err(Error::InvalidTransition {
                field: "status".into(),
                from: from.to_string(),
                to: to.to_string(),
                reason: if from.is_active() {
                    format!("a {from} case cannot become {to}")
                } else {
                    format!("the case is {from}; reopen it first")
                },
            });
        }
        let now = uow.now;
        match to {
            CaseStatus::Resolved => {
                case.resolved_at = Some(now);
                case.resolution = resolution;
                case.sla_breached = case.sla_breached || now > case.sla_due_at;
            }
            CaseStatus::Closed => {
                case.closed_at = Some(now);
                if case.resolved_at.is_none() {
                    // Closed without a resolution step: the SLA is judged at closing.
                    case.sla_breached = case.sla_breached || now > case.sla_due_at;
                }
            }
            _ => {}
        }
        case.status = to;
        let case = uow.save_system(case).await?;
        emit_status(&mut uow, &case, from);
        uow.commit().await?;
        Ok(case)
    }

    /// Records the customer's satisfaction (1–5) with a resolved or closed case, and files it as
    /// survey [`Feedback`] too (rating again updates that answer).
    pub async fn rate(&self, id: CaseId, rating: u8, comment: Option<String>) -> Result<Case> {
        let mut uow = Uow::write(self.s).await?;
        let mut case = uow.tx.require::<Case>(id).await?;
        if case.status.is_active() {
            return Err(Error::invalid(
                "satisfaction",
                FieldErrorCode::Rule,
                format!("the case is {}; rate it once resolved", case.status),
            ));
        }
        let before = case.clone();
        case.satisfaction = Some(rating);
        case.survey_comment = comment;
        let mut ch = Checks::default();
        check_case(&mut case, &mut ch);
        let case = uow.save(&before, case, ch.errs, &[]).await?;
        // One survey answer per case: rating again replaces it rather than adding another
        // (which would count the case twice in the customer's average rating).
        let filed = Filter::eq("case_id", case.id.as_uuid())
            .and(Filter::eq("kind", FeedbackKind::Survey))
            .and(Filter::eq("source", CASE_SURVEY));
        if let Some(old) = uow.tx.find_all::<Feedback>(filed).await?.into_iter().next() {
            let mut answer = old.clone();
            answer.rating = case.satisfaction;
            answer.text = case.survey_comment.clone();
            if answer != old {
                answer.received_at = uow.now;
                uow.save(&old, answer, Vec::new(), &[]).await?;
            }
            uow.commit().await?;
            return Ok(case);
        }
        let feedback = Feedback {
            id: uow.new_id(),
            tenant_id: self.s.tenant(),
            version: 1,
            created_at: uow.now,
            updated_at: uow.now,
            kind: FeedbackKind::Survey,
            contact_id: case.contact_id,
            company_id: case.company_id,
            case_id: Some(case.id),
            deal_id: None,
            order_id: case.order_id,
            product_id: case.product_id,
            rating: case.satisfaction,
            source: Some(CASE_SURVEY.into()),
            text: case.survey_comment.clone(),
            competitor: None,
            reason: None,
            received_at: uow.now,
            tags: Vec::new(),
        };
        uow.create(feedback, Vec::new()).await?;
        uow.commit().await?;
        Ok(case)
    }

    /// Flags every active case past its SLA due time as breached; returns the newly flagged.
    pub async fn flag_breaches(&self) -> Result<Vec<Case>> {
        let mut uow = Uow::write(self.s).await?;
        let now = uow.now;
        let late = Filter::is_in("status", [CaseStatus::New, CaseStatus::Open, CaseStatus::PendingCustomer])
            .and(Filter::lt("sla_due_at", now))
            .and(Filter::eq("sla_breached", false));
        let mut out = Vec::new();
        for case in uow.tx.find_all::<Case>(late).await? {
            let before = case.clone();
            let mut case = case;
            case.sla_breached = true;
            out.push(uow.save(&before, case, Vec::new(), &[]).await?);
        }
        uow.commit().await?;
        Ok(out)
    }

    /// A page of cases.
    pub async fn list(&self, query: &Query) -> Result<Page<Case>> {
        list::<Case>(self.s, query).await
    }

    /// How many cases match.
    pub async fn count(&self, filter: &Filter) -> Result<u64> {
        count::<Case>(self.s, filter).await
    }

    /// Deletes a case at `version`.
    pub async fn delete(&self, id: CaseId, version: u64) -> Result<()> {
        delete::<Case>(self.s, id, version).await
    }
}

fn emit_status(uow: &mut Uow<'_>, case: &Case, from: CaseStatus) {
    uow.emit(
        case.entity_ref(),
        case.related(),
        Change::StatusChanged { from: from.to_string(), to: case.status.to_string() },
    );
}

/// Input for a piece of feedback.
#[derive(Clone, Debug, PartialEq)]
pub struct NewFeedback {
    /// What it is.
    pub kind: FeedbackKind,
    /// Who said it.
    pub contact_id: Option<ContactId>,
    /// Their company.
    pub company_id: Option<CompanyId>,
    /// The case it is about.
    pub case_id: Option<CaseId>,
    /// The deal it is about.
    pub deal_id: Option<DealId>,
    /// The order it is about.
    pub order_id: Option<OrderId>,
    /// The product it is about.
    pub product_id: Option<ProductId>,
    /// Rating 1–5.
    pub rating: Option<u8>,
    /// Survey name or review site.
    pub source: Option<String>,
    /// The text.
    pub text: Option<String>,
    /// The competitor.
    pub competitor: Option<String>,
    /// The reason.
    pub reason: Option<String>,
    /// When it was given (default now).
    pub received_at: Option<DateTime<Utc>>,
    /// Tags.
    pub tags: Vec<String>,
}

impl NewFeedback {
    fn of(kind: FeedbackKind) -> Self {
        Self {
            kind,
            contact_id: None,
            company_id: None,
            case_id: None,
            deal_id: None,
            order_id: None,
            product_id: None,
            rating: None,
            source: None,
            text: None,
            competitor: None,
            reason: None,
            received_at: None,
            tags: Vec::new(),
        }
    }
    /// A survey answer: a rating and/or a comment.
    pub fn survey(rating: Option<u8>, text: Option<String>) -> Self {
        Self { rating, text, ..Self::of(FeedbackKind::Survey) }
    }
    /// A public review on `source` with a rating.
    pub fn review(source: impl Into<String>, rating: u8, text: impl Into<String>) -> Self {
        Self {
            source: Some(source.into()),
            rating: Some(rating),
            text: Some(text.into()),
            ..Self::of(FeedbackKind::Review)
        }
    }
    /// Business lost to `competitor` because of `reason`.
    pub fn lost_to(competitor: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            competitor: Some(competitor.into()),
            reason: Some(reason.into()),
            ..Self::of(FeedbackKind::LostToCompetitor)
        }
    }
    /// A suggestion or remark.
    pub fn suggestion(text: impl Into<String>) -> Self {
        Self { text: Some(text.into()), ..Self::of(FeedbackKind::Suggestion) }
    }
    /// Sets the contact.
    pub fn contact(mut self, id: ContactId) -> Self {
        self.contact_id = Some(id);
        self
    }
    /// Sets the company.
    pub fn company(mut self, id: CompanyId) -> Self {
        self.company_id = Some(id);
        self
    }
    /// Links the deal.
    pub fn deal(mut self, id: DealId) -> Self {
        self.deal_id = Some(id);
        self
    }
    /// Links the order.
    pub fn order(mut self, id: OrderId) -> Self {
        self.order_id = Some(id);
        self
    }
    /// Links the product.
    pub fn product(mut self, id: ProductId) -> Self {
        self.product_id = Some(id);
        self
    }
    /// Links the case.
    pub fn case(mut self, id: CaseId) -> Self {
        self.case_id = Some(id);
        self
    }
    /// Sets when it was given.
    pub fn received_at(mut self, at: DateTime<Utc>) -> Self {
        self.received_at = Some(at);
        self
    }
}

/// Feedback: survey answers, reviews, suggestions and lost-to-competitor notes.
#[derive(Clone, Copy, Debug)]
pub struct Feedbacks<'s> {
    pub(crate) s: &'s Session,
}

impl Feedbacks<'_> {
    /// Records feedback. A review needs a source and a rating; a lost-to-competitor note the
    /// competitor and a reason; a survey answer a rating or a comment.
    pub async fn record(&self, input: NewFeedback) -> Result<Feedback> {
        let mut uow = Uow::write(self.s).await?;
        let mut ch = Checks::default();
        let received_at = input.received_at.map(storage_precision).unwrap_or(uow.now);
        if received_at > uow.now {
            ch.push("received_at", FieldErrorCode::OutOfRange, "feedback cannot be given in the future");
        }
        let mut f = Feedback {
            id: uow.new_id(),
            tenant_id: self.s.tenant(),
            version: 1,
            created_at: uow.now,
            updated_at: uow.now,
            kind: input.kind,
            contact_id: input.contact_id,
            company_id: input.company_id,
            case_id: input.case_id,
            deal_id: input.deal_id,
            order_id: input.order_id,
            product_id: input.product_id,
            rating: input.rating,
            source: input.source,
            text: input.text,
            competitor: input.competitor,
            reason: input.reason,
            received_at,
            tags: input.tags,
        };
        ch.rating("rating", f.rating);
        ch.opt_name("source", &mut f.source);
        ch.opt_text("text", &mut f.text);
        ch.opt_name("competitor", &mut f.competitor);
        ch.opt_text("reason", &mut f.reason);
        ch.tags(&mut f.tags);
        match f.kind {
            FeedbackKind::Review => {
                if f.source.is_none() {
                    ch.push("source", FieldErrorCode::Required, "a review says where it was published");
                }
                if f.rating.is_none() {
                    ch.push("rating", FieldErrorCode::Required, "a review has a rating");
                }
            }
            FeedbackKind::LostToCompetitor => {
                if f.competitor.is_none() {
                    ch.push("competitor", FieldErrorCode::Required, "name the competitor");
                }
                if f.reason.is_none() {
                    ch.push("reason", FieldErrorCode::Required, "say why they chose the competitor");
                }
            }
            FeedbackKind::Survey if f.rating.is_none() && f.text.is_none() => {
                ch.push("rating", FieldErrorCode::Required, "a survey answer has a rating or a comment");
            }
            FeedbackKind::Suggestion if f.text.is_none() => {
                ch.push("text", FieldErrorCode::Required, "a suggestion has text");
            }
            _ => {}
        }
        let required = f.kind != FeedbackKind::Review;
        check_customer(&mut uow, f.contact_id, f.company_id, None, required, &mut ch).await?;
        let link = |kind: EntityKind, id: Option<uuid::Uuid>| id.map(|i| EntityRef::new(kind, i));
        check_links(
            &mut uow,
            &[
                ("case_id", link(EntityKind::Case, f.case_id.map(Into::into)), None),
                ("deal_id", link(EntityKind::Deal, f.deal_id.map(Into::into)), None),
                ("order_id", link(EntityKind::Order, f.order_id.map(Into::into)), None),
                ("product_id", link(EntityKind::Product, f.product_id.map(Into::into)), None),
            ],
            &mut ch,
        )
        .await?;
        let f = uow.create(f, ch.errs).await?;
        uow.commit().await?;
        Ok(f)
    }

    /// The feedback with this id.
    pub async fn get(&self, id: FeedbackId) -> Result<Feedback> {
        Uow::read(self.s).await?.tx.require::<Feedback>(id).await
    }

    /// A page of feedback.
    pub async fn list(&self, query: &Query) -> Result<Page<Feedback>> {
        list::<Feedback>(self.s, query).await
    }

    /// How many match.
    pub async fn count(&self, filter: &Filter) -> Result<u64> {
        count::<Feedback>(self.s, filter).await
    }

    /// Deletes feedback at `version`.
    pub async fn delete(&self, id: FeedbackId, version: u64) -> Result<()> {
        delete::<Feedback>(self.s, id, version).await
    }
}
