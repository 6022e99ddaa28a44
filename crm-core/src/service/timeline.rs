use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;

use super::Session;
use super::field_security::{Redact, redact_in, strip_values};
use super::uow::Uow;
use crate::entity::{EntityKind, EntityRef};
use crate::error::Result;
use crate::event::{Change, EventQuery, StoredEvent};
use crate::ids::{CampaignId, CompanyId, ContactId};
use crate::model::{
    Action, Activity, ActivityKind, Campaign, CampaignMember, CampaignResponse, Case, Company, Contact, CreditTerms,
    Deal, DealStatus, Entity, Feedback, Invoice, Order, Payment,
};
use crate::money::{Currency, Money};
use crate::profile::Channel;
use crate::query::Filter;

/// One entry of a customer's timeline. As JSON: `{"type": "activity", "item": {…}}`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(tag = "type", content = "item", rename_all = "snake_case")]
#[allow(clippy::large_enum_variant)]
#[non_exhaustive]
pub enum TimelineItem {
    /// A call, email, meeting, note or task about the customer.
    Activity(Activity),
    /// A change to the customer or to a record that touches it (a deal they are on, a case
    /// changing status, a payment applied…). Creations (and order placements) of the records
    /// below appear as the records themselves, not again as events.
    Event(StoredEvent),
    /// An order (at its placing time, else its creation).
    Order(Order),
    /// An invoice (at its issue date).
    Invoice(Invoice),
    /// A payment (at the day it was received).
    Payment(Payment),
    /// A service case (at its opening).
    Case(Case),
    /// Feedback (when it was given).
    Feedback(Feedback),
    /// A response to a campaign.
    CampaignResponse {
        /// The campaign.
        campaign_id: CampaignId,
        /// Its name.
        campaign_name: String,
        /// The contact who responded.
        contact_id: ContactId,
        /// What they did and when.
        response: CampaignResponse,
    },
}

fn day_start(d: NaiveDate) -> DateTime<Utc> {
    d.and_time(chrono::NaiveTime::MIN).and_utc()
}

impl TimelineItem {
    /// When it happened.
    pub fn at(&self) -> DateTime<Utc> {
        match self {
            TimelineItem::Activity(a) => a.occurred_at,
            TimelineItem::Event(e) => e.event.occurred_at,
            TimelineItem::Order(o) => o.placed_at.unwrap_or(o.created_at),
            TimelineItem::Invoice(i) => day_start(i.issue_date),
            TimelineItem::Payment(p) => day_start(p.received_on),
            TimelineItem::Case(c) => c.opened_at,
            TimelineItem::Feedback(f) => f.received_at,
            TimelineItem::CampaignResponse { response, .. } => response.at,
        }
    }

    /// A stable tiebreak among items at the same time (record ids, event sequence numbers).
    fn tiebreak(&self) -> (u8, u128) {
        match self {
            TimelineItem::Activity(a) => (0, a.id.as_uuid().as_u128()),
            TimelineItem::Order(o) => (1, o.id.as_uuid().as_u128()),
            TimelineItem::Invoice(i) => (2, i.id.as_uuid().as_u128()),
            TimelineItem::Payment(p) => (3, p.id.as_uuid().as_u128()),
            TimelineItem::Case(c) => (4, c.id.as_uuid().as_u128()),
            TimelineItem::Feedback(f) => (5, f.id.as_uuid().as_u128()),
            TimelineItem::CampaignResponse { campaign_id, response, .. } => {
                (6, campaign_id.as_uuid().as_u128() ^ response.kind as u128)
            }
            TimelineItem::Event(e) => (7, u128::from(e.seq)),
        }
    }
}

/// Who a customer view is about: a person or a company (with its people).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CustomerRef {
    /// A contact.
    Contact(ContactId),
    /// A company and every contact working there.
    Company(CompanyId),
}

impl From<ContactId> for CustomerRef {
    fn from(id: ContactId) -> Self {
        CustomerRef::Contact(id)
    }
}

impl From<CompanyId> for CustomerRef {
    fn from(id: CompanyId) -> Self {
        CustomerRef::Company(id)
    }
}

