//! Time windows and the dimensions reports are sliced by.

use chrono::{DateTime, Months, Utc};
use crm_core::error::{Error, FieldErrorCode, Result};
use crm_core::query::Filter;
use crm_core::value::Value;
use serde::{Deserialize, Serialize};

/// A span of time: from `from` (included) to `to` (excluded).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    /// The first instant in the window.
    pub from: DateTime<Utc>,
    /// The first instant after it.
    pub to: DateTime<Utc>,
}

impl Window {
    /// The `months` calendar months up to `now` (the default window is 12).
    ///
    /// ```
    /// use chrono::{TimeZone, Utc};
    /// let now = Utc.with_ymd_and_hms(2026, 3, 31, 12, 0, 0).unwrap();
    /// let w = crm_analytics::Window::trailing_months(now, 1);
    /// assert_eq!(w.from, Utc.with_ymd_and_hms(2026, 2, 28, 12, 0, 0).unwrap());
    /// ```
    pub fn trailing_months(now: DateTime<Utc>, months: u32) -> Window {
        Window { from: now.checked_sub_months(Months::new(months)).unwrap_or(DateTime::<Utc>::MIN_UTC), to: now }
    }

    /// The window just before this one, as long: as many calendar months when it spans whole
    /// months of the UTC calendar (the same day of the month and time of day at both ends; a
    /// year before a year across a leap day), else the same duration. A month of another time
    /// zone's calendar is compared by its duration.
    ///
    /// ```
    /// use chrono::{TimeZone, Utc};
    /// let at = |y, m, d| Utc.with_ymd_and_hms(y, m, d, 0, 0, 0).unwrap();
    /// let year = crm_analytics::Window { from: at(2025, 1, 1), to: at(2026, 1, 1) };
    /// assert_eq!(year.previous().from, at(2024, 1, 1));
    /// let days = crm_analytics::Window { from: at(2025, 1, 10), to: at(2025, 1, 17) };
    /// assert_eq!(days.previous().from, at(2025, 1, 3));
    /// ```
    pub fn previous(&self) -> Window {
        use chrono::{Datelike, Timelike};
        let months = (self.to.year() - self.from.year()) * 12 + self.to.month() as i32 - self.from.month() as i32;
        let whole = months > 0
            && self.from.day() == self.to.day()
            && self.from.num_seconds_from_midnight() == self.to.num_seconds_from_midnight();
        let from = if whole { self.from.checked_sub_months(Months::new(months as u32)) } else { None };
        let from =
            from.or_else(|| self.from.checked_sub_signed(self.to - self.from)).unwrap_or(DateTime::<Utc>::MIN_UTC);
        Window { from, to: self.from }
    }

    /// Refuses a window that ends before it starts (or where it starts): an error naming
    /// `window`.
    pub fn check(&self) -> Result<()> {
        if self.from >= self.to {
            return Err(Error::invalid("window", FieldErrorCode::OutOfRange, "the window ends before it starts"));
        }
        Ok(())
    }

    /// The records whose instant `field` falls in the window.
    pub fn filter(&self, field: &str) -> Filter {
        Filter::gte(field, self.from).and(Filter::lt(field, self.to))
    }
}

/// A dimension a report is broken down by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Slice {
    /// The deal's owner.
    Owner,
    /// The deal's pipeline.
    Pipeline,
    /// Where the deal came from (its lead source).
    LeadSource,
    /// The campaign credited with the deal.
    Campaign,
}

impl Slice {
    /// The deal field the slice groups by.
    pub fn field(self) -> &'static str {
        match self {
            Slice::Owner => "owner_id",
            Slice::Pipeline => "pipeline_id",
            Slice::LeadSource => "lead_source",
            Slice::Campaign => "campaign_id",
        }
    }

    /// The key of a row's slice as text: an owner's, pipeline's or campaign's id, or a lead
    /// source; `None` for deals without one.
    pub(crate) fn key(v: Option<&Value>) -> Option<String> {
        key_text(v?)
    }
}

/// A group's key as text: an id, text, a number, a date or an instant as written in JSON;
/// `None` for no value.
pub(crate) fn key_text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::Id(u) => Some(u.to_string()),
        Value::Text(t) => Some(t.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Int(i) => Some(i.to_string()),
        Value::Decimal(d) => Some(d.normalize().to_string()),
        Value::Money(m) => Some(m.to_string()),
        Value::Date(d) => Some(d.to_string()),
        Value::DateTime(t) => Some(t.to_rfc3339()),
        Value::List(items) => Some(items.iter().filter_map(key_text).collect::<Vec<_>>().join(", ")),
    }
}
