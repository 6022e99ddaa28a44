//! Churn risk: how likely each customer is to stop buying, as a score of 0–100 that says why.
//! Six signals each give a risk of 0–1, weighed by [`ChurnWeights`]:
//!
//! | factor | risk |
//! |---|---|
//! | [`NotAlive`](ChurnFactor::NotAlive) | 1 − the chance they are still a customer ([`BgNbd::p_alive`], fitted to the tenant's purchase histories) |
//! | [`OverduePurchase`](ChurnFactor::OverduePurchase) | the time since their last purchase against their own usual interval (for one who bought once, the repeat buyers' median): 0 at one interval, 1 at four or more |
//! | [`FewerInteractions`](ChurnFactor::FewerInteractions) | the drop in calls, emails and meetings with them over the lookback against the lookback before (with at least two before) |
//! | [`Cases`](ChurnFactor::Cases) | a quarter per case open now, a half per case past its SLA opened in the lookback; at most 1 |
//! | [`Feedback`](ChurnFactor::Feedback) | a half per rating of 2 of 5 or less, all of it for business lost to a competitor, in the lookback; at most 1 |
//! | [`OverdueInvoices`](ChurnFactor::OverdueInvoices) | a half per invoice marked overdue now (by [`Invoices::mark_overdue`](crm_core::service::Invoices::mark_overdue)); at most 1 |
//!
//! A customer's score is the weighted mean of their risks × 100, and each factor's part of it
//! is reported with the figures behind it ("last bought 140 days ago; usually every 30 days"),
//! so the points add up to the score. A factor that cannot be worked out for the tenant (the
//! purchase model needs enough customers) is left out of the weighing and says why.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use crm_core::aggregate::Aggregate;
use crm_core::error::{Error, FieldErrorCode, Result};
use crm_core::ids::ContactId;
use crm_core::money::Currency;
use crm_core::query::Filter;
use crm_core::value::Value;
use rust_decimal::Decimal;
use rust_decimal::prelude::FromPrimitive;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::performance::count;
use crate::purchases::histories;
use crate::{BgNbd, Customers, Fit, MIN_CUSTOMERS, MIN_REPEAT_BUYERS, Purchases};

/// The lookback's bounds, in days.
pub const LOOKBACK_DAYS: std::ops::RangeInclusive<u32> = 7..=730;
/// The largest weight of a factor.
pub const MAX_WEIGHT: u32 = 1_000;

/// How much each factor weighs in the score (relative: only their proportions count).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChurnWeights {
    /// The chance they are no longer a customer (default 30).
    pub not_alive: u32,
    /// Their next purchase overdue against their usual interval (default 20).
    pub overdue_purchase: u32,
    /// Fewer interactions with them than before (default 10).
    pub fewer_interactions: u32,
    /// Open cases and cases past their SLA (default 15).
    pub cases: u32,
    /// Low ratings and business lost to a competitor (default 15).
    pub feedback: u32,
    /// Overdue invoices (default 10).
    pub overdue_invoices: u32,
}

impl ChurnWeights {
    /// No factor weighs: a start to name the ones that do.
    pub const NONE: ChurnWeights = ChurnWeights {
        not_alive: 0,
        overdue_purchase: 0,
        fewer_interactions: 0,
        cases: 0,
        feedback: 0,
        overdue_invoices: 0,
    };
}

impl Default for ChurnWeights {
    fn default() -> Self {
        ChurnWeights {
            not_alive: 30,
            overdue_purchase: 20,
            fewer_interactions: 10,
            cases: 15,
            feedback: 15,
            overdue_invoices: 10,
        }
    }
}

impl std::str::FromStr for ChurnWeights {
    type Err = String;

    /// Weights written `factor:weight`, comma-separated; factors not named weigh nothing.
    ///
    /// ```
    /// use crm_analytics::ChurnWeights;
    /// let w: ChurnWeights = "cases:2, feedback:1".parse().unwrap();
    /// assert_eq!((w.cases, w.feedback, w.not_alive), (2, 1, 0));
    /// assert!("cases:many".parse::<ChurnWeights>().is_err());
    /// ```
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let mut w = ChurnWeights::NONE;
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, n) = part.split_once(':').ok_or_else(|| format!("`{part}` is not factor:weight"))?;
            let n: u32 = n
                .trim()
                .parse()
                .ok()
                .filter(|n| *n <= MAX_WEIGHT)
                .ok_or_else(|| format!("`{n}` is not a whole number from 0 to {MAX_WEIGHT}"))?;
            let slot = match name.trim() {
                "not_alive" => &mut w.not_alive,
                "overdue_purchase" => &mut w.overdue_purchase,
                "fewer_interactions" => &mut w.fewer_interactions,
                "cases" => &mut w.cases,
                "feedback" => &mut w.feedback,
                "overdue_invoices" => &mut w.overdue_invoices,
                other => {
                    return Err(format!(
                        "`{other}` is not a factor: use not_alive, overdue_purchase, fewer_interactions, cases, \
                         feedback or overdue_invoices"
                    ));
                }
            };
            *slot = n;
        }
        Ok(w)
    }
}