/// The figures a salesperson asks for first.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct CustomerSummary {
    /// Total of orders that count as revenue (placed, paid, fulfilled), per currency.
    #[cfg_attr(feature = "openapi", schema(value_type = std::collections::BTreeMap<String, String>))]
    pub lifetime_revenue: BTreeMap<Currency, Decimal>,
    /// How many such orders.
    pub orders: u64,
    /// Open deals.
    pub open_deals: u64,
    /// Value of the open deals, per currency.
    #[cfg_attr(feature = "openapi", schema(value_type = std::collections::BTreeMap<String, String>))]
    pub open_deal_value: BTreeMap<Currency, Decimal>,
    /// Cases still being worked (new, open, pending).
    pub open_cases: u64,
    /// Owed on issued, unsettled invoices, per currency.
    #[cfg_attr(feature = "openapi", schema(value_type = std::collections::BTreeMap<String, String>))]
    pub balance_due: BTreeMap<Currency, Decimal>,
    /// The part of it past due as of today, per currency.
    #[cfg_attr(feature = "openapi", schema(value_type = std::collections::BTreeMap<String, String>))]
    pub overdue: BTreeMap<Currency, Decimal>,
    /// Payments received but not applied to an invoice, per currency.
    #[cfg_attr(feature = "openapi", schema(value_type = std::collections::BTreeMap<String, String>))]
    pub unapplied_credit: BTreeMap<Currency, Decimal>,
    /// Mean days from issue to settlement over paid invoices (2 decimal places).
    pub average_days_to_pay: Option<Decimal>,
    /// Terms in force (the company's, else the contact's).
    pub credit_terms: Option<CreditTerms>,
    /// Credit limit less the balance due in the limit's currency.
    pub available_credit: Option<Money>,
    /// Last call, email or meeting that has taken place.
    pub last_contacted_at: Option<DateTime<Utc>>,
    /// The contact's stated preference, else the channel used most in activities.
    pub preferred_channel: Option<Channel>,
    /// Mean rating over feedback and rated cases' surveys (2 decimal places).
    pub average_rating: Option<Decimal>,
}

/// Everything about a customer in one place.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Customer360 {
    /// The contact (for a contact view).
    pub contact: Option<Contact>,
    /// The company (the contact's employer, or the company viewed).
    pub company: Option<Company>,
    /// The people covered: the contact, or everyone at the company.
    pub people: Vec<Contact>,
    /// The headline figures.
    pub summary: CustomerSummary,
    /// Open deals.
    pub open_deals: Vec<Deal>,
    /// Orders, newest first.
    pub orders: Vec<Order>,
    /// Invoices, newest first.
    pub invoices: Vec<Invoice>,
    /// Payments, newest first.
    pub payments: Vec<Payment>,
    /// Cases, newest first.
    pub cases: Vec<Case>,
    /// Feedback, newest first.
    pub feedback: Vec<Feedback>,
    /// Campaign memberships with their campaign.
    pub campaigns: Vec<(Campaign, CampaignMember)>,
    /// Everything, newest first.
    pub timeline: Vec<TimelineItem>,
}

const EVENT_PAGE: usize = 1000;

struct Gathered {
    contact: Option<Contact>,
    company: Option<Company>,
    people: Vec<Contact>,
    activities: Vec<Activity>,
    deals: Vec<Deal>,
    orders: Vec<Order>,
    invoices: Vec<Invoice>,
    payments: Vec<Payment>,
    cases: Vec<Case>,
    feedback: Vec<Feedback>,
    campaigns: Vec<(Campaign, CampaignMember)>,
    events: Vec<StoredEvent>,
}

/// Records of a customer's documents: by company, or by any of its people.
fn documents_of(company: Option<CompanyId>, people: &[ContactId]) -> Filter {
    let by_people = Filter::is_in("contact_id", people.iter().map(|c| c.as_uuid()));
    match company {
        Some(c) => Filter::eq("company_id", c.as_uuid()).or(by_people),
        None => by_people,
    }
}

fn any_contains(field: &str, ids: &[ContactId]) -> Filter {
    Filter::Or(ids.iter().map(|c| Filter::contains(field, c.as_uuid())).collect())
}

