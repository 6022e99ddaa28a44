//! The typed query language: filters over standard and custom fields, sorting, keyset
//! pagination. [`MemoryStore`](crate::memory::MemoryStore) evaluates it here; SQL stores compile it.
//!
//! Semantics every store must follow (the conformance kit checks them):
//! - Logic is two-valued: a filter is true or false for every record; `not` is the complement.
//! - Comparisons (`eq`, `lt`, …, `in`) are false when the field is null; `ne` is `not eq`.
//! - `contains`/`starts_with` on text are case-insensitive for ASCII letters; `contains` on a
//!   list field is true when an element equals the operand (text elements ASCII case-insensitively).
//! - `is_null` is true for null and for an empty list.
//! - Sorting: null first ascending (last descending); text by bytes; the record id breaks ties.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::entity::{EntityKind, Record};
use crate::error::{Error, FieldError, FieldErrorCode, Result};
use crate::model::FieldRegistry;
use crate::value::{Value, ValueType};

/// Largest page a query may ask for.
pub const MAX_PAGE_SIZE: usize = 1000;
/// Page size when none is given.
pub const DEFAULT_PAGE_SIZE: usize = 50;

/// A field named in a filter or sort: standard (`lifecycle_stage`) or custom (`custom.budget`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    /// A standard field of the entity kind.
    Std(String),
    /// A custom field, by key.
    Custom(String),
}

impl Field {
    /// Parses `"name"` as standard and `"custom.key"` as custom.
    pub fn parse(s: &str) -> Field {
        match s.strip_prefix("custom.") {
            Some(k) => Field::Custom(k.to_owned()),
            None => Field::Std(s.to_owned()),
        }
    }

    /// The name as written in queries.
    pub fn path(&self) -> String {
        match self {
            Field::Std(n) => n.clone(),
            Field::Custom(k) => format!("custom.{k}"),
        }
    }
}

impl From<&str> for Field {
    fn from(s: &str) -> Self {
        Field::parse(s)
    }
}

/// A comparison operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CmpOp {
    /// Equal.
    Eq,
    /// Not equal (the complement of `Eq`, so null fields match).
    Ne,
    /// Less than.
    Lt,
    /// Less than or equal.
    Lte,
    /// Greater than.
    Gt,
    /// Greater than or equal.
    Gte,
}

/// A filter over records of one kind.
///
/// ```
/// use crm_core::query::Filter;
/// use crm_core::profile::LifecycleStage;
/// let f = Filter::eq("lifecycle_stage", LifecycleStage::Lead)
///     .and(Filter::gte("custom.budget", 1000))
///     .and(Filter::contains("tags", "vip").not());
/// # let _ = f;
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Filter {
    /// Every record.
    #[default]
    All,
    /// All of these.
    And(Vec<Filter>),
    /// Any of these.
    Or(Vec<Filter>),
    /// Not this.
    Not(Box<Filter>),
    /// Compare the field with a value.
    Cmp {
        /// The field.
        field: Field,
        /// The operator.
        op: CmpOp,
        /// The operand.
        value: Value,
    },
    /// The field equals one of the values (for lists: an element does).
    In {
        /// The field.
        field: Field,
        /// The operands.
        values: Vec<Value>,
    },
    /// Text contains the operand, or a list has it as an element.
    Contains {
        /// The field.
        field: Field,
        /// The operand.
        value: Value,
    },
    /// Text starts with the operand.
    StartsWith {
        /// The field.
        field: Field,
        /// The prefix.
        value: String,
    },
    /// The field is null or an empty list.
    IsNull {
        /// The field.
        field: Field,
    },
}

