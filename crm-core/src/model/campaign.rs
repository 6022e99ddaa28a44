use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::entity::{EntityKind, Links, UniqueKey};
use crate::ids::{CampaignId, CampaignMemberId, ContactId, SegmentId, UserId};
use crate::macros::record;
use crate::macros::str_enum;
use crate::model::{impl_entity, text_list};
use crate::money::Money;
use crate::value::CustomValues;

str_enum! {
    /// How a campaign reaches people.
    #[non_exhaustive]
    pub enum CampaignChannel {
        /** Email. */ Email = "email", /** Text messages. */ Sms = "sms", /** Phone calls. */ Phone = "phone",
        /** Social media. */ Social = "social", /** Paid ads. */ Ads = "ads", /** An event. */ Event = "event",
        /** Post. */ DirectMail = "direct_mail", /** Anything else. */ Other = "other",
    }
}

str_enum! {
    /// Where a campaign is in its life.
    pub enum CampaignStatus {
        /** Being prepared. */ Planned = "planned", /** Running. */ Active = "active", /** On hold. */ Paused = "paused",
        /** Finished. */ Completed = "completed", /** Called off. */ Cancelled = "cancelled",
    }
}

impl CampaignStatus {
    /// Whether a campaign may move from `self` to `to`.
    pub fn can_become(self, to: CampaignStatus) -> bool {
        use CampaignStatus::*;
        matches!(
            (self, to),
            (Planned, Active | Cancelled) | (Active, Paused | Completed | Cancelled) | (Paused, Active | Cancelled)
        )
    }
}

record! {
    /// A marketing campaign: a message to a segment over a channel, with a budget and a goal.
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    pub struct Campaign(CampaignId) {
        /// Name (required).
        pub name: String,
        /// How it reaches people.
        pub channel: CampaignChannel,
        /// Where it is. Changed only by the campaign service's status methods.
        pub status: CampaignStatus,
        /// What it may spend.
        pub budget: Option<Money>,
        /// What it did spend (cost per conversion uses this, else the budget).
        pub actual_cost: Option<Money>,
        /// First day.
        pub start_date: Option<NaiveDate>,
        /// Last day.
        pub end_date: Option<NaiveDate>,
        /// What it should achieve.
        pub goal: Option<String>,
        /// The segment its members are drawn from.
        pub segment_id: Option<SegmentId>,
        /// The user responsible.
        pub owner_id: Option<UserId>,
        /// Free tags.
        pub tags: Vec<String>,
        /// Custom field values.
        #[cfg_attr(feature = "openapi", schema(value_type = std::collections::BTreeMap<String, crate::value::FieldValue>))]
        pub custom: CustomValues,
    }
}

impl_entity! {
    Campaign, CampaignId, Campaign, custom: true;
    owner: owner_id;
    links: |c| Links::default().one("segment_id", EntityKind::Segment, c.segment_id);
    on_delete: [
        crate::entity::OnDelete::Restrict {
            kind: EntityKind::Deal,
            field: "campaign_id", by: "id",
            reported: "id",
            what: "deals are credited to it",
        },
        crate::entity::OnDelete::Cascade { kind: EntityKind::CampaignMember, field: "campaign_id" },
    ];
    fields {
        "name": Text => |c| c.name.clone(),
        "channel": Text => |c| c.channel,
        "status": Text => |c| c.status,
        "budget": Decimal => |c| c.budget.map(|m| m.amount),
        "start_date": Date => |c| c.start_date,
        "end_date": Date => |c| c.end_date,
        "segment_id": Id => |c| c.segment_id,
        "owner_id": Id => |c| c.owner_id,
        "tags": TextList => |c| text_list(c.tags.iter().map(String::as_str)),
    }
}

str_enum! {
    /// What a campaign member did (or what happened to the message), in funnel order.
    pub enum ResponseKind {
        /** The message went out. */ Sent = "sent", /** It arrived. */ Delivered = "delivered",
        /** They opened it. */ Opened = "opened", /** They clicked a link. */ Clicked = "clicked",
        /** They answered. */ Responded = "responded", /** They did what the campaign wanted (bought, signed up). */ Converted = "converted",
        /** They asked for no more (withdraws their marketing consent). */ Unsubscribed = "unsubscribed",
        /** The message could not be delivered. */ Bounced = "bounced",
    }
}

/// One response of a member, with when it happened.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CampaignResponse {
    /// What happened.
    pub kind: ResponseKind,
    /// When.
    pub at: DateTime<Utc>,
}

record! {
    /// A contact in a campaign and how they responded. Each kind of response is recorded once,
    /// at its first occurrence.
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    pub struct CampaignMember(CampaignMemberId) {
        /// The campaign.
        pub campaign_id: CampaignId,
        /// The contact (a contact is in a campaign at most once).
        pub contact_id: ContactId,
        /// When they were added.
        pub added_at: DateTime<Utc>,
        /// Their responses, in the order recorded.
        pub responses: Vec<CampaignResponse>,
    }
}

impl CampaignMember {
    /// When they first responded with `kind`.
    pub fn responded(&self, kind: ResponseKind) -> Option<DateTime<Utc>> {
        self.responses.iter().find(|r| r.kind == kind).map(|r| r.at)
    }
}

impl_entity! {
    CampaignMember, CampaignMemberId, CampaignMember, custom: false;
    links: |m| Links::default()
        .one("campaign_id", EntityKind::Campaign, Some(m.campaign_id))
        .one("contact_id", EntityKind::Contact, Some(m.contact_id));
    unique: |m| vec![UniqueKey::new("contact_id", format!("{}:{}", m.campaign_id, m.contact_id))];
    fields {
        "campaign_id": Id => |m| m.campaign_id,
        "contact_id": Id => |m| m.contact_id,
        "added_at": DateTime => |m| m.added_at,
        "responses": TextList => |m| text_list(m.responses.iter().map(|r| r.kind.as_str())),
        "converted_at": DateTime => |m| m.responded(ResponseKind::Converted),
    }
}
