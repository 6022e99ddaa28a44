//! Campaign attribution and return on investment: which campaigns the revenue follows. Each
//! purchase (a day a contact bought on, in the window) is credited to the campaigns that
//! touched the buyer in the lookback before it — a touch is a membership with one of the
//! touching responses, dated when the contact joined the campaign — either wholly to the first
//! of them (first touch) or wholly to the last (last touch). A campaign's return is its
//! credited revenue less its budget, over its budget.
//!
//! Three aggregates feed it (touches by contact and campaign, purchases by contact and day, in
//! the window's currency) besides the campaigns themselves.

use std::collections::{BTreeMap, HashMap};

use chrono::{Duration, NaiveTime};
use crm_core::aggregate::{Aggregate, Bucket};
use crm_core::error::{Error, FieldErrorCode, Result};
use crm_core::ids::CampaignId;
use crm_core::model::{Campaign, CampaignMember, ResponseKind};
use crm_core::money::{Currency, Money};
use crm_core::query::{Filter, Query};
use crm_core::value::Value;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::purchases::{one_currency, purchases, too_large};
use crate::{Marketing, Window};

/// What an attribution report covers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AttributionOptions {
    /// The purchases in this window are credited (default: the trailing 12 months).
    pub window: Option<Window>,
    /// A touch counts for a purchase up to this many days after it (1–730; default 90).
    pub lookback_days: u32,
    /// The responses that make a membership a touch (default: opened, clicked, responded,
    /// converted).
    pub touches: Vec<ResponseKind>,
    /// The currency revenue is counted in (needed when the orders are in several).
    pub currency: Option<Currency>,
    /// Only the orders this filter selects.
    pub filter: Filter,
}

impl Default for AttributionOptions {
    fn default() -> Self {
        AttributionOptions {
            window: None,
            lookback_days: 90,
            touches: vec![
                ResponseKind::Opened,
                ResponseKind::Clicked,
                ResponseKind::Responded,
                ResponseKind::Converted,
            ],
            currency: None,
            filter: Filter::All,
        }
    }
}

/// One campaign's credit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CampaignCredit {
    /// The campaign.
    pub campaign_id: CampaignId,
    /// Its name.
    pub name: String,
    /// Purchases it was the first touch of, and their revenue.
    pub first_touch_purchases: u64,
    /// The revenue credited to it as the first touch.
    pub first_touch: Money,
    /// Purchases it was the last touch of.
    pub last_touch_purchases: u64,
    /// The revenue credited to it as the last touch.
    pub last_touch: Money,
    /// Its budget, when it has one in the report's currency.
    pub cost: Option<Money>,
    /// (First-touch revenue − cost) / cost, to four decimals (`None` without a cost).
    pub roi_first_touch: Option<Decimal>,
    /// (Last-touch revenue − cost) / cost.
    pub roi_last_touch: Option<Decimal>,
}

/// Revenue credited to the campaigns.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Attribution {
    /// The window the purchases were made in.
    pub window: Window,
    /// The currency (`None` when no order counted).
    pub currency: Option<Currency>,
    /// Every campaign with credit, the most last-touch revenue first.
    pub campaigns: Vec<CampaignCredit>,
    /// All purchases' revenue in the window.
    pub revenue: Option<Money>,
    /// The revenue of purchases no campaign touched.
    pub unattributed: Option<Money>,
    /// Why there is nothing to credit, when there is nothing.
    pub empty_because: Option<String>,
}

/// First and last touch: purchases and revenue.
#[derive(Default)]
struct Credit {
    first: (u64, Decimal),
    last: (u64, Decimal),
}

