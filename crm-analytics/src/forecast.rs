//! The sales forecast: open deals by expected close period, weighted by probability and split
//! by forecast category, beside the deals already won in each period.

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDate;
use chrono_tz::Tz;
use crm_core::aggregate::{Aggregate, AggregateRow, Bucket, local_start};
use crm_core::error::{Error, FieldErrorCode, Result};
use crm_core::model::{ForecastCategory, Pipeline};
use crm_core::money::{Currency, Money};
use crm_core::query::{Filter, MAX_PAGE_SIZE, Query};
use crm_core::value::Value;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{Sales, Slice};

/// Most periods one forecast covers.
pub const MAX_PERIODS: u32 = 120;

/// The periods a forecast is broken into.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    /// Calendar months.
    #[default]
    Month,
    /// Calendar quarters.
    Quarter,
}

impl Period {
    pub(crate) fn bucket(self) -> Bucket {
        match self {
            Period::Month => Bucket::Month,
            Period::Quarter => Bucket::Quarter,
        }
    }
}

/// What a forecast covers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ForecastOptions {
    /// Monthly or quarterly.
    pub period: Period,
    /// A day in the first period (default: today, in `time_zone`).
    pub from: Option<NaiveDate>,
    /// How many periods (default 12; 1–[`MAX_PERIODS`]).
    pub periods: u32,
    /// Broken down by owner, pipeline, lead source or campaign too.
    pub by: Option<Slice>,
    /// Only the deals this filter selects (default: every deal the reader sees).
    pub filter: Filter,
    /// The zone whose calendar the periods follow (won deals are placed by when they closed).
    pub time_zone: Tz,
}

impl Default for ForecastOptions {
    fn default() -> Self {
        ForecastOptions {
            period: Period::Month,
            from: None,
            periods: 12,
            by: None,
            filter: Filter::All,
            time_zone: Tz::UTC,
        }
    }
}

/// One line of a forecast: the deals of one period, slice, category and currency.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ForecastRow {
    /// The first day of the period.
    pub period: NaiveDate,
    /// The owner, pipeline or campaign id, or the lead source, when broken down (`None` also for
    /// deals without one).
    pub slice: Option<String>,
    /// The forecast category: the deal's own, else its stage's; won deals are closed.
    pub category: ForecastCategory,
    /// How many deals.
    pub deals: u64,
    /// Their amounts added up.
    pub amount: Money,
    /// Each amount times its win probability (the deal's own, else its stage's; a won deal's
    /// is 100 %, an omitted one's 0), rounded to the currency's minor unit once, at the end.
    pub weighted: Money,
}

/// A forecast: its periods' rows, ordered by period, slice, category and currency.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Forecast {
    /// The first day of the first period.
    pub from: NaiveDate,
    /// The first day after the last period.
    pub to: NaiveDate,
    /// The rows.
    pub rows: Vec<ForecastRow>,
    /// Deals in the periods that have no amount (counted nowhere else).
    pub unpriced: u64,
}

impl Forecast {
    /// The weighted value of each period in each currency, omitted deals left out: the
    /// headline figure.
    pub fn weighted_by_period(&self) -> BTreeMap<(NaiveDate, Currency), Money> {
        let mut out: BTreeMap<(NaiveDate, Currency), Money> = BTreeMap::new();
        for r in self.rows.iter().filter(|r| r.category != ForecastCategory::Omitted) {
            let c = r.weighted.currency;
            let e = out.entry((r.period, c)).or_insert_with(|| Money::zero(c));
            e.amount += r.weighted.amount;
        }
        out
    }
}

/// Running totals of one forecast row: deals, amount, exact weighted amount.
type Totals = (u64, Decimal, Decimal);
type RowKey = (NaiveDate, Option<String>, ForecastCategory, Currency);

