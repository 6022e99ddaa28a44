//! RFM: who bought how recently, how often and for how much. Each customer (a contact with an
//! order placed in the window and now placed, paid or fulfilled: not a draft, not cancelled,
//! not returned) gets a score of 1–5 on each of recency,
//! frequency and monetary value: the fifth their percent rank among the tenant's customers
//! falls in (the share of the others below them; ties ranked alike, so customers who all
//! bought once share the lowest frequency score). Their recency and frequency scores name their segment (champions, at risk,
//! hibernating, …: [`RfmSegment`]). [`Customers::score_rfm`] writes the scores on the
//! contacts, where segments, campaigns and rules filter on them (`rfm_segment`, `rfm_code`,
//! `rfm_recency`…).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use crm_core::aggregate::Aggregate;
use crm_core::error::{Error, FieldErrorCode, Result};
use crm_core::ids::ContactId;
use crm_core::model::{Rfm, RfmSegment};
use crm_core::money::{Currency, Money};
use crm_core::query::Filter;
use crm_core::service::MAX_SCORES_PER_CALL;
use crm_core::value::Value;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::performance::count;
use crate::purchases::{one_currency, purchases};
use crate::{Customers, Window};

/// What an RFM scoring covers.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RfmOptions {
    /// The orders placed in this window (and not since cancelled or returned) count; recency is
    /// measured to its end (default: the trailing 12 months).
    pub window: Option<Window>,
    /// The currency spend is counted in: only orders in it count. Needed when the window's
    /// orders are in more than one currency.
    pub currency: Option<Currency>,
    /// Only the orders this filter selects (by default every order placed, paid or fulfilled).
    /// Scores worked out from a part of the orders are not stored: [`Customers::score_rfm`]
    /// refuses a filter.
    pub filter: Filter,
}

/// One customer's figures and scores.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CustomerRfm {
    /// The contact.
    pub contact_id: ContactId,
    /// When their last order in the window was placed.
    pub last_order_at: DateTime<Utc>,
    /// Whole days from it to the end of the window.
    pub recency_days: i64,
    /// Orders in the window.
    pub orders: u64,
    /// What they spent in the window (order totals).
    pub spent: Money,
    /// Their scores and segment.
    pub rfm: Rfm,
}

/// A segment's share of the customers scored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SegmentSummary {
    /// The segment.
    pub segment: RfmSegment,
    /// Customers in it.
    pub customers: u64,
    /// Their orders in the window.
    pub orders: u64,
    /// What they spent in the window.
    pub revenue: Money,
}

/// An RFM scoring of the customers the reader sees.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RfmReport {
    /// The window the orders were placed in.
    pub window: Window,
    /// The currency spend is counted in (`None` when no order counted).
    pub currency: Option<Currency>,
    /// Every customer, best first (by code, then spend).
    pub customers: Vec<CustomerRfm>,
    /// The segments that have customers, in [`RfmSegment`]'s order.
    pub segments: Vec<SegmentSummary>,
    /// Customers by recency score (outer, 1–5) and frequency score (inner, 1–5).
    pub grid: [[u64; 5]; 5],
    /// Why no customer was scored, when none was.
    pub empty_because: Option<String>,
}

/// What [`Customers::score_rfm`] did.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RfmRun {
    /// The scores written.
    pub report: RfmReport,
    /// Contacts whose scores changed.
    pub written: u64,
    /// Contacts scored before that bought nothing in this window: their scores were cleared
    /// (those deleted since counted too).
    pub cleared: u64,
}

/// How far a scoring run has got: contacts looked at of the total.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScoreProgress {
    /// Contacts gone through so far, written or left as they were (each batch is a
    /// transaction).
    pub done: u64,
    /// Contacts to write or clear in all.
    pub total: u64,
}

