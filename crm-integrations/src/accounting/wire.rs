//! What the connectors' wire formats share.

use rust_decimal::Decimal;
use serde::Deserialize;
use serde::de::{Deserializer, Error as _};
use serde_json::value::RawValue;

/// A decimal read from the JSON number's own text, exactly (never through `f64`); a quoted
/// number is accepted too.
pub(crate) fn decimal<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Decimal>, D::Error> {
    let raw: Option<Box<RawValue>> = Option::deserialize(d)?;
    let Some(raw) = raw else { return Ok(None) };
    let t = raw.get().trim();
    if t == "null" {
        return Ok(None);
    }
    let t = t.trim_matches('"');
    Decimal::from_str_exact(t)
        .or_else(|_| Decimal::from_scientific(t))
        .map(Some)
        .map_err(|e| D::Error::custom(format!("`{t}` is not a decimal: {e}")))
}

/// Trimmed text; blank is None.
pub(crate) fn text(s: Option<String>) -> Option<String> {
    s.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}
