//! Customer lifetime value: what each customer has spent so far (historical), and what they
//! are expected to spend over a horizon, discounted to today (predictive). The prediction fits
//! two models to the tenant's purchase histories by maximum likelihood: [`BgNbd`] for how many
//! purchases each customer will still make (and the chance they are still a customer at all)
//! and [`GammaGamma`] for what they spend per purchase. A purchase is a day a contact bought on
//! (orders placed, paid or fulfilled; several orders on one day are one purchase, as the
//! models assume).
//!
//! The models are statistics and work in `f64`; the values they give are rounded to the
//! currency's minor unit as [`Money`]. Historical revenue is summed exactly.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use crm_core::error::{Error, FieldErrorCode, Result};
use crm_core::ids::ContactId;
use crm_core::money::{Currency, Money};
use crm_core::query::Filter;
use rust_decimal::Decimal;
use rust_decimal::prelude::{FromPrimitive, ToPrimitive};
use serde::{Deserialize, Serialize};

use crate::purchases::{History, histories, too_large};
use crate::{BgNbd, Customers, Fit, GammaGamma, Purchases};

/// The longest horizon predicted over, in months.
pub const MAX_HORIZON_MONTHS: u32 = 120;
/// The fewest customers the models are fitted to.
pub const MIN_CUSTOMERS: usize = 20;
/// The fewest customers who bought again (on another day) the models are fitted to.
pub const MIN_REPEAT_BUYERS: usize = 10;
/// Days in a month of the horizon (as the models' reference implementations count).
const MONTH_DAYS: f64 = 30.0;

/// What a lifetime-value report covers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClvOptions {
    /// The end of the history: orders placed before it count, and predictions start from it
    /// (default: now).
    pub until: Option<DateTime<Utc>>,
    /// The months ahead value is predicted over, 1–[`MAX_HORIZON_MONTHS`] (default 12).
    pub horizon_months: u32,
    /// The discount rate per month, 0 ≤ rate < 1 (default 0.01: a month's purchases are worth
    /// 1 % less than the month before's).
    pub monthly_discount: Decimal,
    /// The currency spend is counted in: only orders in it count. Needed when the orders are in
    /// more than one currency.
    pub currency: Option<Currency>,
    /// Only the orders this filter selects (by default every order placed, paid or fulfilled).
    pub filter: Filter,
    /// The time zone whose calendar days purchases are counted in.
    pub time_zone: Tz,
}

impl Default for ClvOptions {
    fn default() -> Self {
        ClvOptions {
            until: None,
            horizon_months: 12,
            monthly_discount: Decimal::new(1, 2),
            currency: None,
            filter: Filter::All,
            time_zone: Tz::UTC,
        }
    }
}

/// One customer's value, past and predicted.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CustomerClv {
    /// The contact.
    pub contact_id: ContactId,
    /// The day of their first purchase.
    pub first_purchase: NaiveDate,
    /// The day of their last.
    pub last_purchase: NaiveDate,
    /// Their orders.
    pub orders: u64,
    /// What they spent: their historical value.
    pub revenue: Money,
    /// Their history as the models see it (days).
    pub purchases: Purchases,
    /// What they spent per purchase after the first (`None` for a one-time buyer).
    pub average_repeat_spend: Option<Money>,
    /// The chance, 0–1, they are still a customer (`None` when nothing was predicted).
    pub p_alive: Option<f64>,
    /// The purchases they are expected to make over the horizon.
    pub expected_purchases: Option<f64>,
    /// What they are expected to spend per purchase.
    pub expected_spend: Option<Money>,
    /// Their predicted value over the horizon, discounted to the end of the history.
    pub predicted: Option<Money>,
}

/// The models fitted to the tenant's histories, with how each fit went.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClvModels {
    /// The purchase model.
    pub purchases: BgNbd,
    /// How its fit went.
    pub purchases_fit: Fit,
    /// The spend model.
    pub spend: GammaGamma,
    /// How its fit went (on the repeat buyers).
    pub spend_fit: Fit,
}