impl Customers<'_> {
    /// Works out every customer's RFM scores from their orders in the window (one aggregate
    /// over the orders the reader sees; nothing is written).
    ///
    /// Orders without a contact are left out. An empty window gives an empty report that
    /// says why; orders in several currencies without [`RfmOptions::currency`] are an error
    /// naming `currency`.
    pub async fn rfm(&self, o: &RfmOptions) -> Result<RfmReport> {
        let window = o.window.unwrap_or_else(|| Window::trailing_months(self.cx.now(), 12));
        window.check()?;
        let filter = purchases(&o.filter, "contact_id", o.currency).and(window.filter("placed_at"));
        let totals =
            Aggregate::new(filter).group_by("contact_id").currency("total").max("placed_at").count().sum("total");
        let rows = self.cx.orders().aggregate(&totals).await?;
        let mut currencies = BTreeSet::new();
        let mut found = Vec::with_capacity(rows.len());
        for r in rows {
            let (Value::Id(contact), Value::DateTime(last), Value::Money(spent)) =
                (&r.groups[0], &r.values[0], &r.values[2])
            else {
                continue;
            };
            currencies.insert(spent.currency);
            let recency_days = (window.to - *last).num_days().max(0);
            found.push((ContactId::from_uuid(*contact), *last, recency_days, count(&r.values[1]), *spent));
        }
        let currency = one_currency(currencies, "to score spend in")?;
        let empty_because = found.is_empty().then(|| {
            let which = o.currency.map(|c| format!(" in {}", c.code())).unwrap_or_default();
            format!("no order with a contact was placed, paid or fulfilled{which} in the window")
        });
        let scored_at = self.cx.now();
        let recency = quintiles(&found.iter().map(|f| f.1).collect::<Vec<_>>());
        let frequency = quintiles(&found.iter().map(|f| f.3).collect::<Vec<_>>());
        let monetary = quintiles(&found.iter().map(|f| f.4.amount).collect::<Vec<_>>());
        let mut customers: Vec<CustomerRfm> = found
            .into_iter()
            .enumerate()
            .map(|(i, (contact_id, last_order_at, recency_days, orders, spent))| CustomerRfm {
                contact_id,
                last_order_at,
                recency_days,
                orders,
                spent,
                rfm: Rfm::new(recency[i], frequency[i], monetary[i], scored_at),
            })
            .collect();
        customers.sort_by(|a, b| {
            let key = |c: &CustomerRfm| (c.rfm.recency, c.rfm.frequency, c.rfm.monetary, c.spent.amount);
            key(b).cmp(&key(a)).then(a.contact_id.cmp(&b.contact_id))
        });
        let (segments, grid) = summarise(&customers, currency)?;
        Ok(RfmReport { window, currency, customers, segments, grid, empty_because })
    }

    /// Scores the customers as [`rfm`](Self::rfm) does and writes the scores on the contacts
    /// ([`Contacts::set_rfm`](crm_core::service::Contacts::set_rfm)), clearing those of contacts
    /// scored before who bought nothing in this window (or not in its currency). Contacts are
    /// written in batches of `MAX_SCORES_PER_CALL / 20`, each its own transaction, with
    /// `progress` told after each; a run cut short leaves some contacts with their earlier
    /// scores, and running it again finishes the job. Contacts whose scores did not move are
    /// not written.
    ///
    /// The scores are ranks among the customers the scoring actor sees, and segments and
    /// campaigns read them tenant-wide: score as an actor who reads every order and edits every
    /// contact (an administrator, or the system). A filter is refused (`filter`): scores from a
    /// part of the orders would be stored as if they ranked everyone.
    pub async fn score_rfm(&self, o: &RfmOptions, mut progress: impl FnMut(&ScoreProgress)) -> Result<RfmRun> {
        if o.filter != Filter::All {
            return Err(Error::invalid(
                "filter",
                FieldErrorCode::Rule,
                "stored scores rank every customer: score without a filter (rfm reports on a part)",
            ));
        }
        let report = self.rfm(o).await?;
        let scored: BTreeSet<ContactId> = report.customers.iter().map(|c| c.contact_id).collect();
        let before = Aggregate::new(Filter::is_null("rfm_code").not()).group_by("id").count();
        let mut stale = Vec::new();
        for r in self.cx.contacts().aggregate(&before).await? {
            if let Value::Id(id) = r.groups[0] {
                let id = ContactId::from_uuid(id);
                if !scored.contains(&id) {
                    stale.push((id, None));
                }
            }
        }
        let cleared = stale.len() as u64;
        let work: Vec<(ContactId, Option<Rfm>)> =
            report.customers.iter().map(|c| (c.contact_id, Some(c.rfm.clone()))).chain(stale).collect();
        let total = work.len() as u64;
        let mut written = 0;
        let mut done = 0;
        for batch in work.chunks(MAX_SCORES_PER_CALL / 20) {
            written += self.cx.contacts().set_rfm(batch.to_vec()).await?;
            done += batch.len() as u64;
            progress(&ScoreProgress { done, total });
        }
        Ok(RfmRun { report, written, cleared })
    }
}