async fn gather(s: &Session, who: CustomerRef) -> Result<Gathered> {
    let mut uow = Uow::read(s).await?;
    let (contact, company, people) = match who {
        CustomerRef::Contact(id) => {
            let c = uow.load::<Contact>(id, Action::Read).await?;
            let co = match c.company_id {
                Some(co) => uow.tx.fetch::<Company>(co).await?.filter(|co| uow.access.check(Action::Read, co).is_ok()),
                None => None,
            };
            (Some(c.clone()), co, vec![c])
        }
        CustomerRef::Company(id) => {
            let co = uow.load::<Company>(id, Action::Read).await?;
            let people = uow.find_readable::<Contact>(&Filter::eq("company_id", id.as_uuid())).await?;
            (None, Some(co), people)
        }
    };
    let ids: Vec<ContactId> = people.iter().map(|p| p.id).collect();
    // Documents of the viewed company, or only of the viewed contact.
    let scope_company = match who {
        CustomerRef::Company(id) => Some(id),
        CustomerRef::Contact(_) => None,
    };
    let docs = documents_of(scope_company, &ids);
    let mut activity_filter = any_contains("contact_ids", &ids);
    let mut deal_filter = any_contains("contact_ids", &ids);
    if let Some(co) = scope_company {
        activity_filter = activity_filter.or(Filter::contains("company_ids", co.as_uuid()));
        deal_filter = deal_filter.or(Filter::eq("company_id", co.as_uuid()));
    }
    let activities = uow.find_readable::<Activity>(&activity_filter).await?;
    let deals = uow.find_readable::<Deal>(&deal_filter).await?;
    let orders = uow.find_readable::<Order>(&docs).await?;
    let invoices = uow.find_readable::<Invoice>(&docs).await?;
    let payments = uow.find_readable::<Payment>(&docs).await?;
    let cases = uow.find_readable::<Case>(&docs).await?;
    let feedback = uow.find_readable::<Feedback>(&docs).await?;
    let members =
        uow.find_readable::<CampaignMember>(&Filter::is_in("contact_id", ids.iter().map(|c| c.as_uuid()))).await?;
    let mut campaign_cache: HashMap<CampaignId, Option<Campaign>> = HashMap::new();
    let mut campaigns = Vec::new();
    for m in members {
        if let std::collections::hash_map::Entry::Vacant(slot) = campaign_cache.entry(m.campaign_id) {
            slot.insert(
                uow.tx.fetch::<Campaign>(m.campaign_id).await?.filter(|c| uow.access.check(Action::Read, c).is_ok()),
            );
        }
        if let Some(Some(c)) = campaign_cache.get(&m.campaign_id) {
            campaigns.push((c.clone(), m));
        }
    }
    let hidden = uow.withheld_by_kind().await?;
    let (mut contact, mut company, mut people) = (contact, company, people);
    let (mut activities, mut deals, mut orders, mut invoices, mut cases) = (activities, deals, orders, invoices, cases);
    redact_in(&hidden, EntityKind::Contact, contact.as_mut_slice());
    redact_in(&hidden, EntityKind::Contact, &mut people);
    redact_in(&hidden, EntityKind::Company, company.as_mut_slice());
    redact_in(&hidden, EntityKind::Activity, &mut activities);
    redact_in(&hidden, EntityKind::Deal, &mut deals);
    redact_in(&hidden, EntityKind::Order, &mut orders);
    redact_in(&hidden, EntityKind::Invoice, &mut invoices);
    redact_in(&hidden, EntityKind::Case, &mut cases);
    if let Some(h) = hidden.get(&EntityKind::Campaign) {
        campaigns.iter_mut().for_each(|(c, _)| c.redact(h));
    }
    let access = uow.access.clone();
    drop(uow);
    let subject = match who {
        CustomerRef::Contact(id) => EntityRef::new(EntityKind::Contact, id),
        CustomerRef::Company(id) => EntityRef::new(EntityKind::Company, id),
    };
    let mut events = Vec::new();
    let mut q = EventQuery { after: 0, limit: EVENT_PAGE, touching: Some(subject) };
    loop {
        let batch = s.crm.inner.store.read_events(s.tenant(), &q).await?;
        let Some(last) = batch.last() else { break };
        q.after = last.seq;
        let done = batch.len() < EVENT_PAGE;
        events.extend(batch);
        if done {
            break;
        }
    }
    strip_values(&mut events, &hidden);
    // Only the events about what the viewer may read: the records gathered (each read within
    // their reach) and the kinds they read in full.
    if !access.is_unrestricted() {
        let mut seen: HashSet<EntityRef> = HashSet::from([subject]);
        seen.extend(company.iter().map(Entity::entity_ref));
        seen.extend(people.iter().map(Entity::entity_ref));
        seen.extend(activities.iter().map(Entity::entity_ref));
        seen.extend(deals.iter().map(Entity::entity_ref));
        seen.extend(orders.iter().map(Entity::entity_ref));
        seen.extend(invoices.iter().map(Entity::entity_ref));
        seen.extend(payments.iter().map(Entity::entity_ref));
        seen.extend(cases.iter().map(Entity::entity_ref));
        seen.extend(feedback.iter().map(Entity::entity_ref));
        events.retain(|e| {
            seen.contains(&e.event.subject)
                || matches!(access.reach(e.event.subject.kind, Action::Read), Some(crate::access::Reach::All))
        });
    }
    Ok(Gathered {
        contact,
        company,
        people,
        activities,
        deals,
        orders,
        invoices,
        payments,
        cases,
        feedback,
        campaigns,
        events,
    })
}

