use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::entity::{EntityKind, Links};
use crate::ids::{ActivityId, CampaignId, CaseId, CompanyId, ContactId, DealId, UserId};
use crate::macros::record;
use crate::macros::str_enum;
use crate::model::product::{external_keys, external_list};
use crate::model::{ExternalRef, id_list, impl_entity, text_list};
use crate::profile::{Channel, Email, PhoneNumber};
use crate::value::CustomValues;

str_enum! {
    /// What kind of interaction an activity records.
    #[non_exhaustive]
    pub enum ActivityKind {
        /** A phone or video call. */ Call = "call", /** An email. */ Email = "email",
        /** A meeting. */ Meeting = "meeting", /** A note. */ Note = "note", /** A to-do with a due time. */ Task = "task",
    }
}

str_enum! {
    /// Who started the interaction.
    pub enum Direction { /** The customer reached us. */ Inbound = "inbound", /** We reached the customer. */ Outbound = "outbound", /** Internal only. */ Internal = "internal" }
}

str_enum! {
    /// How an interaction ended.
    #[non_exhaustive]
    pub enum Outcome {
        /** Talked to them. */ Connected = "connected", /** Left a voicemail. */ LeftVoicemail = "left_voicemail",
        /** Nobody answered. */ NoAnswer = "no_answer", /** Line busy. */ Busy = "busy", /** Wrong number. */ WrongNumber = "wrong_number",
        /** Took place as planned. */ Completed = "completed", /** They did not show up. */ NoShow = "no_show",
        /** Moved to another time. */ Rescheduled = "rescheduled", /** Called off. */ Cancelled = "cancelled",
        /** They replied. */ Replied = "replied", /** The message bounced. */ Bounced = "bounced",
    }
}

str_enum! {
    /// A participant's part in an activity.
    pub enum ParticipantRole {
        /** Sender. */ From = "from", /** Recipient. */ To = "to", /** Copied. */ Cc = "cc", /** Blind-copied. */ Bcc = "bcc",
        /** Organiser of a meeting. */ Organizer = "organizer", /** Attendee of a call or meeting. */ Attendee = "attendee",
    }
}

/// Someone who took part in an activity.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Participant {
    /// Their part.
    pub role: ParticipantRole,
    /// Display name.
    pub name: Option<String>,
    /// Email address.
    pub email: Option<Email>,
    /// Phone number.
    pub phone: Option<PhoneNumber>,
    /// The matching contact, if known.
    pub contact_id: Option<ContactId>,
}

record! {
    /// A recorded interaction: call, email, meeting, note or task.
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    pub struct Activity(ActivityId) {
        /// Call, email, meeting, note or task.
        pub kind: ActivityKind,
        /// Subject line or title (required).
        pub subject: String,
        /// Body text, notes or transcript.
        pub body: Option<String>,
        /// Who started it.
        pub direction: Option<Direction>,
        /// The channel it used.
        pub channel: Option<Channel>,
        /// When it happened (for tasks: when it was created).
        pub occurred_at: DateTime<Utc>,
        /// When a task or meeting is due.
        pub due_at: Option<DateTime<Utc>>,
        /// When a task was completed.
        pub completed_at: Option<DateTime<Utc>>,
        /// Length of a call or meeting, in seconds.
        pub duration_secs: Option<u32>,
        /// How it ended.
        pub outcome: Option<Outcome>,
        /// Who took part.
        pub participants: Vec<Participant>,
        /// Contacts it is about.
        pub contact_ids: Vec<ContactId>,
        /// Companies it is about.
        pub company_ids: Vec<CompanyId>,
        /// Deals it is about.
        pub deal_ids: Vec<DealId>,
        /// The user responsible.
        pub owner_id: Option<UserId>,
        /// Email `Message-ID` (without angle brackets), for threading.
        pub message_id: Option<String>,
        /// Email `In-Reply-To` (without angle brackets).
        pub in_reply_to: Option<String>,
        /// Email `References`, oldest first (without angle brackets).
        pub references: Vec<String>,
        /// The conversation an email belongs to: its root, the oldest Message-ID the
        /// conversation's chains name (which may be one never filed here). Set when the
        /// email is logged, and changed only when a later message shows two conversations to
        /// be one (see [`Activities::thread`](crate::service::Activities::thread)).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub thread_id: Option<String>,
        /// The campaign it belongs to (a campaign email, a call of a call campaign).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub campaign_id: Option<CampaignId>,
        /// The service case it belongs to: a reply on the case, from the customer (inbound),
        /// to them (outbound) or an internal note (see [`Cases::reply`](crate::service::Cases::reply)).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub case_id: Option<CaseId>,
        /// Ids in other systems (a calendar event's UID, a call's id in a phone system): unique
        /// per tenant, so the same event or call is filed once.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub external_refs: Vec<ExternalRef>,
        /// Custom field values.
        #[cfg_attr(feature = "openapi", schema(value_type = std::collections::BTreeMap<String, crate::value::FieldValue>))]
        pub custom: CustomValues,
    }
}

impl_entity! {
    Activity, ActivityId, Activity, custom: true;
    owner: owner_id;
    links: |a| Links::default()
        .each("contact_ids", EntityKind::Contact, &a.contact_ids)
        .each("company_ids", EntityKind::Company, &a.company_ids)
        .each("deal_ids", EntityKind::Deal, &a.deal_ids)
        .one("campaign_id", EntityKind::Campaign, a.campaign_id)
        .one("case_id", EntityKind::Case, a.case_id)
        .each_in("participants", "contact_id", EntityKind::Contact, &a.participants, |p| p.contact_id);
    unique: |a| external_keys(&a.external_refs);
    fields {
        "kind": Text => |a| a.kind,
        "subject": Text => |a| a.subject.clone(),
        "direction": Text => |a| a.direction,
        "channel": Text => |a| a.channel,
        "occurred_at": DateTime => |a| a.occurred_at,
        "due_at": DateTime => |a| a.due_at,
        "completed_at": DateTime => |a| a.completed_at,
        "outcome": Text => |a| a.outcome,
        "owner_id": Id => |a| a.owner_id,
        "contact_ids": IdList => |a| id_list(&a.contact_ids),
        "company_ids": IdList => |a| id_list(&a.company_ids),
        "deal_ids": IdList => |a| id_list(&a.deal_ids),
        "message_id": Text => |a| a.message_id.clone(),
        "in_reply_to": Text => |a| a.in_reply_to.clone(),
        "references": TextList => |a| text_list(a.references.iter().map(String::as_str)),
        "thread_id": Text => |a| a.thread_id.clone(),
        "case_id": Id => |a| a.case_id,
        "external_refs": TextList => |a| external_list(&a.external_refs),
    }
}
