use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::entity::{EntityKind, EntityRef};
use crate::error::{FieldError, FieldErrorCode};
use crate::ids::CustomFieldId;
use crate::macros::record;
use crate::model::impl_entity;
use crate::value::{CustomValues, Value};

/// Longest text a text field (standard or custom) may hold, in characters.
pub const MAX_TEXT_LEN: usize = 10_000;

/// The most bytes of text an `indexed` field's value holds: an index entry must fit in a
/// PostgreSQL b-tree page (about 2.7 kB), so every backend refuses more, naming the field.
pub const MAX_INDEXED_TEXT_BYTES: usize = 2_000;
/// Most options an enum field may have.
pub const MAX_OPTIONS: usize = 500;

/// The type of a custom field.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum FieldType {
    /// Free text ([`Value::Text`]).
    Text,
    /// A whole number ([`Value::Int`]).
    Number,
    /// An exact decimal ([`Value::Decimal`]; whole numbers are accepted and converted).
    Decimal,
    /// Money ([`Value::Money`]).
    Money,
    /// A date ([`Value::Date`]).
    Date,
    /// A UTC date-time ([`Value::DateTime`]).
    DateTime,
    /// Yes/no ([`Value::Bool`]).
    Bool,
    /// One of a fixed list of options ([`Value::Text`]).
    Enum {
        /// The allowed options.
        options: Vec<String>,
    },
    /// Several of a fixed list of options ([`Value::List`] of text).
    MultiEnum {
        /// The allowed options.
        options: Vec<String>,
    },
    /// A link to another record ([`Value::Id`]), which must exist in the same tenant.
    Reference {
        /// The kind of record referenced.
        to: EntityKind,
    },
    /// An email address ([`Value::Text`], checked and lower-cased like a contact's email).
    Email,
    /// An absolute `http`/`https` web address ([`Value::Text`], normalised).
    Url,
    /// A phone number ([`Value::Text`], normalised to E.164; numbers without `+country` use
    /// the CRM's default region).
    Phone,
}

impl FieldType {
    /// The type used to check filters against this field.
    pub fn value_type(&self) -> crate::value::ValueType {
        use crate::value::ValueType as T;
        match self {
            FieldType::Text | FieldType::Enum { .. } | FieldType::Email | FieldType::Url | FieldType::Phone => T::Text,
            FieldType::Number => T::Int,
            FieldType::Decimal => T::Decimal,
            FieldType::Money => T::Money,
            FieldType::Date => T::Date,
            FieldType::DateTime => T::DateTime,
            FieldType::Bool => T::Bool,
            FieldType::MultiEnum { .. } => T::TextList,
            FieldType::Reference { .. } => T::Id,
        }
    }
}

/// Declarative limits on a custom field's values, enforced on every write of the field
/// (by the core itself, before any extension rule runs). Absent limits are unlimited.
///
/// ```
/// use crm_core::model::Constraints;
/// use rust_decimal::Decimal;
/// let c = Constraints::default().range(Decimal::ZERO, Decimal::from(50)).length(1, 20).pattern("[A-Z]{3}-[0-9]+");
/// assert_eq!(c.max, Some(Decimal::from(50)));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Constraints {
    /// Smallest allowed value, inclusive (number, decimal and money fields; for money, the amount).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<rust_decimal::Decimal>,
    /// Largest allowed value, inclusive (number, decimal and money fields; for money, the amount).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<rust_decimal::Decimal>,
    /// Fewest characters (Unicode scalar values) of a text-valued field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_length: Option<u32>,
    /// Most characters (Unicode scalar values) of a text-valued field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_length: Option<u32>,
    /// A regular expression the whole text must match (anchored for you), in the syntax of the
    /// linear-time `regex` crate (no look-around, no back-references).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
}

impl Constraints {
    /// Whether no limit is set.
    pub fn is_empty(&self) -> bool {
        *self == Constraints::default()
    }

    /// Sets `min` and `max`.
    pub fn range(mut self, min: rust_decimal::Decimal, max: rust_decimal::Decimal) -> Self {
        self.min = Some(min);
        self.max = Some(max);
        self
    }

    /// Sets `min_length` and `max_length`.
    pub fn length(mut self, min: u32, max: u32) -> Self {
        self.min_length = Some(min);
        self.max_length = Some(max);
        self
    }