/// Whether an event adds something the typed timeline items do not already show.
fn shown_as_event(e: &StoredEvent) -> bool {
    match e.event.subject.kind {
        EntityKind::Activity | EntityKind::CampaignMember => false,
        EntityKind::Order | EntityKind::Invoice | EntityKind::Payment | EntityKind::Case | EntityKind::Feedback => {
            !matches!(e.event.change, Change::Created | Change::OrderPlaced { .. })
        }
        _ => true,
    }
}

fn build_timeline(g: &Gathered) -> Vec<TimelineItem> {
    let mut items: Vec<TimelineItem> = Vec::new();
    items.extend(g.activities.iter().cloned().map(TimelineItem::Activity));
    items.extend(g.orders.iter().cloned().map(TimelineItem::Order));
    items.extend(g.invoices.iter().cloned().map(TimelineItem::Invoice));
    items.extend(g.payments.iter().cloned().map(TimelineItem::Payment));
    items.extend(g.cases.iter().cloned().map(TimelineItem::Case));
    items.extend(g.feedback.iter().cloned().map(TimelineItem::Feedback));
    for (c, m) in &g.campaigns {
        for r in &m.responses {
            items.push(TimelineItem::CampaignResponse {
                campaign_id: c.id,
                campaign_name: c.name.clone(),
                contact_id: m.contact_id,
                response: r.clone(),
            });
        }
    }
    items.extend(g.events.iter().filter(|e| shown_as_event(e)).cloned().map(TimelineItem::Event));
    items.sort_by(|a, b| b.at().cmp(&a.at()).then_with(|| b.tiebreak().cmp(&a.tiebreak())));
    items
}

fn add(map: &mut BTreeMap<Currency, Decimal>, m: Money) {
    *map.entry(m.currency).or_default() += m.amount;
}

fn summarise(g: &Gathered, now: DateTime<Utc>) -> CustomerSummary {
    let today = now.date_naive();
    let mut s = CustomerSummary::default();
    for o in g.orders.iter().filter(|o| o.status.counts_as_revenue()) {
        add(&mut s.lifetime_revenue, o.total);
        s.orders += 1;
    }
    for d in g.deals.iter().filter(|d| d.status == DealStatus::Open) {
        s.open_deals += 1;
        if let Some(a) = d.amount {
            add(&mut s.open_deal_value, a);
        }
    }
    s.open_cases = g.cases.iter().filter(|c| c.status.is_active()).count() as u64;
    for i in g.invoices.iter().filter(|i| i.status.is_open()) {
        add(&mut s.balance_due, i.balance_due());
        if i.is_overdue_on(today) {
            add(&mut s.overdue, i.balance_due());
        }
    }
    for p in &g.payments {
        let u = p.unapplied();
        if !u.amount.is_zero() {
            add(&mut s.unapplied_credit, u);
        }
    }
    let days: Vec<i64> = g.invoices.iter().filter_map(Invoice::days_to_pay).collect();
    if !days.is_empty() {
        s.average_days_to_pay = Some((Decimal::from(days.iter().sum::<i64>()) / Decimal::from(days.len())).round_dp(2));
    }
    s.credit_terms =
        g.company.as_ref().and_then(|c| c.credit_terms).or(g.contact.as_ref().and_then(|c| c.credit_terms));
    if let Some(limit) = s.credit_terms.and_then(|t| t.credit_limit) {
        let owed = s.balance_due.get(&limit.currency).copied().unwrap_or_default();
        s.available_credit = Some(Money::new(limit.amount - owed, limit.currency));
    }
    s.last_contacted_at = g
        .activities
        .iter()
        .filter(|a| matches!(a.kind, ActivityKind::Call | ActivityKind::Email | ActivityKind::Meeting))
        .map(|a| a.occurred_at)
        .filter(|at| *at <= now)
        .max();
    s.preferred_channel = g.contact.as_ref().and_then(|c| c.preferred_channel).or_else(|| {
        let mut uses: BTreeMap<Channel, usize> = BTreeMap::new();
        for c in g.activities.iter().filter_map(|a| a.channel) {
            *uses.entry(c).or_default() += 1;
        }
        // Most used; ties go to the channel listed first.
        uses.into_iter().max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0))).map(|(c, _)| c)
    });
    let mut rated: HashSet<crate::ids::CaseId> = HashSet::new();
    let mut ratings: Vec<u8> = Vec::new();
    for f in &g.feedback {
        if let Some(r) = f.rating {
            ratings.push(r);
            if let Some(c) = f.case_id {
                rated.insert(c);
            }
        }
    }
    ratings.extend(g.cases.iter().filter(|c| !rated.contains(&c.id)).filter_map(|c| c.satisfaction));
    if !ratings.is_empty() {
        let sum: u32 = ratings.iter().map(|r| u32::from(*r)).sum();
        s.average_rating = Some((Decimal::from(sum) / Decimal::from(ratings.len())).round_dp(2));
    }
    s
}

