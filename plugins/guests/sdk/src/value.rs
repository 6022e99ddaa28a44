//! Helpers on field values, fields and money.

use crate::decimal::{self, Decimal, NumberError};
use crate::{Field, FieldValue, Money};

impl FieldValue {
    /// True for [`FieldValue::Null`] and for empty lists, which the host treats as "no value".
    pub fn is_null(&self) -> bool {
        match self {
            FieldValue::Null => true,
            FieldValue::TextList(l) | FieldValue::IdList(l) => l.is_empty(),
            _ => false,
        }
    }

    /// The text of a `text` value (text, email, url, phone and single-select fields).
    pub fn as_text(&self) -> Option<&str> {
        match self {
            FieldValue::Text(s) => Some(s),
            _ => None,
        }
    }

    /// The number of an `integer` value.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            FieldValue::Integer(i) => Some(*i),
            _ => None,
        }
    }

    /// The flag of a `boolean` value.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            FieldValue::Boolean(b) => Some(*b),
            _ => None,
        }
    }

    /// The number of a `decimal` or `integer` value; `None` for other cases or a malformed
    /// decimal string (the host only sends well-formed ones).
    pub fn as_decimal(&self) -> Option<Decimal> {
        match self {
            FieldValue::Decimal(s) => decimal::parse_decimal(s).ok(),
            FieldValue::Integer(i) => Some(Decimal::from(*i)),
            _ => None,
        }
    }

    /// The money of a `money` value.
    pub fn as_money(&self) -> Option<&Money> {
        match self {
            FieldValue::Money(m) => Some(m),
            _ => None,
        }
    }

    /// The items of a `text-list` or `id-list` value.
    pub fn as_list(&self) -> Option<&[String]> {
        match self {
            FieldValue::TextList(l) | FieldValue::IdList(l) => Some(l),
            _ => None,
        }
    }

    /// The id of an `id` value.
    pub fn as_id(&self) -> Option<&str> {
        match self {
            FieldValue::Id(s) => Some(s),
            _ => None,
        }
    }

    /// The date (`YYYY-MM-DD`) of a `date` value.
    pub fn as_date(&self) -> Option<&str> {
        match self {
            FieldValue::Date(s) => Some(s),
            _ => None,
        }
    }

    /// The instant (RFC 3339) of a `datetime` value.
    pub fn as_datetime(&self) -> Option<&str> {
        match self {
            FieldValue::Datetime(s) => Some(s),
            _ => None,
        }
    }

    /// A short name of the case, for messages (`"integer"`, `"money"`…).
    pub fn type_name(&self) -> &'static str {
        match self {
            FieldValue::Null => "null",
            FieldValue::Boolean(_) => "boolean",
            FieldValue::Integer(_) => "integer",
            FieldValue::Decimal(_) => "decimal",
            FieldValue::Money(_) => "money",
            FieldValue::Text(_) => "text",
            FieldValue::Date(_) => "date",
            FieldValue::Datetime(_) => "datetime",
            FieldValue::Id(_) => "id",
            FieldValue::TextList(_) => "text-list",
            FieldValue::IdList(_) => "id-list",
        }
    }

    /// A `decimal` value.
    pub fn decimal(d: Decimal) -> Self {
        FieldValue::Decimal(decimal::format_decimal(d))
    }

    /// A `date` value; the text must be `YYYY-MM-DD`.
    pub fn date(s: impl Into<String>) -> Self {
        FieldValue::Date(s.into())
    }

    /// A `text-list` value (multi-select options, tags).
    pub fn text_list<S: Into<String>>(items: impl IntoIterator<Item = S>) -> Self {
        FieldValue::TextList(items.into_iter().map(Into::into).collect())
    }
}

impl From<bool> for FieldValue {
    fn from(b: bool) -> Self {
        FieldValue::Boolean(b)
    }
}

impl From<i64> for FieldValue {
    fn from(i: i64) -> Self {
        FieldValue::Integer(i)
    }
}

impl From<i32> for FieldValue {
    fn from(i: i32) -> Self {
        FieldValue::Integer(i.into())
    }
}

impl From<u32> for FieldValue {
    fn from(i: u32) -> Self {
        FieldValue::Integer(i.into())
    }
}

impl From<Decimal> for FieldValue {
    fn from(d: Decimal) -> Self {
        FieldValue::decimal(d)
    }
}

impl From<Money> for FieldValue {
    fn from(m: Money) -> Self {
        FieldValue::Money(m)
    }
}

impl From<&str> for FieldValue {
    fn from(s: &str) -> Self {
        FieldValue::Text(s.to_owned())
    }
}

impl From<String> for FieldValue {
    fn from(s: String) -> Self {
        FieldValue::Text(s)
    }
}

impl<T: Into<FieldValue>> From<Option<T>> for FieldValue {
    fn from(v: Option<T>) -> Self {
        v.map_or(FieldValue::Null, Into::into)
    }
}

impl Field {
    /// A named value: `Field::new("bedrooms", 3)`, `Field::new("price_per_bedroom", None::<Money>)`.
    pub fn new(name: impl Into<String>, value: impl Into<FieldValue>) -> Self {
        Field { name: name.into(), value: value.into() }
    }
}