/// A signal that a customer may leave.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ChurnFactor {
    /// The purchase model's chance that they stopped being a customer.
    NotAlive,
    /// Their next purchase is overdue against their own usual interval.
    OverduePurchase,
    /// Fewer calls, emails and meetings with them than before.
    FewerInteractions,
    /// Cases open now, and cases past their SLA.
    Cases,
    /// Low ratings, and business lost to a competitor.
    Feedback,
    /// Invoices overdue now.
    OverdueInvoices,
}

impl ChurnFactor {
    /// Every factor, in the order reports list them before ranking.
    pub const ALL: [ChurnFactor; 6] = [
        ChurnFactor::NotAlive,
        ChurnFactor::OverduePurchase,
        ChurnFactor::FewerInteractions,
        ChurnFactor::Cases,
        ChurnFactor::Feedback,
        ChurnFactor::OverdueInvoices,
    ];

    fn weight(self, w: &ChurnWeights) -> u32 {
        match self {
            ChurnFactor::NotAlive => w.not_alive,
            ChurnFactor::OverduePurchase => w.overdue_purchase,
            ChurnFactor::FewerInteractions => w.fewer_interactions,
            ChurnFactor::Cases => w.cases,
            ChurnFactor::Feedback => w.feedback,
            ChurnFactor::OverdueInvoices => w.overdue_invoices,
        }
    }
}

/// A band of scores.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChurnBand {
    /// Below 30.
    Low,
    /// 30 to below 60.
    Medium,
    /// 60 or more.
    High,
}

impl ChurnBand {
    /// The band of `score`.
    pub fn of(score: Decimal) -> ChurnBand {
        if score >= Decimal::from(60) {
            ChurnBand::High
        } else if score >= Decimal::from(30) {
            ChurnBand::Medium
        } else {
            ChurnBand::Low
        }
    }
}

/// One factor's part in a customer's score.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Contribution {
    /// The factor.
    pub factor: ChurnFactor,
    /// Its risk, 0–1.
    pub risk: f64,
    /// The points it adds to the score (to one decimal).
    pub points: Decimal,
    /// The figures behind it.
    pub why: String,
}

/// One customer's churn risk.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CustomerChurn {
    /// The contact.
    pub contact_id: ContactId,
    /// 0 (no sign of leaving) to 100: the sum of the factors' points.
    pub score: Decimal,
    /// The score's band.
    pub band: ChurnBand,
    /// Every factor, the most points first.
    pub factors: Vec<Contribution>,
}

/// What a churn-risk report covers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChurnOptions {
    /// The instant risk is judged at: purchases, interactions, cases and feedback before it
    /// count (default: now). Open cases and overdue invoices are as they stand now.
    pub until: Option<DateTime<Utc>>,
    /// The days interactions, SLA breaches and feedback are looked back over,
    /// [`LOOKBACK_DAYS`] (default 90).
    pub lookback_days: u32,
    /// How much each factor weighs.
    pub weights: ChurnWeights,
    /// The currency of the orders that count (needed when they are in several).
    pub currency: Option<Currency>,
    /// Only the orders this filter selects make the customers and their purchase histories.
    pub filter: Filter,
    /// The time zone whose calendar days purchases are counted in.
    pub time_zone: Tz,
}

impl Default for ChurnOptions {
    fn default() -> Self {
        ChurnOptions {
            until: None,
            lookback_days: 90,
            weights: ChurnWeights::default(),
            currency: None,
            filter: Filter::All,
            time_zone: Tz::UTC,
        }
    }
}

