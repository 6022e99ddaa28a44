//! Exact decimal numbers as the contract writes them (`"-12.50"`), and currency minor units.
//!
//! The contract never uses floats for numbers that must be exact. Decimal strings are parsed
//! strictly into [`Decimal`] (the same `rust_decimal` type the CRM uses), so a plugin computes
//! with the same precision and rounding as the host.

use core::fmt;
use core::str::FromStr;

pub use rust_decimal::Decimal;
use rust_decimal::RoundingStrategy;

/// Why a number could not be parsed or computed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NumberError {
    /// The text is not a decimal string (`-?digits(.digits)?`).
    Syntax(String),
    /// The number has more digits than a 96-bit decimal holds (28 after the point).
    TooLarge(String),
    /// A division by zero was attempted.
    DivisionByZero,
    /// A result overflowed.
    Overflow,
}

impl fmt::Display for NumberError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NumberError::Syntax(s) => {
                write!(f, "`{s}` is not a decimal number (expected digits, an optional `-` and `.`)")
            }
            NumberError::TooLarge(s) => write!(f, "`{s}` has too many digits for an exact decimal"),
            NumberError::DivisionByZero => f.write_str("division by zero"),
            NumberError::Overflow => f.write_str("the result is too large"),
        }
    }
}

impl std::error::Error for NumberError {}

/// Parses a decimal string as the contract defines it: an optional `-`, at least one ASCII
/// digit, and optionally `.` followed by at least one digit. Nothing else (no `+`, exponent,
/// spaces, `_` or grouping) is accepted, so every host and plugin reads a value the same way.
///
/// ```
/// use crm_plugin_sdk::decimal::{parse_decimal, Decimal};
/// assert_eq!(parse_decimal("-12.50").unwrap(), Decimal::new(-1250, 2));
/// assert!(parse_decimal("1e3").is_err());
/// assert!(parse_decimal(".5").is_err());
/// ```
pub fn parse_decimal(s: &str) -> Result<Decimal, NumberError> {
    let digits = s.strip_prefix('-').unwrap_or(s);
    let (int, frac) = match digits.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (digits, None),
    };
    let all_digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(int) || frac.is_some_and(|f| !all_digits(f)) {
        return Err(NumberError::Syntax(truncate(s)));
    }
    Decimal::from_str_exact(s).or_else(|_| Decimal::from_str(s)).map_err(|_| NumberError::TooLarge(truncate(s)))
}

/// Formats a decimal as a contract decimal string, keeping its scale (`12.50` stays `"12.50"`).
/// Negative zero is written without the sign.
pub fn format_decimal(d: Decimal) -> String {
    let mut d = d;
    if d.is_zero() {
        d.set_sign_positive(true);
    }
    d.to_string()
}

/// Number of minor-unit digits of an ISO 4217 currency: 2 for `EUR`, 0 for `JPY`, 3 for `KWD`.
///
/// Follows the ISO 4217 table the CRM uses; currencies without a minor unit (`XAU`, `XDR`…)
/// and unknown codes count as 2, as in the CRM. Case-insensitive.
pub fn minor_digits(currency: &str) -> u32 {
    const ZERO: &[&str] = &[
        "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI", "VND", "VUV", "XAF", "XOF",
        "XPF",
    ];
    const THREE: &[&str] = &["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"];
    const FOUR: &[&str] = &["CLF", "UYW"];
    let mut code = [0u8; 3];
    if currency.len() != 3 {
        return 2;
    }
    for (c, b) in code.iter_mut().zip(currency.bytes()) {
        *c = b.to_ascii_uppercase();
    }
    let code = core::str::from_utf8(&code).unwrap_or("");
    if ZERO.contains(&code) {
        0
    } else if THREE.contains(&code) {
        3
    } else if FOUR.contains(&code) {
        4
    } else {
        2
    }
}

/// Rounds to `digits` decimal places, half away from zero (commercial rounding, as the CRM
/// rounds money), and pads to exactly that many places (`7.5` → `7.50`).
pub fn round_half_away(d: Decimal, digits: u32) -> Decimal {
    let mut r = d.round_dp_with_strategy(digits, RoundingStrategy::MidpointAwayFromZero);
    r.rescale(digits);
    r
}