    /// Sets `pattern`.
    pub fn pattern(mut self, pattern: impl Into<String>) -> Self {
        self.pattern = Some(pattern.into());
        self
    }
}

/// Longest `pattern` accepted in [`Constraints`], in bytes.
pub const MAX_PATTERN_LEN: usize = 1_000;

/// Compiles an anchored constraint pattern, with a size limit so no pattern can blow up
/// memory; compiled patterns are cached process-wide (the cache is bounded).
fn compiled_pattern(pattern: &str) -> Result<std::sync::Arc<regex::Regex>, String> {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex, OnceLock};
    static CACHE: OnceLock<Mutex<HashMap<String, Arc<regex::Regex>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(re) = cache.lock().ok().and_then(|c| c.get(pattern).cloned()) {
        return Ok(re);
    }
    if pattern.len() > MAX_PATTERN_LEN {
        return Err(format!("the pattern is {} bytes long; the limit is {MAX_PATTERN_LEN}", pattern.len()));
    }
    // Compiled alone first, so a pattern cannot close the anchoring group (`a)|(?:b`).
    regex::RegexBuilder::new(pattern)
        .size_limit(1 << 20)
        .build()
        .map_err(|e| format!("`{pattern}` is not a valid pattern: {e}"))?;
    let re = regex::RegexBuilder::new(&format!("^(?:{pattern})$"))
        .size_limit(1 << 20)
        .dfa_size_limit(1 << 20)
        .build()
        .map_err(|e| format!("`{pattern}` is not a valid pattern: {e}"))?;
    let re = Arc::new(re);
    if let Ok(mut c) = cache.lock() {
        if c.len() >= 1024 {
            c.clear();
        }
        c.insert(pattern.to_owned(), re.clone());
    }
    Ok(re)
}

/// The definition of a custom field: what it is called, on which kind of record, and its type.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FieldDefinition {
    /// The kind of record the field belongs to.
    pub entity_kind: EntityKind,
    /// Key used in `custom` maps and filters (`custom.<key>`): lower-case letters, digits and
    /// `_`, starting with a letter; extension fields are namespaced `<extension>.<key>`.
    pub key: String,
    /// Label shown to users.
    pub label: String,
    /// The type.
    pub field_type: FieldType,
    /// Whether every record of the kind must have a value.
    pub required: bool,
    /// Help text.
    pub description: Option<String>,
    /// Limits on the values, checked on every write.
    #[serde(default, skip_serializing_if = "Constraints::is_empty")]
    pub constraints: Constraints,
    /// Whether the value is computed by the extension that declares the field: users cannot
    /// set it (an unchanged value is accepted), only the extension's `compute` does.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub computed: bool,
    /// Whether the SQL stores should index the field for fast filters and sorts.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub indexed: bool,
    /// Whether the value is sensitive: withheld from users unless a role of theirs opens it
    /// ([`FieldGrant`](crate::model::FieldGrant); see [field-level
    /// security](crate::model::field_security)).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sensitive: bool,
}

impl FieldDefinition {
    /// An optional field.
    pub fn new(
        entity_kind: EntityKind,
        key: impl Into<String>,
        label: impl Into<String>,
        field_type: FieldType,
    ) -> Self {
        Self {
            entity_kind,
            key: key.into(),
            label: label.into(),
            field_type,
            required: false,
            description: None,
            constraints: Constraints::default(),
            computed: false,
            indexed: false,
            sensitive: false,
        }
    }

    /// Marks the field sensitive (see [`sensitive`](Self::sensitive)).
    pub fn sensitive(mut self) -> Self {
        self.sensitive = true;
        self
    }