/// Sorts newest first; records of the same time newest id first, as in the timeline.
fn newest_first<T: crate::model::Entity>(v: &mut [T], key: impl Fn(&T) -> DateTime<Utc>) {
    v.sort_by_key(|x| std::cmp::Reverse((key(x), Into::<uuid::Uuid>::into(x.id()))));
}

impl Session {
    /// Everything that touched a contact or a company, newest first: activities, orders,
    /// invoices, payments, cases, feedback, campaign responses, and every other event about them
    /// or a record that involves them (deals, relations, status changes…). A company's timeline
    /// holds its own records and those of everyone working there.
    pub async fn timeline(&self, who: impl Into<CustomerRef>) -> Result<Vec<TimelineItem>> {
        let g = gather(self, who.into()).await?;
        Ok(build_timeline(&g))
    }

    /// The customer 360: a contact or company with its purchase history, invoices, payments,
    /// cases, feedback, campaign responses, open deals, timeline and headline figures.
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// use crm_core::prelude::*;
    /// use rust_decimal::Decimal;
    /// let crm = Crm::new(MemoryStore::new());
    /// let cx = crm.as_actor(&Actor::system(TenantId::new()));
    /// let ann = cx.contacts().create(NewContact::new("Ann", "Lee").email("ann@example.com")).await?;
    /// let eur = |x: i64| Money::new(Decimal::new(x, 0), Currency::EUR);
    /// let tea = cx.products().create(NewProduct::new("TEA-1", "Green tea", eur(12))).await?;
    /// cx.orders().create(NewOrder::for_contact(ann.id)
    ///     .line(LineItem::for_product(&tea, Decimal::new(3, 0))).paid_by(PaymentMethod::Card).placed()).await?;
    /// let view = cx.customer_360(ann.id).await?;
    /// assert_eq!(view.summary.lifetime_revenue[&Currency::EUR], Decimal::new(36, 0));
    /// assert_eq!(view.orders.len(), 1);
    /// # Ok::<_, crm_core::error::Error>(()) }).unwrap();
    /// ```
    pub async fn customer_360(&self, who: impl Into<CustomerRef>) -> Result<Customer360> {
        let mut g = gather(self, who.into()).await?;
        let now = crate::ids::storage_precision(self.crm.inner.clock.now());
        let summary = summarise(&g, now);
        let timeline = build_timeline(&g);
        newest_first(&mut g.orders, |o| o.placed_at.unwrap_or(o.created_at));
        newest_first(&mut g.invoices, |i| day_start(i.issue_date));
        newest_first(&mut g.payments, |p| day_start(p.received_on));
        newest_first(&mut g.cases, |c| c.opened_at);
        newest_first(&mut g.feedback, |f| f.received_at);
        Ok(Customer360 {
            contact: g.contact,
            company: g.company,
            people: g.people,
            summary,
            open_deals: g.deals.into_iter().filter(|d| d.status == DealStatus::Open).collect(),
            orders: g.orders,
            invoices: g.invoices,
            payments: g.payments,
            cases: g.cases,
            feedback: g.feedback,
            campaigns: g.campaigns,
            timeline,
        })
    }
}
