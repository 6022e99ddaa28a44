//! Small helpers that collect field errors while normalising input.

use chrono::NaiveDate;

use crate::error::{FieldError, FieldErrorCode};
use crate::ids::{CompanyId, ContactId};
use crate::model::NUL_REFUSED;
use crate::model::Record;
use crate::model::check_len;
use crate::profile::{Address, Email, EmailEntry, EmailLabel, PhoneEntry, PhoneLabel, PhoneNumber, parse_region};

/// Longest name (person, company, deal, stage, label) in characters.
pub(crate) const MAX_NAME_LEN: usize = 200;
/// Longest tag in characters.
pub(crate) const MAX_TAG_LEN: usize = 100;
/// Longest code (SKU, order or invoice number, external id) in characters.
pub(crate) const MAX_CODE_LEN: usize = 64;
/// Longest payment term in days.
pub(crate) const MAX_NET_DAYS: u32 = 3650;

#[derive(Default)]
pub(crate) struct Checks {
    pub(crate) errs: Vec<FieldError>,
}

impl Checks {
    pub(crate) fn push(&mut self, field: impl Into<String>, code: FieldErrorCode, msg: impl Into<String>) {
        self.errs.push(FieldError::new(field, code, msg));
    }

    fn max(&mut self, field: &str, s: &str, max: usize) {
        let n = s.chars().count();
        if n > max {
            self.push(field, FieldErrorCode::OutOfRange, format!("is {n} characters long; the limit is {max}"));
        }
    }

    /// Trims; a required text must not be blank.
    pub(crate) fn name(&mut self, field: &str, s: &mut String, required: bool) {
        *s = s.trim().to_owned();
        if required && s.is_empty() {
            self.push(field, FieldErrorCode::Required, "must not be empty");
        }
        self.max(field, s, MAX_NAME_LEN);
    }

    /// Trims; blank becomes None; long text is refused.
    pub(crate) fn opt_text(&mut self, field: &str, s: &mut Option<String>) {
        if let Some(v) = s {
            let t = v.trim();
            if t.is_empty() {
                *s = None;
            } else {
                *v = t.to_owned();
                if let Err((code, msg)) = check_len(v) {
                    self.push(field, code, msg);
                }
            }
        }
    }

    /// Trims; blank becomes None; at most a name's length.
    pub(crate) fn opt_name(&mut self, field: &str, s: &mut Option<String>) {
        self.opt_text(field, s);
        if let Some(v) = s {
            self.max(field, v, MAX_NAME_LEN);
        }
    }

    /// Long text (bodies, notes).
    pub(crate) fn text(&mut self, field: &str, s: &str) {
        if let Err((code, msg)) = check_len(s) {
            self.push(field, code, msg);
        }
    }

