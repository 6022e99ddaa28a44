//! Activities: calls, emails, meetings, notes and tasks.

use chrono::{DateTime, Utc};

use super::Records;
use super::checks::Checks;
use super::records::Guard;
use super::uow::Uow;
use crate::error::{Error, FieldErrorCode, Result};
use crate::event::Change;
use crate::ids::{ActivityId, CampaignId, CaseId, CompanyId, ContactId, DealId, UserId};
use crate::macros::new_input;
use crate::macros::new_record;
use crate::model::Entity;
use crate::model::{
    Activity, ActivityKind, Contact, Direction, ExternalRef, Outcome, Participant, ParticipantRole, ResponseKind,
};
use crate::profile::{Channel, Email, PhoneNumber};
use crate::query::{Filter, Query};
use crate::value::CustomValues;

/// Longest activity body (an email or transcript), in characters.
pub const MAX_BODY_LEN: usize = 1_000_000;

new_input! {
    /// A participant as given: email and phone as text, checked when the activity is logged.
    ///
    /// ```
    /// use crm_core::{service::NewActivity, service::NewParticipant, model::ParticipantRole};
    /// let meeting = NewActivity::meeting("Quarterly review").with_participant(
    ///     NewParticipant::new(ParticipantRole::Attendee).name("Jane Doe").phone("+44 20 7946 0958"),
    /// );
    /// assert_eq!(meeting.participants[0].phone.as_deref(), Some("+44 20 7946 0958"));
    /// ```
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct NewParticipant {
        /// Their part.
        pub role: ParticipantRole => manual,
        /// Display name.
        pub name: Option<String> => some name(String),
        /// Email address.
        pub email: Option<String> => some email(String),
        /// Phone number (E.164, or national in the CRM's default region).
        pub phone: Option<String> => some phone(String),
        /// The contact, if known (otherwise matched by email).
        pub contact_id: Option<ContactId> => some contact(ContactId),
    }
}

impl NewParticipant {
    /// A participant in `role`, nothing else known yet.
    pub fn new(role: ParticipantRole) -> Self {
        Self { role, name: None, email: None, phone: None, contact_id: None }
    }
}

new_input! {
    /// Input for logging an activity.
    ///
    /// ```
    /// use crm_core::{service::NewActivity, model::Direction, model::Outcome, model::ParticipantRole};
    /// let call = NewActivity::call("Discovery call")
    ///     .direction(Direction::Outbound)
    ///     .duration_secs(25 * 60)
    ///     .outcome(Outcome::Connected)
    ///     .participant(ParticipantRole::Attendee, Some("Jane Doe"), Some("jane@acme.com"));
    /// # let _ = call;
    /// ```
    #[derive(Clone, Debug, PartialEq)]
    pub struct NewActivity {
        /// Call, email, meeting, note or task.
        pub kind: ActivityKind => manual,
        /// Subject or title.
        pub subject: String => manual,
        /// Body.
        pub body: Option<String> => some body(String),
        /// Who started it.
        pub direction: Option<Direction> => some direction(Direction),
        /// Channel (default: phone for calls, email for emails).
        pub channel: Option<Channel> => some channel(Channel),
        /// When it happened (default: now).
        pub occurred_at: Option<DateTime<Utc>> => some at(DateTime<Utc>),
        /// When it is due (tasks and meetings).
        pub due_at: Option<DateTime<Utc>> => some due(DateTime<Utc>),
        /// When it was completed (tasks logged as done).
        pub completed_at: Option<DateTime<Utc>> => some completed(DateTime<Utc>),
        /// Length in seconds (calls and meetings).
        pub duration_secs: Option<u32> => some_exact duration_secs(u32),
        /// How it ended.
        pub outcome: Option<Outcome> => some outcome(Outcome),
        /// Someone who took part (see also [`participant`](Self::participant)).
        pub participants: Vec<NewParticipant> => push with_participant(NewParticipant),
        /// A contact it is about.
        pub contact_ids: Vec<ContactId> => push contact(ContactId),
        /// A company it is about.
        pub company_ids: Vec<CompanyId> => push company(CompanyId),
        /// A deal it is about.
        pub deal_ids: Vec<DealId> => push deal(DealId),
        /// Responsible user.
        pub owner_id: Option<UserId> => some owner(UserId),
        /// Email Message-ID (angle brackets optional).
        pub message_id: Option<String> => some message_id(String),
        /// Email In-Reply-To.
        pub in_reply_to: Option<String> => some in_reply_to(String),
        /// Email References: the thread's message ids, oldest first (see
        /// [`references`](Self::references)).
        pub references: Vec<String> => push reference(String),
        /// The conversation an email continues when its headers do not say so (a reply
        /// matched by its subject): that conversation's `thread_id`. Emails are otherwise
        /// threaded by their headers.
        pub thread_id: Option<String> => some thread(String),
        /// The campaign it belongs to. An outbound campaign email records each linked
        /// contact's `sent` response in the same transaction; they must be members.
        pub campaign_id: Option<CampaignId> => some campaign(CampaignId),
        /// The service case it belongs to (replies on a case are made with
        /// [`Cases::reply`](crate::service::Cases::reply)).
        pub case_id: Option<CaseId> => some case(CaseId),
        /// Ids in other systems (a calendar event's UID…), unique per tenant.
        pub external_refs: Vec<ExternalRef> => refs,
        /// Custom field values.
        pub custom: CustomValues => custom,
    }
}

