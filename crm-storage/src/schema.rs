//! The mapping from crm-core's record kinds to SQL tables: **the one place** a new entity kind
//! or standard field reaches the database.
//!
//! Each kind has a table (see [`table`]) keyed by `(tenant_id, id)` with:
//! - `version`, and `data`: the exact record as JSON (what reads return);
//! - `custom`: the custom fields in query form (JSON, `jsonb` on PostgreSQL; see
//!   [`encode::custom_json`](crate::encode::custom_json));
//! - one typed column per standard field of the kind (`EntityKind::std_fields()`), derived
//!   here, so a field added to crm-core gets its column (and backfill) on the next open.
//!
//! Column types: booleans; `bigint` for integers, dates (days since 0001-01-01) and instants
//! (nanoseconds since the Unix epoch); text for text (byte order: `COLLATE "C"` on PostgreSQL)
//! and for decimals (an order-preserving key, exact on both backends); `uuid` (a 16-byte blob on
//! SQLite) for ids; JSON arrays for lists. Indexes all lead with `tenant_id`.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::OnceLock;

use crm_core::{entity::EntityKind, model::Record, value::Value, value::ValueType};
use sea_orm::sea_query::Value as SqlValue;

use crate::encode::{date_key, datetime_key, decimal_key, money_parts, tagged_list};

/// What a column holds, which decides its SQL type and how values are encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ColType {
    Bool,
    Int,
    /// A decimal key ([`decimal_key`]).
    Decimal,
    /// The amount (decimal key) of a money field.
    MoneyAmount,
    /// The currency code of a money field.
    MoneyCurrency,
    Text,
    /// Days since 0001-01-01.
    Date,
    /// Nanoseconds since the Unix epoch.
    DateTime,
    Id,
    /// A JSON array of tagged strings.
    List,
}

/// One derived column.
#[derive(Clone, Debug)]
pub(crate) struct Column {
    /// Column name.
    pub name: Cow<'static, str>,
    /// The standard field it comes from.
    pub field: &'static str,
    pub ty: ColType,
}

/// Std fields stored in the fixed columns of every table.
const SYSTEM_FIELDS: &[&str] = &["id", "version"];

/// The table of a kind.
pub fn table(kind: EntityKind) -> &'static str {
    static NAMES: OnceLock<HashMap<EntityKind, &'static str>> = OnceLock::new();
    NAMES.get_or_init(|| {
        EntityKind::ALL
            .iter()
            .map(|k| {
                let name: &'static str = match k {
                    EntityKind::Contact => "contacts",
                    EntityKind::Company => "companies",
                    EntityKind::Deal => "deals",
                    EntityKind::Pipeline => "pipelines",
                    EntityKind::Activity => "activities",
                    EntityKind::Relation => "relations",
                    EntityKind::CustomField => "custom_fields",
                    EntityKind::Product => "products",
                    EntityKind::Order => "orders",
                    EntityKind::Invoice => "invoices",
                    EntityKind::Payment => "payments",
                    EntityKind::Case => "cases",
                    EntityKind::Feedback => "feedback",
                    EntityKind::Campaign => "campaigns",
                    EntityKind::CampaignMember => "campaign_members",
                    EntityKind::Segment => "segments",
                    EntityKind::SyncLink => "sync_links",
                    EntityKind::SyncState => "sync_states",
                    // A kind added to crm-core later gets a table without an edit here.
                    other => Box::leak(format!("crm_{other}").into_boxed_str()),
                };
                (*k, name)
            })
            .collect()
    })[&kind]
}

