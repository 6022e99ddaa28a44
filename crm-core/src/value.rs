//! Dynamically typed field values: custom field values and query operands.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::money::Money;

/// A typed value of a standard or custom field.
///
/// Serialized externally tagged (`{"text":"web"}`, `{"decimal":"12.50"}`) so it round-trips
/// exactly through JSON storage.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Value {
    /// No value.
    Null,
    /// A boolean.
    Bool(bool),
    /// A whole number.
    Int(i64),
    /// An exact decimal number.
    Decimal(Decimal),
    /// An amount of money.
    Money(Money),
    /// Text (also enum options and identifiers such as emails).
    Text(String),
    /// A calendar date.
    Date(NaiveDate),
    /// A UTC instant.
    DateTime(DateTime<Utc>),
    /// A record id.
    Id(Uuid),
    /// A list (multi-select options, ids, tags, emails).
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<FieldValue>, no_recursion))]
    List(Vec<Value>),
}

/// [`Value`] under a name utoipa does not take for any JSON value (it reads every type called
/// `Value` as `serde_json::Value`): the type fields of type `Value` give as their `value_type`.
#[cfg(feature = "openapi")]
pub(crate) type FieldValue = Value;

/// Custom field values of a record, keyed by field key.
pub type CustomValues = BTreeMap<String, Value>;

/// The type of a standard field, used to check filters and sorts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ValueType {
    /// [`Value::Bool`].
    Bool,
    /// [`Value::Int`].
    Int,
    /// [`Value::Decimal`] (also accepts `Int` operands).
    Decimal,
    /// [`Value::Money`].
    Money,
    /// [`Value::Text`].
    Text,
    /// [`Value::Date`].
    Date,
    /// [`Value::DateTime`].
    DateTime,
    /// [`Value::Id`].
    Id,
    /// A list of [`Value::Text`].
    TextList,
    /// A list of [`Value::Id`].
    IdList,
}

impl ValueType {
    /// `s`, text as a person or a URL writes it, read as a value of this type (an element's
    /// for lists): `true`, `42`, `12.50`, `2027-03-31`, an RFC 3339 time, an id; anything for
    /// text. The error says what was expected.
    ///
    /// ```
    /// use crm_core::value::{Value, ValueType};
    /// assert_eq!(ValueType::Int.read_text("42"), Ok(Value::Int(42)));
    /// assert!(ValueType::Date.read_text("31/03/2027").unwrap_err().contains("YYYY-MM-DD"));
    /// ```
    pub fn read_text(self, s: &str) -> Result<Value, String> {
        let bad = |what: &str| format!("`{s}` is not {what}");
        Ok(match self {
            ValueType::Bool => Value::Bool(s.parse().map_err(|_| bad("true or false"))?),
            ValueType::Int => Value::Int(s.parse().map_err(|_| bad("a whole number"))?),
            ValueType::Decimal | ValueType::Money => Value::Decimal(s.parse().map_err(|_| bad("a number"))?),
            ValueType::Date => Value::Date(s.parse().map_err(|_| bad("a date (YYYY-MM-DD)"))?),
            ValueType::DateTime => Value::DateTime(
                DateTime::parse_from_rfc3339(s).map_err(|_| bad("an RFC 3339 time"))?.with_timezone(&Utc),
            ),
            ValueType::Id | ValueType::IdList => Value::Id(s.parse().map_err(|_| bad("an id"))?),
            ValueType::Text | ValueType::TextList => Value::Text(s.to_owned()),
        })
    }

    /// True for list types.
    pub fn is_list(self) -> bool {
        matches!(self, ValueType::TextList | ValueType::IdList)
    }

    /// The type of one element (itself for scalars).
    pub fn element(self) -> ValueType {
        match self {
            ValueType::TextList => ValueType::Text,
            ValueType::IdList => ValueType::Id,
            other => other,
        }
    }

    /// Whether a scalar operand `v` can be compared with a field of this type.
    pub fn accepts(self, v: &Value) -> bool {
        matches!(
            (self.element(), v),
            (ValueType::Bool, Value::Bool(_))
                | (ValueType::Int | ValueType::Decimal, Value::Int(_) | Value::Decimal(_))
                | (ValueType::Money, Value::Money(_) | Value::Decimal(_) | Value::Int(_))
                | (ValueType::Text, Value::Text(_))
                | (ValueType::Date, Value::Date(_))
                | (ValueType::DateTime, Value::DateTime(_))
                | (ValueType::Id, Value::Id(_))
        )
    }
}

impl Value {
    /// True for [`Value::Null`] and the empty list.
    pub fn is_null(&self) -> bool {
        match self {
            Value::Null => true,
            Value::List(l) => l.is_empty(),
            _ => false,
        }
    }

