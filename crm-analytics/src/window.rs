//! Time windows and the dimensions reports are sliced by.

use chrono::{DateTime, Months, Utc};
use crm_core::error::{Error, FieldErrorCode, Result};
use crm_core::query::Filter;
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
    pub(crate) fn key(v: Option<&crm_core::value::Value>) -> Option<String> {
        use crm_core::value::Value;
        match v? {
            Value::Id(u) => Some(u.to_string()),
            Value::Text(t) => Some(t.clone()),
            _ => None,
        }
    }
}