impl Sales<'_> {
    /// The forecast of the deals the reader sees: open deals by the period of their expected
    /// close, weighted and categorised, and won deals by the period they closed in.
    pub async fn forecast(&self, o: &ForecastOptions) -> Result<Forecast> {
        if o.periods == 0 || o.periods > MAX_PERIODS {
            return Err(Error::invalid("periods", FieldErrorCode::OutOfRange, format!("1–{MAX_PERIODS} periods")));
        }
        let bucket = o.period.bucket();
        let tz = o.time_zone;
        let from = bucket.start(o.from.unwrap_or_else(|| self.cx.now().with_timezone(&tz).date_naive()));
        let mut to = from;
        for _ in 0..o.periods {
            to = bucket.next(to).ok_or_else(|| {
                Error::invalid("from", FieldErrorCode::OutOfRange, "the periods run past the calendar")
            })?;
        }
        let stages = self.stages().await?;
        let slice = |a: Aggregate| match o.by {
            Some(s) => a.group_by(s.field()),
            None => a,
        };
        let open = Filter::eq("status", "open")
            .and(Filter::gte("expected_close_date", from))
            .and(Filter::lt("expected_close_date", to));
        let open = Aggregate::new(o.filter.clone().and(open))
            .time_zone(tz)
            .bucket("expected_close_date", bucket)
            .currency("amount")
            .group_by("stage_id")
            .group_by("probability")
            .group_by("forecast_category");
        let open = slice(open).count().sum("amount");
        let won = Filter::eq("status", "won")
            .and(Filter::gte("closed_at", local_start(tz, from)))
            .and(Filter::lt("closed_at", local_start(tz, to)));
        let won =
            Aggregate::new(o.filter.clone().and(won)).time_zone(tz).bucket("closed_at", bucket).currency("amount");
        let won = slice(won).count().sum("amount");

        let mut totals: BTreeMap<RowKey, Totals> = BTreeMap::new();
        let mut unpriced = 0;
        for r in self.cx.deals().aggregate(&open).await? {
            let stage = id(&r.groups[2]).and_then(|s| stages.get(&s));
            let probability = match &r.groups[3] {
                Value::Int(p) => Decimal::from(*p),
                _ => Decimal::from(stage.map_or(0, |s| s.0)),
            };
            let category = match &r.groups[4] {
                Value::Text(c) => c.parse().unwrap_or(ForecastCategory::Pipeline),
                _ => stage.map_or(ForecastCategory::Pipeline, |s| s.1),
            };
            let weight = if category == ForecastCategory::Omitted { Decimal::ZERO } else { probability };
            add(&mut totals, &mut unpriced, &r, 5, category, weight)?;
        }
        for r in self.cx.deals().aggregate(&won).await? {
            add(&mut totals, &mut unpriced, &r, 2, ForecastCategory::Closed, Decimal::ONE_HUNDRED)?;
        }
        let rows = totals
            .into_iter()
            .map(|((period, slice, category, currency), (deals, amount, weighted))| ForecastRow {
                period,
                slice,
                category,
                deals,
                amount: Money::new(amount, currency),
                weighted: Money::new(weighted / Decimal::ONE_HUNDRED, currency).rounded(),
            })
            .collect();
        Ok(Forecast { from, to, rows, unpriced })
    }

    /// Every stage the reader's pipelines have: its probability and category.
    pub(crate) async fn stages(&self) -> Result<HashMap<Uuid, (u8, ForecastCategory)>> {
        let mut out = HashMap::new();
        let mut q = Query::new(Filter::All).limit(MAX_PAGE_SIZE);
        loop {
            let page = self.cx.pipelines().list(&q).await?;
            for p in &page.items {
                out.extend(stages_of(p));
            }
            match page.next {
                Some(c) => q.after = Some(c),
                None => return Ok(out),
            }
        }
    }
}

fn stages_of(p: &Pipeline) -> impl Iterator<Item = (Uuid, (u8, ForecastCategory))> + '_ {
    p.stages.iter().map(|s| (s.id.into(), (s.probability, s.category())))
}

fn id(v: &Value) -> Option<Uuid> {
    match v {
        Value::Id(u) => Some(*u),
        _ => None,
    }
}

/// Adds one aggregate row (period, currency, …, the slice at `slice_at`; count, sum) to the
/// totals, weighing its amount by `weight` percent.
fn add(
    totals: &mut BTreeMap<RowKey, Totals>,
    unpriced: &mut u64,
    r: &AggregateRow,
    slice_at: usize,
    category: ForecastCategory,
    weight: Decimal,
) -> Result<()> {
    let deals = match r.values[0] {
        Value::Int(n) => n.max(0) as u64,
        _ => 0,
    };
    let (Value::Date(period), Value::Money(amount)) = (&r.groups[0], &r.values[1]) else {
        *unpriced += deals;
        return Ok(());
    };
    let slice = Slice::key(r.groups.get(slice_at));
    let e = totals.entry((*period, slice, category, amount.currency)).or_insert((0, Decimal::ZERO, Decimal::ZERO));
    let too_large =
        || Error::invalid("amount", FieldErrorCode::OutOfRange, "the forecast's totals exceed the largest decimal");
    e.0 += deals;
    e.1 = e.1.checked_add(amount.amount).ok_or_else(too_large)?;
    e.2 = amount.amount.checked_mul(weight).and_then(|w| e.2.checked_add(w)).ok_or_else(too_large)?;
    Ok(())
}