impl Money {
    /// An amount in `currency` (ISO 4217, upper-cased here), keeping the amount's scale.
    ///
    /// ```
    /// use crm_plugin_sdk::{Money, decimal::Decimal};
    /// let m = Money::new(Decimal::new(125000, 2), "eur");
    /// assert_eq!((m.amount.as_str(), m.currency.as_str()), ("1250.00", "EUR"));
    /// ```
    pub fn new(amount: Decimal, currency: &str) -> Self {
        Money { amount: decimal::format_decimal(amount), currency: currency.trim().to_ascii_uppercase() }
    }

    /// An amount given as a decimal string, checked: `Money::parse("19.99", "EUR")`.
    pub fn parse(amount: &str, currency: &str) -> Result<Self, NumberError> {
        Ok(Money::new(decimal::parse_decimal(amount)?, currency))
    }

    /// An amount in minor units: `Money::from_minor(1999, "EUR")` is 19.99 EUR, and
    /// `Money::from_minor(1999, "JPY")` is 1999 JPY.
    pub fn from_minor(minor: i64, currency: &str) -> Self {
        Money::new(Decimal::new(minor, decimal::minor_digits(currency)), currency)
    }

    /// The amount as an exact decimal.
    pub fn to_decimal(&self) -> Result<Decimal, NumberError> {
        decimal::parse_decimal(&self.amount)
    }

    /// The currency's minor-unit digits (2 for EUR, 0 for JPY, 3 for KWD).
    pub fn minor_digits(&self) -> u32 {
        decimal::minor_digits(&self.currency)
    }

    /// The amount rounded to the currency's minor unit, half away from zero (as the CRM rounds).
    pub fn rounded(&self) -> Result<Money, NumberError> {
        let d = decimal::round_half_away(self.to_decimal()?, self.minor_digits());
        Ok(Money { amount: decimal::format_decimal(d), currency: self.currency.clone() })
    }

    /// The amount in minor units (`19.99 EUR` → 1999), after rounding to the minor unit.
    pub fn to_minor(&self) -> Result<i64, NumberError> {
        let d = decimal::round_half_away(self.to_decimal()?, self.minor_digits());
        d.mantissa().try_into().map_err(|_| NumberError::Overflow)
    }

    /// This amount divided by `divisor`, rounded to the currency's minor unit, half away
    /// from zero: `1000.00 EUR / 3` is `333.33 EUR`.
    pub fn div_rounded(&self, divisor: Decimal) -> Result<Money, NumberError> {
        let q = decimal::checked_div(self.to_decimal()?, divisor)?;
        let d = decimal::round_half_away(q, self.minor_digits());
        Ok(Money { amount: decimal::format_decimal(d), currency: self.currency.clone() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nulls_and_empty_lists_are_no_value() {
        assert!(FieldValue::Null.is_null());
        assert!(FieldValue::TextList(vec![]).is_null());
        assert!(!FieldValue::Integer(0).is_null());
        assert!(!FieldValue::Text(String::new()).is_null());
    }

    #[test]
    fn conversions_pick_the_right_case() {
        assert_eq!(FieldValue::from(3), FieldValue::Integer(3));
        assert_eq!(FieldValue::from("sold"), FieldValue::Text("sold".into()));
        assert_eq!(FieldValue::from(None::<i64>), FieldValue::Null);
        assert_eq!(FieldValue::from(Some(true)), FieldValue::Boolean(true));
        assert_eq!(FieldValue::from(Decimal::new(150, 2)), FieldValue::Decimal("1.50".into()));
        assert_eq!(FieldValue::text_list(["a", "b"]).as_list(), Some(&["a".to_owned(), "b".to_owned()][..]));
        assert_eq!(FieldValue::Integer(4).as_decimal(), Some(Decimal::new(4, 0)));
        assert_eq!(FieldValue::Decimal("x".into()).as_decimal(), None);
        assert_eq!(FieldValue::Text("3".into()).as_int(), None);
    }

    #[test]
    fn money_from_minor_units_respects_the_currency() {
        assert_eq!(Money::from_minor(1999, "EUR").amount, "19.99");
        assert_eq!(Money::from_minor(1999, "JPY").amount, "1999");
        assert_eq!(Money::from_minor(-5, "KWD").amount, "-0.005");
        assert_eq!(Money::parse("19.99", "eur").unwrap().to_minor().unwrap(), 1999);
        assert_eq!(Money::parse("0.005", "EUR").unwrap().to_minor().unwrap(), 1);
    }

    #[test]
    fn money_rejects_malformed_amounts() {
        assert!(Money::parse("12,50", "EUR").is_err());
        let m = Money { amount: "1e3".into(), currency: "EUR".into() };
        assert!(m.to_decimal().is_err());
        assert!(m.rounded().is_err());
    }

    #[test]
    fn division_rounds_to_the_minor_unit() {
        let m = Money::parse("1000.00", "EUR").unwrap();
        assert_eq!(m.div_rounded(Decimal::new(3, 0)).unwrap(), Money::parse("333.33", "EUR").unwrap());
        assert_eq!(m.div_rounded(Decimal::new(6, 0)).unwrap().amount, "166.67");
        let yen = Money::parse("1000", "JPY").unwrap();
        assert_eq!(yen.div_rounded(Decimal::new(3, 0)).unwrap().amount, "333");
        let midpoint = Money::parse("0.05", "EUR").unwrap();
        assert_eq!(midpoint.div_rounded(Decimal::new(2, 0)).unwrap().amount, "0.03");
        assert_eq!(m.div_rounded(Decimal::ZERO), Err(NumberError::DivisionByZero));
    }
}