/// Divides, failing instead of panicking on zero or overflow.
pub fn checked_div(a: Decimal, b: Decimal) -> Result<Decimal, NumberError> {
    if b.is_zero() {
        return Err(NumberError::DivisionByZero);
    }
    a.checked_div(b).ok_or(NumberError::Overflow)
}

/// Keeps error messages short when a plugin is handed a very long string.
fn truncate(s: &str) -> String {
    const MAX: usize = 64;
    if s.len() <= MAX {
        return s.to_owned();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_contract_decimals_exactly() {
        assert_eq!(parse_decimal("0").unwrap(), Decimal::ZERO);
        assert_eq!(parse_decimal("12.50").unwrap().to_string(), "12.50");
        assert_eq!(parse_decimal("-0.125").unwrap(), Decimal::new(-125, 3));
        assert_eq!(parse_decimal("0.1").unwrap() + parse_decimal("0.2").unwrap(), parse_decimal("0.3").unwrap());
        assert_eq!(parse_decimal("79228162514264337593543950335").unwrap(), Decimal::MAX);
    }

    #[test]
    fn rejects_anything_but_plain_decimals() {
        for bad in ["", "-", ".5", "5.", "+5", "1e3", "1_000", " 1", "1,5", "0x10", "--1", "1.2.3", "١٢"] {
            assert!(matches!(parse_decimal(bad), Err(NumberError::Syntax(_))), "{bad:?} should be rejected");
        }
        assert!(matches!(parse_decimal("79228162514264337593543950336"), Err(NumberError::TooLarge(_))));
    }

    #[test]
    fn overly_precise_fractions_are_rounded_by_the_parser_not_rejected() {
        // 30 fractional digits do not fit; rust_decimal rounds to 28, which is still exact
        // to far below any currency's minor unit.
        let d = parse_decimal("0.123456789012345678901234567891").unwrap();
        assert_eq!(d.scale(), 28);
    }

    #[test]
    fn formats_without_negative_zero() {
        assert_eq!(format_decimal(Decimal::new(-0, 2)), "0.00");
        assert_eq!(format_decimal(-Decimal::new(0, 2)), "0.00");
        assert_eq!(format_decimal(Decimal::new(-1205, 1)), "-120.5");
    }

    #[test]
    fn rounds_half_away_from_zero_and_pads() {
        assert_eq!(round_half_away(Decimal::new(12345, 3), 2).to_string(), "12.35");
        assert_eq!(round_half_away(Decimal::new(-12345, 3), 2).to_string(), "-12.35");
        assert_eq!(round_half_away(Decimal::new(12344, 3), 2).to_string(), "12.34");
        assert_eq!(round_half_away(Decimal::new(75, 1), 2).to_string(), "7.50");
        assert_eq!(round_half_away(Decimal::new(25, 1), 0).to_string(), "3");
    }

    #[test]
    fn division_reports_zero_and_overflow() {
        assert_eq!(checked_div(Decimal::ONE, Decimal::ZERO), Err(NumberError::DivisionByZero));
        assert_eq!(checked_div(Decimal::MAX, Decimal::new(1, 1)), Err(NumberError::Overflow));
        assert_eq!(checked_div(Decimal::new(10, 0), Decimal::new(4, 0)).unwrap(), Decimal::new(25, 1));
    }

    #[test]
    fn minor_digits_match_iso_4217_as_the_crm_uses_it() {
        use iso_currency::Currency;
        let mut known = 0;
        for a in b'A'..=b'Z' {
            for b in b'A'..=b'Z' {
                for c in b'A'..=b'Z' {
                    let bytes = [a, b, c];
                    let code = core::str::from_utf8(&bytes).unwrap();
                    let expected = match Currency::from_code(code) {
                        Some(cur) => {
                            known += 1;
                            cur.exponent().map(u32::from).unwrap_or(2)
                        }
                        None => 2,
                    };
                    assert_eq!(minor_digits(code), expected, "{code}");
                }
            }
        }
        assert!(known > 150, "only {known} currencies known");
        assert_eq!(minor_digits("jpy"), 0);
        assert_eq!(minor_digits("EURO"), 2);
    }
}
