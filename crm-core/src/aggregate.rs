//! Aggregate queries: counts, sums, averages, extremes and percentiles of the records a
//! [`Filter`] selects, grouped by fields, currencies and date buckets — what reports are made
//! of, computed where the records are ([`Transaction::aggregate`](crate::store::Transaction::aggregate):
//! SQL stores compile it to one `GROUP BY`; nothing loads a table into memory).
//!
//! ```
//! # futures::executor::block_on(async {
//! use crm_core::prelude::*;
//! use crm_core::aggregate::{Aggregate, Bucket};
//! use crm_core::query::Filter;
//! use rust_decimal::Decimal;
//!
//! let crm = Crm::new(MemoryStore::new());
//! let cx = crm.as_actor(&Actor::system(TenantId::new()));
//! for (name, amount) in [("Small", 1_000), ("Big", 9_000), ("Mid", 5_000)] {
//!     cx.deals().create(NewDeal::new(name).amount(Money::new(Decimal::new(amount, 0), Currency::EUR))).await?;
//! }
//! // Open deals: how many and how much, per currency and month created.
//! let by_month = Aggregate::new(Filter::eq("status", "open"))
//!     .currency("amount")
//!     .bucket("created_at", Bucket::Month)
//!     .count()
//!     .sum("amount");
//! let rows = cx.deals().aggregate(&by_month).await?;
//! assert_eq!(rows.len(), 1);
//! assert_eq!(rows[0].groups[0], Value::Text("EUR".into()));
//! assert_eq!(rows[0].values, vec![Value::Int(3), Value::Money(Money::new(Decimal::new(15_000, 0), Currency::EUR))]);
//! # Ok::<_, Error>(()) }).unwrap();
//! ```
//!
//! Semantics every store follows (the conformance kit checks them against a naive reference):
//! - With no grouping the result is exactly one row, even over no records.
//! - A group key is the field's value, normalised (`1.5` and `1.50` are one group); the
//!   records whose value is null form the null group. Money is grouped by its currency
//!   ([`GroupBy::Currency`]). A list field is grouped by each of its elements
//!   ([`GroupBy::Element`]: a deal with two contacts counts once for each, a record with an
//!   empty list in no group), never by the list as a whole.
//! - Date buckets are named by their first day (a [`Value::Date`]): days, ISO weeks (from
//!   Monday), months, quarters, years. A date falls in its calendar bucket; an instant in the
//!   last bucket whose start — the first instant of its first day in
//!   [`time_zone`](Aggregate::time_zone) — is at or before it, so buckets follow daylight
//!   saving time.
//! - Measures skip null values. `count` never is null; sum, average, minimum, maximum and
//!   percentile of no values are null. Sums are exact: integers sum to an integer (an error
//!   beyond `i64`), decimals to a decimal, money to money. The average is the exact sum divided
//!   by the count, as a decimal (28 significant digits). A percentile is the nearest rank: the
//!   smallest value such that at least the fraction `p` of the values are at or below it.
//! - Money is never combined across currencies: every measure of a money field but a count
//!   needs the aggregate to group by that field's currency, and its result carries it.
//! - Rows are ordered by [`sort`](Aggregate::sort), then by their group keys ascending (null
//!   first), then cut to [`limit`](Aggregate::limit).

use chrono::{DateTime, Datelike, Days, Months, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::query::{Field, Filter, SortOrder};
use crate::value::Value;

pub use crate::model::aggregate_eval::{Fold, Partial, Plan, conform, fraction, nearest_rank};

/// Most groups an aggregate may produce.
pub const MAX_GROUPS: usize = 1_000_000;
/// Most date buckets one grouping may span (e.g. 20,000 days, about 55 years).
pub const MAX_BUCKETS: usize = 20_000;
/// Most group keys in one aggregate.
pub const MAX_GROUP_BY: usize = 8;
/// Most measures in one aggregate.
pub const MAX_MEASURES: usize = 32;

/// A calendar period records are grouped into by a date or instant field.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Bucket {
    /// One day.
    Day,
    /// An ISO week, Monday to Sunday.
    Week,
    /// A calendar month.
    Month,
    /// A calendar quarter (January, April, July, October).
    Quarter,
    /// A calendar year.
    Year,
}

impl Bucket {
    /// The first day of the bucket holding `day`.
    ///
    /// ```
    /// use chrono::NaiveDate;
    /// use crm_core::aggregate::Bucket;
    /// let d = NaiveDate::from_ymd_opt(2026, 8, 20).unwrap(); // a Thursday
    /// assert_eq!(Bucket::Week.start(d), NaiveDate::from_ymd_opt(2026, 8, 17).unwrap());
    /// assert_eq!(Bucket::Quarter.start(d), NaiveDate::from_ymd_opt(2026, 7, 1).unwrap());
    /// ```
    pub fn start(self, day: NaiveDate) -> NaiveDate {
        let first_of = |month: u32| NaiveDate::from_ymd_opt(day.year(), month, 1).unwrap_or(day);
        match self {
            Bucket::Day => day,
            Bucket::Week => day - Days::new(u64::from(day.weekday().num_days_from_monday())),
            Bucket::Month => first_of(day.month()),
            Bucket::Quarter => first_of((day.month() - 1) / 3 * 3 + 1),
            Bucket::Year => first_of(1),
        }
    }