    /// The text, for [`Value::Text`].
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Value::Text(s) => Some(s),
            _ => None,
        }
    }

    /// A short name of the variant, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Decimal(_) => "decimal",
            Value::Money(_) => "money",
            Value::Text(_) => "text",
            Value::Date(_) => "date",
            Value::DateTime(_) => "datetime",
            Value::Id(_) => "id",
            Value::List(_) => "list",
        }
    }

    /// Compares two values of compatible types. `None` when they cannot be compared
    /// (different types, money in different currencies, or either is null).
    ///
    /// Numbers compare numerically across `Int`/`Decimal`; money compares with money of
    /// the same currency, or with a bare number by amount. Text compares by bytes.
    pub fn compare(&self, other: &Value) -> Option<Ordering> {
        use Value::*;
        match (self, other) {
            (Bool(a), Bool(b)) => Some(a.cmp(b)),
            (Int(a), Int(b)) => Some(a.cmp(b)),
            (Int(a), Decimal(b)) => Some(rust_decimal::Decimal::from(*a).cmp(b)),
            (Decimal(a), Int(b)) => Some(a.cmp(&rust_decimal::Decimal::from(*b))),
            (Decimal(a), Decimal(b)) => Some(a.cmp(b)),
            (Money(a), Money(b)) if a.currency == b.currency => Some(a.amount.cmp(&b.amount)),
            (Money(a), Decimal(b)) => Some(a.amount.cmp(b)),
            (Money(a), Int(b)) => Some(a.amount.cmp(&rust_decimal::Decimal::from(*b))),
            (Text(a), Text(b)) => Some(a.as_bytes().cmp(b.as_bytes())),
            (Date(a), Date(b)) => Some(a.cmp(b)),
            (DateTime(a), DateTime(b)) => Some(a.cmp(b)),
            (Id(a), Id(b)) => Some(a.cmp(b)),
            _ => None,
        }
    }

    /// The total order used for sorting: null first, then by [`Value::compare`];
    /// values that cannot be compared fall back to their type name, so sorting never panics.
    pub fn sort_cmp(&self, other: &Value) -> Ordering {
        match (self.is_null(), other.is_null()) {
            (true, true) => Ordering::Equal,
            (true, false) => Ordering::Less,
            (false, true) => Ordering::Greater,
            (false, false) => match (self, other) {
                (Value::List(a), Value::List(b)) => {
                    for (x, y) in a.iter().zip(b) {
                        let o = x.sort_cmp(y);
                        if o != Ordering::Equal {
                            return o;
                        }
                    }
                    a.len().cmp(&b.len())
                }
                (Value::Money(a), Value::Money(b)) if a.currency != b.currency => {
                    a.currency.code().cmp(b.currency.code()).then(a.amount.cmp(&b.amount))
                }
                _ => self.compare(other).unwrap_or_else(|| self.type_name().cmp(other.type_name())),
            },
        }
    }
}

macro_rules! value_from {
    ($($t:ty => $v:ident),* $(,)?) => {$(
        impl From<$t> for Value {
            fn from(x: $t) -> Self {
                Value::$v(x.into())
            }
        }
    )*};
}

value_from!(
    bool => Bool, i64 => Int, i32 => Int, u32 => Int, Decimal => Decimal, Money => Money,
    String => Text, &str => Text, NaiveDate => Date, DateTime<Utc> => DateTime, Uuid => Id,
);

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(x: Option<T>) -> Self {
        x.map(Into::into).unwrap_or(Value::Null)
    }
}

impl<T: Into<Value>> From<Vec<T>> for Value {
    fn from(x: Vec<T>) -> Self {
        Value::List(x.into_iter().map(Into::into).collect())
    }
}

/// Ids filter as [`Value::Id`].
macro_rules! value_from_ids {
    ($($id:ident),* $(,)?) => {
        $(
            impl From<crate::ids::$id> for Value {
                fn from(id: crate::ids::$id) -> Self {
                    Value::Id(id.as_uuid())
                }
            }
        )*
    };
}

value_from_ids!(
    TenantId,
    UserId,
    ContactId,
    CompanyId,
    DealId,
    PipelineId,
    StageId,
    ActivityId,
    RelationId,
    CustomFieldId,
    ProductId,
    OrderId,
    InvoiceId,
    PaymentId,
    CaseId,
    FeedbackId,
    CampaignId,
    CampaignMemberId,
    SegmentId,
    SyncLinkId,
    SyncStateId,
    MergeId,
    TeamId,
    RoleId,
    ConsentId,
    ErasureId,
    ShareId,
    ApiKeyId,
    WorkflowId,
    WorkflowRunId,
    WorkflowTimerId,
    NotificationId,
    EventId
);

impl From<crate::entity::EntityKind> for Value {
    fn from(k: crate::entity::EntityKind) -> Self {
        Value::Text(k.as_str().to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::Currency;

    #[test]
    fn numbers_compare_across_int_and_decimal() {
        assert_eq!(Value::Int(2).compare(&Value::Decimal(Decimal::new(25, 1))), Some(Ordering::Less));
        assert_eq!(Value::Decimal(Decimal::new(20, 1)).compare(&Value::Int(2)), Some(Ordering::Equal));
    }

    #[test]
    fn money_in_different_currencies_does_not_compare() {
        let eur = Value::Money(Money::new(Decimal::ONE, Currency::EUR));
        let usd = Value::Money(Money::new(Decimal::TWO, Currency::USD));
        assert_eq!(eur.compare(&usd), None);
        assert_eq!(eur.compare(&Value::Int(0)), Some(Ordering::Greater));
    }

    #[test]
    fn null_sorts_first_and_text_by_bytes() {
        let mut v = vec![Value::Text("b".into()), Value::Null, Value::Text("B".into()), Value::Text("a".into())];
        v.sort_by(Value::sort_cmp);
        assert_eq!(v, vec![Value::Null, Value::Text("B".into()), Value::Text("a".into()), Value::Text("b".into())]);
    }

    #[test]
    fn json_round_trip_is_exact() {
        let v = Value::List(vec![
            Value::Decimal(Decimal::new(1050, 2)),
            Value::Date(NaiveDate::from_ymd_opt(2026, 2, 28).unwrap()),
            Value::Null,
        ]);
        let s = serde_json::to_string(&v).unwrap();
        assert_eq!(s, r#"{"list":[{"decimal":"10.50"},{"date":"2026-02-28"},"null"]}"#);
        assert_eq!(serde_json::from_str::<Value>(&s).unwrap(), v);
    }
}
