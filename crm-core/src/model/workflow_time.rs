//! When a workflow runs, in its time zone: [`Delay`]s counted on the local calendar (three
//! days later is the same wall-clock time, across a change to or from summer time), the next
//! time of a date trigger (a birthday's anniversary, three days before an expected close) and
//! the next tick of a cron schedule.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, Duration, LocalResult, Months, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::macros::str_enum;
use crate::model::{Record, Trigger, Workflow};
use crate::query::Field;
use crate::value::Value;

str_enum! {
    /// The unit of a [`Delay`].
    pub enum DelayUnit {
        /** Minutes. */ Minutes = "m",
        /** Hours. */ Hours = "h",
        /** Days (24 hours). */ Days = "d",
        /** Calendar months (the same day of the month, or its last day when shorter). */ Months = "mo",
    }
}

/// A span of time written `30m`, `4h`, `3d` or `1mo`: when a task is due after its workflow
/// runs, how long a step waits.
///
/// ```
/// use crm_core::model::Delay;
/// use chrono::{TimeZone, Utc};
/// let d: Delay = "3d".parse().unwrap();
/// let at = Utc.with_ymd_and_hms(2026, 1, 30, 9, 0, 0).unwrap();
/// assert_eq!(d.after(at), Some(Utc.with_ymd_and_hms(2026, 2, 2, 9, 0, 0).unwrap()));
/// let month: Delay = "1mo".parse().unwrap();
/// assert_eq!(month.after(at), Some(Utc.with_ymd_and_hms(2026, 2, 28, 9, 0, 0).unwrap()));
/// assert!("3 weeks".parse::<Delay>().is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Delay {
    /// How many units.
    pub amount: u32,
    /// Of what.
    pub unit: DelayUnit,
}

/// The longest delay: ten years.
pub const MAX_DELAY_DAYS: u32 = 3660;

impl Delay {
    /// `amount` units.
    pub fn new(amount: u32, unit: DelayUnit) -> Self {
        Self { amount, unit }
    }

    /// The instant this long after `t`, counted in UTC (None past the calendar's end).
    pub fn after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.after_in(t, Tz::UTC)
    }

    /// The instant this long after `t`, minutes and hours on the clock, days and months on the
    /// calendar of `tz`: a day later is the same wall-clock time, even across a change to or
    /// from summer time; a month after 31 January is the last day of February.
    ///
    /// ```
    /// use crm_core::model::Delay;
    /// use chrono::{TimeZone, Utc};
    /// let berlin: chrono_tz::Tz = "Europe/Berlin".parse().unwrap();
    /// // 09:00 in Berlin the day before the clocks go forward (08:00 UTC) ...
    /// let before = Utc.with_ymd_and_hms(2026, 3, 28, 8, 0, 0).unwrap();
    /// // ... a day later is 09:00 in Berlin again: 07:00 UTC, 23 hours on.
    /// let day: Delay = "1d".parse().unwrap();
    /// assert_eq!(day.after_in(before, berlin), Some(Utc.with_ymd_and_hms(2026, 3, 29, 7, 0, 0).unwrap()));
    /// let hours: Delay = "24h".parse().unwrap();
    /// assert_eq!(hours.after_in(before, berlin), Some(Utc.with_ymd_and_hms(2026, 3, 29, 8, 0, 0).unwrap()));
    /// ```
    pub fn after_in(&self, t: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
        self.shift(t, tz, true)
    }

    /// The instant this long before `t` (see [`after_in`](Self::after_in)).
    pub fn before_in(&self, t: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
        self.shift(t, tz, false)
    }

    fn shift(&self, t: DateTime<Utc>, tz: Tz, forward: bool) -> Option<DateTime<Utc>> {
        let n = i64::from(self.amount);
        let n = if forward { n } else { -n };
        match self.unit {
            DelayUnit::Minutes => t.checked_add_signed(Duration::minutes(n)),
            DelayUnit::Hours => t.checked_add_signed(Duration::hours(n)),
            DelayUnit::Days => local(tz, t.with_timezone(&tz).naive_local().checked_add_signed(Duration::days(n))?),
            DelayUnit::Months => {
                let wall = t.with_timezone(&tz).naive_local();
                let m = Months::new(self.amount);
                local(tz, if forward { wall.checked_add_months(m)? } else { wall.checked_sub_months(m)? })
            }
        }
    }

    /// About how many days it spans (a month as 31), for limits.
    pub fn days(&self) -> u64 {
        let n = u64::from(self.amount);
        match self.unit {
            DelayUnit::Minutes => n / 1440,
            DelayUnit::Hours => n / 24,
            DelayUnit::Days => n,
            DelayUnit::Months => n * 31,
        }
    }
}

