//! How values become SQL: order-preserving encodings shared by both backends.
//!
//! - Decimals (and money amounts) become text whose byte order is numeric order
//!   ([`decimal_key`]), so they compare exactly on SQLite, which has no decimal type.
//! - Custom field values (and list elements) become *tagged* strings (`n:` number, `m:` money,
//!   `t:` text, …) whose byte order within a tag is the value order ([`tagged`]); the `custom`
//!   column holds these, while the exact record lives in `data`.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use crm_core::value::CustomValues;
use crm_core::{money::Money, value::Value};
use rust_decimal::Decimal;

/// Byte-order-preserving text for a decimal: `decimal_key(a) < decimal_key(b)` ⇔ `a < b`, and
/// equal numbers of different scale (`1.5`, `1.50`) get the same key.
///
/// Layout: a sign class (`0` negative, `1` zero, `2` positive), a three-digit exponent, then
/// the significant digits (nines' complement and a `~` terminator for negatives).
pub fn decimal_key(d: Decimal) -> String {
    if d.is_zero() {
        return "1".to_owned();
    }
    let scale = d.scale() as i32;
    let digits = d.mantissa().unsigned_abs().to_string();
    // value = 0.D × 10^e
    let e = digits.len() as i32 - scale;
    let digits = digits.trim_end_matches('0');
    if d.is_sign_positive() {
        format!("2{:03}{}", e + 500, digits)
    } else {
        let comp: String = digits.bytes().map(|b| char::from(b'9' - (b - b'0'))).collect();
        format!("0{:03}{}~", 999 - (e + 500), comp)
    }
}

/// The key of a money amount's currency column and amount column.
pub fn money_parts(m: &Money) -> (String, String) {
    (m.currency.code().to_owned(), decimal_key(m.amount))
}

/// Days since 0001-01-01 (the stored form of a date).
pub fn date_key(d: NaiveDate) -> i64 {
    i64::from(d.num_days_from_ce())
}

/// Nanoseconds since the Unix epoch, clamped to what an `i64` holds (years 1677–2262).
pub fn datetime_key(t: DateTime<Utc>) -> i64 {
    t.timestamp_nanos_opt().unwrap_or(if t.timestamp() < 0 { i64::MIN } else { i64::MAX })
}

/// The tagged, order-preserving string of a scalar value (`None` for null and lists).
///
/// Numbers (`Int` and `Decimal`) share the tag `n:` so they compare with each other; money is
/// `m:<CUR>:<amount key>` (the amount starts at byte 7, 1-based).
pub fn tagged(v: &Value) -> Option<String> {
    Some(match v {
        Value::Null | Value::List(_) => return None,
        Value::Bool(b) => format!("b:{}", u8::from(*b)),
        Value::Int(i) => format!("n:{}", decimal_key(Decimal::from(*i))),
        Value::Decimal(d) => format!("n:{}", decimal_key(*d)),
        Value::Money(m) => {
            let (cur, amount) = money_parts(m);
            format!("m:{cur}:{amount}")
        }
        Value::Text(s) => format!("t:{s}"),
        Value::Date(d) => format!("d:{:010}", date_key(*d) + 1_000_000_000),
        Value::DateTime(t) => {
            let secs = t.timestamp().saturating_add(10_000_000_000_000);
            format!("z:{secs:014}{:09}", t.timestamp_subsec_nanos())
        }
        Value::Id(u) => format!("i:{}", u.as_hyphenated()),
    })
}

/// The stored JSON of a list (tagged elements), or `None` for null and the empty list.
pub fn tagged_list(v: &Value) -> Option<serde_json::Value> {
    match v {
        Value::List(items) if !items.is_empty() => {
            Some(serde_json::Value::Array(items.iter().filter_map(tagged).map(serde_json::Value::String).collect()))
        }
        _ => None,
    }
}

/// The query form of a record's custom fields: `{key: tagged}` for scalars, `{key: [tagged…]}`
/// for lists; nulls and empty lists are left out (so a missing key means null).
pub fn custom_json(custom: Option<&CustomValues>) -> Option<serde_json::Value> {
    let custom = custom?;
    let mut map = serde_json::Map::new();
    for (k, v) in custom {
        let j = match v {
            Value::List(_) => tagged_list(v),
            other => tagged(other).map(serde_json::Value::String),
        };
        if let Some(j) = j {
            map.insert(k.clone(), j);
        }
    }
    Some(serde_json::Value::Object(map))
}

/// The decimal a [`decimal_key`] was made from (normalised), or `None` for text that is not one.
pub fn decimal_from_key(key: &str) -> Option<Decimal> {
    let (class, rest) = (key.get(..1)?, key.get(1..)?);
    let (negative, body) = match class {
        "1" if rest.is_empty() => return Some(Decimal::ZERO),
        "2" => (false, rest),
        "0" => (true, rest.strip_suffix('~')?),
        _ => return None,
    };
    let exp: i32 = body.get(..3)?.parse().ok()?;
    let digits = body.get(3..)?;
    if digits.is_empty() || digits.len() > 29 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let digits: String =
        if negative { digits.bytes().map(|b| char::from(b'9' - (b - b'0'))).collect() } else { digits.to_owned() };
    let e = if negative { 999 - exp - 500 } else { exp - 500 };
    let mut mantissa: i128 = digits.parse().ok()?;
    // value = 0.D × 10^e = D × 10^(e − len)
    let mut scale = digits.len() as i32 - e;
    while scale < 0 {
        mantissa = mantissa.checked_mul(10)?;
        scale += 1;
    }
    if negative {
        mantissa = -mantissa;
    }
    Decimal::try_from_i128_with_scale(mantissa, u32::try_from(scale).ok()?).ok().map(|d| d.normalize())
}

