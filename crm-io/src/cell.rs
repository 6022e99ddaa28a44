//! How a value is written into a spreadsheet cell, and why some text gets a leading `'`.

use chrono::SecondsFormat;
use crm_core::value::Value;

/// Characters that make a spreadsheet read a cell as a formula (CSV injection): a text cell
/// starting with one of them is written with a leading `'`, which spreadsheets show as text —
/// except a plain signed number such as a phone number in E.164 (`+44 20 7946 0958`), which no
/// spreadsheet runs.
pub const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// The separator of the values of a multi-value cell (tags, options, ids).
pub const MULTI_SEPARATOR: &str = "; ";

/// The text of `value` in a cell: empty for nothing, numbers and money as written
/// (`12.50 EUR`), dates ISO 8601, instants RFC 3339 in UTC, lists joined by
/// [`MULTI_SEPARATOR`]. Text that a spreadsheet would run as a formula is neutralised.
///
/// ```
/// use crm_core::value::Value;
/// use crm_io::cell::cell_text;
/// assert_eq!(cell_text(&Value::Text("=HYPERLINK(\"x\")".into())), "'=HYPERLINK(\"x\")");
/// assert_eq!(cell_text(&Value::Int(-5)), "-5");
/// assert_eq!(cell_text(&Value::Text("+442079460958".into())), "+442079460958");
/// assert_eq!(cell_text(&Value::Text("+cmd|' /C calc'!A0".into())), "'+cmd|' /C calc'!A0");
/// assert_eq!(cell_text(&Value::List(vec![Value::Text("a".into()), Value::Text("b".into())])), "a; b");
/// ```
pub fn cell_text(value: &Value) -> String {
    match value {
        Value::Text(s) => neutralised(s),
        Value::List(items) => neutralised(&items.iter().map(plain).collect::<Vec<_>>().join(MULTI_SEPARATOR)),
        other => plain(other),
    }
}

/// The text of `value` without formula neutralisation (for formats that never run formulas).
pub(crate) fn plain(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Decimal(d) => d.to_string(),
        Value::Money(m) => m.to_string(),
        Value::Text(s) => s.clone(),
        Value::Date(d) => d.format("%Y-%m-%d").to_string(),
        Value::DateTime(t) => t.to_rfc3339_opts(SecondsFormat::AutoSi, true),
        Value::Id(u) => u.hyphenated().to_string(),
        Value::List(items) => items.iter().map(plain).collect::<Vec<_>>().join(MULTI_SEPARATOR),
    }
}

/// A cell's text as the data it stands for: the `'` that [`cell_text`] (or a spreadsheet) put
/// before text starting like a formula is dropped, so an export imports back unchanged.
///
/// ```
/// use crm_io::cell::cell_data;
/// assert_eq!(cell_data("'=SUM(A1)"), "=SUM(A1)");
/// assert_eq!(cell_data("'quoted'"), "'quoted'");
/// ```
pub fn cell_data(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if rest.starts_with(FORMULA_STARTS) => rest,
        _ => cell,
    }
}

/// `s` with a leading `'` when a spreadsheet would run it as a formula.
pub(crate) fn neutralised(s: &str) -> String {
    let plain_number = |rest: &str| !rest.is_empty() && rest.chars().all(|c| c.is_ascii_digit() || " .,;".contains(c));
    let formula = match s.strip_prefix(['+', '-']) {
        Some(rest) => !plain_number(rest),
        None => s.starts_with(FORMULA_STARTS),
    };
    if formula { format!("'{s}") } else { s.to_owned() }
}