    /// The first day of the bucket after the one starting on `start` (`None` past the calendar's end).
    pub fn next(self, start: NaiveDate) -> Option<NaiveDate> {
        match self {
            Bucket::Day => start.checked_add_days(Days::new(1)),
            Bucket::Week => start.checked_add_days(Days::new(7)),
            Bucket::Month => start.checked_add_months(Months::new(1)),
            Bucket::Quarter => start.checked_add_months(Months::new(3)),
            Bucket::Year => start.checked_add_months(Months::new(12)),
        }
    }

    /// The first day of the bucket before the one starting on `start`.
    fn previous(self, start: NaiveDate) -> Option<NaiveDate> {
        start.pred_opt().map(|d| self.start(d))
    }

    /// The bucket (its first day) of the instant `t` in `tz`: the last bucket whose start
    /// ([`local_start`]) is at or before `t`.
    pub fn of_instant(self, t: DateTime<Utc>, tz: Tz) -> NaiveDate {
        let mut b = self.start(t.with_timezone(&tz).date_naive());
        // Where the local date steps back (a fall-back across midnight), step back with it.
        while t < local_start(tz, b)
            && let Some(p) = self.previous(b)
        {
            b = p;
        }
        while let Some(n) = self.next(b)
            && local_start(tz, n) <= t
        {
            b = n;
        }
        b
    }

    /// The first days of every bucket from the one holding `first` to the one holding
    /// `last`, in order; an error past [`MAX_BUCKETS`] (naming `path`).
    pub fn span(self, first: NaiveDate, last: NaiveDate, path: &str) -> crate::error::Result<Vec<NaiveDate>> {
        let mut out = Vec::new();
        let mut b = self.start(first);
        let end = self.start(last);
        while b <= end {
            if out.len() == MAX_BUCKETS {
                return Err(crate::error::Error::invalid(
                    path,
                    crate::error::FieldErrorCode::OutOfRange,
                    format!(
                        "the values span more than {MAX_BUCKETS} {self:?} buckets: filter a narrower window or use a longer bucket"
                    ),
                ));
            }
            out.push(b);
            match self.next(b) {
                Some(n) => b = n,
                None => break,
            }
        }
        Ok(out)
    }
}

/// The first instant whose local date in `tz` is `day`: local midnight, or the end of a
/// daylight-saving gap that swallows midnight.
pub fn local_start(tz: Tz, day: NaiveDate) -> DateTime<Utc> {
    let midnight = day.and_time(NaiveTime::MIN);
    // Gaps are at most a few hours; step through them a quarter-hour at a time.
    for quarter in 0..(4 * 24) {
        let local = midnight + chrono::Duration::minutes(15 * quarter);
        if let Some(t) = tz.from_local_datetime(&local).earliest() {
            return t.with_timezone(&Utc);
        }
    }
    Utc.from_utc_datetime(&midnight)
}

/// What records are grouped by.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    /// The value of a field (not a list or money).
    Field(Field),
    /// The calendar bucket of a date or instant field.
    Bucket {
        /// The date or instant field.
        field: Field,
        /// The period.
        bucket: Bucket,
    },
    /// The currency of a money field (a [`Value::Text`] ISO code).
    Currency(Field),
    /// Each element of a list field (ids or texts): a record counts once in the group of each
    /// element of its list (twice for an element listed twice), and in no group when the list
    /// is empty.
    Element(Field),
}

impl GroupBy {
    /// The field grouped by.
    pub fn field(&self) -> &Field {
        match self {
            GroupBy::Field(f) | GroupBy::Bucket { field: f, .. } | GroupBy::Currency(f) | GroupBy::Element(f) => f,
        }
    }
}

/// What is computed for each group.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Measure {
    /// How many records.
    Count,
    /// How many records have a value in the field (a non-empty list).
    CountOf(Field),
    /// How many different values the field takes (not for lists).
    CountDistinct(Field),
    /// The sum of an integer, decimal or money field.
    Sum(Field),
    /// The average of an integer, decimal or money field.
    Avg(Field),
    /// The smallest value of a number, money, text, date or instant field.
    Min(Field),
    /// The largest value of a number, money, text, date or instant field.
    Max(Field),
    /// The nearest-rank percentile `p` (0 < p ≤ 1, at most 6 decimals; 0.5 is the median).
    Percentile {
        /// The field.
        field: Field,
        /// The fraction of values at or below the result.
        #[cfg_attr(feature = "openapi", schema(value_type = String, example = "0.9"))]
        p: Decimal,
    },
}

impl Measure {
    /// The field measured (`None` for [`Measure::Count`]).
    pub fn field(&self) -> Option<&Field> {
        match self {
            Measure::Count => None,
            Measure::CountOf(f)
            | Measure::CountDistinct(f)
            | Measure::Sum(f)
            | Measure::Avg(f)
            | Measure::Min(f)
            | Measure::Max(f)
            | Measure::Percentile { field: f, .. } => Some(f),
        }
    }
}

