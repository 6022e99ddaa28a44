use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;

use super::Session;
use super::checks::Checks;
use super::uow::Uow;
use super::uow::{count, list};
use crate::entity::{Entity, EntityKind, EntityRef};
use crate::error::{Error, FieldErrorCode, Result};
use crate::event::Change;
use crate::ids::{CampaignId, ContactId, SegmentId, UserId, storage_precision};
use crate::model::{
    Campaign, CampaignChannel, CampaignMember, CampaignResponse, CampaignStatus, Contact, Order, ResponseKind, Segment,
};
use crate::money::{Currency, Money};
use crate::profile::{ConsentMethod, ConsentStatus};
use crate::query::{Filter, Page, Query};
use crate::value::{CustomFields, Value};

/// Segments: saved filters over contacts, evaluated live.
#[derive(Clone, Copy, Debug)]
pub struct Segments<'s> {
    pub(crate) s: &'s Session,
}

async fn check_segment(uow: &mut Uow<'_>, seg: &mut Segment, ch: &mut Checks) -> Result<()> {
    ch.name("name", &mut seg.name, true);
    ch.opt_text("description", &mut seg.description);
    let reg = uow.registry(EntityKind::Contact).await?;
    // Filter errors already name `filter.<field>`.
    if let Err(Error::Validation(v)) = seg.filter.validate(EntityKind::Contact, &reg) {
        ch.errs.extend(v.0);
    }
    let same = uow.tx.find_all::<Segment>(Filter::starts_with("name", seg.name.clone())).await?;
    if same.iter().any(|o| o.id != seg.id && o.name.to_lowercase() == seg.name.to_lowercase()) {
        ch.push("name", FieldErrorCode::Duplicate, format!("another segment is called `{}`", seg.name));
    }
    Ok(())
}

impl Segments<'_> {
    /// Saves a filter over contacts as a named segment (names are unique per tenant, ignoring
    /// case). The filter is checked against the contact fields, custom ones included.
    pub async fn create(&self, name: impl Into<String>, filter: Filter) -> Result<Segment> {
        let mut uow = Uow::write(self.s).await?;
        let mut seg = Segment {
            id: uow.new_id(),
            tenant_id: self.s.tenant(),
            version: 1,
            created_at: uow.now,
            updated_at: uow.now,
            name: name.into(),
            description: None,
            filter,
        };
        let mut ch = Checks::default();
        check_segment(&mut uow, &mut seg, &mut ch).await?;
        let seg = uow.create(seg, ch.errs).await?;
        uow.commit().await?;
        Ok(seg)
    }

    /// The segment with this id.
    pub async fn get(&self, id: SegmentId) -> Result<Segment> {
        Uow::read(self.s).await?.tx.require::<Segment>(id).await
    }

    /// Saves changes to a segment read earlier.
    pub async fn update(&self, mut seg: Segment) -> Result<Segment> {
        let mut uow = Uow::write(self.s).await?;
        let before = uow.load_for_update(&seg).await?;
        let mut ch = Checks::default();
        check_segment(&mut uow, &mut seg, &mut ch).await?;
        let saved = uow.save(&before, seg, ch.errs, &[]).await?;
        uow.commit().await?;
        Ok(saved)
    }

    /// Deletes a segment no campaign uses.
    pub async fn delete(&self, id: SegmentId, version: u64) -> Result<()> {
        let mut uow = Uow::write(self.s).await?;
        let seg = uow.tx.require::<Segment>(id).await?;
        let used = uow.tx.count(EntityKind::Campaign, &Filter::eq("segment_id", id.as_uuid())).await?;
        if used > 0 {
            return Err(Error::invalid("id", FieldErrorCode::Rule, format!("{used} campaigns draw members from it")));
        }
        uow.remove(&seg.into_record(), version).await?;
        uow.commit().await?;
        Ok(())
    }

    /// A page of segments.
    pub async fn list(&self, query: &Query) -> Result<Page<Segment>> {
        list::<Segment>(self.s, query).await
    }

    /// The contacts in the segment now: its filter and the query's, sorted and paged by the query.
    pub async fn members(&self, id: SegmentId, query: &Query) -> Result<Page<Contact>> {
        let seg = self.get(id).await?;
        let mut q = query.clone();
        q.filter = seg.filter.and(query.filter.clone());
        self.s.contacts().list(&q).await
    }

    /// How many contacts are in the segment now.
    pub async fn count(&self, id: SegmentId) -> Result<u64> {
        let seg = self.get(id).await?;
        self.s.contacts().count(&seg.filter).await
    }
}

