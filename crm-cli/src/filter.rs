//! Filters and sorts as a shell writes them: `lifecycle_stage=lead`, `amount>=1000`,
//! `custom.region=north|south`, `email^=ann`, `tags=vip` (a list holding it), `birthday=`
//! (no value), and sorts
//! `-updated_at` (descending) or `family_name`.

use crm::entity::EntityKind;
use crm::query::{CmpOp, Field, Filter, Query};
use crm::service::Session;
use crm::value::{Value, ValueType};

use crate::error::CliError;

/// The operators, longest first so that `>=` is not read as `>`.
const OPS: &[&str] = &["!=", ">=", "<=", "^=", "~=", "=", ">", "<"];

/// `query` narrowed by every `filters` expression (all must hold) and sorted by `sorts`.
pub async fn query(
    cx: &Session,
    kind: EntityKind,
    filters: &[String],
    sorts: &[String],
    limit: usize,
) -> Result<Query, CliError> {
    let mut parts = Vec::new();
    for (i, f) in filters.iter().enumerate() {
        parts.push(parse(cx, kind, f).await.map_err(|m| CliError::Usage(format!("--filter #{}: `{f}`: {m}", i + 1)))?);
    }
    let filter = match parts.len() {
        0 => Filter::All,
        1 => parts.remove(0),
        _ => Filter::And(parts),
    };
    let mut q = Query::new(filter).limit(limit);
    for s in sorts {
        q = match s.strip_prefix('-') {
            Some(field) => q.sort_desc(Field::parse(field)),
            None => q.sort_asc(Field::parse(s.trim_start_matches('+'))),
        };
    }
    Ok(q)
}

/// One expression as a filter on `kind`.
async fn parse(cx: &Session, kind: EntityKind, expr: &str) -> Result<Filter, String> {
    let (at, op) = OPS
        .iter()
        .filter_map(|op| expr.find(op).map(|at| (at, *op)))
        .min_by_key(|(at, op)| (*at, std::cmp::Reverse(op.len())))
        .ok_or("write it as FIELD=VALUE (or !=, >, >=, <, <=, ^= for starts with, ~= for contains)")?;
    let (name, raw) = (expr[..at].trim(), expr[at + op.len()..].trim());
    if name.is_empty() {
        return Err("it names no field".into());
    }
    let field = Field::parse(name);
    let ty = field_type(cx, kind, &field).await?;
    if raw.is_empty() {
        return match op {
            "=" => Ok(Filter::is_null(field)),
            "!=" => Ok(Filter::Not(Box::new(Filter::is_null(field)))),
            _ => Err("it has no value".into()),
        };
    }
    let value = |s: &str| typed(ty, s);
    // A list holds a value rather than equals one: `tags=vip` is "has the tag vip".
    if matches!(ty, ValueType::TextList | ValueType::IdList) && op == "=" {
        let any: Vec<Filter> = raw
            .split('|')
            .map(|v| value(v).map(|value| Filter::Contains { field: field.clone(), value }))
            .collect::<Result<_, _>>()?;
        return Ok(if any.len() == 1 { any.into_iter().next().expect("one") } else { Filter::Or(any) });
    }
    Ok(match op {
        "=" if raw.contains('|') => Filter::In { field, values: raw.split('|').map(value).collect::<Result<_, _>>()? },
        "=" => cmp(field, CmpOp::Eq, value(raw)?),
        "!=" => cmp(field, CmpOp::Ne, value(raw)?),
        ">" => cmp(field, CmpOp::Gt, value(raw)?),
        ">=" => cmp(field, CmpOp::Gte, value(raw)?),
        "<" => cmp(field, CmpOp::Lt, value(raw)?),
        "<=" => cmp(field, CmpOp::Lte, value(raw)?),
        "^=" => Filter::StartsWith { field, value: raw.to_owned() },
        _ => Filter::Contains { field, value: value(raw)? },
    })
}

fn cmp(field: Field, op: CmpOp, value: Value) -> Filter {
    Filter::Cmp { field, op, value }
}

/// The type of `field` of `kind`: a standard field's, or the custom field's definition's.
async fn field_type(cx: &Session, kind: EntityKind, field: &Field) -> Result<ValueType, String> {
    match field {
        Field::Std(name) => kind.std_field(name).map(|f| f.ty).ok_or_else(|| {
            let known: Vec<&str> = kind.std_fields().iter().map(|f| f.name).collect();
            format!("{kind} records have no field `{name}` (they have {})", known.join(", "))
        }),
        Field::Custom(key) => {
            let defs = cx.custom_fields().registered(kind).await.map_err(|e| e.to_string())?;
            defs.iter()
                .find(|d| d.definition.key == *key)
                .map(|d| d.definition.field_type.value_type())
                .ok_or_else(|| format!("{kind} records have no custom field `{key}`"))
        }
    }
}

/// `s` read as a value of type `ty` (an element's type for lists).
fn typed(ty: ValueType, s: &str) -> Result<Value, String> {
    let bad = |what: &str| format!("`{s}` is not {what}");
    Ok(match ty {
        ValueType::Bool => Value::Bool(s.parse().map_err(|_| bad("true or false"))?),
        ValueType::Int => Value::Int(s.parse().map_err(|_| bad("a whole number"))?),
        ValueType::Decimal | ValueType::Money => Value::Decimal(s.parse().map_err(|_| bad("a number"))?),
        ValueType::Date => Value::Date(s.parse().map_err(|_| bad("a date (YYYY-MM-DD)"))?),
        ValueType::DateTime => Value::DateTime(
            chrono::DateTime::parse_from_rfc3339(s).map_err(|_| bad("an RFC 3339 time"))?.with_timezone(&chrono::Utc),
        ),
        ValueType::Id | ValueType::IdList => Value::Id(s.parse().map_err(|_| bad("an id"))?),
        _ => Value::Text(s.to_owned()),
    })
}
