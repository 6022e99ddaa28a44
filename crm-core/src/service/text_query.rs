//! Filters and sorts as a shell writes them: `lifecycle_stage=lead`, `amount>=1000`,
//! `custom.region=north|south`, `email^=ann`, `tags=vip` (a list holding it), `birthday=`
//! (no value), and sorts
//! `-updated_at` (descending) or `family_name`.

use super::Session;
use crate::entity::EntityKind;
use crate::error::{Error, FieldErrorCode, Result};
use crate::query::{CmpOp, Field, Filter, Query};
use crate::value::{Value, ValueType};

/// The operators, longest first so that `>=` is not read as `>`.
const OPS: &[&str] = &["!=", ">=", "<=", "^=", "~=", "=", ">", "<"];

impl Session {
    /// A query on `kind` from text, as a shell or a URL carries it: every `filters` expression
    /// must hold — `field=value` (`a|b` for any of them; for a list field, holding the value),
    /// `!=`, `>`, `>=`, `<`, `<=`, `^=` (starts with), `~=` (contains), `field=` (no value),
    /// each value read as its field's type (a custom field's from its definition) — sorted by
    /// `sorts` (`-field` descending), at most `limit` a page. A bad expression is
    /// [`Error::Validation`] naming `filter[i]` (`sort[i]`) and saying why.
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// use crm_core::prelude::*;
    /// let cx = Crm::new(MemoryStore::new()).as_actor(&Actor::system(TenantId::new()));
    /// cx.contacts().create(NewContact::new("Ada", "Lovelace").tag("vip")).await?;
    /// let q = cx.text_query(EntityKind::Contact, &["tags=vip", "family_name^=Love"], &["-updated_at"], 20).await?;
    /// assert_eq!(cx.contacts().list(&q).await?.items.len(), 1);
    /// assert!(cx.text_query(EntityKind::Contact, &["shoe_size=9"], &[] as &[&str], 20).await.is_err());
    /// # Ok::<_, Error>(()) }).unwrap();
    /// ```
    pub async fn text_query(
        &self,
        kind: EntityKind,
        filters: &[impl AsRef<str>],
        sorts: &[impl AsRef<str>],
        limit: usize,
    ) -> Result<Query> {
        let mut parts = Vec::new();
        for (i, f) in filters.iter().enumerate() {
            let f = f.as_ref();
            let parsed = parse(self, kind, f).await;
            parts.push(parsed.map_err(|m| {
                Error::invalid(format!("filter[{i}]"), FieldErrorCode::InvalidFormat, format!("`{f}`: {m}"))
            })?);
        }
        let filter = match parts.len() {
            0 => Filter::All,
            1 => parts.remove(0),
            _ => Filter::And(parts),
        };
        let mut q = Query::new(filter).limit(limit);
        for (i, s) in sorts.iter().enumerate() {
            let s = s.as_ref().trim();
            let (name, desc) = match s.strip_prefix('-') {
                Some(name) => (name, true),
                None => (s.trim_start_matches('+'), false),
            };
            if name.is_empty() {
                return Err(Error::invalid(format!("sort[{i}]"), FieldErrorCode::InvalidFormat, "it names no field"));
            }
            q = if desc { q.sort_desc(Field::parse(name)) } else { q.sort_asc(Field::parse(name)) };
        }
        Ok(q)
    }
}

/// One expression as a filter on `kind`.
async fn parse(cx: &Session, kind: EntityKind, expr: &str) -> std::result::Result<Filter, String> {
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
    let value = |s: &str| ty.read_text(s);
    // A list holds a value rather than equals one: `tags=vip` is "has the tag vip".
    if matches!(ty, ValueType::TextList | ValueType::IdList) && op == "=" {
        let any: Vec<Filter> = raw
            .split('|')
            .map(|v| value(v).map(|value| Filter::Contains { field: field.clone(), value }))
            .collect::<std::result::Result<_, _>>()?;
        return Ok(if any.len() == 1 { any.into_iter().next().expect("one") } else { Filter::Or(any) });
    }
    Ok(match op {
        "=" if raw.contains('|') => {
            Filter::In { field, values: raw.split('|').map(value).collect::<std::result::Result<_, _>>()? }
        }
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
async fn field_type(cx: &Session, kind: EntityKind, field: &Field) -> std::result::Result<ValueType, String> {
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
