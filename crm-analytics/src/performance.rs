//! How sales performs over a window: deals won and lost, win rates by count and by value,
//! average deal size, the sales cycle (days from created to won: mean, median, 90th
//! percentile) and sales velocity, overall or per owner or pipeline.

use std::collections::BTreeMap;

use crm_core::aggregate::Aggregate;
use crm_core::error::{Error, FieldErrorCode, Result};
use crm_core::money::{Currency, Money};
use crm_core::query::Filter;
use crm_core::value::Value;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::{Sales, Slice, Window};

/// What a performance report covers.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PerformanceOptions {
    /// The deals closed in this window count (default: the trailing 12 months).
    pub window: Option<Window>,
    /// Broken down by owner, pipeline, lead source or campaign.
    pub by: Option<Slice>,
    /// Only the deals this filter selects.
    pub filter: Filter,
}

/// How long won deals took, from created to won, in whole days.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Cycle {
    /// The mean (exact), `None` with no won deal.
    pub average_days: Option<Decimal>,
    /// The median (nearest rank).
    pub median_days: Option<i64>,
    /// The 90th percentile (nearest rank).
    pub p90_days: Option<i64>,
}

/// The money side of one slice, in one currency.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MoneyStats {
    /// The currency.
    pub currency: Currency,
    /// Won in the window.
    pub won: Money,
    /// Lost in the window.
    pub lost: Money,
    /// Won ÷ (won + lost) by value, 0–1; `None` when nothing priced closed.
    pub win_rate_by_value: Option<Decimal>,
    /// Average amount of a won deal, rounded to the minor unit.
    pub average_won: Option<Money>,
    /// Open deals now, priced in this currency.
    pub open_deals: u64,
    /// Their amounts added up.
    pub open_value: Money,
    /// Sales velocity: open deals × average won amount × win rate ÷ average cycle days — the
    /// value the pipeline turns into per day; `None` when a factor is missing or the average
    /// cycle is zero days.
    pub velocity_per_day: Option<Money>,
}

/// The performance of one slice (or of everything, when not broken down).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SliceStats {
    /// The owner, pipeline or campaign id, or the lead source (`None` when not broken down, or
    /// for deals without one).
    pub slice: Option<String>,
    /// Deals won in the window.
    pub won: u64,
    /// Deals lost in the window.
    pub lost: u64,
    /// Won ÷ (won + lost), 0–1; `None` when none closed.
    pub win_rate: Option<Decimal>,
    /// The sales cycle of the deals won.
    pub cycle: Cycle,
    /// Open deals now.
    pub open: u64,
    /// Per currency, ordered by code.
    pub money: Vec<MoneyStats>,
}

/// A performance report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Performance {
    /// The window closed deals were counted in.
    pub window: Window,
    /// One row per slice, ordered by slice (deals without an owner first).
    pub rows: Vec<SliceStats>,
}

/// The number in a count measure's value.
pub(crate) fn count(v: &Value) -> u64 {
    match v {
        Value::Int(n) => (*n).max(0) as u64,
        _ => 0,
    }
}

/// Per currency: won, lost, won deals, open deals, open value.
#[derive(Default)]
struct Sums {
    won: Decimal,
    lost: Decimal,
    won_deals: u64,
    open_deals: u64,
    open: Decimal,
}

fn ratio(part: Decimal, whole: Decimal) -> Option<Decimal> {
    if whole.is_zero() { None } else { part.checked_div(whole).map(|r| r.normalize()) }
}