impl NewActivity {
    /// An activity of any kind.
    pub fn new(kind: ActivityKind, subject: impl Into<String>) -> Self {
        let channel = match kind {
            ActivityKind::Call => Some(Channel::Phone),
            ActivityKind::Email => Some(Channel::Email),
            _ => None,
        };
        Self {
            kind,
            subject: subject.into(),
            body: None,
            direction: None,
            channel,
            occurred_at: None,
            due_at: None,
            completed_at: None,
            duration_secs: None,
            outcome: None,
            participants: Vec::new(),
            contact_ids: Vec::new(),
            company_ids: Vec::new(),
            deal_ids: Vec::new(),
            owner_id: None,
            message_id: None,
            in_reply_to: None,
            references: Vec::new(),
            thread_id: None,
            campaign_id: None,
            case_id: None,
            external_refs: Vec::new(),
            custom: CustomValues::new(),
        }
    }
    /// A call.
    pub fn call(subject: impl Into<String>) -> Self {
        Self::new(ActivityKind::Call, subject)
    }
    /// An email.
    pub fn email(subject: impl Into<String>) -> Self {
        Self::new(ActivityKind::Email, subject)
    }
    /// A meeting.
    pub fn meeting(subject: impl Into<String>) -> Self {
        Self::new(ActivityKind::Meeting, subject)
    }
    /// A note.
    pub fn note(subject: impl Into<String>) -> Self {
        Self::new(ActivityKind::Note, subject)
    }
    /// A task due at `due`.
    pub fn task(subject: impl Into<String>, due: DateTime<Utc>) -> Self {
        Self { due_at: Some(due), ..Self::new(ActivityKind::Task, subject) }
    }
    /// Adds a participant by name and/or email.
    pub fn participant(self, role: ParticipantRole, name: Option<&str>, email: Option<&str>) -> Self {
        self.with_participant(NewParticipant {
            name: name.map(str::to_owned),
            email: email.map(str::to_owned),
            ..NewParticipant::new(role)
        })
    }
    /// Sets the email References (the thread's message ids, oldest first).
    pub fn references(mut self, ids: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.references = ids.into_iter().map(Into::into).collect();
        self
    }
}

/// Strips angle brackets and checks the `left@right` shape of an email message id.
fn normalise_msg_id(ch: &mut Checks, field: &str, id: &mut String) {
    let t = id.trim().trim_start_matches('<').trim_end_matches('>').to_owned();
    let ok = t.split_once('@').is_some_and(|(l, r)| !l.is_empty() && !r.is_empty())
        && !t.chars().any(|c| c.is_whitespace() || c == '<' || c == '>')
        && t.len() <= 998;
    if !ok {
        ch.push(field, FieldErrorCode::InvalidFormat, format!("`{t}` is not a message id (`left@right`)"));
    }
    *id = t;
}