/// Input for a new campaign.
#[derive(Clone, Debug, PartialEq)]
pub struct NewCampaign {
    /// Name (required).
    pub name: String,
    /// Channel.
    pub channel: CampaignChannel,
    /// Budget.
    pub budget: Option<Money>,
    /// First day.
    pub start_date: Option<NaiveDate>,
    /// Last day.
    pub end_date: Option<NaiveDate>,
    /// Goal.
    pub goal: Option<String>,
    /// Segment members are drawn from.
    pub segment_id: Option<SegmentId>,
    /// Owner.
    pub owner_id: Option<UserId>,
    /// Tags.
    pub tags: Vec<String>,
    /// Custom field values.
    pub custom: CustomFields,
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
            custom: CustomFields::new(),
        }
    }
    /// Sets the budget.
    pub fn budget(mut self, budget: Money) -> Self {
        self.budget = Some(budget);
        self
    }
    /// Sets the dates.
    pub fn dates(mut self, start: NaiveDate, end: NaiveDate) -> Self {
        self.start_date = Some(start);
        self.end_date = Some(end);
        self
    }
    /// Sets the goal.
    pub fn goal(mut self, goal: impl Into<String>) -> Self {
        self.goal = Some(goal.into());
        self
    }
    /// Draws members from a segment.
    pub fn segment(mut self, id: SegmentId) -> Self {
        self.segment_id = Some(id);
        self
    }
    /// Sets the owner.
    pub fn owner(mut self, id: UserId) -> Self {
        self.owner_id = Some(id);
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
    if let Some(s) = c.segment_id
        && before.is_none_or(|b| b.segment_id != Some(s))
    {
        uow.check_refs(&[("segment_id".into(), EntityRef::new(EntityKind::Segment, s))], &mut ch.errs).await?;
    }
    Ok(())
}

/// How a campaign did.
#[derive(Clone, Debug, PartialEq)]
pub struct CampaignResults {
    /// The campaign.
    pub campaign: Campaign,
    /// Members.
    pub members: u64,
    /// Members who responded with each kind.
    pub counts: BTreeMap<ResponseKind, u64>,
    /// `counts / members`, as a fraction rounded to 4 places (0 with no members).
    pub rates: BTreeMap<ResponseKind, Decimal>,
    /// Cost (actual, else budget) divided by conversions, rounded to the currency's minor unit.
    pub cost_per_conversion: Option<Money>,
    /// Total of the orders attributed to the campaign or placed by converted members at or
    /// after their conversion, that still count as revenue; per currency.
    pub revenue: BTreeMap<Currency, Decimal>,
}

/// Campaigns, their members and responses.
#[derive(Clone, Copy, Debug)]
pub struct Campaigns<'s> {
    pub(crate) s: &'s Session,
}

