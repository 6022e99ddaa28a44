//! Replies on service cases: the conversation between a customer and the people working their
//! case, kept as activities linked to the case ([`Activity::case_id`]).
//!
//! A customer ([`Actor::customer`](crate::actor::Actor::customer)) replies to their own cases
//! and sees the replies of both sides, never the internal notes. A customer's reply to a case
//! waiting for them, or already resolved, opens it again; a closed case takes no more replies
//! from the customer (they open a new one).

use super::Records;
use super::activities::log_in;
use super::uow::Uow;
use crate::error::{Error, FieldErrorCode, Result};
use crate::event::Change;
use crate::ids::CaseId;
use crate::model::{Action, Activity, Case, CaseStatus, Direction, Entity};
use crate::profile::Channel;
use crate::query::Filter;
use crate::service::NewActivity;

/// The longest reply kept, in characters.
pub const MAX_REPLY_CHARS: usize = 20_000;

/// How many characters of the case's subject a reply's subject repeats.
const SUBJECT_CHARS: usize = 120;

/// A reply on a case (see [`Cases::reply`](crate::service::Cases::reply)).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewReply {
    /// What it says (required, at most [`MAX_REPLY_CHARS`] characters).
    pub body: String,
    /// An internal note, which the customer never sees (people working the case only).
    pub internal: bool,
    /// Moves a new or open case to `pending_customer`: the business waits for the customer's
    /// answer (people working the case only).
    pub awaiting_customer: bool,
}

impl NewReply {
    /// A reply saying `body`.
    pub fn new(body: impl Into<String>) -> Self {
        NewReply { body: body.into(), internal: false, awaiting_customer: false }
    }

    /// Makes it an internal note.
    pub fn internal(mut self) -> Self {
        self.internal = true;
        self
    }

    /// Waits for the customer's answer after it.
    pub fn awaiting_customer(mut self) -> Self {
        self.awaiting_customer = true;
        self
    }
}

