//! The typed query language: filters over standard and custom fields, sorting, keyset
//! pagination. How records answer it, the reference semantics [`MemoryStore`](crate::memory::MemoryStore)
//! runs (`Filter::matches`, `Query::apply`) and the checks against a kind's fields
//! (`Filter::validate`), are beside the records, in `model/query_eval.rs`; SQL stores compile it.
//!
//! Semantics every store must follow (the conformance kit checks them):
//! - Logic is two-valued: a filter is true or false for every record; `not` is the complement.
//! - Comparisons (`eq`, `lt`, …, `in`) are false when the field is null; `ne` is `not eq`.
//! - `contains`/`starts_with` on text are case-insensitive for ASCII letters; `contains` on a
//!   list field is true when an element equals the operand (text elements ASCII case-insensitively).
//! - `is_null` is true for null and for an empty list.
//! - Sorting: null first ascending (last descending); text by bytes; the record id breaks ties.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{Error, FieldErrorCode, Result};
use crate::value::Value;

/// Largest page a query may ask for.
pub const MAX_PAGE_SIZE: usize = 1000;
/// Page size when none is given.
pub const DEFAULT_PAGE_SIZE: usize = 50;

/// A field named in a filter or sort: standard (`lifecycle_stage`) or custom (`custom.budget`, or a
/// plugin's `boats.price`).
///
/// In JSON it is written `{"std": "name"}` or `{"custom": "budget"}`, and read in that form or
/// as its path (`"name"`, `"custom.budget"`, `"boats.price"`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    /// A standard field of the entity kind.
    Std(String),
    /// A custom field, by key.
    Custom(String),
}

impl Field {
    /// Parses `"name"` as standard and `"custom.key"` as custom. A plugin's field may also be
    /// named as `"plugin.key"` (`"boats.price"` is `"custom.boats.price"`): no standard field has a
    /// dot in its name.
    ///
    /// ```
    /// use crm_core::query::Field;
    /// assert_eq!(Field::parse("boats.price"), Field::parse("custom.boats.price"));
    /// assert_eq!(Field::parse("custom.budget"), Field::Custom("budget".into()));
    /// assert_eq!(Field::parse("name"), Field::Std("name".into()));
    /// ```
    pub fn parse(s: &str) -> Field {
        match s.strip_prefix("custom.") {
            Some(k) => Field::Custom(k.to_owned()),
            None if s.contains('.') => Field::Custom(s.to_owned()),
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

/// Either form a field is read in: its path, or `{"std": name}` / `{"custom": key}`.
#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for Field {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
        let text = || ObjectBuilder::new().schema_type(Type::String);
        let tagged =
            |tag: &str, what: &str| ObjectBuilder::new().property(tag, text().description(Some(what))).required(tag);
        OneOfBuilder::new()
            .item(text().description(Some("The field's path: `name`, `custom.budget`, or a plugin's `boats.price`")))
            .item(tagged("std", "A standard field, by name"))
            .item(tagged("custom", "A custom field, by key"))
            .description(Some("A field named in a filter, sort or aggregate"))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for Field {
    fn name() -> std::borrow::Cow<'static, str> {
        std::borrow::Cow::Borrowed("Field")
    }
}

impl<'de> Deserialize<'de> for Field {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(rename_all = "snake_case")]
        enum Tagged {
            Std(String),
            Custom(String),
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Written {
            Path(String),
            Tagged(Tagged),
        }
        Ok(match Written::deserialize(d)? {
            Written::Path(p) => Field::parse(&p),
            Written::Tagged(Tagged::Std(n)) => Field::Std(n),
            Written::Tagged(Tagged::Custom(k)) => Field::Custom(k),
        })
    }
}

impl From<&str> for Field {
    fn from(s: &str) -> Self {
        Field::parse(s)
    }
}

/// A comparison operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Filter {
    /// Every record.
    #[default]
    All,
    /// All of these.
    #[cfg_attr(feature = "openapi", schema(no_recursion))]
    And(Vec<Filter>),
    /// Any of these.
    #[cfg_attr(feature = "openapi", schema(no_recursion))]
    Or(Vec<Filter>),
    /// Not this.
    #[cfg_attr(feature = "openapi", schema(no_recursion))]
    Not(Box<Filter>),
    /// Compare the field with a value.
    Cmp {
        /// The field.
        field: Field,
        /// The operator.
        op: CmpOp,
        /// The operand.
        #[cfg_attr(feature = "openapi", schema(value_type = crate::value::FieldValue))]
        value: Value,
    },
    /// The field equals one of the values (for lists: an element does).
    In {
        /// The field.
        field: Field,
        /// The operands.
        #[cfg_attr(feature = "openapi", schema(value_type = Vec<crate::value::FieldValue>))]
        values: Vec<Value>,
    },
    /// Text contains the operand, or a list has it as an element.
    Contains {
        /// The field.
        field: Field,
        /// The operand.
        #[cfg_attr(feature = "openapi", schema(value_type = crate::value::FieldValue))]
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

/// The comparison constructors of [`Filter`], one per [`CmpOp`].
macro_rules! cmp_constructors {
    ($( $doc:literal $name:ident => $op:ident ),* $(,)?) => {$(
        #[doc = $doc]
        pub fn $name(field: impl Into<Field>, value: impl Into<Value>) -> Filter {
            Filter::Cmp { field: field.into(), op: CmpOp::$op, value: value.into() }
        }
    )*};
}

impl Filter {
    cmp_constructors! {
        "`field = value`." eq => Eq,
        "`field != value` (null fields match)." ne => Ne,
        "`field < value`." lt => Lt,
        "`field <= value`." lte => Lte,
        "`field > value`." gt => Gt,
        "`field >= value`." gte => Gte,
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
}

/// Sort direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
pub(crate) struct CursorData {
    pub(crate) k: Vec<Value>,
    pub(crate) id: Uuid,
}

impl Cursor {
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