/// A column of an aggregate's rows, to sort by.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AggregateKey {
    /// The group key at this index of [`Aggregate::group_by`].
    Group(usize),
    /// The measure at this index of [`Aggregate::measures`].
    Measure(usize),
}

/// One sort key of an aggregate's rows.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AggregateSort {
    /// The column.
    pub key: AggregateKey,
    /// The direction (null first ascending, last descending).
    pub order: SortOrder,
}

/// An aggregate query over the records of one kind; see the [module docs](self).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Aggregate {
    /// Which records.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(no_recursion))]
    pub filter: Filter,
    /// The group keys, in row order.
    #[serde(default)]
    pub group_by: Vec<GroupBy>,
    /// The measures, in row order.
    #[serde(default)]
    pub measures: Vec<Measure>,
    /// The order of the rows (then by group keys ascending).
    #[serde(default)]
    pub sort: Vec<AggregateSort>,
    /// At most this many rows (1–[`MAX_GROUPS`]); all when `None`.
    #[serde(default)]
    pub limit: Option<usize>,
    /// The zone instants are bucketed in (UTC by default).
    #[serde(default = "utc")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "Europe/Berlin"))]
    pub time_zone: Tz,
}

fn utc() -> Tz {
    Tz::UTC
}

impl Default for Aggregate {
    fn default() -> Self {
        Aggregate::new(Filter::All)
    }
}

impl Aggregate {
    /// An aggregate of the records `filter` selects, with no groups or measures yet.
    pub fn new(filter: Filter) -> Self {
        Aggregate {
            filter,
            group_by: Vec::new(),
            measures: Vec::new(),
            sort: Vec::new(),
            limit: None,
            time_zone: Tz::UTC,
        }
    }
    /// Groups by the value of `field`.
    pub fn group_by(mut self, field: impl Into<Field>) -> Self {
        self.group_by.push(GroupBy::Field(field.into()));
        self
    }
    /// Groups by the `bucket` of a date or instant field.
    pub fn bucket(mut self, field: impl Into<Field>, bucket: Bucket) -> Self {
        self.group_by.push(GroupBy::Bucket { field: field.into(), bucket });
        self
    }
    /// Groups by the currency of a money field.
    pub fn currency(mut self, field: impl Into<Field>) -> Self {
        self.group_by.push(GroupBy::Currency(field.into()));
        self
    }
    /// Groups by each element of a list field ([`GroupBy::Element`]): activities by each of
    /// their contacts (`contact_ids`), deals by each tag.
    pub fn each(mut self, field: impl Into<Field>) -> Self {
        self.group_by.push(GroupBy::Element(field.into()));
        self
    }
    /// Adds a measure.
    pub fn measure(mut self, m: Measure) -> Self {
        self.measures.push(m);
        self
    }
    /// Counts records.
    pub fn count(self) -> Self {
        self.measure(Measure::Count)
    }
    /// Counts records with a value in `field`.
    pub fn count_of(self, field: impl Into<Field>) -> Self {
        self.measure(Measure::CountOf(field.into()))
    }
    /// Counts the different values of `field`.
    pub fn count_distinct(self, field: impl Into<Field>) -> Self {
        self.measure(Measure::CountDistinct(field.into()))
    }
    /// Sums `field`.
    pub fn sum(self, field: impl Into<Field>) -> Self {
        self.measure(Measure::Sum(field.into()))
    }
    /// Averages `field`.
    pub fn avg(self, field: impl Into<Field>) -> Self {
        self.measure(Measure::Avg(field.into()))
    }
    /// The smallest value of `field`.
    pub fn min(self, field: impl Into<Field>) -> Self {
        self.measure(Measure::Min(field.into()))
    }
    /// The largest value of `field`.
    pub fn max(self, field: impl Into<Field>) -> Self {
        self.measure(Measure::Max(field.into()))
    }
    /// The nearest-rank percentile `p` of `field` (`Decimal::new(5, 1)` for the median).
    pub fn percentile(self, field: impl Into<Field>, p: Decimal) -> Self {
        self.measure(Measure::Percentile { field: field.into(), p })
    }
    /// Sorts rows by a column.
    pub fn sort_by(mut self, key: AggregateKey, order: SortOrder) -> Self {
        self.sort.push(AggregateSort { key, order });
        self
    }
    /// Keeps at most `n` rows.
    pub fn limit(mut self, n: usize) -> Self {
        self.limit = Some(n);
        self
    }
    /// Buckets instants in `tz`.
    pub fn time_zone(mut self, tz: Tz) -> Self {
        self.time_zone = tz;
        self
    }
}

/// One row of an aggregate: the group keys, then the measures, in the aggregate's order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AggregateRow {
    /// The group's keys, one per [`Aggregate::group_by`].
    pub groups: Vec<Value>,
    /// The measures, one per [`Aggregate::measures`].
    pub values: Vec<Value>,
}