/// The derived (standard field) columns of a kind's table.
pub(crate) fn columns(kind: EntityKind) -> &'static [Column] {
    static COLS: OnceLock<HashMap<EntityKind, Vec<Column>>> = OnceLock::new();
    COLS.get_or_init(|| {
        EntityKind::ALL
            .iter()
            .map(|k| {
                let mut cols = Vec::new();
                for f in k.std_fields() {
                    if SYSTEM_FIELDS.contains(&f.name) {
                        continue;
                    }
                    let ty = match f.ty {
                        ValueType::Bool => ColType::Bool,
                        ValueType::Int => ColType::Int,
                        ValueType::Decimal => ColType::Decimal,
                        ValueType::Money => {
                            cols.push(Column {
                                name: format!("{}__cur", f.name).into(),
                                field: f.name,
                                ty: ColType::MoneyCurrency,
                            });
                            ColType::MoneyAmount
                        }
                        ValueType::Text => ColType::Text,
                        ValueType::Date => ColType::Date,
                        ValueType::DateTime => ColType::DateTime,
                        ValueType::Id => ColType::Id,
                        _ => ColType::List,
                    };
                    cols.push(Column { name: Cow::Borrowed(f.name), field: f.name, ty });
                }
                (*k, cols)
            })
            .collect()
    })
    .get(&kind)
    .map(Vec::as_slice)
    .unwrap_or(&[])
}

/// The column of the standard field `field` (for money: the amount column).
pub(crate) fn column(kind: EntityKind, field: &str) -> Option<&'static Column> {
    columns(kind).iter().find(|c| c.field == field && c.ty != ColType::MoneyCurrency)
}

/// The currency column of the money field `field`.
pub(crate) fn currency_column(kind: EntityKind, field: &str) -> Option<&'static Column> {
    columns(kind).iter().find(|c| c.field == field && c.ty == ColType::MoneyCurrency)
}

/// Secondary indexes of a kind (column lists; `tenant_id` is put first).
///
/// Every table gets `updated_at` and one index per id column (the links queries follow;
/// the owner's with `updated_at`, for the lists of an actor who reads only their own records);
/// the fields lists, boards and lookups filter on get theirs here.
pub fn indexes(kind: EntityKind) -> Vec<Vec<&'static str>> {
    let mut out: Vec<Vec<&'static str>> = vec![vec!["updated_at"]];
    for c in columns(kind) {
        match (c.ty, c.field) {
            // A restricted actor's lists are their records, newest first.
            (ColType::Id, "owner_id") => out.push(vec!["owner_id", "updated_at"]),
            (ColType::Id, field) => out.push(vec![field]),
            _ => {}
        }
    }
    let extra: &[&[&'static str]] = match kind {
        EntityKind::Contact => &[&["lifecycle_stage", "updated_at"], &["email"], &["family_name", "given_name"]],
        EntityKind::Company => &[&["name"], &["domain"]],
        EntityKind::Deal => &[&["status", "updated_at"]],
        EntityKind::Activity => &[&["occurred_at"], &["message_id"], &["thread_id"]],
        EntityKind::Order => &[&["status", "updated_at"]],
        EntityKind::Invoice => &[&["status", "due_date"]],
        EntityKind::Case => &[&["status", "priority"]],
        EntityKind::Product => &[&["name"]],
        EntityKind::SyncLink => &[&["connection", "remote_kind", "conflicts"]],
        EntityKind::SyncState => &[&["key"]],
        EntityKind::ApiKey => &[&["hash"]],
        EntityKind::WorkflowRun => &[&["key"]],
        EntityKind::WorkflowTimer => &[&["due_at"]],
        _ => &[],
    };
    out.extend(extra.iter().map(|e| e.to_vec()));
    out
}

/// The SQL NULL of a column type.
pub(crate) fn null_of(ty: ColType) -> SqlValue {
    match ty {
        ColType::Bool => SqlValue::Bool(None),
        ColType::Int | ColType::Date | ColType::DateTime => SqlValue::BigInt(None),
        ColType::Decimal | ColType::MoneyAmount | ColType::MoneyCurrency | ColType::Text => SqlValue::String(None),
        ColType::Id => SqlValue::Uuid(None),
        ColType::List => SqlValue::Json(None),
    }
}