fn check_activity(a: &mut Activity, ch: &mut Checks) {
    a.subject = a.subject.trim().to_owned();
    if a.subject.is_empty() {
        ch.push("subject", FieldErrorCode::Required, "must not be empty");
    }
    ch.text("subject", &a.subject);
    if let Some(b) = &a.body
        && b.chars().count() > MAX_BODY_LEN
    {
        ch.push("body", FieldErrorCode::OutOfRange, format!("longer than {MAX_BODY_LEN} characters"));
    }
    use ActivityKind as K;
    if a.due_at.is_some() && !matches!(a.kind, K::Task | K::Meeting) {
        ch.push("due_at", FieldErrorCode::Rule, format!("a {} has no due time", a.kind));
    }
    if a.completed_at.is_some() && a.kind != K::Task {
        ch.push("completed_at", FieldErrorCode::Rule, "only tasks are completed");
    }
    if a.duration_secs.is_some() && !matches!(a.kind, K::Call | K::Meeting) {
        ch.push("duration_secs", FieldErrorCode::Rule, format!("a {} has no duration", a.kind));
    }
    if a.kind != K::Email
        && (a.message_id.is_some() || a.in_reply_to.is_some() || !a.references.is_empty() || a.thread_id.is_some())
    {
        ch.push("message_id", FieldErrorCode::Rule, "only emails carry message ids");
    }
    if let Some(m) = &mut a.message_id {
        normalise_msg_id(ch, "message_id", m);
    }
    if let Some(m) = &mut a.in_reply_to {
        normalise_msg_id(ch, "in_reply_to", m);
    }
    if let Some(m) = &mut a.thread_id {
        normalise_msg_id(ch, "thread_id", m);
    }
    for (i, r) in a.references.iter_mut().enumerate() {
        normalise_msg_id(ch, &format!("references[{i}]"), r);
    }
    for (i, p) in a.participants.iter_mut().enumerate() {
        ch.opt_name(&format!("participants[{i}].name"), &mut p.name);
    }
    ch.duplicates("contact_ids", &a.contact_ids);
    ch.duplicates("company_ids", &a.company_ids);
    ch.duplicates("deal_ids", &a.deal_ids);
    ch.external_refs(&mut a.external_refs);
}

/// Activities: every interaction with a customer, recorded: calls, emails, meetings, notes
/// and tasks.
///
/// ```
/// # futures::executor::block_on(async {
/// use crm_core::prelude::*;
/// use crm_core::model::ParticipantRole;
/// let crm = Crm::new(MemoryStore::new());
/// let cx = crm.as_actor(&Actor::system(TenantId::new()));
/// let jane = cx.contacts().create(NewContact::new("Jane", "Doe").email("jane@acme.com")).await?;
/// // A participant's email finds the contact, who is linked.
/// let call = cx.activities().create(
///     NewActivity::call("Discovery call").participant(ParticipantRole::Attendee, None, Some("jane@acme.com")),
/// ).await?;
/// assert_eq!(call.contact_ids, [jane.id]);
/// let task = cx.activities().log(NewActivity::task("Send the quote", cx.now())).await?;
/// assert!(cx.activities().complete(task.id).await?.completed_at.is_some());
/// # Ok::<_, Error>(()) }).unwrap();
/// ```
pub type Activities<'s> = Records<'s, Activity>;

/// An activity's kind is fixed, and so are an email's headers and conversation (kept by the
/// threading as later mail comes in).
const GUARD: Guard = Guard {
    fields: &["kind", "message_id", "in_reply_to", "references", "thread_id"],
    through: "logging a new activity",
};

impl Records<'_, Activity> {
    /// Records an activity. Participants' emails are matched to contacts, who are then linked.
    /// Emits `ActivityLogged` (in place of `Created`), touching every linked record.
    pub async fn create(&self, input: NewActivity) -> Result<Activity> {
        self.write(|uow| Box::pin(async move { log_in(uow, input).await })).await
    }

    /// Checks `input` exactly as [`create`](Self::create) would, writing nothing.
    pub async fn check(&self, input: NewActivity) -> Result<()> {
        self.dry(|uow| Box::pin(async move { log_in(uow, input).await })).await
    }

    /// [`create`](Self::create), by the name a CRM user gives it: a call or meeting is logged.
    pub async fn log(&self, input: NewActivity) -> Result<Activity> {
        self.create(input).await
    }

    /// The email activity with this Message-ID (angle brackets optional), if one is recorded.
    pub async fn find_by_message_id(&self, message_id: &str) -> Result<Option<Activity>> {
        let id = message_id.trim().trim_start_matches('<').trim_end_matches('>');
        let q = Query::new(Filter::eq("message_id", id)).limit(1);
        Ok(Uow::read(self.s).await?.tx.find::<Activity>(&q).await?.items.into_iter().next())
    }

    /// The emails of one conversation (a [`thread_id`](Activity::thread_id)), oldest first.
    pub async fn thread(&self, thread_id: &str) -> Result<Vec<Activity>> {
        let id = thread_id.trim().trim_start_matches('<').trim_end_matches('>');
        let mut all = Uow::read(self.s).await?.tx.find_all::<Activity>(Filter::eq("thread_id", id)).await?;
        all.sort_by_key(|a| (a.occurred_at, a.id));
        Ok(all)
    }

    /// Marks a task done now. Emits `TaskCompleted`.
    pub async fn complete(&self, id: ActivityId) -> Result<Activity> {
        self.change(id, |uow, mut a| {
            Box::pin(async move {
                if a.kind != ActivityKind::Task {
                    return Err(Error::transition(
                        "completed_at",
                        "none",
                        "now",
                        format!("a {} cannot be completed; only tasks can", a.kind),
                    ));
                }
                if let Some(done) = a.completed_at {
                    return Err(Error::transition(
                        "completed_at",
                        done.to_rfc3339(),
                        "now",
                        "the task is already completed",
                    ));
                }
                a.completed_at = Some(uow.now);
                let a = uow.save_system(a).await?;
                uow.emit(a.entity_ref(), a.related(), Change::TaskCompleted);
                Ok(a)
            })
        })
        .await
    }

    /// Saves changes to an activity read earlier (the kind cannot change).
    pub async fn update(&self, activity: Activity) -> Result<Activity> {
        self.update_with(activity, &GUARD, &[], |uow, before, activity, ch| {
            Box::pin(async move {
                check_activity(activity, ch);
                uow.check_links(activity, Some(before), &mut ch.errs).await
            })
        })
        .await
    }
}