    /// Marks the field required.
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }

    /// Sets the limits on its values.
    pub fn constraints(mut self, constraints: Constraints) -> Self {
        self.constraints = constraints;
        self
    }

    /// Marks the field computed (set only by its extension's `compute`).
    pub fn computed(mut self) -> Self {
        self.computed = true;
        self
    }

    /// Asks the SQL stores to index the field.
    pub fn indexed(mut self) -> Self {
        self.indexed = true;
        self
    }

    /// Sets the help text.
    pub fn description(mut self, text: impl Into<String>) -> Self {
        self.description = Some(text.into());
        self
    }

    /// Checks the definition itself; errors name `field_prefix.<part>`.
    pub fn validate(&self, field_prefix: &str) -> Vec<FieldError> {
        let mut errs = Vec::new();
        let at = |p: &str| if field_prefix.is_empty() { p.to_owned() } else { format!("{field_prefix}.{p}") };
        let mut push =
            |p: &str, code: FieldErrorCode, message: String| errs.push(FieldError::new(at(p), code, message));
        if !self.entity_kind.has_custom_fields() {
            push("entity_kind", FieldErrorCode::Rule, format!("{} records have no custom fields", self.entity_kind));
        }
        if !valid_key(&self.key) {
            push(
                "key",
                FieldErrorCode::InvalidFormat,
                format!(
                    "`{}` is not a valid key: use 1–63 lower-case letters, digits or `_`, starting with a letter (optionally `namespace.key`)",
                    self.key
                ),
            );
        }
        if self.label.trim().is_empty() {
            push("label", FieldErrorCode::Required, "a label is required".into());
        }
        if let FieldType::Enum { options } | FieldType::MultiEnum { options } = &self.field_type {
            if options.is_empty() || options.len() > MAX_OPTIONS {
                push(
                    "field_type.options",
                    FieldErrorCode::OutOfRange,
                    format!("an enum needs 1–{MAX_OPTIONS} options"),
                );
            }
            let mut seen = std::collections::BTreeSet::new();
            for (i, o) in options.iter().enumerate() {
                if o.trim().is_empty() || o.trim() != o {
                    push(
                        &format!("field_type.options[{i}]"),
                        FieldErrorCode::InvalidFormat,
                        "options must be non-empty and have no surrounding spaces".into(),
                    );
                } else if !seen.insert(o) {
                    push(
                        &format!("field_type.options[{i}]"),
                        FieldErrorCode::Duplicate,
                        format!("option `{o}` appears twice"),
                    );
                }
            }
        }
        let c = &self.constraints;
        let numeric = matches!(self.field_type, FieldType::Number | FieldType::Decimal | FieldType::Money);
        let textual = matches!(
            self.field_type,
            FieldType::Text | FieldType::Email | FieldType::Url | FieldType::Phone | FieldType::Enum { .. }
        );
        if (c.min.is_some() || c.max.is_some()) && !numeric {
            push(
                "constraints.min",
                FieldErrorCode::Rule,
                "min and max apply only to number, decimal and money fields".into(),
            );
        }
        if let (Some(lo), Some(hi)) = (c.min, c.max)
            && lo > hi
        {
            push("constraints.max", FieldErrorCode::OutOfRange, format!("max {hi} is below min {lo}"));
        }
        if (c.min_length.is_some() || c.max_length.is_some() || c.pattern.is_some()) && !textual {
            push("constraints", FieldErrorCode::Rule, "lengths and patterns apply only to text-valued fields".into());
        }
        if let (Some(lo), Some(hi)) = (c.min_length, c.max_length)
            && lo > hi
        {
            push(
                "constraints.max_length",
                FieldErrorCode::OutOfRange,
                format!("max_length {hi} is below min_length {lo}"),
            );
        }
        if let Some(hi) = c.max_length
            && hi as usize > MAX_TEXT_LEN
        {
            push("constraints.max_length", FieldErrorCode::OutOfRange, format!("max_length is at most {MAX_TEXT_LEN}"));
        }
        if let Some(p) = &c.pattern
            && let Err(m) = compiled_pattern(p)
        {
            push("constraints.pattern", FieldErrorCode::InvalidFormat, m);
        }
        if self.computed && self.required {
            push("required", FieldErrorCode::Rule, "a computed field cannot be required: users never enter it".into());
        }
        if let FieldType::Reference { to } = &self.field_type
            && !matches!(to, EntityKind::Contact | EntityKind::Company | EntityKind::Deal | EntityKind::Activity)
        {
            push("field_type.to", FieldErrorCode::Rule, format!("a reference field cannot point at {to} records"));
        }
        errs
    }
}

/// Whether `key` is a valid custom field key (`abc_1` or `namespace.abc_1`).
pub fn valid_key(key: &str) -> bool {
    fn part(p: &str) -> bool {
        let mut chars = p.chars();
        matches!(chars.next(), Some('a'..='z'))
            && p.len() <= 63
            && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_'))
    }
    match key.split_once('.') {
        Some((ns, k)) => part(ns) && part(k),
        None => part(key),
    }
}

record! {
    /// A tenant's custom field definition, stored as a record.
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    pub struct CustomField(CustomFieldId) {
        /// The definition.
        pub definition: FieldDefinition,
    }
}

