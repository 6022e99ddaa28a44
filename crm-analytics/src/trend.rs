//! The win rate over time: deals won and lost per month or quarter of closing, overall or per
//! owner, pipeline, lead source or campaign.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use chrono_tz::Tz;
use crm_core::aggregate::Aggregate;
use crm_core::error::Result;
use crm_core::query::Filter;
use crm_core::value::Value;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::performance::count;
use crate::{Period, Sales, Slice, Window, share};

/// What a win-rate trend covers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrendOptions {
    /// The deals closed in this window count (default: the trailing 12 months).
    pub window: Option<Window>,
    /// Months or quarters.
    pub period: Period,
    /// One line per owner, pipeline, lead source or campaign.
    pub by: Option<Slice>,
    /// Only the deals this filter selects.
    pub filter: Filter,
    /// The time zone whose calendar the periods follow.
    pub time_zone: Tz,
}

impl Default for TrendOptions {
    fn default() -> Self {
        TrendOptions { window: None, period: Period::Month, by: None, filter: Filter::All, time_zone: Tz::UTC }
    }
}

/// One period of one line.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrendPoint {
    /// The first day of the period.
    pub period: NaiveDate,
    /// The owner, pipeline or campaign id, or the lead source (`None` when not broken down, or
    /// for deals without one).
    pub slice: Option<String>,
    /// Deals won in the period.
    pub won: u64,
    /// Deals lost in the period.
    pub lost: u64,
    /// Won ÷ (won + lost), 0–1; `None` when none closed.
    pub win_rate: Option<Decimal>,
}

/// The win rate per period: every period of the window for every line (zeros where nothing
/// closed), ordered by line, then period.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WinRateTrend {
    /// The window deals were closed in.
    pub window: Window,
    /// Months or quarters.
    pub period: Period,
    /// The points.
    pub points: Vec<TrendPoint>,
}

impl Sales<'_> {
    /// Deals won and lost, and the win rate, per period of closing.
    pub async fn win_rate_trend(&self, o: &TrendOptions) -> Result<WinRateTrend> {
        let window = o.window.unwrap_or_else(|| Window::trailing_months(self.cx.now(), 12));
        window.check()?;
        let (bucket, tz) = (o.period.bucket(), o.time_zone);
        let closed = Filter::is_in("status", ["won", "lost"]).and(window.filter("closed_at"));
        let mut a =
            Aggregate::new(o.filter.clone().and(closed)).time_zone(tz).bucket("closed_at", bucket).group_by("status");
        if let Some(s) = o.by {
            a = a.group_by(s.field());
        }
        let mut lines: BTreeMap<Option<String>, BTreeMap<NaiveDate, (u64, u64)>> = BTreeMap::new();
        for r in self.cx.deals().aggregate(&a.count()).await? {
            let Value::Date(period) = r.groups[0] else { continue };
            let slice = o.by.and_then(|_| Slice::key(r.groups.get(2)));
            let e = lines.entry(slice).or_default().entry(period).or_default();
            if r.groups[1] == Value::Text("won".into()) {
                e.0 += count(&r.values[0]);
            } else {
                e.1 += count(&r.values[0]);
            }
        }
        if o.by.is_none() {
            lines.entry(None).or_default();
        }
        let periods = periods(bucket, tz, &window)?;
        let points = lines
            .into_iter()
            .flat_map(|(slice, counts)| {
                periods.iter().map(move |p| {
                    let (won, lost) = counts.get(p).copied().unwrap_or_default();
                    let win_rate = share(Decimal::from(won), Decimal::from(won + lost));
                    TrendPoint { period: *p, slice: slice.clone(), won, lost, win_rate }
                })
            })
            .collect();
        Ok(WinRateTrend { window, period: o.period, points })
    }
}

/// Every period a deal closed in the window could fall in, oldest first.
fn periods(bucket: crm_core::aggregate::Bucket, tz: Tz, w: &Window) -> Result<Vec<NaiveDate>> {
    // The window's last instant (it ends before `to`; it starts before that, so this is in it).
    let last = w.to.checked_sub_signed(chrono::Duration::nanoseconds(1)).unwrap_or(w.from).max(w.from);
    bucket.span(bucket.of_instant(w.from, tz), bucket.of_instant(last, tz), "window")
}