/// Logs an activity in `uow` (see [`Activities::create`](Records::create)).
pub(super) async fn log_in(uow: &mut Uow<'_>, input: NewActivity) -> Result<Activity> {
    let mut ch = Checks::default();
    let region = uow.default_region().map(str::to_owned);
    let mut participants = Vec::new();
    let mut contact_ids = input.contact_ids;
    for (i, p) in input.participants.into_iter().enumerate() {
        let email = p.email.as_deref().and_then(|e| ch.parse(&format!("participants[{i}].email"), e, Email::parse));
        let phone = p.phone.as_deref().and_then(|n| {
            ch.parse(&format!("participants[{i}].phone"), n, |s| PhoneNumber::parse(s, region.as_deref()))
        });
        let mut contact_id = p.contact_id;
        if contact_id.is_none()
            && let Some(e) = &email
        {
            let q = Query::new(Filter::contains("emails", e.as_str())).limit(1);
            contact_id = uow.tx.find::<Contact>(&q).await?.items.first().map(|c| c.id);
        }
        if let Some(c) = contact_id
            && !contact_ids.contains(&c)
        {
            contact_ids.push(c);
        }
        participants.push(Participant { role: p.role, name: p.name, email, phone, contact_id });
    }
    let now = uow.now;
    let mut a = new_record!(
        uow,
        Activity {
            kind: input.kind,
            subject: input.subject,
            body: input.body,
            direction: input.direction,
            channel: input.channel,
            occurred_at: input.occurred_at.map(crate::ids::storage_precision).unwrap_or(now),
            due_at: input.due_at.map(crate::ids::storage_precision),
            completed_at: input.completed_at.map(crate::ids::storage_precision),
            duration_secs: input.duration_secs,
            outcome: input.outcome,
            participants,
            contact_ids,
            company_ids: input.company_ids,
            deal_ids: input.deal_ids,
            owner_id: input.owner_id,
            message_id: input.message_id,
            in_reply_to: input.in_reply_to,
            references: input.references,
            thread_id: input.thread_id,
            campaign_id: input.campaign_id,
            case_id: input.case_id,
            external_refs: input.external_refs,
            custom: input.custom,
        }
    );
    check_activity(&mut a, &mut ch);
    uow.check_links(&a, None, &mut ch.errs).await?;
    if ch.errs.is_empty() {
        let hint = a.thread_id.take();
        super::threads::join(uow, &mut a, hint).await?;
    }
    // An outbound campaign email was sent to its contacts, who must be members.
    let mut sent = Vec::new();
    if let Some(campaign) = a.campaign_id
        && a.kind == ActivityKind::Email
        && a.direction == Some(Direction::Outbound)
        && ch.errs.is_empty()
    {
        for (i, c) in a.contact_ids.iter().enumerate() {
            match super::campaigns::member_of(uow, campaign, *c).await? {
                Some(m) => sent.push(m),
                None => ch.push(
                    format!("contact_ids[{i}]"),
                    FieldErrorCode::Rule,
                    "campaign mail goes to members of the campaign only",
                ),
            }
        }
    }
    let kind = a.kind;
    let a = uow.create_with(a, ch.errs, Change::ActivityLogged { activity_kind: kind }).await?;
    if let Some(campaign) = a.campaign_id {
        for m in sent {
            super::campaigns::record_in(uow, m, campaign, ResponseKind::Sent, a.occurred_at).await?;
        }
    }
    Ok(a)
}
