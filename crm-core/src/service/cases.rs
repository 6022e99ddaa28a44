//! Service cases: questions, problems, complaints, returns and feature requests.

use chrono::{DateTime, Utc};

use super::Records;
use super::checks::Checks;
use super::records::Guard;
use super::uow::Uow;
use crate::error::{Error, FieldErrorCode, Result};
use crate::event::Change;
use crate::ids::{CaseId, CompanyId, ContactId, OrderId, ProductId, UserId, storage_precision};
use crate::macros::new_input;
use crate::macros::new_record;
use crate::model::{Action, Entity};
use crate::model::{Case, CaseChannel, CaseStatus, CaseType, Feedback, FeedbackKind, Priority};
use crate::query::Filter;
use crate::value::CustomValues;

/// The source of the survey feedback filed when a case is rated.
const CASE_SURVEY: &str = "case satisfaction survey";

new_input! {
    /// Input for a new service case.
    #[derive(Clone, Debug, PartialEq)]
    pub struct NewCase {
        /// One-line summary (required).
        pub subject: String => set subject(String),
        /// The customer's account.
        pub description: Option<String> => some description(String),
        /// How it came in.
        pub channel: CaseChannel => manual,
        /// What it is about.
        pub case_type: CaseType => manual,
        /// How urgent (default normal).
        pub priority: Priority => set priority(Priority),
        /// Who works it.
        pub owner_id: Option<UserId> => some owner(UserId),
        /// The customer.
        pub contact_id: Option<ContactId> => some contact(ContactId),
        /// The customer's company.
        pub company_id: Option<CompanyId> => some company(CompanyId),
        /// The order concerned.
        pub order_id: Option<OrderId> => some order(OrderId),
        /// The product concerned (required for returns).
        pub product_id: Option<ProductId> => some product(ProductId),
        /// Why the product comes back (required for returns).
        pub return_reason: Option<String> => some return_reason(String),
        /// When it came in (default now; earlier for imports).
        pub opened_at: Option<DateTime<Utc>> => some opened_at(DateTime<Utc>),
        /// Tags.
        pub tags: Vec<String> => push tag(String),
        /// Custom field values.
        pub custom: CustomValues => custom,
    }
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
            custom: CustomValues::new(),
        }
    }
    /// A return (RMA) of `product` for `reason`.
    pub fn return_of(product: ProductId, reason: impl Into<String>, channel: CaseChannel) -> Self {
        let mut c = Self::new("Return", CaseType::Return, channel);
        c.product_id = Some(product);
        c.return_reason = Some(reason.into());
        c
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
    ch.customer(c.contact_id, c.company_id);
    uow.check_links(c, before, &mut ch.errs).await
}

/// Cases: customer service work, from first contact to resolution, within the SLA.
///
/// ```
/// # futures::executor::block_on(async {
/// use crm_core::prelude::*;
/// let crm = Crm::new(MemoryStore::new());
/// let cx = crm.as_actor(&Actor::system(TenantId::new()));
/// let ann = cx.contacts().create(NewContact::new("Ann", "Lee")).await?;
/// let case = cx.cases().open(
///     NewCase::new("Invoice shows the wrong VAT", CaseType::Problem, CaseChannel::Email).contact(ann.id).priority(Priority::High),
/// ).await?;
/// let case = cx.cases().resolve(case.id, "Credit note sent").await?;
/// assert_eq!(case.status, CaseStatus::Resolved);
/// assert!(!case.sla_breached);
/// # Ok::<_, Error>(()) }).unwrap();
/// ```
pub type Cases<'s> = Records<'s, Case>;

/// Fields an edit may not change: they move through the status and rating verbs.
const GUARD: Guard = Guard {
    fields: &[
        "status",
        "resolution",
        "resolved_at",
        "closed_at",
        "opened_at",
        "sla_breached",
        "satisfaction",
        "survey_comment",
    ],
    through: "set_status, resolve, close, reopen and rate",
};