/// The stored value of a standard field value in a column of type `ty`; NULL when the value
/// does not fit the column (never the case for values crm-core produces).
pub(crate) fn encode(ty: ColType, v: &Value) -> SqlValue {
    match (ty, v) {
        (ColType::Bool, Value::Bool(b)) => (*b).into(),
        (ColType::Int, Value::Int(i)) => (*i).into(),
        (ColType::Decimal | ColType::MoneyAmount, Value::Decimal(d)) => decimal_key(*d).into(),
        (ColType::Decimal | ColType::MoneyAmount, Value::Int(i)) => decimal_key((*i).into()).into(),
        (ColType::MoneyAmount, Value::Money(m)) => money_parts(m).1.into(),
        (ColType::MoneyCurrency, Value::Money(m)) => money_parts(m).0.into(),
        (ColType::Text, Value::Text(s)) => s.clone().into(),
        (ColType::Date, Value::Date(d)) => date_key(*d).into(),
        (ColType::DateTime, Value::DateTime(t)) => datetime_key(*t).into(),
        (ColType::Id, Value::Id(u)) => (*u).into(),
        (ColType::List, v) => SqlValue::Json(tagged_list(v).map(Box::new)),
        (ty, _) => null_of(ty),
    }
}

/// The derived column values of a record, in [`columns`] order.
pub(crate) fn derived_values(record: &Record) -> Vec<SqlValue> {
    columns(record.kind()).iter().map(|c| encode(c.ty, &record.std_field(c.field).unwrap_or(Value::Null))).collect()
}

/// Quotes an identifier (only ever names from this module, never user input).
pub(crate) fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The SQL type of a column.
pub(crate) fn sql_type(ty: ColType, postgres: bool) -> &'static str {
    match (ty, postgres) {
        (ColType::Bool, _) => "BOOLEAN",
        (ColType::Int | ColType::Date | ColType::DateTime, _) => "BIGINT",
        (ColType::Decimal | ColType::MoneyAmount | ColType::MoneyCurrency | ColType::Text, false) => "TEXT",
        (ColType::Decimal | ColType::MoneyAmount | ColType::MoneyCurrency | ColType::Text, true) => {
            "TEXT COLLATE \"C\""
        }
        (ColType::Id, false) => "BLOB",
        (ColType::Id, true) => "UUID",
        (ColType::List, false) => "TEXT",
        (ColType::List, true) => "JSONB",
    }
}

/// The name of an index on `table` over `cols` (short enough for PostgreSQL's 63 bytes).
pub(crate) fn index_name(table: &str, cols: &[&str]) -> String {
    let name = format!("ix_{table}_{}", cols.join("_"));
    if name.len() <= 60 {
        return name;
    }
    // Stable across runs and platforms (FNV-1a).
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    format!("{}_{h:016x}", &name[..40])
}

/// An index as it is created: its name, the earlier name it replaces, and its column list.
pub(crate) struct IndexDef {
    /// Its name.
    pub name: String,
    /// The name the same index had before its columns were `NULLS FIRST` (PostgreSQL only):
    /// dropped once this one exists.
    pub replaces: Option<String>,
    /// `tenant_id` and the columns (or expressions), comma-separated, in SQL.
    pub columns: String,
}

/// The definition of an index called `base` over `tenant_id` and `exprs` (quoted columns or
/// expressions). On PostgreSQL each expression is `NULLS FIRST`, the null order of an ascending
/// list, so that one index also serves the descending list backwards (`DESC NULLS LAST`; see
/// `list`); its name gets `_nf` (at most 63 bytes, as `base` is at most 60).
pub(crate) fn index_def(base: String, exprs: &[String], postgres: bool) -> IndexDef {
    let suffix = if postgres { " NULLS FIRST" } else { "" };
    let columns =
        std::iter::once("tenant_id".to_owned()).chain(exprs.iter().map(|e| format!("{e}{suffix}"))).collect::<Vec<_>>();
    let columns = columns.join(", ");
    if postgres {
        IndexDef { name: format!("{base}_nf"), replaces: Some(base), columns }
    } else {
        IndexDef { name: base, replaces: None, columns }
    }
}