impl Sales<'_> {
    /// Won and lost deals, win rates, deal sizes, the sales cycle and velocity of the deals
    /// the reader sees.
    pub async fn performance(&self, o: &PerformanceOptions) -> Result<Performance> {
        let window = o.window.unwrap_or_else(|| Window::trailing_months(self.cx.now(), 12));
        window.check()?;
        let slice = |a: Aggregate| match o.by {
            Some(s) => a.group_by(s.field()),
            None => a,
        };
        let closed = Filter::is_in("status", ["won", "lost"]).and(window.filter("closed_at"));
        let closed = slice(Aggregate::new(o.filter.clone().and(closed)))
            .currency("amount")
            .group_by("status")
            .count()
            .sum("amount");
        let won = Filter::eq("status", "won").and(window.filter("closed_at"));
        let half = Decimal::new(5, 1);
        let p90 = Decimal::new(9, 1);
        let cycle = slice(Aggregate::new(o.filter.clone().and(won)))
            .avg("days_to_close")
            .percentile("days_to_close", half)
            .percentile("days_to_close", p90);
        let open = slice(Aggregate::new(o.filter.clone().and(Filter::eq("status", "open"))))
            .currency("amount")
            .count()
            .sum("amount");
        let s = usize::from(o.by.is_some());

        let mut rows: BTreeMap<Option<String>, Slot> = BTreeMap::new();
        let too_large =
            || Error::invalid("amount", FieldErrorCode::OutOfRange, "the totals exceed the largest decimal");
        for r in self.cx.deals().aggregate(&closed).await? {
            let (stats, sums) = slot(&mut rows, Slice::key(r.groups.first().filter(|_| s == 1)));
            let n = count(&r.values[0]);
            let won = r.groups[s + 1] == Value::Text("won".into());
            if won {
                stats.won += n
            } else {
                stats.lost += n
            }
            if let Value::Money(m) = &r.values[1] {
                let sum = sums.entry(m.currency).or_default();
                let side = if won { &mut sum.won } else { &mut sum.lost };
                *side = side.checked_add(m.amount).ok_or_else(too_large)?;
                if won {
                    sum.won_deals += n;
                }
            }
        }
        for r in self.cx.deals().aggregate(&cycle).await? {
            let (stats, _) = slot(&mut rows, Slice::key(r.groups.first()));
            let days = |v: &Value| match v {
                Value::Int(d) => Some(*d),
                _ => None,
            };
            stats.cycle = Cycle {
                average_days: match &r.values[0] {
                    Value::Decimal(d) => Some(*d),
                    _ => None,
                },
                median_days: days(&r.values[1]),
                p90_days: days(&r.values[2]),
            };
        }
        for r in self.cx.deals().aggregate(&open).await? {
            let (stats, sums) = slot(&mut rows, Slice::key(r.groups.first().filter(|_| s == 1)));
            let n = count(&r.values[0]);
            stats.open += n;
            if let Value::Money(m) = &r.values[1] {
                let sum = sums.entry(m.currency).or_default();
                sum.open_deals += n;
                sum.open = sum.open.checked_add(m.amount).ok_or_else(too_large)?;
            }
        }
        // An ungrouped cycle aggregate answers one row even with no deals: keep only slices
        // that have something to show, but always the overall row.
        let rows = rows
            .into_values()
            .filter(|(st, _)| o.by.is_none() || st.won + st.lost + st.open > 0)
            .map(|(mut st, sums)| {
                st.win_rate = ratio(Decimal::from(st.won), Decimal::from(st.won + st.lost));
                st.money = sums.into_iter().map(|(c, sum)| money_stats(c, sum, st.win_rate, &st.cycle)).collect();
                st
            })
            .collect();
        Ok(Performance { window, rows })
    }
}

/// Refuses a window that ends before it starts.
type Slot = (SliceStats, BTreeMap<Currency, Sums>);

fn slot(rows: &mut BTreeMap<Option<String>, Slot>, key: Option<String>) -> &mut Slot {
    rows.entry(key.clone()).or_insert_with(|| {
        let stats =
            SliceStats { slice: key, won: 0, lost: 0, win_rate: None, cycle: Cycle::default(), open: 0, money: vec![] };
        (stats, BTreeMap::new())
    })
}

fn money_stats(currency: Currency, sum: Sums, win_rate: Option<Decimal>, cycle: &Cycle) -> MoneyStats {
    let average_won = ratio(sum.won, Decimal::from(sum.won_deals)).map(|a| Money::new(a, currency).rounded());
    let velocity = match (average_won, win_rate, cycle.average_days) {
        (Some(avg), Some(rate), Some(days)) if !days.is_zero() && sum.open_deals > 0 => Decimal::from(sum.open_deals)
            .checked_mul(avg.amount)
            .and_then(|v| v.checked_mul(rate))
            .and_then(|v| v.checked_div(days))
            .map(|v| Money::new(v, currency).rounded()),
        _ => None,
    };
    MoneyStats {
        currency,
        won: Money::new(sum.won, currency),
        lost: Money::new(sum.lost, currency),
        win_rate_by_value: sum.won.checked_add(sum.lost).and_then(|whole| ratio(sum.won, whole)),
        average_won,
        open_deals: sum.open_deals,
        open_value: Money::new(sum.open, currency),
        velocity_per_day: velocity,
    }
}