impl Records<'_, Case> {
    /// Opens a case (status new). Its SLA due time is the opening time plus the policy's target
    /// for its priority.
    pub async fn create(&self, input: NewCase) -> Result<Case> {
        self.create_with(|uow, ch| {
            Box::pin(async move {
                let opened_at = input.opened_at.map(storage_precision).unwrap_or(uow.now);
                if opened_at > uow.now {
                    ch.push("opened_at", FieldErrorCode::OutOfRange, "a case cannot be opened in the future");
                }
                let sla = self.s.crm.inner.sla.target(input.priority);
                let mut case = new_record!(
                    uow,
                    Case {
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
                    }
                );
                check_case(&mut case, ch);
                check_case_refs(uow, &case, None, ch).await?;
                Ok(case)
            })
        })
        .await
    }

    /// [`create`](Self::create), by the name a service desk gives it: a case is opened.
    pub async fn open(&self, input: NewCase) -> Result<Case> {
        self.create(input).await
    }

    /// Saves changes to a case read earlier. Status, resolution, satisfaction and the SLA
    /// fields change only through the status and rating methods; a new priority moves the SLA
    /// due time.
    pub async fn update(&self, case: Case) -> Result<Case> {
        let sla = self.s.crm.inner.sla;
        self.update_with(case, &GUARD, &[], |uow, before, case, ch| {
            Box::pin(async move {
                case.sla_due_at = case.opened_at + sla.target(case.priority);
                check_case(case, ch);
                check_case_refs(uow, case, Some(before), ch).await
            })
        })
        .await
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
        self.write(|uow| {
            Box::pin(async move {
                let mut case = uow.load::<Case>(id, Action::Update).await?;
                let from = case.status;
                if from.is_active() {
                    return Err(Error::transition(
                        "status",
                        from,
                        CaseStatus::Open,
                        "only a resolved or closed case is reopened",
                    ));
                }
                case.status = CaseStatus::Open;
                case.resolved_at = None;
                case.closed_at = None;
                case.resolution = None;
                let case = uow.save_system(case).await?;
                emit_status(uow, &case, from);
                Ok(case)
            })
        })
        .await
    }

    async fn transition(&self, id: CaseId, to: CaseStatus, resolution: Option<String>) -> Result<Case> {
        self.write(|uow| {
            Box::pin(async move {
                let mut case = uow.load::<Case>(id, Action::Update).await?;
                let from = case.status;
                if from == to && resolution.is_none() {
                    return Ok(case);
                }
                if !from.can_become(to) {
                    return Err(Error::transition(
                        "status",
                        from,
                        to,
                        if from.is_active() {
                            format!("a {from} case cannot become {to}")
                        } else {
                            format!("the case is {from}; reopen it first")
                        },
                    ));
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
                emit_status(uow, &case, from);
                Ok(case)
            })
        })
        .await
    }

    /// Records the customer's satisfaction (1–5) with a resolved or closed case, and files it as
    /// survey [`Feedback`] too (rating again updates that answer).
    pub async fn rate(&self, id: CaseId, rating: u8, comment: Option<String>) -> Result<Case> {
        self.write(|uow| {
            Box::pin(async move {
                let mut case = uow.load::<Case>(id, Action::Update).await?;
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
                    return Ok(case);
                }
                let feedback = new_record!(
                    uow,
                    Feedback {
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
                    }
                );
                // The survey answer is the rules' record of the rating, not the actor's.
                let was = std::mem::replace(&mut uow.by_rules, true);
                let made = uow.create(feedback, Vec::new()).await;
                uow.by_rules = was;
                made?;
                Ok(case)
            })
        })
        .await
    }

    /// Flags every active case past its SLA due time as breached; returns the newly flagged.
    pub async fn flag_breaches(&self) -> Result<Vec<Case>> {
        self.write(|uow| {
            Box::pin(async move {
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
                Ok(out)
            })
        })
        .await
    }
}

fn emit_status(uow: &mut Uow<'_>, case: &Case, from: CaseStatus) {
    uow.emit(
        case.entity_ref(),
        case.related(),
        Change::StatusChanged { from: from.to_string(), to: case.status.to_string() },
    );
}