impl Records<'_, Case> {
    /// Adds a reply to case `id` and returns it (an activity of kind note linked to the case,
    /// its customer and their company).
    ///
    /// - From a customer: inbound, on a case of theirs. A case pending the customer, or
    ///   resolved, becomes open again (a resolved one loses its resolution, as
    ///   [`reopen`](Self::reopen) does); a closed case refuses it.
    /// - From a user: outbound to the customer (or an [internal](NewReply::internal) note),
    ///   owned by them; they must be allowed to update the case and to create activities.
    ///   [`awaiting_customer`](NewReply::awaiting_customer) moves a new or open case to
    ///   `pending_customer`.
    ///
    /// An empty or over-long body is refused naming `body`; nothing is written on any refusal.
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// use crm_core::prelude::*;
    /// use crm_core::service::NewReply;
    /// let crm = Crm::new(MemoryStore::new());
    /// let desk = crm.as_actor(&Actor::system(TenantId::new()));
    /// let ann = desk.contacts().create(NewContact::new("Ann", "Lee")).await?;
    /// let case = desk.cases().open(NewCase::new("Parcel not arrived", CaseType::Problem, CaseChannel::Web).contact(ann.id)).await?;
    /// desk.cases().reply(case.id, NewReply::new("Which address did you give?").awaiting_customer()).await?;
    /// desk.cases().reply(case.id, NewReply::new("Courier says door code is wrong").internal()).await?;
    ///
    /// let ann_cx = crm.as_actor(&Actor::customer(desk.tenant(), ann.id));
    /// ann_cx.cases().reply(case.id, NewReply::new("12 High Street, flat 3")).await?;
    /// assert_eq!(desk.cases().get(case.id).await?.status, CaseStatus::Open);
    /// // The customer sees both sides of the conversation, not the internal note.
    /// assert_eq!(ann_cx.cases().conversation(case.id).await?.len(), 2);
    /// assert_eq!(desk.cases().conversation(case.id).await?.len(), 3);
    /// # Ok::<_, Error>(()) }).unwrap();
    /// ```
    pub async fn reply(&self, id: CaseId, reply: NewReply) -> Result<Activity> {
        let customer = self.s.actor.customer_id();
        let body = reply.body.trim().to_owned();
        if body.is_empty() {
            return Err(Error::invalid("body", FieldErrorCode::Required, "a reply says something"));
        }
        let chars = body.chars().count();
        if chars > MAX_REPLY_CHARS {
            return Err(Error::invalid(
                "body",
                FieldErrorCode::OutOfRange,
                format!("a reply is at most {MAX_REPLY_CHARS} characters (this one has {chars})"),
            ));
        }
        if customer.is_some() && (reply.internal || reply.awaiting_customer) {
            return Err(Error::Forbidden(
                "a customer's reply goes to the business: it is neither internal nor awaiting the customer".into(),
            ));
        }
        self.write(|uow| {
            Box::pin(async move {
                let action = if customer.is_some() { Action::Read } else { Action::Update };
                let mut case = uow.load::<Case>(id, action).await?;
                let from = case.status;
                match customer {
                    Some(_) => match from {
                        CaseStatus::Closed => {
                            return Err(Error::invalid(
                                "status",
                                FieldErrorCode::Rule,
                                "the case is closed and takes no more replies: open a new case",
                            ));
                        }
                        CaseStatus::PendingCustomer | CaseStatus::Resolved => {
                            case.status = CaseStatus::Open;
                            case.resolved_at = None;
                            case.resolution = None;
                        }
                        CaseStatus::New | CaseStatus::Open => {}
                    },
                    None if reply.awaiting_customer && from != CaseStatus::PendingCustomer => {
                        if !from.can_become(CaseStatus::PendingCustomer) {
                            return Err(Error::transition(
                                "status",
                                from,
                                CaseStatus::PendingCustomer,
                                format!("the case is {from}; reopen it first"),
                            ));
                        }
                        case.status = CaseStatus::PendingCustomer;
                    }
                    None => {}
                }
                let activity = log_reply(uow, &case, body, reply.internal, customer.is_some()).await?;
                if case.status != from {
                    let case = uow.save_system(case).await?;
                    uow.emit(
                        case.entity_ref(),
                        case.related(),
                        Change::StatusChanged { from: from.to_string(), to: case.status.to_string() },
                    );
                }
                Ok(activity)
            })
        })
        .await
    }

    /// The conversation on case `id`, oldest first: the replies of both sides and, for the
    /// people working it, the internal notes. A customer sees it for their own cases only.
    pub async fn conversation(&self, id: CaseId) -> Result<Vec<Activity>> {
        let mut uow = Uow::read(self.s).await?;
        uow.load::<Case>(id, Action::Read).await?;
        let on_case = Filter::eq("case_id", id.as_uuid());
        let mut all = match self.s.actor.customer_id() {
            // The case is theirs: its replies are, but for the notes kept from them.
            Some(_) => {
                let public = on_case.and(Filter::is_in("direction", [Direction::Inbound, Direction::Outbound]));
                uow.tx.find_all::<Activity>(public).await?
            }
            None => uow.find_readable::<Activity>(&on_case).await?,
        };
        uow.redact(Activity::KIND, &mut all).await?;
        all.sort_by_key(|a| (a.occurred_at, a.id));
        Ok(all)
    }
}

/// Logs `body` as a reply on `case`: from its customer, or from the user acting.
async fn log_reply(
    uow: &mut Uow<'_>,
    case: &Case,
    body: String,
    internal: bool,
    by_customer: bool,
) -> Result<Activity> {
    let subject: String = case.subject.chars().take(SUBJECT_CHARS).collect();
    let mut input = NewActivity::note(format!("Re: {subject}")).body(body).case(case.id);
    input.direction = Some(match (by_customer, internal) {
        (true, _) => Direction::Inbound,
        (false, true) => Direction::Internal,
        (false, false) => Direction::Outbound,
    });
    input.channel = Some(Channel::Web);
    input.contact_ids.extend(case.contact_id);
    input.company_ids.extend(case.company_id);
    input.owner_id = match by_customer {
        // The customer's words belong to whoever works the case.
        true => case.owner_id,
        false => uow.s.actor.user_id.or(case.owner_id),
    };
    if !by_customer {
        return log_in(uow, input).await;
    }
    // A customer creates no activities of their own: the reply is the case's record of it.
    let was = std::mem::replace(&mut uow.by_rules, true);
    let made = log_in(uow, input).await;
    uow.by_rules = was;
    made
}
