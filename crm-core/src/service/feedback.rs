//! Feedback: survey answers, reviews, suggestions and lost-to-competitor notes.

use chrono::{DateTime, Utc};

use super::Records;
use super::checks::Checks;
use super::uow::Uow;
use crate::error::{FieldErrorCode, Result};
use crate::ids::{CaseId, CompanyId, ContactId, DealId, OrderId, ProductId, storage_precision};
use crate::macros::new_input;
use crate::macros::new_record;
use crate::model::{Feedback, FeedbackKind};

new_input! {
    /// Input for a piece of feedback.
    #[derive(Clone, Debug, PartialEq)]
    pub struct NewFeedback {
        /// What it is.
        pub kind: FeedbackKind => manual,
        /// Who gave it.
        pub contact_id: Option<ContactId> => some contact(ContactId),
        /// Their company.
        pub company_id: Option<CompanyId> => some company(CompanyId),
        /// The case it is about.
        pub case_id: Option<CaseId> => some case(CaseId),
        /// The deal it is about.
        pub deal_id: Option<DealId> => some deal(DealId),
        /// The order it is about.
        pub order_id: Option<OrderId> => some order(OrderId),
        /// The product it is about.
        pub product_id: Option<ProductId> => some product(ProductId),
        /// Rating 1–5.
        pub rating: Option<u8> => some_exact rating(u8),
        /// Where it was given (a review site, a survey's name).
        pub source: Option<String> => some source(String),
        /// What they said.
        pub text: Option<String> => some text(String),
        /// The competitor chosen instead.
        pub competitor: Option<String> => some competitor(String),
        /// Why.
        pub reason: Option<String> => some reason(String),
        /// When it was given (default now; earlier for imports).
        pub received_at: Option<DateTime<Utc>> => some received_at(DateTime<Utc>),
        /// Tags.
        pub tags: Vec<String> => push tag(String),
    }
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
}

/// Feedback: survey answers, reviews, suggestions and lost-to-competitor notes.
///
/// ```
/// # futures::executor::block_on(async {
/// use crm_core::prelude::*;
/// let crm = Crm::new(MemoryStore::new());
/// let cx = crm.as_actor(&Actor::system(TenantId::new()));
/// let ann = cx.contacts().create(NewContact::new("Ann", "Lee")).await?;
/// let note = cx.feedback().record(NewFeedback::lost_to("Globex", "cheaper").contact(ann.id)).await?;
/// assert_eq!(note.competitor.as_deref(), Some("Globex"));
/// // A review needs where it was published and a rating.
/// assert!(cx.feedback().create(NewFeedback::suggestion("Dark mode").contact(ann.id)).await.is_ok());
/// # Ok::<_, Error>(()) }).unwrap();
/// ```
pub type Feedbacks<'s> = Records<'s, Feedback>;

impl Records<'_, Feedback> {
    /// Records feedback. A review needs a source and a rating; a lost-to-competitor note the
    /// competitor and a reason; a survey answer a rating or a comment.
    pub async fn create(&self, input: NewFeedback) -> Result<Feedback> {
        self.write(|uow| Box::pin(async move { record_in(uow, input).await })).await
    }

    /// [`create`](Self::create), by the name a CRM user gives it.
    pub async fn record(&self, input: NewFeedback) -> Result<Feedback> {
        self.create(input).await
    }
}

/// Files feedback in `uow` (see [`Feedbacks::create`](Records::create)).
async fn record_in(uow: &mut Uow<'_>, input: NewFeedback) -> Result<Feedback> {
    let mut ch = Checks::default();
    let received_at = input.received_at.map(storage_precision).unwrap_or(uow.now);
    if received_at > uow.now {
        ch.push("received_at", FieldErrorCode::OutOfRange, "feedback cannot be given in the future");
    }
    let mut f = new_record!(
        uow,
        Feedback {
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
        }
    );
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
    if f.kind != FeedbackKind::Review {
        ch.customer(f.contact_id, f.company_id);
    }
    uow.check_links(&f, None, &mut ch.errs).await?;
    uow.create(f, ch.errs).await
}