/// The 1–5 score of each value by its percent rank, as SQL's
/// `1 + LEAST(4, FLOOR(5 * PERCENT_RANK() OVER (ORDER BY v)))`: the share of the other values
/// below it. Equal values score alike, by the values below them: the lowest value scores 1, a
/// value above every other scores 5 (a highest value shared by many scores less), five or more
/// distinct values spread over fifths, and a lone value scores 1.
fn quintiles<T: Ord>(values: &[T]) -> Vec<u8> {
    let n = values.len();
    let mut sorted: Vec<&T> = values.iter().collect();
    sorted.sort();
    values
        .iter()
        .map(|v| {
            let below = sorted.partition_point(|s| *s < v);
            // below ≤ n − 1, so the quotient is 0–5 (5 only for the highest).
            1 + (below * 5 / (n - 1).max(1)).min(4) as u8
        })
        .collect()
}

type Summary = (Vec<SegmentSummary>, [[u64; 5]; 5]);

fn summarise(customers: &[CustomerRfm], currency: Option<Currency>) -> Result<Summary> {
    let mut grid = [[0u64; 5]; 5];
    let mut by: BTreeMap<RfmSegment, (u64, u64, Decimal)> = BTreeMap::new();
    for c in customers {
        grid[usize::from(c.rfm.recency - 1)][usize::from(c.rfm.frequency - 1)] += 1;
        let e = by.entry(c.rfm.segment).or_insert((0, 0, Decimal::ZERO));
        e.0 += 1;
        e.1 += c.orders;
        e.2 = e.2.checked_add(c.spent.amount).ok_or_else(|| {
            Error::invalid("currency", FieldErrorCode::OutOfRange, "a segment's revenue exceeds the largest decimal")
        })?;
    }
    let segments = match currency {
        None => Vec::new(),
        Some(cur) => by
            .into_iter()
            .map(|(segment, (customers, orders, revenue))| SegmentSummary {
                segment,
                customers,
                orders,
                revenue: Money::new(revenue, cur),
            })
            .collect(),
    };
    Ok((segments, grid))
}

#[cfg(test)]
mod tests {
    use super::quintiles;

    #[test]
    fn quintiles_rank_ties_alike_and_spread_distinct_values_over_fifths() {
        assert_eq!(quintiles(&[10, 20, 30, 40, 50]), [1, 2, 3, 4, 5]);
        assert_eq!(quintiles(&[1, 1, 1, 1]), [1, 1, 1, 1]);
        // Ten values: two per fifth.
        assert_eq!(quintiles(&[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]), [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]);
        // Both fives have one of the three others below them; the highest scores 5.
        assert_eq!(quintiles(&[5, 1, 5, 9]), [2, 1, 2, 5]);
        // Of three, the lowest, the middle and the highest.
        assert_eq!(quintiles(&[3, 1, 2]), [5, 1, 3]);
        // A highest value shared: ranked by the one value below.
        assert_eq!(quintiles(&[1, 2, 2]), [1, 3, 3]);
        assert_eq!(quintiles::<i32>(&[]), Vec::<u8>::new());
        assert_eq!(quintiles(&[7]), [1]);
    }
}