impl_entity! {
    CustomField, CustomFieldId, CustomField, custom: false;
    fields {
        "entity_kind": Text => |f| f.definition.entity_kind,
        "key": Text => |f| f.definition.key.clone(),
    }
}

/// Where a registered field comes from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldSource {
    /// Defined by the tenant (a [`CustomField`] record).
    Tenant,
    /// Registered by an extension or plugin with this id.
    Extension(String),
}

/// A field in the [`FieldRegistry`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegisteredField {
    /// The definition.
    pub definition: FieldDefinition,
    /// Where it comes from.
    pub source: FieldSource,
}

/// The custom fields in force for one tenant and one entity kind.
#[derive(Clone, Debug, Default)]
pub struct FieldRegistry {
    fields: BTreeMap<String, RegisteredField>,
    region: Option<String>,
}

impl FieldRegistry {
    /// An empty registry whose phone fields read numbers without `+country` in `region`.
    pub fn with_region(region: Option<String>) -> Self {
        FieldRegistry { fields: BTreeMap::new(), region }
    }

    /// Adds a field (later additions with the same key replace earlier ones).
    pub fn insert(&mut self, field: RegisteredField) {
        self.fields.insert(field.definition.key.clone(), field);
    }

    /// The field with this key.
    pub fn get(&self, key: &str) -> Option<&RegisteredField> {
        self.fields.get(key)
    }

    /// Every field, by key.
    pub fn iter(&self) -> impl Iterator<Item = &RegisteredField> {
        self.fields.values()
    }

    /// Checks and normalises one value for the field `key`; the error names `custom.<key>`.
    pub fn check(&self, key: &str, value: &mut Value) -> Result<(), FieldError> {
        let field = format!("custom.{key}");
        let Some(def) = self.fields.get(key) else {
            return Err(FieldError::new(
                field,
                FieldErrorCode::UnknownField,
                format!("no custom field `{key}` is defined"),
            ));
        };
        if value.is_null() {
            return Ok(());
        }
        check_value(&def.definition, self.region.as_deref(), value)
            .map_err(|(code, msg)| FieldError::new(field, code, msg))
    }

    /// Checks and normalises custom values against the definitions: unknown keys, wrong
    /// types, options, text length and required fields. Nulls are removed. Returns the
    /// errors and the references that must be checked for existence.
    pub fn validate(&self, values: &mut CustomValues) -> (Vec<FieldError>, Vec<(String, EntityRef)>) {
        let mut errs = Vec::new();
        let mut refs = Vec::new();
        values.retain(|_, v| !v.is_null());
        for (key, value) in values.iter_mut() {
            let field = format!("custom.{key}");
            let Some(def) = self.fields.get(key) else {
                errs.push(FieldError::new(
                    field,
                    FieldErrorCode::UnknownField,
                    format!("no custom field `{key}` is defined"),
                ));
                continue;
            };
            if let Err(e) = check_value(&def.definition, self.region.as_deref(), value) {
                errs.push(FieldError::new(field, e.0, e.1));
            } else if let (FieldType::Reference { to }, Value::Id(id)) = (&def.definition.field_type, &*value) {
                refs.push((field, EntityRef::new(*to, *id)));
            }
        }
        for def in self.fields.values() {
            if def.definition.required && !values.contains_key(&def.definition.key) {
                errs.push(FieldError::new(
                    format!("custom.{}", def.definition.key),
                    FieldErrorCode::Required,
                    format!("`{}` is required", def.definition.label),
                ));
            }
        }
        (errs, refs)
    }
}

/// Checks one value against a definition (type, then constraints), normalising where the
/// conversion is lossless.
fn check_value(def: &FieldDefinition, region: Option<&str>, value: &mut Value) -> Result<(), (FieldErrorCode, String)> {
    check_type(&def.field_type, region, value)?;
    if let Value::Text(t) = value
        && def.indexed
        && t.len() > MAX_INDEXED_TEXT_BYTES
    {
        return Err((
            FieldErrorCode::OutOfRange,
            format!("an indexed field holds at most {MAX_INDEXED_TEXT_BYTES} bytes of text; this is {}", t.len()),
        ));
    }
    check_constraints(&def.constraints, value)
}

