//! Cohort retention: customers grouped by the month (or quarter) of their first purchase, and
//! how many of each cohort bought again in each period after it, up to now.

use std::collections::{BTreeMap, HashMap};

use chrono::{Datelike, NaiveDate};
use chrono_tz::Tz;
use crm_core::aggregate::Aggregate;
use crm_core::error::Result;
use crm_core::query::Filter;
use crm_core::value::Value;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::purchases::purchases;
use crate::{CustomerKind, Customers, Period, Window, share};

/// What a retention report covers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RetentionOptions {
    /// Contacts or companies.
    pub customers: CustomerKind,
    /// Cohorts and periods of a month or a quarter.
    pub period: Period,
    /// The customers whose first purchase falls in this window make the cohorts (default: the
    /// trailing 12 months); their purchases are followed up to now.
    pub window: Option<Window>,
    /// Only the orders this filter selects count as purchases (by default every order placed
    /// and now placed, paid or fulfilled).
    pub filter: Filter,
    /// The time zone whose calendar the periods follow.
    pub time_zone: Tz,
}

impl Default for RetentionOptions {
    fn default() -> Self {
        RetentionOptions {
            customers: CustomerKind::default(),
            period: Period::Month,
            window: None,
            filter: Filter::All,
            time_zone: Tz::UTC,
        }
    }
}

/// One cohort: the customers who first bought in one period.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RetentionCohort {
    /// The first day of the period they first bought in.
    pub start: NaiveDate,
    /// How many they are.
    pub customers: u64,
    /// How many of them bought in the cohort's period (all of them), the next, and so on up to
    /// the current period.
    pub active: Vec<u64>,
    /// The same as shares of the cohort, 0–1.
    pub rates: Vec<Decimal>,
}

/// A retention report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Retention {
    /// The window the first purchases were made in.
    pub window: Window,
    /// Months or quarters.
    pub period: Period,
    /// The cohorts, oldest first (periods without a new customer have none).
    pub cohorts: Vec<RetentionCohort>,
}

/// Whole periods from the one starting on `from` to the one starting on `to`.
fn periods_between(period: Period, from: NaiveDate, to: NaiveDate) -> i64 {
    let months = i64::from(to.year() - from.year()) * 12 + i64::from(to.month()) - i64::from(from.month());
    match period {
        Period::Month => months,
        Period::Quarter => months.div_euclid(3),
    }
}

impl Customers<'_> {
    /// Cohort retention of the customers the reader sees, from the orders they read.
    pub async fn retention(&self, o: &RetentionOptions) -> Result<Retention> {
        let now = self.cx.now();
        let window = o.window.unwrap_or_else(|| Window::trailing_months(now, 12));
        window.check()?;
        let (bucket, tz) = (o.period.bucket(), o.time_zone);
        let field = o.customers.order_field();
        let purchases = purchases(&o.filter, field, None).and(Filter::is_null("placed_at").not());
        // Each customer's first purchase ever: those made in the window make the cohorts.
        let first = Aggregate::new(purchases.clone()).group_by(field).min("placed_at");
        let mut cohort_of: HashMap<Uuid, NaiveDate> = HashMap::new();
        for r in self.cx.orders().aggregate(&first).await? {
            if let (Value::Id(id), Value::DateTime(at)) = (&r.groups[0], &r.values[0])
                && window.from <= *at
                && *at < window.to
            {
                cohort_of.insert(*id, bucket.of_instant(*at, tz));
            }
        }
        // The periods each of them bought in since.
        let since = purchases.and(Filter::gte("placed_at", window.from)).and(Filter::lt("placed_at", now));
        let active = Aggregate::new(since).time_zone(tz).group_by(field).bucket("placed_at", bucket).count();
        let current = bucket.of_instant(now.max(window.from), tz);
        let mut cohorts: BTreeMap<NaiveDate, (u64, Vec<u64>)> = BTreeMap::new();
        for start in cohort_of.values() {
            let span = periods_between(o.period, *start, current).max(0) as usize + 1;
            let c = cohorts.entry(*start).or_insert_with(|| (0, vec![0; span]));
            c.0 += 1;
        }
        for r in self.cx.orders().aggregate(&active).await? {
            let (Value::Id(id), Value::Date(period)) = (&r.groups[0], &r.groups[1]) else { continue };
            let Some(start) = cohort_of.get(id) else { continue };
            let offset = periods_between(o.period, *start, *period);
            if let (Some(c), Ok(i)) = (cohorts.get_mut(start), usize::try_from(offset))
                && let Some(slot) = c.1.get_mut(i)
            {
                *slot += 1;
            }
        }
        let cohorts = cohorts
            .into_iter()
            .map(|(start, (customers, active))| {
                let rates = active
                    .iter()
                    .map(|a| share(Decimal::from(*a), Decimal::from(customers)).unwrap_or_default())
                    .collect();
                RetentionCohort { start, customers, active, rates }
            })
            .collect();
        Ok(Retention { window, period: o.period, cohorts })
    }
}
