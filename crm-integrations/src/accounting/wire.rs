//! What the connectors' wire formats share.

use crm_core::{money::Currency, profile::Address, profile::AddressLabel};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde::de::{Deserializer, Error as _};
use serde_json::value::RawValue;
use url::Url;

use crate::error::{IntegrationError, Result as IResult};

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

/// An API base URL, with the trailing `/` that joining paths needs.
pub(crate) fn base_url(url: &str) -> IResult<Url> {
    let with_slash = if url.ends_with('/') { url.to_owned() } else { format!("{url}/") };
    Url::parse(&with_slash).map_err(|e| IntegrationError::invalid("base_url", format!("`{url}`: {e}")))
}

/// A billing address from an accounting system's parts (None when it holds nothing). A
/// country that is not an ISO 3166 alpha-2 code (both systems keep free text) becomes the
/// last street line.
pub(crate) fn billing_address(
    lines: impl IntoIterator<Item = Option<String>>,
    city: Option<String>,
    region: Option<String>,
    postal_code: Option<String>,
    country: Option<String>,
) -> Option<Address> {
    let mut lines: Vec<String> = lines.into_iter().filter_map(text).collect();
    let country = match text(country) {
        Some(c) if c.len() == 2 && c.chars().all(|ch| ch.is_ascii_alphabetic()) => Some(c.to_ascii_uppercase()),
        Some(c) => {
            lines.push(c);
            None
        }
        None => None,
    };
    let addr = Address {
        label: Some(AddressLabel::Billing),
        lines,
        city: text(city),
        region: text(region),
        postal_code: text(postal_code),
        country,
    };
    (!addr.lines.is_empty() || addr.city.is_some() || addr.postal_code.is_some()).then_some(addr)
}

/// An ISO 4217 currency code, or why not (`field` names it).
pub(crate) fn currency_code(code: Option<&str>, field: &str, system: &'static str) -> IResult<Option<Currency>> {
    match code.map(str::trim).filter(|c| !c.is_empty()) {
        None => Ok(None),
        Some(c) => Currency::from_code(c).map(Some).ok_or_else(|| IntegrationError::Malformed {
            system,
            what: format!("{field}: `{c}` is not an ISO 4217 currency"),
        }),
    }
}
