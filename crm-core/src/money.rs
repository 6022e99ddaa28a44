//! Money: a `rust_decimal` amount with an ISO 4217 currency. Never `f64`.

use std::fmt;

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

pub use iso_currency::Currency;

use crate::error::{Error, FieldErrorCode, Result};

/// An amount of money in one currency.
///
/// ```
/// use crm_core::{money::Money, money::Currency};
/// use rust_decimal::Decimal;
/// let a = Money::new(Decimal::new(1999, 2), Currency::EUR);
/// let b = Money::new(Decimal::new(1, 2), Currency::EUR);
/// assert_eq!(a.checked_add(&b).unwrap().to_string(), "20.00 EUR");
/// assert!(a.checked_add(&Money::new(Decimal::ONE, Currency::USD)).is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Money {
    /// The amount, in major units (e.g. `12.50`).
    pub amount: Decimal,
    /// The ISO 4217 currency.
    #[cfg_attr(feature = "openapi", schema(value_type = String, pattern = "^[A-Z]{3}$", example = "EUR"))]
    pub currency: Currency,
}

impl Money {
    /// Builds an amount in `currency`.
    pub fn new(amount: Decimal, currency: Currency) -> Self {
        Self { amount, currency }
    }

    /// Zero in `currency`.
    pub fn zero(currency: Currency) -> Self {
        Self { amount: Decimal::ZERO, currency }
    }

    /// Parses an ISO currency code such as `"EUR"`.
    pub fn currency_from_code(code: &str) -> Result<Currency> {
        Currency::from_code(&code.trim().to_ascii_uppercase()).ok_or_else(|| {
            Error::invalid(
                "currency",
                FieldErrorCode::InvalidFormat,
                format!("`{code}` is not an ISO 4217 currency code"),
            )
        })
    }

    /// Minor-unit digits of the currency (2 for EUR, 0 for JPY, 3 for KWD).
    pub fn minor_digits(&self) -> u32 {
        self.currency.exponent().map(u32::from).unwrap_or(2)
    }

    /// Rounded to the currency's minor unit, half away from zero (commercial rounding).
    pub fn rounded(&self) -> Money {
        let mut amount =
            self.amount.round_dp_with_strategy(self.minor_digits(), RoundingStrategy::MidpointAwayFromZero);
        amount.rescale(self.minor_digits());
        Money { amount, currency: self.currency }
    }

    /// Sum of two amounts; refuses to mix currencies.
    pub fn checked_add(&self, other: &Money) -> Result<Money> {
        if self.currency != other.currency {
            return Err(Error::invalid(
                "currency",
                FieldErrorCode::CurrencyMismatch,
                format!("cannot add {} to {}", other.currency.code(), self.currency.code()),
            ));
        }
        Ok(Money { amount: self.amount + other.amount, currency: self.currency })
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = self.rounded();
        write!(f, "{} {}", r.amount, r.currency.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_to_the_currency_minor_unit() {
        assert_eq!(Money::new(Decimal::new(12345, 3), Currency::EUR).rounded().amount.to_string(), "12.35");
        assert_eq!(Money::new(Decimal::new(12345, 3), Currency::JPY).rounded().amount.to_string(), "12");
        assert_eq!(Money::new(Decimal::new(12345, 4), Currency::KWD).rounded().amount.to_string(), "1.235");
        assert_eq!(Money::new(Decimal::new(-125, 2), Currency::USD).rounded().amount.to_string(), "-1.25");
        assert_eq!(Money::new(Decimal::new(-1255, 3), Currency::USD).rounded().amount.to_string(), "-1.26");
    }

    #[test]
    fn currency_codes_parse_case_insensitively_and_reject_junk() {
        assert_eq!(Money::currency_from_code("eur").unwrap(), Currency::EUR);
        let err = Money::currency_from_code("EURO").unwrap_err();
        assert!(err.names_field("currency"));
    }

    #[test]
    fn serde_keeps_exact_decimals() {
        let m = Money::new(Decimal::new(1000000000000000001, 2), Currency::USD);
        let json = serde_json::to_string(&m).unwrap();
        assert_eq!(json, r#"{"amount":"10000000000000000.01","currency":"USD"}"#);
        assert_eq!(serde_json::from_str::<Money>(&json).unwrap(), m);
    }
}
