//! Campaigns, their members and responses.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;

use super::Records;
use super::checks::Checks;
use super::records::Guard;
use super::uow::Uow;
use crate::error::{Error, FieldErrorCode, Result};
use crate::event::Change;
use crate::ids::{CampaignId, ContactId, SegmentId, UserId, storage_precision};
use crate::macros::new_input;
use crate::macros::new_record;
use crate::model::{Action, ConsentPurpose, Entity};
use crate::model::{
    Campaign, CampaignChannel, CampaignMember, CampaignResponse, CampaignStatus, Contact, Order, ResponseKind, Segment,
};
use crate::money::{Currency, Money};
use crate::profile::{ConsentMethod, ConsentStatus};
use crate::query::{Filter, Page, Query};
use crate::value::CustomValues;

new_input! {
    /// Input for a new campaign.
    #[derive(Clone, Debug, PartialEq)]
    pub struct NewCampaign {
        /// Name (required).
        pub name: String => manual,
        /// Channel.
        pub channel: CampaignChannel => manual,
        /// Budget.
        pub budget: Option<Money> => some budget(Money),
        /// First day (see [`dates`](Self::dates)).
        pub start_date: Option<NaiveDate> => some start_date(NaiveDate),
        /// Last day.
        pub end_date: Option<NaiveDate> => some end_date(NaiveDate),
        /// Goal.
        pub goal: Option<String> => some goal(String),
        /// The segment members are drawn from.
        pub segment_id: Option<SegmentId> => some segment(SegmentId),
        /// Owner.
        pub owner_id: Option<UserId> => some owner(UserId),
        /// Tags.
        pub tags: Vec<String> => push tag(String),
        /// Custom field values.
        pub custom: CustomValues => custom,
    }
}

impl NewCampaign {
    /// A planned campaign over `channel`.
    pub fn new(name: impl Into<String>, channel: CampaignChannel) -> Self {
        Self {
            name: name.into(),
            channel,
            budget: None,
            start_date: None,
            end_date: None,
            goal: None,
            segment_id: None,
            owner_id: None,
            tags: Vec::new(),
            custom: CustomValues::new(),
        }
    }
    /// Sets the first and last day.
    pub fn dates(mut self, start: NaiveDate, end: NaiveDate) -> Self {
        self.start_date = Some(start);
        self.end_date = Some(end);
        self
    }
}

async fn check_campaign(uow: &mut Uow<'_>, c: &mut Campaign, before: Option<&Campaign>, ch: &mut Checks) -> Result<()> {
    ch.name("name", &mut c.name, true);
    ch.opt_text("goal", &mut c.goal);
    ch.tags(&mut c.tags);
    if let Some(b) = c.budget {
        ch.non_negative("budget", b.amount);
    }
    if let Some(a) = c.actual_cost {
        ch.non_negative("actual_cost", a.amount);
        if let Some(b) = c.budget
            && b.currency != a.currency
        {
            ch.push(
                "actual_cost",
                FieldErrorCode::CurrencyMismatch,
                "the cost and the budget are in different currencies",
            );
        }
    }
    if let (Some(s), Some(e)) = (c.start_date, c.end_date)
        && e < s
    {
        ch.push("end_date", FieldErrorCode::OutOfRange, "a campaign cannot end before it starts");
    }
    uow.check_links(c, before, &mut ch.errs).await
}

/// How a campaign did.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct CampaignResults {
    /// The campaign.
    pub campaign: Campaign,
    /// Members.
    pub members: u64,
    /// Members who responded with each kind.
    #[cfg_attr(feature = "openapi", schema(value_type = std::collections::BTreeMap<String, u64>))]
    pub counts: BTreeMap<ResponseKind, u64>,
    /// `counts / members`, as a fraction rounded to 4 places (0 with no members).
    #[cfg_attr(feature = "openapi", schema(value_type = std::collections::BTreeMap<String, String>))]
    pub rates: BTreeMap<ResponseKind, Decimal>,
    /// Cost (actual, else budget) divided by conversions, rounded to the currency's minor unit.
    pub cost_per_conversion: Option<Money>,
    /// Total of the orders attributed to the campaign or placed by converted members at or
    /// after their conversion, that still count as revenue; per currency.
    #[cfg_attr(feature = "openapi", schema(value_type = std::collections::BTreeMap<String, String>))]
    pub revenue: BTreeMap<Currency, Decimal>,
}