/// A churn-risk report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChurnReport {
    /// The instant risk was judged at.
    pub until: DateTime<Utc>,
    /// The lookback, in days.
    pub lookback_days: u32,
    /// The weights used.
    pub weights: ChurnWeights,
    /// The purchase model, fitted to the customers' histories (`None`: see `not_alive_because`).
    pub purchases: Option<BgNbd>,
    /// How its fit went.
    pub purchases_fit: Option<Fit>,
    /// Why the chance of being alive was left out, when it was.
    pub not_alive_because: Option<String>,
    /// Every customer (a contact who bought), the highest risk first.
    pub customers: Vec<CustomerChurn>,
    /// Customers per band: low, medium, high.
    pub bands: [u64; 3],
    /// Why there is no customer, when there is none.
    pub empty_because: Option<String>,
}

/// What is known about one customer besides their purchases.
#[derive(Default)]
struct Signals {
    recent: u64,
    before: u64,
    open_cases: u64,
    breached: u64,
    low_ratings: u64,
    lost: u64,
    overdue: u64,
}

impl Customers<'_> {
    /// The churn risk of every customer the reader sees (contacts who bought), from their
    /// purchases, interactions, cases, feedback and invoices: five aggregates and the purchase
    /// model's fit.
    ///
    /// A lookback out of [`LOOKBACK_DAYS`] is an error naming `lookback_days`; weights that are
    /// all zero, one naming `weights`; orders in several currencies without one chosen, one
    /// naming `currency`.
    pub async fn churn(&self, o: &ChurnOptions) -> Result<ChurnReport> {
        if !LOOKBACK_DAYS.contains(&o.lookback_days) {
            let why = format!("the lookback must be {}–{} days", LOOKBACK_DAYS.start(), LOOKBACK_DAYS.end());
            return Err(Error::invalid("lookback_days", FieldErrorCode::OutOfRange, why));
        }
        if ChurnFactor::ALL.iter().all(|f| f.weight(&o.weights) == 0) {
            return Err(Error::invalid("weights", FieldErrorCode::OutOfRange, "at least one factor must weigh"));
        }
        if ChurnFactor::ALL.iter().any(|f| f.weight(&o.weights) > MAX_WEIGHT) {
            let why = format!("a factor weighs at most {MAX_WEIGHT}");
            return Err(Error::invalid("weights", FieldErrorCode::OutOfRange, why));
        }
        let until = o.until.unwrap_or_else(|| self.cx.now());
        let found = histories(self.cx, &o.filter, o.currency, until, o.time_zone).await?;
        let mut report = ChurnReport {
            until,
            lookback_days: o.lookback_days,
            weights: o.weights,
            purchases: None,
            purchases_fit: None,
            not_alive_because: None,
            customers: Vec::new(),
            bands: [0; 3],
            empty_because: None,
        };
        if found.customers.is_empty() {
            let which = o.currency.map(|c| format!(" in {}", c.code())).unwrap_or_default();
            report.empty_because = Some(format!("no contact placed an order{which} before {until}"));
            return Ok(report);
        }
        let histories: Vec<Purchases> = found.customers.iter().map(|(_, h)| h.purchases(found.last_day)).collect();
        let repeat = histories.iter().filter(|h| h.repeats > 0).count();
        if histories.len() < MIN_CUSTOMERS || repeat < MIN_REPEAT_BUYERS {
            report.not_alive_because = Some(format!(
                "the purchase model needs at least {MIN_CUSTOMERS} customers, {MIN_REPEAT_BUYERS} of whom bought \
                 again on another day: there are {} and {repeat}",
                histories.len()
            ));
        } else if let Some((model, fit)) = BgNbd::fit(&histories) {
            (report.purchases, report.purchases_fit) = (Some(model), Some(fit));
        } else {
            report.not_alive_because = Some("no purchase model gives these histories a finite likelihood".into());
        }
        if let Some(why) = &report.not_alive_because
            && ChurnFactor::ALL.iter().all(|f| *f == ChurnFactor::NotAlive || f.weight(&o.weights) == 0)
        {
            let why = format!("only the chance of being alive weighs, and it cannot be worked out: {why}");
            return Err(Error::invalid("weights", FieldErrorCode::Rule, why));
        }
        // What a customer who bought once is measured against: the median of the repeat
        // buyers' usual intervals.
        let mut usual: Vec<f64> =
            histories.iter().filter(|h| h.repeats > 0).map(|h| (h.recency / f64::from(h.repeats)).max(1.0)).collect();
        usual.sort_by(f64::total_cmp);
        let typical = usual.get(usual.len() / 2).copied();
        let signals = self.signals(until, o.lookback_days).await?;
        let none = Signals::default();
        for ((id, _), h) in found.customers.iter().zip(&histories) {
            let s = signals.get(&id.as_uuid()).unwrap_or(&none);
            let c = score(*id, h, s, typical, &report, o);
            report.bands[c.band as usize] += 1;
            report.customers.push(c);
        }
        report.customers.sort_by(|a, b| b.score.cmp(&a.score).then(a.contact_id.cmp(&b.contact_id)));
        Ok(report)
    }

    /// Each contact's interactions, cases, feedback and overdue invoices.
    async fn signals(&self, until: DateTime<Utc>, lookback: u32) -> Result<HashMap<Uuid, Signals>> {
        let mut out: HashMap<Uuid, Signals> = HashMap::new();
        let back = |t: DateTime<Utc>| {
            t.checked_sub_signed(Duration::days(i64::from(lookback))).ok_or_else(|| {
                Error::invalid("until", FieldErrorCode::OutOfRange, "the lookback reaches before the earliest instant")
            })
        };
        let (since, before) = (back(until)?, back(back(until)?)?);
        let talks = |from: DateTime<Utc>, to: DateTime<Utc>| {
            Aggregate::new(
                Filter::is_in("kind", ["call", "email", "meeting"])
                    .and(Filter::gte("occurred_at", from))
                    .and(Filter::lt("occurred_at", to)),
            )
            .each("contact_ids")
            .count()
        };
        for (from, to, recent) in [(since, until, true), (before, since, false)] {
            for r in self.cx.activities().aggregate(&talks(from, to)).await? {
                if let Value::Id(id) = r.groups[0] {
                    let s = out.entry(id).or_default();
                    *(if recent { &mut s.recent } else { &mut s.before }) += count(&r.values[0]);
                }
            }
        }
        // Cases open now, and cases opened in the lookback that went past their SLA.
        let open = Filter::is_in("status", ["new", "open", "pending_customer"]).and(Filter::lt("opened_at", until));
        let breached =
            Filter::eq("sla_breached", true).and(Filter::gte("opened_at", since)).and(Filter::lt("opened_at", until));
        for (filter, is_open) in [(open, true), (breached, false)] {
            let a = Aggregate::new(Filter::is_null("contact_id").not().and(filter)).group_by("contact_id").count();
            for r in self.cx.cases().aggregate(&a).await? {
                if let Value::Id(id) = r.groups[0] {
                    let s = out.entry(id).or_default();
                    *(if is_open { &mut s.open_cases } else { &mut s.breached }) += count(&r.values[0]);
                }
            }
        }
        let feedback = Aggregate::new(
            Filter::is_null("contact_id")
                .not()
                .and(Filter::gte("received_at", since))
                .and(Filter::lt("received_at", until))
                .and(Filter::eq("kind", "lost_to_competitor").or(Filter::lte("rating", 2))),
        )
        .group_by("contact_id")
        .group_by("kind")
        .count();
        for r in self.cx.feedback().aggregate(&feedback).await? {
            if let (Value::Id(id), Value::Text(kind)) = (&r.groups[0], &r.groups[1]) {
                let s = out.entry(*id).or_default();
                *(if kind == "lost_to_competitor" { &mut s.lost } else { &mut s.low_ratings }) += count(&r.values[0]);
            }
        }
        let overdue = Aggregate::new(Filter::eq("status", "overdue").and(Filter::is_null("contact_id").not()))
            .group_by("contact_id")
            .count();
        for r in self.cx.invoices().aggregate(&overdue).await? {
            if let Value::Id(id) = r.groups[0] {
                out.entry(id).or_default().overdue += count(&r.values[0]);
            }
        }
        Ok(out)
    }
}

