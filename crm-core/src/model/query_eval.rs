//! How records answer queries: the reference semantics of filters, sorts and pages over
//! [`Record`]s (what [`MemoryStore`](crate::memory::MemoryStore) runs and every store must agree
//! with), and the checks of a query against a kind's standard and custom fields.

use std::cmp::Ordering;

use uuid::Uuid;

use crate::entity::EntityKind;
use crate::error::{Error, FieldError, FieldErrorCode, Result};
use crate::model::{FieldRegistry, Record};
use crate::query::{CmpOp, Cursor, CursorData, Field, Filter, MAX_PAGE_SIZE, Page, Query, SortKey, SortOrder};
use crate::value::{Value, ValueType};

impl Filter {
    /// Whether `record` matches. This is the reference semantics.
    pub fn matches(&self, record: &Record) -> bool {
        match self {
            Filter::All => true,
            Filter::And(fs) => fs.iter().all(|f| f.matches(record)),
            Filter::Or(fs) => fs.iter().any(|f| f.matches(record)),
            Filter::Not(f) => !f.matches(record),
            Filter::Cmp { field, op, value } => {
                let v = record.field(field);
                match op {
                    CmpOp::Eq => eq(&v, value),
                    CmpOp::Ne => !eq(&v, value),
                    CmpOp::Lt => v.compare(value) == Some(Ordering::Less),
                    CmpOp::Lte => matches!(v.compare(value), Some(Ordering::Less | Ordering::Equal)),
                    CmpOp::Gt => v.compare(value) == Some(Ordering::Greater),
                    CmpOp::Gte => matches!(v.compare(value), Some(Ordering::Greater | Ordering::Equal)),
                }
            }
            Filter::In { field, values } => {
                let v = record.field(field);
                match &v {
                    Value::List(items) => items.iter().any(|i| values.iter().any(|x| eq(i, x))),
                    _ => values.iter().any(|x| eq(&v, x)),
                }
            }
            Filter::Contains { field, value } => match (record.field(field), value) {
                (Value::Text(s), Value::Text(needle)) => s.to_ascii_lowercase().contains(&needle.to_ascii_lowercase()),
                (Value::List(items), needle) => items.iter().any(|i| match (i, needle) {
                    (Value::Text(a), Value::Text(b)) => a.eq_ignore_ascii_case(b),
                    (a, b) => eq(a, b),
                }),
                _ => false,
            },
            Filter::StartsWith { field, value } => match record.field(field) {
                Value::Text(s) => s.to_ascii_lowercase().starts_with(&value.to_ascii_lowercase()),
                _ => false,
            },
            Filter::IsNull { field } => record.field(field).is_null(),
        }
    }

    /// Checks every field name and operand type for `kind`; errors name `filter.<field>`.
    pub fn validate(&self, kind: EntityKind, registry: &FieldRegistry) -> Result<()> {
        let mut errs = Vec::new();
        self.collect_errors(kind, registry, &mut errs);
        Error::check(errs)
    }

    fn collect_errors(&self, kind: EntityKind, reg: &FieldRegistry, errs: &mut Vec<FieldError>) {
        let mut check = |field: &Field, operands: &[&Value], op: &str| {
            let path = format!("filter.{}", field.path());
            let Some(ty) = field_type(kind, reg, field) else {
                errs.push(FieldError::new(
                    path,
                    FieldErrorCode::UnknownField,
                    format!("{kind} has no field `{}`", field.path()),
                ));
                return;
            };
            if ty.is_list() && matches!(op, "lt" | "lte" | "gt" | "gte" | "eq" | "ne" | "starts_with") {
                errs.push(FieldError::new(
                    path,
                    FieldErrorCode::TypeMismatch,
                    format!("`{op}` is not defined on a list; use `contains` or `in`"),
                ));
                return;
            }
            if matches!(op, "starts_with") && ty != ValueType::Text {
                errs.push(FieldError::new(path, FieldErrorCode::TypeMismatch, "`starts_with` needs a text field"));
                return;
            }
            if matches!(op, "contains") && !ty.is_list() && ty != ValueType::Text {
                errs.push(FieldError::new(path, FieldErrorCode::TypeMismatch, "`contains` needs a text or list field"));
                return;
            }
            if operands.iter().any(|v| has_nul(v)) {
                errs.push(FieldError::new(path, FieldErrorCode::InvalidFormat, NUL_REFUSED));
                return;
            }
            for v in operands {
                if !ty.accepts(v) {
                    errs.push(FieldError::new(
                        path.clone(),
                        FieldErrorCode::TypeMismatch,
                        format!("cannot compare a {:?} field with a {} value", ty, v.type_name()),
                    ));
                    return;
                }
            }
        };
        match self {
            Filter::All => {}
            Filter::And(fs) | Filter::Or(fs) => fs.iter().for_each(|f| f.collect_errors(kind, reg, errs)),
            Filter::Not(f) => f.collect_errors(kind, reg, errs),
            Filter::Cmp { field, op, value } => {
                let name = match op {
                    CmpOp::Eq => "eq",
                    CmpOp::Ne => "ne",
                    CmpOp::Lt => "lt",
                    CmpOp::Lte => "lte",
                    CmpOp::Gt => "gt",
                    CmpOp::Gte => "gte",
                };
                check(field, &[value], name)
            }
            Filter::In { field, values } => check(field, &values.iter().collect::<Vec<_>>(), "in"),
            Filter::Contains { field, value } => check(field, &[value], "contains"),
            Filter::StartsWith { field, value } => check(field, &[&Value::Text(value.clone())], "starts_with"),
            Filter::IsNull { field } => check(field, &[], "is_null"),
        }
    }
}