/// Campaigns, their members and responses. Deleting a campaign deletes its members.
///
/// ```
/// # futures::executor::block_on(async {
/// use crm_core::prelude::*;
/// use crm_core::model::{CampaignChannel, ResponseKind};
/// let crm = Crm::new(MemoryStore::new());
/// let cx = crm.as_actor(&Actor::system(TenantId::new()));
/// let ada = cx.contacts().create(NewContact::new("Ada", "Lovelace")).await?;
/// let spring = cx.campaigns().create(NewCampaign::new("Spring sale", CampaignChannel::Email)).await?;
/// cx.campaigns().add_contact(spring.id, ada.id).await?;
/// cx.campaigns().record_response(spring.id, ada.id, ResponseKind::Opened, None).await?;
/// let results = cx.campaigns().results(spring.id).await?;
/// assert_eq!(results.members, 1);
/// assert_eq!(results.counts[&ResponseKind::Opened], 1);
/// # Ok::<_, Error>(()) }).unwrap();
/// ```
pub type Campaigns<'s> = Records<'s, Campaign>;

/// A campaign's status moves through `set_status`.
const GUARD: Guard = Guard { fields: &["status"], through: "set_status" };

impl Records<'_, Campaign> {
    /// Creates a planned campaign.
    pub async fn create(&self, input: NewCampaign) -> Result<Campaign> {
        self.create_with(|uow, ch| {
            Box::pin(async move {
                let mut c = new_record!(
                    uow,
                    Campaign {
                        name: input.name,
                        channel: input.channel,
                        status: CampaignStatus::Planned,
                        budget: input.budget,
                        actual_cost: None,
                        start_date: input.start_date,
                        end_date: input.end_date,
                        goal: input.goal,
                        segment_id: input.segment_id,
                        owner_id: input.owner_id,
                        tags: input.tags,
                        custom: input.custom,
                    }
                );
                check_campaign(uow, &mut c, None, ch).await?;
                Ok(c)
            })
        })
        .await
    }

    /// Saves changes to a campaign read earlier (status only through [`set_status`](Self::set_status)).
    pub async fn update(&self, c: Campaign) -> Result<Campaign> {
        self.update_with(c, &GUARD, &[], |uow, before, c, ch| {
            Box::pin(async move { check_campaign(uow, c, Some(before), ch).await })
        })
        .await
    }

    /// Moves a campaign: planned → active → paused ⇄ active → completed; cancelled from any
    /// but completed.
    pub async fn set_status(&self, id: CampaignId, to: CampaignStatus) -> Result<Campaign> {
        self.write(|uow| {
            Box::pin(async move {
                let mut c = uow.load::<Campaign>(id, Action::Update).await?;
                let from = c.status;
                if from == to {
                    return Ok(c);
                }
                if !from.can_become(to) {
                    return Err(Error::transition("status", from, to, format!("a {from} campaign cannot become {to}")));
                }
                c.status = to;
                let c = uow.save_system(c).await?;
                uow.emit(
                    c.entity_ref(),
                    c.related(),
                    Change::StatusChanged { from: from.to_string(), to: to.to_string() },
                );
                Ok(c)
            })
        })
        .await
    }

    /// Adds every contact now in the campaign's segment who is not yet a member, skipping
    /// contacts who refused or withdrew the consent the campaign's channel needs
    /// ([`ConsentPurpose::for_channel`]). Returns how many were added.
    pub async fn add_segment_members(&self, id: CampaignId) -> Result<u64> {
        self.write(|uow| {
            Box::pin(async move {
                let campaign = uow.load::<Campaign>(id, Action::Update).await?;
                let Some(seg_id) = campaign.segment_id else {
                    return Err(Error::invalid("segment_id", FieldErrorCode::Required, "the campaign has no segment"));
                };
                check_open(&campaign)?;
                let seg = uow.tx.require::<Segment>(seg_id).await?;
                let contacts = uow.find_readable::<Contact>(&seg.filter).await?;
                let existing: HashSet<ContactId> = uow
                    .tx
                    .find_all::<CampaignMember>(Filter::eq("campaign_id", id.as_uuid()))
                    .await?
                    .into_iter()
                    .map(|m| m.contact_id)
                    .collect();
                let purpose = ConsentPurpose::for_channel(campaign.channel);
                let candidates: Vec<&Contact> = contacts.iter().filter(|c| !existing.contains(&c.id)).collect();
                let refused = super::consents::refusing(uow, purpose, &candidates).await?;
                let mut added = 0;
                for c in candidates {
                    if refused.contains(&c.id) {
                        continue;
                    }
                    add_member(uow, &campaign, c.id).await?;
                    added += 1;
                }
                Ok(added)
            })
        })
        .await
    }

    /// Adds one contact (refused if they refused or withdrew the consent the campaign's channel
    /// needs, see [`ConsentPurpose::for_channel`], or are already a member).
    pub async fn add_contact(&self, id: CampaignId, contact: ContactId) -> Result<CampaignMember> {
        self.write(|uow| {
            Box::pin(async move {
                let campaign = uow.load::<Campaign>(id, Action::Update).await?;
                check_open(&campaign)?;
                let c = uow.tx.fetch::<Contact>(contact).await?.ok_or_else(|| {
                    Error::invalid("contact_id", FieldErrorCode::NotFound, format!("no contact with id {contact}"))
                })?;
                let purpose = ConsentPurpose::for_channel(campaign.channel);
                if !super::consents::refusing(uow, purpose, &[&c]).await?.is_empty() {
                    return Err(super::consents::refused_error(&c, purpose));
                }
                if member_of(uow, id, contact).await?.is_some() {
                    return Err(Error::invalid(
                        "contact_id",
                        FieldErrorCode::Duplicate,
                        "already a member of this campaign",
                    ));
                }
                let m = add_member(uow, &campaign, contact).await?;
                Ok(m)
            })
        })
        .await
    }

    /// Records a member's response (`at` defaults to now). Each kind is kept once, at its first
    /// occurrence, so recording again changes nothing. Unsubscribing withdraws the contact's
    /// marketing consent.
    pub async fn record_response(
        &self,
        id: CampaignId,
        contact: ContactId,
        kind: ResponseKind,
        at: Option<DateTime<Utc>>,
    ) -> Result<CampaignMember> {
        self.write(|uow| {
            Box::pin(async move {
                let at = at.map(storage_precision).unwrap_or(uow.now);
                if at > uow.now {
                    return Err(Error::invalid(
                        "at",
                        FieldErrorCode::OutOfRange,
                        "a response cannot happen in the future",
                    ));
                }
                uow.load::<Campaign>(id, Action::Read).await?;
                let Some(m) = member_of(uow, id, contact).await? else {
                    return Err(Error::invalid(
                        "contact_id",
                        FieldErrorCode::NotFound,
                        "not a member of this campaign",
                    ));
                };
                let m = record_in(uow, m, id, kind, at).await?;
                Ok(m)
            })
        })
        .await
    }

    /// A page of a campaign's members.
    pub async fn members(&self, id: CampaignId, query: &Query) -> Result<Page<CampaignMember>> {
        let mut q = query.clone();
        q.filter = Filter::eq("campaign_id", id.as_uuid()).and(query.filter.clone());
        Records::<CampaignMember>::new(self.s).list(&q).await
    }

    /// Counts and rates per response, cost per conversion and revenue from converted members,
    /// over the members and orders the actor may read.
    pub async fn results(&self, id: CampaignId) -> Result<CampaignResults> {
        let mut uow = Uow::read(self.s).await?;
        let campaign = uow.load::<Campaign>(id, Action::Read).await?;
        let members = uow.find_readable::<CampaignMember>(&Filter::eq("campaign_id", id.as_uuid())).await?;
        let n = members.len() as u64;
        let mut counts: BTreeMap<ResponseKind, u64> = ResponseKind::ALL.iter().map(|k| (*k, 0)).collect();
        for m in &members {
            for r in &m.responses {
                *counts.entry(r.kind).or_default() += 1;
            }
        }
        let rates = counts
            .iter()
            .map(|(k, c)| {
                let rate = if n == 0 { Decimal::ZERO } else { (Decimal::from(*c) / Decimal::from(n)).round_dp(4) };
                (*k, rate)
            })
            .collect();
        let conversions = counts[&ResponseKind::Converted];
        let cost = campaign.actual_cost.or(campaign.budget);
        let cost_per_conversion = match cost {
            Some(c) if conversions > 0 => Some(Money::new(c.amount / Decimal::from(conversions), c.currency).rounded()),
            _ => None,
        };
        let mut revenue: BTreeMap<Currency, Decimal> = BTreeMap::new();
        let mut counted = HashSet::new();
        let attributed = uow.find_readable::<Order>(&Filter::eq("campaign_id", id.as_uuid())).await?;
        let mut orders: Vec<Order> = attributed;
        for m in members.iter().filter(|m| m.responded(ResponseKind::Converted).is_some()) {
            let converted = m.responded(ResponseKind::Converted);
            let theirs = uow.find_readable::<Order>(&Filter::eq("contact_id", m.contact_id.as_uuid())).await?;
            orders.extend(theirs.into_iter().filter(|o| o.placed_at >= converted));
        }
        for o in orders {
            if o.status.counts_as_revenue() && counted.insert(o.id) {
                *revenue.entry(o.currency).or_default() += o.total.amount;
            }
        }
        Ok(CampaignResults { campaign, members: n, counts, rates, cost_per_conversion, revenue })
    }
}