/// The date of a stored date key ([`date_key`]).
pub fn date_from_key(days: i64) -> Option<NaiveDate> {
    NaiveDate::from_num_days_from_ce_opt(i32::try_from(days).ok()?)
}

/// The instant of a stored instant key ([`datetime_key`]).
pub fn datetime_from_key(nanos: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_nanos(nanos)
}

/// The value a [`tagged`] string was made from (numbers as decimals, normalised), or `None`
/// for text that is not one.
pub fn untag(s: &str) -> Option<Value> {
    let body = s.get(2..)?;
    Some(match s.get(..2)? {
        "b:" => Value::Bool(body == "1"),
        "n:" => Value::Decimal(decimal_from_key(body)?),
        "m:" => {
            let currency = crm_core::money::Currency::from_code(body.get(..3)?)?;
            Value::Money(Money::new(decimal_from_key(body.get(4..)?)?, currency))
        }
        "t:" => Value::Text(body.to_owned()),
        "d:" => Value::Date(date_from_key(body.parse::<i64>().ok()? - 1_000_000_000)?),
        "z:" => {
            let secs: i64 = body.get(..14)?.parse().ok()?;
            let nanos: u32 = body.get(14..)?.parse().ok()?;
            Value::DateTime(DateTime::from_timestamp(secs - 10_000_000_000_000, nanos)?)
        }
        "i:" => Value::Id(body.parse().ok()?),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[test]
    fn decimal_keys_sort_numerically() {
        let nums = [
            "-79228162514264337593543950335",
            "-1000",
            "-12.5",
            "-12.4999",
            "-12.4",
            "-1",
            "-0.5",
            "-0.05",
            "-0.0000000000000000000000000001",
            "0",
            "0.0000000000000000000000000001",
            "0.05",
            "0.5",
            "1",
            "1.0000001",
            "9.99",
            "10",
            "12.4",
            "12.5",
            "100",
            "79228162514264337593543950335",
        ];
        let keys: Vec<String> = nums.iter().map(|n| decimal_key(Decimal::from_str(n).unwrap())).collect();
        for w in keys.windows(2) {
            assert!(w[0] < w[1], "{} !< {}", w[0], w[1]);
        }
        assert_eq!(decimal_key(Decimal::from_str("1.50").unwrap()), decimal_key(Decimal::from_str("1.5").unwrap()));
        assert_eq!(decimal_key(Decimal::from_str("-0.00").unwrap()), decimal_key(Decimal::ZERO));
        assert_eq!(tagged(&Value::Int(12)), tagged(&Value::Decimal(Decimal::from_str("12.000").unwrap())));
        for n in nums.iter().chain(&["1.50", "-0.00", "1200", "-1200.5", "0.1", "-0.1"]) {
            let d = Decimal::from_str(n).unwrap();
            assert_eq!(decimal_from_key(&decimal_key(d)), Some(d.normalize()), "{n}");
        }
        for bad in ["", "3001", "2", "2500", "0500x~", "1x", "2abc12"] {
            assert_eq!(decimal_from_key(bad), None, "{bad}");
        }
    }

    #[test]
    fn tagged_values_untag_to_what_they_were() {
        let t = DateTime::parse_from_rfc3339("1969-12-31T23:59:59.123456789Z").unwrap().to_utc();
        let values = [
            Value::Bool(true),
            Value::Decimal(Decimal::from_str("-12.5").unwrap()),
            Value::Money(Money::new(Decimal::from_str("10.25").unwrap(), crm_core::money::Currency::JPY)),
            Value::Text("t:ext".into()),
            Value::Date(NaiveDate::from_ymd_opt(-40, 2, 29).unwrap()),
            Value::DateTime(t),
            Value::Id(uuid::Uuid::now_v7()),
        ];
        for v in values {
            assert_eq!(untag(&tagged(&v).unwrap()), Some(v.clone()), "{v:?}");
        }
        assert_eq!(
            date_from_key(date_key(NaiveDate::from_ymd_opt(2026, 12, 7).unwrap())),
            NaiveDate::from_ymd_opt(2026, 12, 7)
        );
        assert_eq!(datetime_from_key(datetime_key(t)), t);
        assert_eq!(untag("q:1"), None);
    }

    #[test]
    fn tagged_times_sort_in_time_order() {
        let a = DateTime::parse_from_rfc3339("1969-12-31T23:59:59.999999999Z").unwrap().to_utc();
        let b = DateTime::parse_from_rfc3339("1970-01-01T00:00:00Z").unwrap().to_utc();
        let c = DateTime::parse_from_rfc3339("2024-05-01T10:00:00.5Z").unwrap().to_utc();
        let keys: Vec<String> = [a, b, c].iter().map(|t| tagged(&Value::DateTime(*t)).unwrap()).collect();
        assert!(keys[0] < keys[1] && keys[1] < keys[2], "{keys:?}");
        assert!(datetime_key(a) < datetime_key(b) && datetime_key(b) < datetime_key(c));
        let d1 = NaiveDate::from_ymd_opt(-40, 1, 1).unwrap();
        let d2 = NaiveDate::from_ymd_opt(2024, 1, 1).unwrap();
        assert!(tagged(&Value::Date(d1)).unwrap() < tagged(&Value::Date(d2)).unwrap());
    }
}