impl Marketing<'_> {
    /// Credits the window's purchases to the campaigns that touched the buyers before them.
    ///
    /// A lookback out of 1–730 days is an error naming `lookback_days`; no touching response,
    /// one naming `touches`; orders in several currencies without one chosen, one naming
    /// `currency`.
    pub async fn attribution(&self, o: &AttributionOptions) -> Result<Attribution> {
        if !(1..=730).contains(&o.lookback_days) {
            return Err(Error::invalid("lookback_days", FieldErrorCode::OutOfRange, "look back 1–730 days"));
        }
        if o.touches.is_empty() {
            return Err(Error::invalid("touches", FieldErrorCode::Required, "name the responses that make a touch"));
        }
        let window = o.window.unwrap_or_else(|| Window::trailing_months(self.cx.now(), 12));
        window.check()?;
        // Each buyer's purchase days in the window, and what they spent on each.
        let bought = Aggregate::new(purchases(&o.filter, "contact_id", o.currency).and(window.filter("placed_at")))
            .group_by("contact_id")
            .bucket("placed_at", Bucket::Day)
            .currency("total")
            .sum("total");
        let mut days: Vec<(Uuid, chrono::NaiveDate, Decimal)> = Vec::new();
        let mut currencies = std::collections::BTreeSet::new();
        for r in self.cx.orders().aggregate(&bought).await? {
            if let (Value::Id(c), Value::Date(d), Value::Money(m)) = (&r.groups[0], &r.groups[1], &r.values[0]) {
                currencies.insert(m.currency);
                days.push((*c, *d, m.amount));
            }
        }
        let currency = one_currency(currencies, "to count revenue in")?;
        let mut report = Attribution {
            window,
            currency,
            campaigns: Vec::new(),
            revenue: None,
            unattributed: None,
            empty_because: None,
        };
        let Some(currency) = currency else {
            report.empty_because = Some("no order with a contact was placed, paid or fulfilled in the window".into());
            return Ok(report);
        };
        // Each contact's touches: when they joined each campaign they responded to.
        let kinds: Vec<&str> = o.touches.iter().map(|k| k.as_str()).collect();
        let touched = Aggregate::new(Filter::is_in("responses", kinds).and(Filter::lt("added_at", window.to)))
            .group_by("contact_id")
            .group_by("campaign_id")
            .min("added_at");
        let mut touches: HashMap<Uuid, Vec<(chrono::DateTime<chrono::Utc>, Uuid)>> = HashMap::new();
        for r in self.cx.records::<CampaignMember>().aggregate(&touched).await? {
            if let (Value::Id(c), Value::Id(k), Value::DateTime(at)) = (&r.groups[0], &r.groups[1], &r.values[0]) {
                touches.entry(*c).or_default().push((*at, *k));
            }
        }
        let lookback = Duration::days(i64::from(o.lookback_days));
        let mut credit: BTreeMap<Uuid, Credit> = BTreeMap::new();
        let (mut total, mut unattributed) = (Decimal::ZERO, Decimal::ZERO);
        for (contact, day, amount) in days {
            total = total.checked_add(amount).ok_or_else(too_large)?;
            // Touches up to the end of the purchase day, within the lookback.
            let end = day.and_time(NaiveTime::MIN).and_utc() + Duration::days(1);
            let mut before: Vec<&(chrono::DateTime<chrono::Utc>, Uuid)> = touches
                .get(&contact)
                .into_iter()
                .flatten()
                .filter(|(at, _)| *at < end && *at >= end - lookback - Duration::days(1))
                .collect();
            before.sort();
            let (Some(first), Some(last)) = (before.first(), before.last()) else {
                unattributed = unattributed.checked_add(amount).ok_or_else(too_large)?;
                continue;
            };
            let f = &mut credit.entry(first.1).or_default().first;
            (f.0, f.1) = (f.0 + 1, f.1.checked_add(amount).ok_or_else(too_large)?);
            let l = &mut credit.entry(last.1).or_default().last;
            (l.0, l.1) = (l.0 + 1, l.1.checked_add(amount).ok_or_else(too_large)?);
        }
        let campaigns = self.campaigns().await?;
        let roi = |revenue: Decimal, cost: &Option<Money>| {
            cost.filter(|c| !c.amount.is_zero())
                .and_then(|c| (revenue - c.amount).checked_div(c.amount))
                .map(|r| r.round_dp(4).normalize())
        };
        report.campaigns = credit
            .into_iter()
            .map(|(id, c)| {
                let campaign = campaigns.get(&id);
                let cost = campaign.and_then(|k| k.budget).filter(|b| b.currency == currency);
                CampaignCredit {
                    campaign_id: CampaignId::from_uuid(id),
                    name: campaign.map(|k| k.name.clone()).unwrap_or_default(),
                    first_touch_purchases: c.first.0,
                    first_touch: Money::new(c.first.1, currency),
                    last_touch_purchases: c.last.0,
                    last_touch: Money::new(c.last.1, currency),
                    roi_first_touch: roi(c.first.1, &cost),
                    roi_last_touch: roi(c.last.1, &cost),
                    cost,
                }
            })
            .collect();
        report.campaigns.sort_by(|a, b| {
            (b.last_touch.amount, b.first_touch.amount)
                .cmp(&(a.last_touch.amount, a.first_touch.amount))
                .then(a.campaign_id.cmp(&b.campaign_id))
        });
        (report.revenue, report.unattributed) =
            (Some(Money::new(total, currency)), Some(Money::new(unattributed, currency)));
        Ok(report)
    }

    /// Every campaign the reader sees, by id (a page at a time).
    async fn campaigns(&self) -> Result<HashMap<Uuid, Campaign>> {
        let mut out = HashMap::new();
        let mut query = Query::new(Filter::All).limit(500);
        loop {
            let page = self.cx.records::<Campaign>().list(&query).await?;
            out.extend(page.items.into_iter().map(|c| (c.id.as_uuid(), c)));
            match page.next {
                Some(next) => query = query.after(Some(next)),
                None => return Ok(out),
            }
        }
    }
}