fn check_open(c: &Campaign) -> Result<()> {
    if matches!(c.status, CampaignStatus::Completed | CampaignStatus::Cancelled) {
        return Err(Error::invalid("status", FieldErrorCode::Rule, format!("the campaign is {}", c.status)));
    }
    Ok(())
}

pub(super) async fn member_of(uow: &mut Uow<'_>, id: CampaignId, contact: ContactId) -> Result<Option<CampaignMember>> {
    let f = Filter::eq("campaign_id", id.as_uuid()).and(Filter::eq("contact_id", contact.as_uuid()));
    Ok(uow.tx.find_all::<CampaignMember>(f).await?.into_iter().next())
}

async fn add_member(uow: &mut Uow<'_>, campaign: &Campaign, contact: ContactId) -> Result<CampaignMember> {
    let m = new_record!(
        uow,
        CampaignMember { campaign_id: campaign.id, contact_id: contact, added_at: uow.now, responses: Vec::new() }
    );
    uow.create(m, Vec::new()).await
}

/// Records `kind` for member `m` in `uow` (kept once, at its first occurrence); unsubscribing
/// withdraws the contact's marketing consent.
pub(super) async fn record_in(
    uow: &mut Uow<'_>,
    mut m: CampaignMember,
    id: CampaignId,
    kind: ResponseKind,
    at: DateTime<Utc>,
) -> Result<CampaignMember> {
    if m.responded(kind).is_some() {
        return Ok(m);
    }
    let contact = m.contact_id;
    m.responses.push(CampaignResponse { kind, at });
    let m = uow.save_system(m).await?;
    uow.emit(m.entity_ref(), m.related(), Change::CampaignResponded { campaign_id: id, kind });
    if kind == ResponseKind::Unsubscribed
        && let Some(mut c) = uow.tx.fetch::<Contact>(contact).await?
        && c.marketing_consent.status != ConsentStatus::Withdrawn
    {
        c.marketing_consent.status = ConsentStatus::Withdrawn;
        c.marketing_consent.changed_at = Some(at);
        c.marketing_consent.method = Some(ConsentMethod::Unsubscribe);
        uow.ledger.source = Some(format!("campaign {id}"));
        let c = uow.save_system(c).await?;
        uow.emit(c.entity_ref(), c.related(), Change::Updated { fields: vec!["marketing_consent".into()] });
    }
    Ok(m)
}