impl Filter {
    fn cmp(field: impl Into<Field>, op: CmpOp, value: impl Into<Value>) -> Filter {
        Filter::Cmp { field: field.into(), op, value: value.into() }
    }
    /// `field = value`.
    pub fn eq(field: impl Into<Field>, value: impl Into<Value>) -> Filter {
        Self::cmp(field, CmpOp::Eq, value)
    }
    /// `field != value` (null fields match).
    pub fn ne(field: impl Into<Field>, value: impl Into<Value>) -> Filter {
        Self::cmp(field, CmpOp::Ne, value)
    }
    /// `field < value`.
    pub fn lt(field: impl Into<Field>, value: impl Into<Value>) -> Filter {
        Self::cmp(field, CmpOp::Lt, value)
    }
    /// `field <= value`.
    pub fn lte(field: impl Into<Field>, value: impl Into<Value>) -> Filter {
        Self::cmp(field, CmpOp::Lte, value)
    }
    /// `field > value`.
    pub fn gt(field: impl Into<Field>, value: impl Into<Value>) -> Filter {
        Self::cmp(field, CmpOp::Gt, value)
    }
    /// `field >= value`.
    pub fn gte(field: impl Into<Field>, value: impl Into<Value>) -> Filter {
        Self::cmp(field, CmpOp::Gte, value)
    }
    /// `field in (values…)`.
    pub fn is_in<V: Into<Value>>(field: impl Into<Field>, values: impl IntoIterator<Item = V>) -> Filter {
        Filter::In { field: field.into(), values: values.into_iter().map(Into::into).collect() }
    }
    /// Text contains / list has element.
    pub fn contains(field: impl Into<Field>, value: impl Into<Value>) -> Filter {
        Filter::Contains { field: field.into(), value: value.into() }
    }
    /// Text starts with.
    pub fn starts_with(field: impl Into<Field>, prefix: impl Into<String>) -> Filter {
        Filter::StartsWith { field: field.into(), value: prefix.into() }
    }
    /// Null or empty.
    pub fn is_null(field: impl Into<Field>) -> Filter {
        Filter::IsNull { field: field.into() }
    }
    /// Both.
    pub fn and(self, other: Filter) -> Filter {
        match self {
            Filter::All => other,
            Filter::And(mut v) => {
                v.push(other);
                Filter::And(v)
            }
            f => Filter::And(vec![f, other]),
        }
    }
    /// Either.
    pub fn or(self, other: Filter) -> Filter {
        match self {
            Filter::Or(mut v) => {
                v.push(other);
                Filter::Or(v)
            }
            f => Filter::Or(vec![f, other]),
        }
    }
    /// The complement.
    #[allow(clippy::should_implement_trait)]
    pub fn not(self) -> Filter {
        Filter::Not(Box::new(self))
    }

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
            Filter::StartsWith { field, .. } => check(field, &[], "starts_with"),
            Filter::IsNull { field } => check(field, &[], "is_null"),
        }
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

/// Sort direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SortOrder {
    /// Smallest first (nulls first).
    Asc,
    /// Largest first (nulls last).
    Desc,
}

/// One sort key.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SortKey {
    /// The field.
    pub field: Field,
    /// The direction.
    pub order: SortOrder,
}

/// An opaque position in a sorted result: pass a page's `next` back to get the next page.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Cursor(String);

#[derive(Serialize, Deserialize)]
struct CursorData {
    k: Vec<Value>,
    id: Uuid,
}

impl Cursor {
    /// The cursor after `record` in a query sorted by `sort`.
    pub fn after(record: &Record, sort: &[SortKey]) -> Cursor {
        let data = CursorData { k: sort.iter().map(|s| record.field(&s.field)).collect(), id: record.id() };
        Cursor(serde_json::to_string(&data).unwrap_or_default())
    }

    /// The sort-key values and id this cursor points after.
    pub fn decode(&self, sort: &[SortKey]) -> Result<(Vec<Value>, Uuid)> {
        let bad = || Error::invalid("cursor", FieldErrorCode::InvalidFormat, "not a cursor returned by this query");
        let data: CursorData = serde_json::from_str(&self.0).map_err(|_| bad())?;
        if data.k.len() != sort.len() {
            return Err(bad());
        }
        Ok((data.k, data.id))
    }

    /// The opaque text (to hand to API clients).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Rebuilds a cursor from its text.
    pub fn from_string(s: String) -> Cursor {
        Cursor(s)
    }
}

/// A filter, a sort, a page size and a position.
///
/// ```
/// use crm_core::query::{Filter, Query};
/// let q = Query::new(Filter::eq("lifecycle_stage", "lead")).sort_desc("updated_at").limit(20);
/// assert_eq!(q.limit, 20);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Query {
    /// Which records.
    pub filter: Filter,
    /// Order; the record id is always the final tie-breaker (ascending).
    pub sort: Vec<SortKey>,
    /// Page size (1–[`MAX_PAGE_SIZE`]).
    pub limit: usize,
    /// Start after this position.
    pub after: Option<Cursor>,
}

impl Default for Query {
    fn default() -> Self {
        Query { filter: Filter::All, sort: Vec::new(), limit: DEFAULT_PAGE_SIZE, after: None }
    }
}

impl Query {
    /// A query with this filter, default sort (by id, i.e. creation order) and page size.
    pub fn new(filter: Filter) -> Self {
        Query { filter, ..Default::default() }
    }
    /// Adds an ascending sort key.
    pub fn sort_asc(mut self, field: impl Into<Field>) -> Self {
        self.sort.push(SortKey { field: field.into(), order: SortOrder::Asc });
        self
    }
    /// Adds a descending sort key.
    pub fn sort_desc(mut self, field: impl Into<Field>) -> Self {
        self.sort.push(SortKey { field: field.into(), order: SortOrder::Desc });
        self
    }
    /// Sets the page size.
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = limit;
        self
    }
    /// Continues after a cursor.
    pub fn after(mut self, cursor: Option<Cursor>) -> Self {
        self.after = cursor;
        self
    }

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

/// One page of results.
#[derive(Clone, Debug, PartialEq)]
pub struct Page<T> {
    /// The records, in order.
    pub items: Vec<T>,
    /// Where the next page starts (None on the last page).
    pub next: Option<Cursor>,
}

impl<T> Page<T> {
    /// Converts every item.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page { items: self.items.into_iter().map(f).collect(), next: self.next }
    }
}