fn check_constraints(c: &Constraints, value: &Value) -> Result<(), (FieldErrorCode, String)> {
    let number = match value {
        Value::Int(i) => Some(rust_decimal::Decimal::from(*i)),
        Value::Decimal(d) => Some(*d),
        Value::Money(m) => Some(m.amount),
        _ => None,
    };
    if let Some(n) = number {
        if let Some(min) = c.min
            && n < min
        {
            return Err((FieldErrorCode::OutOfRange, format!("{n} is below the minimum {min}")));
        }
        if let Some(max) = c.max
            && n > max
        {
            return Err((FieldErrorCode::OutOfRange, format!("{n} is above the maximum {max}")));
        }
    }
    if let Value::Text(s) = value {
        let len = s.chars().count();
        if let Some(min) = c.min_length
            && len < min as usize
        {
            return Err((FieldErrorCode::OutOfRange, format!("is {len} characters long; at least {min} are needed")));
        }
        if let Some(max) = c.max_length
            && len > max as usize
        {
            return Err((FieldErrorCode::OutOfRange, format!("is {len} characters long; at most {max} are allowed")));
        }
        if let Some(p) = &c.pattern {
            let re = compiled_pattern(p).map_err(|m| (FieldErrorCode::Rule, m))?;
            if !re.is_match(s) {
                return Err((FieldErrorCode::InvalidFormat, format!("`{s}` does not match the pattern `{p}`")));
            }
        }
    }
    Ok(())
}

/// Checks one value against a field type, normalising where the conversion is lossless.
fn check_type(ty: &FieldType, region: Option<&str>, value: &mut Value) -> Result<(), (FieldErrorCode, String)> {
    let mismatch =
        |v: &Value, want: &str| (FieldErrorCode::TypeMismatch, format!("expected {want}, got {}", v.type_name()));
    match (ty, &*value) {
        (FieldType::Text, Value::Text(s)) => check_len(s),
        (FieldType::Number, Value::Int(_)) => Ok(()),
        (FieldType::Decimal, Value::Decimal(_)) => Ok(()),
        (FieldType::Decimal, Value::Int(i)) => {
            *value = Value::Decimal((*i).into());
            Ok(())
        }
        (FieldType::Money, Value::Money(_)) => Ok(()),
        (FieldType::Date, Value::Date(_)) => Ok(()),
        (FieldType::DateTime, Value::DateTime(t)) => {
            *value = Value::DateTime(crate::ids::storage_precision(*t));
            Ok(())
        }
        (FieldType::Bool, Value::Bool(_)) => Ok(()),
        (FieldType::Enum { options }, Value::Text(s)) => {
            if options.iter().any(|o| o == s) {
                Ok(())
            } else {
                Err((FieldErrorCode::NotAnOption, format!("`{s}` is not one of: {}", options.join(", "))))
            }
        }
        (FieldType::MultiEnum { options }, Value::List(items)) => {
            let mut seen = std::collections::BTreeSet::new();
            for item in items {
                match item {
                    Value::Text(s) if options.iter().any(|o| o == s) => {
                        if !seen.insert(s.clone()) {
                            return Err((FieldErrorCode::Duplicate, format!("`{s}` is selected twice")));
                        }
                    }
                    Value::Text(s) => {
                        return Err((
                            FieldErrorCode::NotAnOption,
                            format!("`{s}` is not one of: {}", options.join(", ")),
                        ));
                    }
                    other => return Err(mismatch(other, "a list of text options")),
                }
            }
            Ok(())
        }
        (FieldType::Reference { .. }, Value::Id(_)) => Ok(()),
        (FieldType::Email, Value::Text(s)) => {
            let e = crate::profile::Email::parse(s).map_err(|m| (FieldErrorCode::InvalidFormat, m))?;
            *value = Value::Text(e.as_str().to_owned());
            Ok(())
        }
        (FieldType::Url, Value::Text(s)) => {
            let lower = s.trim_start().to_ascii_lowercase();
            if !lower.starts_with("http://") && !lower.starts_with("https://") {
                return Err((FieldErrorCode::InvalidFormat, format!("`{s}` must start with http:// or https://")));
            }
            let w = crate::profile::Website::parse(s).map_err(|m| (FieldErrorCode::InvalidFormat, m))?;
            *value = Value::Text(w.as_str().to_owned());
            Ok(())
        }
        (FieldType::Phone, Value::Text(s)) => {
            let p = crate::profile::PhoneNumber::parse(s, region).map_err(|m| (FieldErrorCode::InvalidFormat, m))?;
            *value = Value::Text(p.as_str().to_owned());
            Ok(())
        }
        (t, v) => Err(mismatch(v, type_label(t))),
    }
}