/// A customer lifetime value report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClvReport {
    /// The end of the history.
    pub until: DateTime<Utc>,
    /// The last day of the history (in the options' time zone): customers' ages run to it.
    pub last_day: NaiveDate,
    /// The months predicted over.
    pub horizon_months: u32,
    /// The monthly discount rate.
    pub monthly_discount: Decimal,
    /// The currency (`None` when no order counted).
    pub currency: Option<Currency>,
    /// The fitted models (`None` when nothing was predicted: see `not_predicted_because`).
    pub models: Option<ClvModels>,
    /// Why no value was predicted, when none was.
    pub not_predicted_because: Option<String>,
    /// Every customer, the most valuable first (by predicted value, then revenue).
    pub customers: Vec<CustomerClv>,
    /// All customers' revenue.
    pub revenue: Option<Money>,
    /// All customers' predicted value.
    pub predicted: Option<Money>,
    /// Why there is no customer, when there is none.
    pub empty_because: Option<String>,
}

impl Customers<'_> {
    /// Every customer's historical value and, with enough history (at least
    /// [`MIN_CUSTOMERS`] customers, [`MIN_REPEAT_BUYERS`] of whom bought again), their
    /// predicted value: the models are fitted on the spot to the histories of the customers the
    /// reader sees (one aggregate over their orders by contact and day).
    ///
    /// A horizon or discount out of range is an error naming `horizon_months` or
    /// `monthly_discount`; orders in several currencies without a currency, one naming
    /// `currency`. Without orders the report is empty and says why.
    pub async fn clv(&self, o: &ClvOptions) -> Result<ClvReport> {
        if !(1..=MAX_HORIZON_MONTHS).contains(&o.horizon_months) {
            let why = format!("the horizon must be 1–{MAX_HORIZON_MONTHS} months");
            return Err(Error::invalid("horizon_months", FieldErrorCode::OutOfRange, why));
        }
        if o.monthly_discount.is_sign_negative() || o.monthly_discount >= Decimal::ONE {
            let why = "the monthly discount rate must be at least 0 and below 1 (0.01 is 1 %)";
            return Err(Error::invalid("monthly_discount", FieldErrorCode::OutOfRange, why));
        }
        let until = o.until.unwrap_or_else(|| self.cx.now());
        let found = histories(self.cx, &o.filter, o.currency, until, o.time_zone).await?;
        let (last_day, currency) = (found.last_day, found.currency);
        let mut report = ClvReport {
            until,
            last_day,
            horizon_months: o.horizon_months,
            monthly_discount: o.monthly_discount,
            currency,
            models: None,
            not_predicted_because: None,
            customers: Vec::new(),
            revenue: None,
            predicted: None,
            empty_because: None,
        };
        let Some(currency) = currency else {
            let which = o.currency.map(|c| format!(" in {}", c.code())).unwrap_or_default();
            report.empty_because = Some(format!("no order with a contact was placed, paid or fulfilled{which}"));
            report.not_predicted_because = report.empty_because.clone();
            return Ok(report);
        };
        // Each customer's exact mean spend per repeat purchase (0 for none): what the models see.
        let spends: Vec<f64> =
            found.customers.iter().map(|(_, h)| h.repeat_spend().and_then(|s| s.to_f64()).unwrap_or(0.0)).collect();
        report.customers = found.customers.iter().map(|(id, h)| historical(*id, h, last_day, currency)).collect();
        match fit(&report.customers, &spends) {
            Ok(models) => {
                predict(&mut report.customers, &spends, &models, o)?;
                report.models = Some(models);
            }
            Err(why) => report.not_predicted_because = Some(why),
        }
        report.customers.sort_by(|a, b| {
            let key = |c: &CustomerClv| (c.predicted.map(|m| m.amount), c.revenue.amount);
            key(b).cmp(&key(a)).then(a.contact_id.cmp(&b.contact_id))
        });
        let mut revenue = Decimal::ZERO;
        let mut predicted = Decimal::ZERO;
        for c in &report.customers {
            revenue = revenue.checked_add(c.revenue.amount).ok_or_else(too_large)?;
            predicted = predicted.checked_add(c.predicted.map_or(Decimal::ZERO, |m| m.amount)).ok_or_else(too_large)?;
        }
        report.revenue = Some(Money::new(revenue, currency));
        report.predicted = report.models.is_some().then(|| Money::new(predicted, currency));
        Ok(report)
    }
}