    /// Trims each entry, drops duplicates; blank entries are refused.
    pub(crate) fn list(&mut self, field: &str, items: &mut Vec<String>, max: usize) {
        let mut out: Vec<String> = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let t = item.trim();
            if t.is_empty() {
                self.push(format!("{field}[{i}]"), FieldErrorCode::Required, "must not be empty");
            } else if t.chars().count() > max {
                self.push(format!("{field}[{i}]"), FieldErrorCode::OutOfRange, format!("longer than {max} characters"));
            } else if !out.iter().any(|o| o == t) {
                out.push(t.to_owned());
            }
        }
        *items = out;
    }

    /// A customer document (order, invoice, payment, case) names a contact, a company or both.
    pub(crate) fn customer(&mut self, contact: Option<ContactId>, company: Option<CompanyId>) {
        if contact.is_none() && company.is_none() {
            self.push("contact_id", FieldErrorCode::Required, "name the customer: a contact, a company or both");
        }
    }

    pub(crate) fn tags(&mut self, items: &mut Vec<String>) {
        self.list("tags", items, MAX_TAG_LEN);
    }

    pub(crate) fn addresses(&mut self, field: &str, addresses: &mut [Address]) {
        for (i, a) in addresses.iter_mut().enumerate() {
            let at = format!("{field}[{i}]");
            for (j, l) in a.lines.iter_mut().enumerate() {
                *l = l.trim().to_owned();
                self.max(&format!("{at}.lines[{j}]"), l, MAX_NAME_LEN);
            }
            a.lines.retain(|l| !l.is_empty());
            self.opt_name(&format!("{at}.city"), &mut a.city);
            self.opt_name(&format!("{at}.region"), &mut a.region);
            self.opt_name(&format!("{at}.postal_code"), &mut a.postal_code);
            if let Some(c) = &mut a.country {
                *c = c.trim().to_ascii_uppercase();
                if c.len() != 2 || parse_region(c).is_err() {
                    self.push(
                        format!("{at}.country"),
                        FieldErrorCode::InvalidFormat,
                        format!("`{c}` is not an ISO 3166 alpha-2 country code"),
                    );
                }
            }
            if a.lines.is_empty() && a.city.is_none() && a.postal_code.is_none() && a.country.is_none() {
                self.push(
                    at,
                    FieldErrorCode::Required,
                    "an address needs at least a street, city, postal code or country",
                );
            }
        }
    }

    pub(crate) fn not_future(&mut self, field: &str, d: Option<NaiveDate>, today: NaiveDate) {
        if let Some(d) = d
            && d > today
        {
            self.push(field, FieldErrorCode::OutOfRange, format!("{d} is in the future"));
        }
    }

    /// Parses raw input with `parse`, recording the error under `field`.
    pub(crate) fn parse<T>(
        &mut self,
        field: &str,
        raw: &str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        match parse(raw) {
            Ok(v) => Some(v),
            Err(m) => {
                self.push(field, FieldErrorCode::InvalidFormat, m);
                None
            }
        }
    }

    /// Parses email addresses into checked, lower-cased entries.
    pub(crate) fn emails(&mut self, raw: &[(String, EmailLabel)]) -> Vec<EmailEntry> {
        let mut out = Vec::with_capacity(raw.len());
        for (i, (address, label)) in raw.iter().enumerate() {
            if let Some(address) = self.parse(&format!("emails[{i}]"), address, Email::parse) {
                out.push(EmailEntry { address, label: *label });
            }
        }
        out
    }

    /// Parses phone numbers written any common way into E.164 entries.
    pub(crate) fn phones(&mut self, raw: &[(String, PhoneLabel)], region: Option<&str>) -> Vec<PhoneEntry> {
        let mut out = Vec::with_capacity(raw.len());
        for (i, (number, label)) in raw.iter().enumerate() {
            if let Some(number) = self.parse(&format!("phones[{i}]"), number, |s| PhoneNumber::parse(s, region)) {
                out.push(PhoneEntry { number, label: *label });
            }
        }
        out
    }

    /// Net days at most ten years; a credit limit is not negative.
    pub(crate) fn credit_terms(&mut self, terms: &Option<crate::model::CreditTerms>) {
        if let Some(t) = terms {
            if t.net_days > MAX_NET_DAYS {
                self.push("credit_terms.net_days", FieldErrorCode::OutOfRange, format!("at most {MAX_NET_DAYS} days"));
            }
            if let Some(l) = &t.credit_limit {
                self.non_negative("credit_terms.credit_limit", l.amount);
            }
        }
    }

    /// Refuses a negative amount.
    pub(crate) fn non_negative(&mut self, field: &str, amount: rust_decimal::Decimal) {
        if amount.is_sign_negative() && !amount.is_zero() {
            self.push(field, FieldErrorCode::OutOfRange, "must not be negative");
        }
    }

    /// Refuses an amount that is zero or negative.
    pub(crate) fn positive(&mut self, field: &str, amount: rust_decimal::Decimal) {
        if amount <= rust_decimal::Decimal::ZERO {
            self.push(field, FieldErrorCode::OutOfRange, "must be greater than zero");
        }
    }

    /// A percentage: 0–100.
    pub(crate) fn percent(&mut self, field: &str, p: rust_decimal::Decimal) {
        if p < rust_decimal::Decimal::ZERO || p > rust_decimal::Decimal::ONE_HUNDRED {
            self.push(field, FieldErrorCode::OutOfRange, "a percentage is 0–100");
        }
    }

    /// A 1–5 rating.
    pub(crate) fn rating(&mut self, field: &str, r: Option<u8>) {
        if let Some(r) = r
            && !(1..=5).contains(&r)
        {
            self.push(field, FieldErrorCode::OutOfRange, format!("{r} is not a rating from 1 to 5"));
        }
    }

    /// Trims; a required text; a short identifier (SKU, document number): at most 64 characters,
    /// no control characters.
    pub(crate) fn code(&mut self, field: &str, s: &mut String) {
        self.code_within(field, s, MAX_CODE_LEN);
    }

    /// A short identifier of at most `max` characters, as [`code`](Self::code).
    fn code_within(&mut self, field: &str, s: &mut String, max: usize) {
        *s = s.trim().to_owned();
        if s.is_empty() {
            self.push(field, FieldErrorCode::Required, "must not be empty");
        } else if s.chars().count() > max {
            self.push(field, FieldErrorCode::OutOfRange, format!("longer than {max} characters"));
        } else if s.chars().any(char::is_control) {
            self.push(field, FieldErrorCode::InvalidFormat, "must not contain control characters");
        }
    }

    /// An optional short identifier (tax number): trimmed, blank becomes None, else as [`code`](Self::code).
    pub(crate) fn opt_code(&mut self, field: &str, s: &mut Option<String>) {
        if let Some(v) = s {
            if v.trim().is_empty() {
                *s = None;
            } else {
                self.code(field, v);
            }
        }
    }

    /// External references: system and id required, system lower-cased, no duplicates.
    pub(crate) fn external_refs(&mut self, refs: &mut [crate::model::ExternalRef]) {
        for (i, r) in refs.iter_mut().enumerate() {
            r.system = r.system.trim().to_ascii_lowercase();
            self.code(&format!("external_refs[{i}].system"), &mut r.system);
            // Ids elsewhere run long (a calendar event's UID): up to 255 characters.
            self.code_within(&format!("external_refs[{i}].id"), &mut r.id, 255);
        }
        self.duplicates("external_refs", refs);
    }

    pub(crate) fn duplicates<T: PartialEq>(&mut self, field: &str, items: &[T]) {
        for (i, x) in items.iter().enumerate() {
            if items[..i].contains(x) {
                self.push(format!("{field}[{i}]"), FieldErrorCode::Duplicate, "appears twice");
            }
        }
    }
}

