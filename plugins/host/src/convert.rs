//! Conversions between crm-core's records and values and the contract's WIT types.

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use crm_core::model::{Constraints, FieldDefinition, FieldType, LineItem};
use crm_core::{entity::EntityKind, entity::EntityRef, model::Record, money::Money, value::Value};
use rust_decimal::Decimal;
use uuid::Uuid;

use crate::bindings::wit;

/// The aligned line-item lists orders and deals can show (`entity.core`), which are not
/// filterable standard fields.
pub(crate) const LINE_FIELDS: [&str; 3] = ["line_product_ids", "line_skus", "line_quantities"];

/// Whether records of `kind` can show the line-item lists.
pub(crate) fn has_lines(kind: EntityKind) -> bool {
    matches!(kind, EntityKind::Order | EntityKind::Deal)
}

pub(crate) fn kind_to_wit(k: EntityKind) -> Option<wit::EntityKind> {
    Some(match k {
        EntityKind::Contact => wit::EntityKind::Contact,
        EntityKind::Company => wit::EntityKind::Company,
        EntityKind::Deal => wit::EntityKind::Deal,
        EntityKind::Product => wit::EntityKind::Product,
        EntityKind::Order => wit::EntityKind::Order,
        EntityKind::Invoice => wit::EntityKind::Invoice,
        EntityKind::Case => wit::EntityKind::Case,
        EntityKind::Activity => wit::EntityKind::Activity,
        EntityKind::Campaign => wit::EntityKind::Campaign,
        _ => return None,
    })
}

pub(crate) fn kind_from_wit(k: wit::EntityKind) -> EntityKind {
    match k {
        wit::EntityKind::Contact => EntityKind::Contact,
        wit::EntityKind::Company => EntityKind::Company,
        wit::EntityKind::Deal => EntityKind::Deal,
        wit::EntityKind::Product => EntityKind::Product,
        wit::EntityKind::Order => EntityKind::Order,
        wit::EntityKind::Invoice => EntityKind::Invoice,
        wit::EntityKind::Case => EntityKind::Case,
        wit::EntityKind::Activity => EntityKind::Activity,
        wit::EntityKind::Campaign => EntityKind::Campaign,
    }
}

/// Parses the contract's decimal syntax strictly: optional `-`, digits, optionally `.` and digits.
pub(crate) fn parse_decimal(s: &str) -> Result<Decimal, String> {
    let body = s.strip_prefix('-').unwrap_or(s);
    let (int, frac) = match body.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (body, None),
    };
    let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    if !digits(int) || frac.is_some_and(|f| !digits(f)) {
        return Err(format!("`{}` is not a decimal string (like `-12.50`)", crate::sandbox_trunc(s)));
    }
    // Exact or refused: never rounded (a decimal keeps 28 significant fractional digits at most).
    Decimal::from_str_exact(s).map_err(|e| {
        let why = if frac.is_some_and(|f| f.len() > 28) {
            "more than 28 decimal places (a decimal is exact to 28 places; round it in the plugin)".to_owned()
        } else {
            format!("out of range for a decimal: {e}")
        };
        format!("`{}`: {why}", crate::sandbox_trunc(s))
    })
}