/// A customer's past as the report and the models see it.
fn historical(contact_id: ContactId, h: &History, last_day: NaiveDate, currency: Currency) -> CustomerClv {
    let average_repeat_spend = h.repeat_spend().map(|a| Money::new(a, currency).rounded());
    CustomerClv {
        contact_id,
        first_purchase: h.first,
        last_purchase: h.last,
        orders: h.orders,
        revenue: Money::new(h.revenue, currency),
        purchases: h.purchases(last_day),
        average_repeat_spend,
        p_alive: None,
        expected_purchases: None,
        expected_spend: None,
        predicted: None,
    }
}

/// The two models fitted to the customers' histories and their mean spends per repeat
/// purchase, or why they were not.
fn fit(customers: &[CustomerClv], spends: &[f64]) -> std::result::Result<ClvModels, String> {
    let histories: Vec<Purchases> = customers.iter().map(|c| c.purchases).collect();
    let buyers: Vec<(u32, f64)> = customers
        .iter()
        .zip(spends)
        .map(|(c, spend)| (c.purchases.repeats, *spend))
        .filter(|(repeats, spend)| *repeats > 0 && *spend > 0.0)
        .collect();
    if customers.len() < MIN_CUSTOMERS || buyers.len() < MIN_REPEAT_BUYERS {
        return Err(format!(
            "the models need at least {MIN_CUSTOMERS} customers, {MIN_REPEAT_BUYERS} of whom bought again on \
             another day (for more than nothing): there are {} and {}",
            customers.len(),
            buyers.len()
        ));
    }
    let (purchases, purchases_fit) =
        BgNbd::fit(&histories).ok_or("no purchase model gives these histories a finite likelihood")?;
    let (spend, spend_fit) = GammaGamma::fit(&buyers).ok_or("no spend model gives these spends a finite likelihood")?;
    if spend.mean_spend().is_none() {
        return Err(format!(
            "the spend model found no mean spend per purchase (q = {:.3} ≤ 1): spends vary too widely",
            spend.q
        ));
    }
    Ok(ClvModels { purchases, purchases_fit, spend, spend_fit })
}

/// Each customer's predictions: the chance they are alive, their purchases over the horizon,
/// spend per purchase and value discounted month by month (customers with like histories
/// worked out once).
fn predict(customers: &mut [CustomerClv], spends: &[f64], m: &ClvModels, o: &ClvOptions) -> Result<()> {
    let discount = 1.0 + o.monthly_discount.to_f64().unwrap_or(0.0);
    // (p alive, purchases over the horizon, purchases discounted month by month).
    let mut seen: HashMap<(u32, u64, u64), (f64, f64, f64)> = HashMap::new();
    for (c, own) in customers.iter_mut().zip(spends) {
        let h = c.purchases;
        let (alive, total, discounted) =
            *seen.entry((h.repeats, h.recency.to_bits(), h.age.to_bits())).or_insert_with(|| {
                let mut before = 0.0;
                let mut discounted = 0.0;
                for month in 1..=o.horizon_months {
                    let by = m.purchases.expected_purchases(&h, MONTH_DAYS * f64::from(month));
                    discounted += (by - before) / discount.powi(month as i32);
                    before = by;
                }
                (m.purchases.p_alive(&h), before, discounted)
            });
        let spend = m.spend.expected_spend(h.repeats, *own).unwrap_or(0.0);
        let currency = c.revenue.currency;
        let money = |v: f64| {
            Decimal::from_f64(v).map(|d| Money::new(d, currency).rounded()).ok_or_else(|| {
                Error::invalid("currency", FieldErrorCode::OutOfRange, "a predicted value exceeds the largest decimal")
            })
        };
        c.p_alive = Some(alive);
        c.expected_purchases = Some(total);
        c.expected_spend = Some(money(spend)?);
        c.predicted = Some(money(spend * discounted)?);
    }
    Ok(())
}