impl Campaigns<'_> {
    /// Creates a planned campaign.
    pub async fn create(&self, input: NewCampaign) -> Result<Campaign> {
        let mut uow = Uow::write(self.s).await?;
        let mut c = Campaign {
            id: uow.new_id(),
            tenant_id: self.s.tenant(),
            version: 1,
            created_at: uow.now,
            updated_at: uow.now,
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
        };
        let mut ch = Checks::default();
        check_campaign(&mut uow, &mut c, None, &mut ch).await?;
        let c = uow.create(c, ch.errs).await?;
        uow.commit().await?;
        Ok(c)
    }

    /// The campaign with this id.
    pub async fn get(&self, id: CampaignId) -> Result<Campaign> {
        Uow::read(self.s).await?.tx.require::<Campaign>(id).await
    }

    /// Saves changes to a campaign read earlier (status only through [`set_status`](Self::set_status)).
    pub async fn update(&self, mut c: Campaign) -> Result<Campaign> {
        let mut uow = Uow::write(self.s).await?;
        let before = uow.load_for_update(&c).await?;
        if before.status != c.status {
            return Err(Error::InvalidTransition {
                field: "status".into(),
                from: before.status.to_string(),
                to: c.status.to_string(),
                reason: "changes only through set_status".into(),
            });
        }
        let mut ch = Checks::default();
        check_campaign(&mut uow, &mut c, Some(&before), &mut ch).await?;
        let saved = uow.save(&before, c, ch.errs, &[]).await?;
        uow.commit().await?;
        Ok(saved)
    }

    /// Moves a campaign: planned → active → paused ⇄ active → completed; cancelled from any
    /// but completed.
    pub async fn set_status(&self, id: CampaignId, to: CampaignStatus) -> Result<Campaign> {
        let mut uow = Uow::write(self.s).await?;
        let mut c = uow.tx.require::<Campaign>(id).await?;
        let from = c.status;
        if from == to {
            return Ok(c);
        }
        if !from.can_become(to) {
            return Err(Error::InvalidTransition {
                field: "status".into(),
                from: from.to_string(),
                to: to.to_string(),
                reason: format!("a {from} campaign cannot become {to}"),
            });
        }
        c.status = to;
        let c = uow.save_system(c).await?;
        uow.emit(c.entity_ref(), c.related(), Change::StatusChanged { from: from.to_string(), to: to.to_string() });
        uow.commit().await?;
        Ok(c)
    }

    /// Adds every contact now in the campaign's segment who is not yet a member, skipping
    /// contacts who refused or withdrew marketing consent. Returns how many were added.
    pub async fn add_segment_members(&self, id: CampaignId) -> Result<u64> {
        let mut uow = Uow::write(self.s).await?;
        let campaign = uow.tx.require::<Campaign>(id).await?;
        let Some(seg_id) = campaign.segment_id else {
            return Err(Error::invalid("segment_id", FieldErrorCode::Required, "the campaign has no segment"));
        };
        check_open(&campaign)?;
        let seg = uow.tx.require::<Segment>(seg_id).await?;
        let contacts = uow.tx.find_all::<Contact>(seg.filter.clone()).await?;
        let existing: HashSet<ContactId> = uow
            .tx
            .find_all::<CampaignMember>(Filter::eq("campaign_id", id.as_uuid()))
            .await?
            .into_iter()
            .map(|m| m.contact_id)
            .collect();
        let mut added = 0;
        for c in contacts {
            if existing.contains(&c.id) || refused(&c) {
                continue;
            }
            add_member(&mut uow, &campaign, c.id).await?;
            added += 1;
        }
        uow.commit().await?;
        Ok(added)
    }

    /// Adds one contact (refused if they declined marketing or are already a member).
    pub async fn add_contact(&self, id: CampaignId, contact: ContactId) -> Result<CampaignMember> {
        let mut uow = Uow::write(self.s).await?;
        let campaign = uow.tx.require::<Campaign>(id).await?;
        check_open(&campaign)?;
        let c = uow.tx.fetch::<Contact>(contact).await?.ok_or_else(|| {
            Error::invalid("contact_id", FieldErrorCode::NotFound, format!("no contact with id {contact}"))
        })?;
        if refused(&c) {
            return Err(Error::invalid(
                "contact_id",
                FieldErrorCode::Rule,
                format!("{} has {} marketing consent", c.full_name(), c.marketing_consent.status),
            ));
        }
        if member_of(&mut uow, id, contact).await?.is_some() {
            return Err(Error::invalid("contact_id", FieldErrorCode::Duplicate, "already a member of this campaign"));
        }
        let m = add_member(&mut uow, &campaign, contact).await?;
        uow.commit().await?;
        Ok(m)
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
        let mut uow = Uow::write(self.s).await?;
        let at = at.map(storage_precision).unwrap_or(uow.now);
        if at > uow.now {
            return Err(Error::invalid("at", FieldErrorCode::OutOfRange, "a response cannot happen in the future"));
        }
        uow.tx.require::<Campaign>(id).await?;
        let Some(m) = member_of(&mut uow, id, contact).await? else {
            return Err(Error::invalid("contact_id", FieldErrorCode::NotFound, "not a member of this campaign"));
        };
        let m = record_in(&mut uow, m, id, kind, at).await?;
        uow.commit().await?;
        Ok(m)
    }

    /// A page of a campaign's members.
    pub async fn members(&self, id: CampaignId, query: &Query) -> Result<Page<CampaignMember>> {
        let mut q = query.clone();
        q.filter = Filter::eq("campaign_id", id.as_uuid()).and(query.filter.clone());
        list::<CampaignMember>(self.s, &q).await
    }

    /// Counts and rates per response, cost per conversion and revenue from converted members.
    pub async fn results(&self, id: CampaignId) -> Result<CampaignResults> {
        let mut uow = Uow::read(self.s).await?;
        let campaign = uow.tx.require::<Campaign>(id).await?;
        let members = uow.tx.find_all::<CampaignMember>(Filter::eq("campaign_id", id.as_uuid())).await?;
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
        let attributed = uow.tx.find_all::<Order>(Filter::eq("campaign_id", id.as_uuid())).await?;
        let mut orders: Vec<Order> = attributed;
        for m in members.iter().filter(|m| m.responded(ResponseKind::Converted).is_some()) {
            let converted = m.responded(ResponseKind::Converted);
            let theirs = uow.tx.find_all::<Order>(Filter::eq("contact_id", m.contact_id.as_uuid())).await?;
            orders.extend(theirs.into_iter().filter(|o| o.placed_at >= converted));
        }
        for o in orders {
            if o.status.counts_as_revenue() && counted.insert(o.id) {
                *revenue.entry(o.currency).or_default() += o.total.amount;
            }
        }
        Ok(CampaignResults { campaign, members: n, counts, rates, cost_per_conversion, revenue })
    }

    /// A page of campaigns.
    pub async fn list(&self, query: &Query) -> Result<Page<Campaign>> {
        list::<Campaign>(self.s, query).await
    }

    /// How many campaigns match.
    pub async fn count(&self, filter: &Filter) -> Result<u64> {
        count::<Campaign>(self.s, filter).await
    }

    /// Deletes a campaign at `version` with its members.
    pub async fn delete(&self, id: CampaignId, version: u64) -> Result<()> {
        let mut uow = Uow::write(self.s).await?;
        let c = uow.tx.require::<Campaign>(id).await?;
        for m in uow.tx.find_all::<CampaignMember>(Filter::eq("campaign_id", id.as_uuid())).await? {
            let v = m.version;
            uow.remove(&m.into_record(), v).await?;
        }
        super::uow::delete_relations(&mut uow, c.entity_ref()).await?;
        uow.remove(&c.into_record(), version).await?;
        uow.commit().await?;
        Ok(())
    }
}

fn refused(c: &Contact) -> bool {
    matches!(c.marketing_consent.status, ConsentStatus::Denied | ConsentStatus::Withdrawn)
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
    let m = CampaignMember {
        id: uow.new_id(),
        tenant_id: uow.s.tenant(),
        version: 1,
        created_at: uow.now,
        updated_at: uow.now,
        campaign_id: campaign.id,
        contact_id: contact,
        added_at: uow.now,
        responses: Vec::new(),
    };
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
        let c = uow.save_system(c).await?;
        uow.emit(c.entity_ref(), c.related(), Change::Updated { fields: vec!["marketing_consent".into()] });
    }
    Ok(m)
}