pub(crate) fn value_to_wit(v: &Value) -> wit::FieldValue {
    use wit::FieldValue as F;
    match v {
        Value::Null => F::Null,
        Value::Bool(b) => F::Boolean(*b),
        Value::Int(i) => F::Integer(*i),
        Value::Decimal(d) => F::Decimal(d.normalize().to_string()),
        Value::Money(m) => {
            F::Money(wit::Money { amount: m.amount.to_string(), currency: m.currency.code().to_owned() })
        }
        Value::Text(s) => F::Text(s.clone()),
        Value::Date(d) => F::Date(d.format("%Y-%m-%d").to_string()),
        Value::DateTime(t) => F::Datetime(t.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
        Value::Id(id) => F::Id(id.to_string()),
        Value::List(items) => {
            if items.iter().all(|i| matches!(i, Value::Id(_))) && !items.is_empty() {
                F::IdList(
                    items
                        .iter()
                        .filter_map(|i| if let Value::Id(u) = i { Some(u.to_string()) } else { None })
                        .collect(),
                )
            } else {
                F::TextList(
                    items
                        .iter()
                        .map(|i| match i {
                            Value::Text(s) => s.clone(),
                            other => format!("{other:?}"),
                        })
                        .collect(),
                )
            }
        }
    }
}

pub(crate) fn value_from_wit(v: wit::FieldValue) -> Result<Value, String> {
    use wit::FieldValue as F;
    Ok(match v {
        F::Null => Value::Null,
        F::Boolean(b) => Value::Bool(b),
        F::Integer(i) => Value::Int(i),
        F::Decimal(s) => Value::Decimal(parse_decimal(&s)?),
        F::Money(m) => {
            let amount = parse_decimal(&m.amount)?;
            let currency = Money::currency_from_code(&m.currency).map_err(|e| e.to_string())?;
            Value::Money(Money::new(amount, currency))
        }
        F::Text(s) => Value::Text(s),
        F::Date(s) => Value::Date(
            NaiveDate::parse_from_str(&s, "%Y-%m-%d")
                .map_err(|_| format!("`{}` is not a date (YYYY-MM-DD)", crate::sandbox_trunc(&s)))?,
        ),
        F::Datetime(s) => Value::DateTime(
            DateTime::parse_from_rfc3339(&s)
                .ok()
                .filter(|_| s.ends_with('Z'))
                .map(|t| t.with_timezone(&Utc))
                .ok_or_else(|| {
                    format!("`{}` is not an RFC 3339 UTC date-time ending in Z", crate::sandbox_trunc(&s))
                })?,
        ),
        F::Id(s) => Value::Id(parse_id(&s)?),
        F::TextList(items) => Value::List(items.into_iter().map(Value::Text).collect()),
        F::IdList(items) => Value::List(items.iter().map(|s| parse_id(s).map(Value::Id)).collect::<Result<_, _>>()?),
    })
}

pub(crate) fn parse_id(s: &str) -> Result<Uuid, String> {
    Uuid::parse_str(s).map_err(|_| format!("`{}` is not a record id (a UUID)", crate::sandbox_trunc(s)))
}

/// A record as a plugin sees it: the standard fields it reads (`reads`, by name), and only
/// `plugin`'s custom fields (bare keys).
pub(crate) fn entity_to_wit(rec: &Record, plugin: &str, reads: &[&str]) -> Option<wit::Entity> {
    let kind = kind_to_wit(rec.kind())?;
    let lines = lines_of(rec).filter(|l| !l.is_empty());
    let core = reads
        .iter()
        .filter_map(|&name| {
            // Line items, which have no filterable field: aligned lists of product ids (empty
            // text for a line without a product), SKUs and quantities (decimal strings).
            let value = match (name, lines) {
                ("line_product_ids", Some(l)) => wit::FieldValue::TextList(
                    l.iter().map(|l| l.product_id.map(|p| p.to_string()).unwrap_or_default()).collect(),
                ),
                ("line_skus", Some(l)) => {
                    wit::FieldValue::TextList(l.iter().map(|l| l.sku.clone().unwrap_or_default()).collect())
                }
                ("line_quantities", Some(l)) => {
                    wit::FieldValue::TextList(l.iter().map(|l| l.quantity.normalize().to_string()).collect())
                }
                _ => value_to_wit(&rec.std_field(name).filter(|v| !v.is_null())?),
            };
            Some(wit::Field { name: name.to_owned(), value })
        })
        .collect();
    let custom = rec
        .custom()
        .map(|c| {
            c.iter()
                .filter_map(|(k, v)| {
                    let bare = k.strip_prefix(plugin)?.strip_prefix('.')?;
                    Some(wit::Field { name: bare.to_owned(), value: value_to_wit(v) })
                })
                .collect()
        })
        .unwrap_or_default();
    Some(wit::Entity { kind, id: rec.id().to_string(), version: rec.version(), core, custom })
}

/// Whether the standard field (or line-item list) `name` differs between two versions of a
/// record, as a plugin reading it would see.
pub(crate) fn core_changed(before: &Record, after: &Record, name: &str) -> bool {
    if LINE_FIELDS.contains(&name) {
        // What the three lists show of each line.
        type Shown<'a> = Vec<(Option<crm_core::ids::ProductId>, Option<&'a str>, Decimal)>;
        fn shown(r: &Record) -> Option<Shown<'_>> {
            lines_of(r).map(|l| l.iter().map(|l| (l.product_id, l.sku.as_deref(), l.quantity)).collect())
        }
        return shown(before) != shown(after);
    }
    before.std_field(name) != after.std_field(name)
}

/// The line items of orders and deals, the records that show the line-item lists.
fn lines_of(rec: &Record) -> Option<&[LineItem]> {
    match rec {
        Record::Order(o) => Some(&o.lines),
        Record::Deal(d) => Some(&d.line_items),
        _ => None,
    }
}

pub(crate) fn ref_to_wit(r: EntityRef) -> Option<wit::EntityRef> {
    Some(wit::EntityRef { kind: kind_to_wit(r.kind)?, id: r.id.to_string() })
}

pub(crate) fn ref_from_wit(r: &wit::EntityRef) -> Result<EntityRef, String> {
    Ok(EntityRef::new(kind_from_wit(r.kind), parse_id(&r.id)?))
}

/// The core definition of a plugin field (bare key), or why the declaration is invalid.
pub(crate) fn field_from_wit(f: &wit::FieldDefinition) -> Result<FieldDefinition, String> {
    let options = |opts: &[wit::SelectOption]| opts.iter().map(|o| o.value.clone()).collect::<Vec<_>>();
    let field_type = match &f.field_type {
        wit::FieldType::Text | wit::FieldType::LongText => FieldType::Text,
        wit::FieldType::Integer => FieldType::Number,
        wit::FieldType::Decimal => FieldType::Decimal,
        wit::FieldType::Money => FieldType::Money,
        wit::FieldType::Boolean => FieldType::Bool,
        wit::FieldType::Date => FieldType::Date,
        wit::FieldType::Datetime => FieldType::DateTime,
        wit::FieldType::Email => FieldType::Email,
        wit::FieldType::Url => FieldType::Url,
        wit::FieldType::Phone => FieldType::Phone,
        wit::FieldType::SingleSelect(o) => FieldType::Enum { options: options(o) },
        wit::FieldType::MultiSelect(o) => FieldType::MultiEnum { options: options(o) },
        wit::FieldType::Reference(k) => FieldType::Reference { to: kind_from_wit(*k) },
    };
    let c = &f.constraints;
    let bound = |s: &Option<String>, what: &str| -> Result<Option<Decimal>, String> {
        s.as_deref().map(parse_decimal).transpose().map_err(|e| format!("constraints.{what}: {e}"))
    };
    let constraints = Constraints {
        min: bound(&c.min, "min")?,
        max: bound(&c.max, "max")?,
        min_length: c.min_length,
        max_length: c.max_length,
        pattern: c.pattern.clone(),
    };
    let mut def = FieldDefinition::new(kind_from_wit(f.entity), f.name.clone(), f.label.clone(), field_type)
        .constraints(constraints);
    def.required = f.required;
    def.computed = f.computed;
    def.indexed = f.indexed;
    def.description = f.help.clone();
    Ok(def)
}