fn type_label(t: &FieldType) -> &'static str {
    match t {
        FieldType::Text => "text",
        FieldType::Number => "a whole number",
        FieldType::Decimal => "a decimal number",
        FieldType::Money => "money",
        FieldType::Date => "a date",
        FieldType::DateTime => "a date-time",
        FieldType::Bool => "a boolean",
        FieldType::Enum { .. } => "one option (text)",
        FieldType::MultiEnum { .. } => "a list of options",
        FieldType::Reference { .. } => "a record id",
        FieldType::Email => "an email address (text)",
        FieldType::Url => "a web address (text)",
        FieldType::Phone => "a phone number (text)",
    }
}

pub(crate) fn check_len(s: &str) -> Result<(), (FieldErrorCode, String)> {
    let n = s.chars().count();
    if n > MAX_TEXT_LEN {
        Err((FieldErrorCode::OutOfRange, format!("text is {n} characters long; the limit is {MAX_TEXT_LEN}")))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::Decimal;

    fn registry() -> FieldRegistry {
        let mut r = FieldRegistry::default();
        let defs = [
            FieldDefinition::new(EntityKind::Contact, "budget", "Budget", FieldType::Decimal),
            FieldDefinition::new(EntityKind::Contact, "visits", "Visits", FieldType::Number),
            FieldDefinition::new(
                EntityKind::Contact,
                "tier",
                "Tier",
                FieldType::Enum { options: vec!["gold".into(), "silver".into()] },
            )
            .required(),
            FieldDefinition::new(
                EntityKind::Contact,
                "sports",
                "Sports",
                FieldType::MultiEnum { options: vec!["golf".into(), "tennis".into()] },
            ),
            FieldDefinition::new(
                EntityKind::Contact,
                "referrer",
                "Referrer",
                FieldType::Reference { to: EntityKind::Contact },
            ),
        ];
        for d in defs {
            r.insert(RegisteredField { definition: d, source: FieldSource::Tenant });
        }
        r
    }

    #[test]
    fn accepts_and_normalises_valid_values() {
        let mut v = CustomValues::new();
        v.insert("budget".into(), Value::Int(5));
        v.insert("tier".into(), Value::Text("gold".into()));
        v.insert("visits".into(), Value::Null);
        let id = uuid::Uuid::now_v7();
        v.insert("referrer".into(), Value::Id(id));
        let (errs, refs) = registry().validate(&mut v);
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!(v["budget"], Value::Decimal(Decimal::from(5)));
        assert!(!v.contains_key("visits"), "nulls are dropped");
        assert_eq!(refs, vec![("custom.referrer".to_owned(), EntityRef::new(EntityKind::Contact, id))]);
    }

    #[test]
    fn rejects_each_kind_of_bad_value_naming_the_field() {
        let mut v = CustomValues::new();
        v.insert("visits".into(), Value::Text("3".into()));
        v.insert("sports".into(), Value::List(vec![Value::Text("golf".into()), Value::Text("chess".into())]));
        v.insert("nope".into(), Value::Bool(true));
        let (errs, _) = registry().validate(&mut v);
        let find = |f: &str| errs.iter().find(|e| e.field == f).map(|e| e.code);
        assert_eq!(find("custom.visits"), Some(FieldErrorCode::TypeMismatch));
        assert_eq!(find("custom.sports"), Some(FieldErrorCode::NotAnOption));
        assert_eq!(find("custom.nope"), Some(FieldErrorCode::UnknownField));
        assert_eq!(find("custom.tier"), Some(FieldErrorCode::Required));
        assert_eq!(errs.len(), 4);
    }

    #[test]
    fn definitions_are_checked() {
        let d = FieldDefinition::new(
            EntityKind::Pipeline,
            "Bad Key",
            " ",
            FieldType::Enum { options: vec!["a".into(), "a".into()] },
        );
        let errs = d.validate("");
        let fields: Vec<_> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, vec!["entity_kind", "key", "label", "field_type.options[1]"]);
        assert!(valid_key("realestate.bedrooms"));
        assert!(!valid_key("a.b.c"));
        assert!(!valid_key("1abc"));
    }
}