impl fmt::Display for Delay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.amount, self.unit)
    }
}

impl FromStr for Delay {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let (num, unit) = s.split_at(split);
        let wrong = || format!("`{s}` is not a delay: write a number and a unit, as in 30m, 4h, 3d or 1mo");
        let amount: u32 = num.parse().map_err(|_| wrong())?;
        let unit: DelayUnit = unit.parse().map_err(|_| wrong())?;
        let d = Delay { amount, unit };
        if d.days() > u64::from(MAX_DELAY_DAYS) {
            return Err(format!("`{s}` is longer than {MAX_DELAY_DAYS} days"));
        }
        Ok(d)
    }
}

impl Serialize for Delay {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Delay {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str> as Deserialize>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for Delay {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some("^[0-9]+(m|h|d|mo)$"))
            .description(Some("A span of time: 30m, 4h, 3d or 1mo"))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for Delay {}

/// The instant a wall-clock time of `tz` names: the earlier of two when the clocks go back,
/// and the first time after the gap when they go forward (02:30 on the night the clocks jump
/// from 02:00 to 03:00 is 03:30).
pub fn local(tz: Tz, wall: NaiveDateTime) -> Option<DateTime<Utc>> {
    match tz.from_local_datetime(&wall) {
        LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => Some(t.with_timezone(&Utc)),
        LocalResult::None => match tz.from_local_datetime(&wall.checked_add_signed(Duration::hours(1))?) {
            LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => Some(t.with_timezone(&Utc)),
            LocalResult::None => None,
        },
    }
}

/// The time of day a date trigger on a date field fires when the workflow names none: 09:00.
pub fn default_time_of_day() -> NaiveTime {
    NaiveTime::from_hms_opt(9, 0, 0).unwrap_or(NaiveTime::MIN)
}

/// `date`'s anniversary in `year`: the same day, or 28 February for a 29 February in a
/// common year.
pub fn anniversary(date: NaiveDate, year: i32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(year, date.month(), date.day())
        .or_else(|| NaiveDate::from_ymd_opt(year, date.month(), date.day().saturating_sub(1)))
}

/// Reads a cron expression: five fields (minute, hour, day of month, month, day of week), or
/// an alias such as `@daily`. The error says what is wrong.
pub fn parse_cron(expr: &str) -> Result<croner::Cron, String> {
    croner::Cron::from_str(expr.trim()).map_err(|e| format!("`{expr}` is not a cron expression: {e}"))
}

impl Workflow {
    /// The time zone its dates, delays and schedule are read in (UTC when it names none).
    pub fn tz(&self) -> Tz {
        self.time_zone.unwrap_or(Tz::UTC)
    }

    /// For a date trigger, the first time at or after `now` that it fires for `record`; None
    /// when the record's field is empty, or the time has passed (and it is not yearly).
    pub fn next_due(&self, record: &Record, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let Trigger::Date { field, before, after, yearly, at } = &self.trigger else { return None };
        let tz = self.tz();
        let at = at.unwrap_or_else(default_time_of_day);
        let shift = |t: DateTime<Utc>| match (before, after) {
            (Some(d), _) => d.before_in(t, tz),
            (None, Some(d)) => d.after_in(t, tz),
            (None, None) => Some(t),
        };
        match record.field(&Field::parse(field)) {
            Value::Date(d) if *yearly => {
                let this_year = now.with_timezone(&tz).year();
                (this_year - 1..=this_year + 2)
                    .filter_map(|y| anniversary(d, y))
                    .filter_map(|day| shift(local(tz, day.and_time(at))?))
                    .find(|t| *t >= now)
            }
            Value::Date(d) => shift(local(tz, d.and_time(at))?).filter(|t| *t >= now),
            Value::DateTime(t) => shift(t).filter(|t| *t >= now),
            _ => None,
        }
    }

    /// For a schedule, its first tick after `now`.
    pub fn next_tick(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let Trigger::Schedule { cron } = &self.trigger else { return None };
        let cron = parse_cron(cron).ok()?;
        let tz = self.tz();
        cron.find_next_occurrence(&now.with_timezone(&tz), false).ok().map(|t| t.with_timezone(&Utc))
    }
}
