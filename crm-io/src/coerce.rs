//! Cells read as typed values: dates in common formats, numbers with either decimal mark,
//! money with its currency, yes/no, options by their label.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use crm_core::model::FieldType;
use crm_core::money::{Currency, Money};
use crm_core::value::Value;
use rust_decimal::Decimal;
use std::str::FromStr;

/// The separators a multi-value cell may use between its values.
const MULTI: [char; 2] = [';', '|'];

/// The values of a multi-value cell, trimmed, empty ones dropped.
pub(crate) fn multi(cell: &str) -> Vec<String> {
    cell.split(MULTI).map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

/// A date in one of `formats`, then ISO 8601 (`2026-03-01`, also with a time after it).
pub(crate) fn date(cell: &str, formats: &[String]) -> Result<NaiveDate, String> {
    let s = cell.trim();
    for f in formats {
        if let Ok(d) = NaiveDate::parse_from_str(s, f) {
            return Ok(d);
        }
    }
    let day = s.get(..10).unwrap_or(s);
    NaiveDate::parse_from_str(day, "%Y-%m-%d").map_err(|_| {
        let tried = if formats.is_empty() { String::new() } else { format!(" or {}", formats.join(", ")) };
        format!("`{s}` is not a date (expected YYYY-MM-DD{tried})")
    })
}

pub(crate) fn datetime(cell: &str, formats: &[String]) -> Result<DateTime<Utc>, String> {
    let s = cell.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    for f in ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, f) {
            return Ok(t.and_utc());
        }
    }
    date(s, formats).map(|d| d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc())
}

/// A decimal number written with `.` or `,` as its decimal mark and the other as thousands
/// separator (`1,234.50`, `1.234,50`, `1234,5`, `-3`); spaces and apostrophes group digits.
pub(crate) fn decimal(cell: &str) -> Result<Decimal, String> {
    let s: String = cell.trim().chars().filter(|c| !matches!(c, ' ' | '\u{a0}' | '\'')).collect();
    let bad = || format!("`{}` is not a number", cell.trim());
    let (dot, comma) = (s.rfind('.'), s.rfind(','));
    let plain = match (dot, comma) {
        (Some(d), Some(c)) if c > d => s.replace('.', "").replace(',', "."),
        (Some(_), Some(_)) => s.replace(',', ""),
        // A single comma followed by exactly three digits groups thousands (`1,234`); any
        // other comma is the decimal mark (`12,5`).
        (None, Some(c)) if s.matches(',').count() > 1 || s.len() - c == 4 => s.replace(',', ""),
        (None, Some(_)) => s.replace(',', "."),
        _ => s,
    };
    if plain.is_empty() {
        return Err(bad());
    }
    Decimal::from_str_exact(&plain).map_err(|_| bad())
}

/// Money as `12.50 EUR`, `EUR 12.50` or `€12.50`-free text: an amount and an ISO currency code.
pub(crate) fn money(cell: &str) -> Result<Money, String> {
    let s = cell.trim();
    let bad = || format!("`{s}` is not money (expected an amount and a currency code, e.g. `12.50 EUR`)");
    let (a, b) = s.split_once(' ').ok_or_else(bad)?;
    let (amount, code) = if a.chars().all(|c| c.is_ascii_alphabetic()) { (b, a) } else { (a, b) };
    let currency = Currency::from_code(&code.trim().to_ascii_uppercase()).ok_or_else(bad)?;
    Ok(Money::new(decimal(amount).map_err(|_| bad())?, currency))
}

/// Yes or no, as people write it.
pub(crate) fn boolean(cell: &str) -> Result<bool, String> {
    match cell.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "y" | "1" | "x" | "on" => Ok(true),
        "false" | "no" | "n" | "0" | "off" => Ok(false),
        other => Err(format!("`{other}` is not yes or no")),
    }
}

/// An option of a fixed list, by its name or its label (`Trade Show` is `trade_show`), or by
/// one of `synonyms`.
pub(crate) fn option<T: FromStr>(cell: &str, synonyms: &[(&str, &str)]) -> Result<T, String> {
    let key: String = cell
        .trim()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' })
        .collect::<String>()
        .split('_')
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("_");
    let key = synonyms.iter().find(|(from, _)| *from == key).map_or(key.as_str(), |(_, to)| to);
    T::from_str(key).map_err(|_| format!("`{}` is not a known option", cell.trim()))
}

/// A cell as the value of a custom field of type `ty`.
pub(crate) fn custom(cell: &str, ty: &FieldType, formats: &[String]) -> Result<Value, String> {
    let s = cell.trim();
    Ok(match ty {
        FieldType::Number => {
            let d = decimal(s)?;
            if !d.fract().is_zero() {
                return Err(format!("`{s}` is not a whole number"));
            }
            Value::Int(i64::try_from(d).map_err(|_| format!("`{s}` is out of range"))?)
        }
        FieldType::Decimal => Value::Decimal(decimal(s)?),
        FieldType::Money => Value::Money(money(s)?),
        FieldType::Date => Value::Date(date(s, formats)?),
        FieldType::DateTime => Value::DateTime(datetime(s, formats)?),
        FieldType::Bool => Value::Bool(boolean(s)?),
        FieldType::MultiEnum { .. } => Value::List(multi(s).into_iter().map(Value::Text).collect()),
        FieldType::Reference { .. } => Value::Id(s.parse().map_err(|_| format!("`{s}` is not a record id (a UUID)"))?),
        _ => Value::Text(s.to_owned()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_read_with_either_mark() {
        let d = |s| decimal(s).map(|d| d.to_string());
        assert_eq!(d("1,234.50"), Ok("1234.50".into()));
        assert_eq!(d("1.234,50"), Ok("1234.50".into()));
        assert_eq!(d("12,5"), Ok("12.5".into()));
        assert_eq!(d("1,234"), Ok("1234".into()));
        assert_eq!(d("1'234'567.8"), Ok("1234567.8".into()));
        assert_eq!(d("-3"), Ok("-3".into()));
        assert!(d("12abc").is_err());
        assert!(d("").is_err());
    }

    #[test]
    fn money_needs_its_currency() {
        assert_eq!(money("12.50 EUR").unwrap().to_string(), "12.50 EUR");
        assert_eq!(money("usd 1,000.00").unwrap().to_string(), "1000.00 USD");
        assert!(money("12.50").is_err());
        assert!(money("12.50 XYZ").is_err());
    }

    #[test]
    fn dates_in_the_given_format_then_iso() {
        let us = vec!["%m/%d/%Y".to_owned()];
        assert_eq!(date("1/31/1990", &us), Ok(NaiveDate::from_ymd_opt(1990, 1, 31).unwrap()));
        assert_eq!(date("2026-03-01 10:30", &[]), Ok(NaiveDate::from_ymd_opt(2026, 3, 1).unwrap()));
        let err = date("31.01.1990", &us).unwrap_err();
        assert!(err.contains("%m/%d/%Y"), "{err}");
    }

    #[test]
    fn options_by_label_and_synonym() {
        use crm_core::profile::LeadSource;
        assert_eq!(option::<LeadSource>("Trade Show", &[("trade_show", "event")]), Ok(LeadSource::Event));
        assert_eq!(option::<LeadSource>(" Walk-In ", &[]), Ok(LeadSource::WalkIn));
        assert!(option::<LeadSource>("Carrier pigeon", &[]).is_err());
    }
}