/// Why text with a NUL character is refused, in stored values and in filters alike: no SQL
/// backend can hold or compare it faithfully (PostgreSQL text cannot contain it at all).
pub(crate) const NUL_REFUSED: &str = "text cannot contain the NUL character (U+0000)";

/// Whether a value is, or holds, text with a NUL character.
fn has_nul(v: &Value) -> bool {
    match v {
        Value::Text(s) => s.contains('\0'),
        Value::List(items) => items.iter().any(has_nul),
        _ => false,
    }
}

/// Equality for filters: null never equals anything; numbers compare numerically.
fn eq(a: &Value, b: &Value) -> bool {
    !a.is_null() && a.compare(b) == Some(Ordering::Equal)
}

/// The type of `field` on `kind`, standard or custom.
pub fn field_type(kind: EntityKind, registry: &FieldRegistry, field: &Field) -> Option<ValueType> {
    match field {
        Field::Std(n) => kind.std_field(n).map(|f| f.ty),
        Field::Custom(k) => registry.get(k).map(|f| f.definition.field_type.value_type()),
    }
}

impl Cursor {
    /// The cursor after `record` in a query sorted by `sort`.
    pub fn after(record: &Record, sort: &[SortKey]) -> Cursor {
        let data = CursorData { k: sort.iter().map(|s| record.field(&s.field)).collect(), id: record.id() };
        Cursor::from_string(serde_json::to_string(&data).unwrap_or_default())
    }
}

impl Query {
    /// Checks fields, operand types, sort keys, page size and cursor.
    pub fn validate(&self, kind: EntityKind, registry: &FieldRegistry) -> Result<()> {
        let mut errs = Vec::new();
        if let Err(Error::Validation(v)) = self.filter.validate(kind, registry) {
            errs.extend(v.0);
        }
        for (i, s) in self.sort.iter().enumerate() {
            match field_type(kind, registry, &s.field) {
                None => errs.push(FieldError::new(
                    format!("sort[{i}]"),
                    FieldErrorCode::UnknownField,
                    format!("{kind} has no field `{}`", s.field.path()),
                )),
                Some(t) if t.is_list() => errs.push(FieldError::new(
                    format!("sort[{i}]"),
                    FieldErrorCode::TypeMismatch,
                    format!("cannot sort by the list field `{}`", s.field.path()),
                )),
                _ => {}
            }
        }
        if self.limit == 0 || self.limit > MAX_PAGE_SIZE {
            errs.push(FieldError::new(
                "limit",
                FieldErrorCode::OutOfRange,
                format!("page size must be 1–{MAX_PAGE_SIZE}"),
            ));
        }
        if let Some(c) = &self.after
            && let Err(Error::Validation(v)) = c.decode(&self.sort)
        {
            errs.extend(v.0);
        }
        Error::check(errs)
    }

    /// Orders two records by this query's sort, then by id.
    pub fn compare(&self, a: &Record, b: &Record) -> Ordering {
        compare_keys(&self.sort, &sort_values(&self.sort, a), a.id(), &sort_values(&self.sort, b), b.id())
    }

    /// Applies the query to records in memory: filter, sort, keyset position, page.
    pub fn apply<'a>(&self, records: impl IntoIterator<Item = &'a Record>) -> Result<Page<Record>> {
        let after = match &self.after {
            Some(c) => Some(c.decode(&self.sort)?),
            None => None,
        };
        let mut rows: Vec<(Vec<Value>, &Record)> = records
            .into_iter()
            .filter(|r| self.filter.matches(r))
            .map(|r| (sort_values(&self.sort, r), r))
            .filter(|(k, r)| match &after {
                Some((ak, aid)) => compare_keys(&self.sort, k, r.id(), ak, *aid) == Ordering::Greater,
                None => true,
            })
            .collect();
        rows.sort_by(|(ka, a), (kb, b)| compare_keys(&self.sort, ka, a.id(), kb, b.id()));
        let limit = self.limit.clamp(1, MAX_PAGE_SIZE);
        let has_more = rows.len() > limit;
        rows.truncate(limit);
        let items: Vec<Record> = rows.into_iter().map(|(_, r)| r.clone()).collect();
        let next = if has_more { items.last().map(|r| Cursor::after(r, &self.sort)) } else { None };
        Ok(Page { items, next })
    }
}

fn sort_values(sort: &[SortKey], r: &Record) -> Vec<Value> {
    sort.iter().map(|s| r.field(&s.field)).collect()
}

fn compare_keys(sort: &[SortKey], ka: &[Value], ida: Uuid, kb: &[Value], idb: Uuid) -> Ordering {
    for ((s, a), b) in sort.iter().zip(ka).zip(kb) {
        let o = a.sort_cmp(b);
        let o = if s.order == SortOrder::Desc { o.reverse() } else { o };
        if o != Ordering::Equal {
            return o;
        }
    }
    ida.cmp(&idb)
}
