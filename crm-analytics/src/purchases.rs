//! The orders the customer reports count as purchases, the one currency they must be in, and
//! each customer's purchase days (what the lifetime and churn models see).

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use crm_core::aggregate::{Aggregate, Bucket};
use crm_core::error::{Error, FieldErrorCode, Result};
use crm_core::ids::ContactId;
use crm_core::money::Currency;
use crm_core::query::Filter;
use crm_core::service::Session;
use crm_core::value::Value;
use rust_decimal::Decimal;

use crate::Purchases;
use crate::performance::count;

/// The order statuses that count as a purchase: placed, and not since cancelled or returned.
pub(crate) const PURCHASED: [&str; 3] = ["placed", "paid", "fulfilled"];

/// The orders `filter` selects that are purchases by a customer (`customer_field`:
/// `contact_id` or `company_id`), in `currency` when one is given.
pub(crate) fn purchases(filter: &Filter, customer_field: &str, currency: Option<Currency>) -> Filter {
    let f = filter.clone().and(Filter::is_in("status", PURCHASED)).and(Filter::is_null(customer_field).not());
    match currency {
        Some(c) => f.and(Filter::eq("currency", c.code())),
        None => f,
    }
}

/// The one currency the orders found were in (`None` when there were none); orders in
/// several are an error naming `currency`, saying what the currency is chosen for (`to`: "to
/// score spend in").
pub(crate) fn one_currency(currencies: BTreeSet<Currency>, to: &str) -> Result<Option<Currency>> {
    if currencies.len() > 1 {
        let codes: Vec<&str> = currencies.iter().map(|c| c.code()).collect();
        return Err(Error::invalid(
            "currency",
            FieldErrorCode::CurrencyMismatch,
            format!("the orders are in {}: choose the currency {to}", codes.join(", ")),
        ));
    }
    Ok(currencies.into_iter().next())
}

/// One customer's purchase days: a purchase is a day they bought on.
pub(crate) struct History {
    /// The day of their first purchase, and what they spent on it.
    pub(crate) first: NaiveDate,
    pub(crate) first_total: Decimal,
    /// The day of their last.
    pub(crate) last: NaiveDate,
    /// The days they bought on.
    pub(crate) days: u32,
    /// Their orders.
    pub(crate) orders: u64,
    /// What they spent.
    pub(crate) revenue: Decimal,
}

impl History {
    /// What the customer spent per purchase day after the first (`None` for one day).
    pub(crate) fn repeat_spend(&self) -> Option<Decimal> {
        let repeats = self.days.checked_sub(1).filter(|r| *r > 0)?;
        (self.revenue - self.first_total).checked_div(Decimal::from(repeats))
    }

    /// The history as the lifetime models see it, up to `last_day`.
    pub(crate) fn purchases(&self, last_day: NaiveDate) -> Purchases {
        Purchases {
            repeats: self.days.saturating_sub(1),
            recency: (self.last - self.first).num_days() as f64,
            age: (last_day - self.first).num_days().max(0) as f64,
        }
    }
}

/// Every customer's purchase history up to an instant.
pub(crate) struct Histories {
    /// The last day of the history (in the time zone asked for).
    pub(crate) last_day: NaiveDate,
    /// The currency the orders were in (`None` when there were none).
    pub(crate) currency: Option<Currency>,
    /// The customers, by id (a fixed order: the same histories always fit the same models).
    pub(crate) customers: Vec<(ContactId, History)>,
}

/// The purchase days of every contact who bought (what `filter` selects, in `currency` when
/// given) before `until`, days counted in `tz`: one aggregate over the orders by contact and
/// day. Orders in several currencies without one chosen are an error naming `currency`.
pub(crate) async fn histories(
    cx: &Session,
    filter: &Filter,
    currency: Option<Currency>,
    until: DateTime<Utc>,
    tz: Tz,
) -> Result<Histories> {
    let last = until.checked_sub_signed(Duration::nanoseconds(1)).ok_or_else(|| {
        Error::invalid("until", FieldErrorCode::OutOfRange, "the history must end after the earliest instant")
    })?;
    let last_day = Bucket::Day.of_instant(last, tz);
    let filter = purchases(filter, "contact_id", currency).and(Filter::lt("placed_at", until));
    let days = Aggregate::new(filter)
        .time_zone(tz)
        .group_by("contact_id")
        .bucket("placed_at", Bucket::Day)
        .currency("total")
        .count()
        .sum("total");
    let mut found: HashMap<uuid::Uuid, History> = HashMap::new();
    let mut currencies = BTreeSet::new();
    for r in cx.orders().aggregate(&days).await? {
        let (Value::Id(id), Value::Date(day), Value::Money(total)) = (&r.groups[0], &r.groups[1], &r.values[1]) else {
            continue;
        };
        currencies.insert(total.currency);
        let h = found.entry(*id).or_insert(History {
            first: *day,
            first_total: total.amount,
            last: *day,
            days: 0,
            orders: 0,
            revenue: Decimal::ZERO,
        });
        if *day < h.first {
            (h.first, h.first_total) = (*day, total.amount);
        }
        h.last = h.last.max(*day);
        h.days += 1;
        h.orders += count(&r.values[0]);
        h.revenue = h.revenue.checked_add(total.amount).ok_or_else(too_large)?;
    }
    let currency = one_currency(currencies, "to count spend in")?;
    let mut customers: Vec<(ContactId, History)> =
        found.into_iter().map(|(id, h)| (ContactId::from_uuid(id), h)).collect();
    customers.sort_by_key(|(id, _)| *id);
    Ok(Histories { last_day, currency, customers })
}

/// A sum of revenue beyond the largest decimal.
pub(crate) fn too_large() -> Error {
    Error::invalid("currency", FieldErrorCode::OutOfRange, "revenue exceeds the largest decimal")
}