/// Every field of `record` holding text with a NUL character, as errors naming it
/// (`given_name`, `custom.note`, `participants[0].name`): no SQL backend can hold such text
/// faithfully, so no backend is given it. Cheap when there is none: one serialization,
/// searched for the escape.
pub(crate) fn nul_fields(record: &Record) -> Vec<FieldError> {
    fn any(v: &serde_json::Value) -> bool {
        match v {
            serde_json::Value::String(s) => s.contains('\0'),
            serde_json::Value::Array(items) => items.iter().any(any),
            serde_json::Value::Object(map) => map.iter().any(|(k, x)| k.contains('\0') || any(x)),
            _ => false,
        }
    }
    fn walk(v: &serde_json::Value, path: &str, out: &mut Vec<String>) {
        let at = |k: &str| if path.is_empty() { k.to_owned() } else { format!("{path}.{k}") };
        match v {
            serde_json::Value::String(s) if s.contains('\0') => out.push(path.to_owned()),
            serde_json::Value::Array(items) => {
                items.iter().enumerate().for_each(|(i, x)| walk(x, &format!("{path}[{i}]"), out));
            }
            serde_json::Value::Object(map) => {
                for (k, x) in map {
                    // A key with NUL names its map; a custom value (`{"<type>": …}`) its key.
                    if k.contains('\0') {
                        out.push(path.to_owned());
                    } else if path == "custom" {
                        if any(x) {
                            out.push(at(k));
                        }
                    } else {
                        walk(x, &at(k), out);
                    }
                }
            }
            _ => {}
        }
    }
    match serde_json::to_string(record) {
        Ok(json) if json.contains("\\u0000") => {}
        _ => return Vec::new(),
    }
    let Ok(value) = serde_json::to_value(record) else { return Vec::new() };
    let mut paths = Vec::new();
    walk(value.get("record").unwrap_or(&value), "", &mut paths);
    paths.dedup();
    paths.into_iter().map(|p| FieldError::new(p, FieldErrorCode::InvalidFormat, NUL_REFUSED)).collect()
}