/// The risk of a purchase `since` days ago against a usual interval: 0 up to one interval,
/// rising to 1 at four.
fn overdue(since: f64, usual: f64) -> f64 {
    ((since / usual.max(1.0) - 1.0) / 3.0).clamp(0.0, 1.0)
}

/// `n` and the noun, singular or plural as `n` wants.
fn n(n: impl Into<f64>, one: &str, many: &str) -> String {
    let n = n.into();
    format!("{n:.0} {}", if n.round() == 1.0 { one } else { many })
}

/// One customer's risk per factor, weighed into points and a score.
fn score(
    id: ContactId,
    h: &Purchases,
    s: &Signals,
    typical: Option<f64>,
    report: &ChurnReport,
    o: &ChurnOptions,
) -> CustomerChurn {
    let lookback = o.lookback_days;
    let since_last = h.age - h.recency;
    let risks = ChurnFactor::ALL.map(|f| -> Option<(f64, String)> {
        Some(match f {
            ChurnFactor::NotAlive => {
                let alive = report.purchases?.p_alive(h);
                (1.0 - alive, format!("{:.0} % likely still buying", alive * 100.0))
            }
            ChurnFactor::OverduePurchase if h.repeats == 0 => match typical {
                // Measured against the customers who came back: how long they usually take.
                Some(usual) => (
                    overdue(since_last, usual),
                    format!(
                        "bought once, {} ago; customers usually buy again within {}",
                        n(since_last, "day", "days"),
                        n(usual, "day", "days")
                    ),
                ),
                None => (0.0, format!("bought once, {} ago; nobody has bought twice", n(since_last, "day", "days"))),
            },
            ChurnFactor::OverduePurchase => {
                let usual = (h.recency / f64::from(h.repeats)).max(1.0);
                let risk = overdue(since_last, usual);
                let every = if usual.round() == 1.0 { "day".to_owned() } else { n(usual, "day", "days") };
                (risk, format!("last bought {} ago; usually every {every}", n(since_last, "day", "days")))
            }
            ChurnFactor::FewerInteractions => {
                let why = format!(
                    "{} in the last {lookback} days, {} in the {lookback} before",
                    n(s.recent as f64, "interaction", "interactions"),
                    s.before
                );
                let risk = if s.before >= 2 { (1.0 - s.recent as f64 / s.before as f64).clamp(0.0, 1.0) } else { 0.0 };
                (risk, why)
            }
            ChurnFactor::Cases => (
                (0.25 * s.open_cases as f64 + 0.5 * s.breached as f64).min(1.0),
                format!(
                    "{} open, {} past the SLA in the last {lookback} days",
                    n(s.open_cases as f64, "case", "cases"),
                    s.breached
                ),
            ),
            ChurnFactor::Feedback => (
                (0.5 * s.low_ratings as f64 + s.lost as f64).min(1.0),
                format!(
                    "{} of 2 of 5 or less, {} to a competitor in the last {lookback} days",
                    n(s.low_ratings as f64, "rating", "ratings"),
                    n(s.lost as f64, "loss", "losses")
                ),
            ),
            ChurnFactor::OverdueInvoices => {
                ((0.5 * s.overdue as f64).min(1.0), format!("{} overdue", n(s.overdue as f64, "invoice", "invoices")))
            }
        })
    });
    let weighed: u64 = ChurnFactor::ALL
        .iter()
        .zip(&risks)
        .filter(|(_, r)| r.is_some())
        .map(|(f, _)| u64::from(f.weight(&o.weights)))
        .sum();
    let raw: Vec<f64> = ChurnFactor::ALL
        .iter()
        .zip(&risks)
        .map(|(f, r)| {
            r.as_ref().map_or(0.0, |(risk, _)| 100.0 * f64::from(f.weight(&o.weights)) * risk / weighed.max(1) as f64)
        })
        .collect();
    let tenth = |x: f64| Decimal::from_f64(x).unwrap_or_default().round_dp(1);
    let mut points: Vec<Decimal> = raw.iter().map(|x| tenth(*x)).collect();
    // The score is the total to a tenth; rounding each part may miss it by a tenth or two,
    // which the largest part takes up, so the parts add up to the score.
    let score = tenth(raw.iter().sum::<f64>()).min(Decimal::ONE_HUNDRED);
    let gap = score - points.iter().copied().sum::<Decimal>();
    if let Some(i) = (0..points.len()).max_by(|x, y| raw[*x].total_cmp(&raw[*y]))
        && (points[i] + gap).is_sign_positive()
    {
        points[i] += gap;
    }
    let mut factors: Vec<Contribution> = ChurnFactor::ALL
        .iter()
        .zip(risks)
        .zip(points)
        .map(|((f, r), points)| match r {
            Some((risk, why)) => Contribution { factor: *f, risk, points: points.normalize(), why },
            None => Contribution {
                factor: *f,
                risk: 0.0,
                points: Decimal::ZERO,
                why: format!("left out: {}", report.not_alive_because.as_deref().unwrap_or("not known")),
            },
        })
        .collect();
    factors.sort_by(|a, b| b.points.cmp(&a.points).then(a.factor.cmp(&b.factor)));
    let score = score.normalize();
    CustomerChurn { contact_id: id, score, band: ChurnBand::of(score), factors }
}
