//! Compiles crm-core's query language (filter AST, sort, keyset cursor) to SQL expressions
//! with sea-query. User values are always bound parameters; the only names written into SQL
//! are column names from [`schema`](crate::schema) and custom-field keys that passed
//! [`literal_key`] (letters, digits, `_` and `.`).
//!
//! Semantics follow `crm_core::query` exactly: two-valued logic (every atomic predicate is
//! false, never NULL, on a null field), ASCII-only case folding for `contains`/`starts_with`,
//! byte order for text, nulls first ascending.

use std::borrow::Cow;

use crm_core::query::{CmpOp, Field, Filter, SortKey, SortOrder};
use crm_core::{entity::EntityKind, value::Value};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use sea_orm::sea_query::{Expr, ExprTrait, Value as SqlValue};

use crate::encode::{money_parts, tagged};
use crate::schema::{self, ColType, Column};

/// The SQL dialect a statement is built for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dialect {
    #[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
    Sqlite,
    Postgres,
}

impl Dialect {
    fn pg(self) -> bool {
        self == Dialect::Postgres
    }
}

/// A custom SQL fragment with `{}` slots filled, in order, by `args` (bound or rendered by
/// sea-query, never spliced as text).
pub(crate) fn tpl(d: Dialect, template: &str, args: Vec<Expr>) -> Expr {
    let mut sql = String::with_capacity(template.len() + 8);
    let mut n = 0;
    let mut rest = template;
    while let Some(i) = rest.find("{}") {
        sql.push_str(&rest[..i]);
        n += 1;
        match d {
            Dialect::Sqlite => sql.push('?'),
            Dialect::Postgres => {
                sql.push('$');
                sql.push_str(&n.to_string());
            }
        }
        rest = &rest[i + 2..];
    }
    sql.push_str(rest);
    debug_assert_eq!(n, args.len(), "template slots vs arguments: {template}");
    Expr::cust_with_exprs(sql, args)
}

fn val(v: impl Into<SqlValue>) -> Expr {
    Expr::val(v)
}

fn col(name: &str) -> Expr {
    Expr::col(name.to_owned())
}

fn truth(b: bool) -> Expr {
    Expr::cust(if b { "(1=1)" } else { "(1=0)" })
}

fn and_all(mut parts: Vec<Expr>) -> Expr {
    match parts.len() {
        0 => truth(true),
        1 => parts.remove(0),
        _ => {
            let mut it = parts.into_iter();
            let first = it.next().unwrap_or_else(|| truth(true));
            it.fold(first, |acc, e| acc.and(e))
        }
    }
}

fn or_any(mut parts: Vec<Expr>) -> Expr {
    match parts.len() {
        0 => truth(false),
        1 => parts.remove(0),
        _ => {
            let mut it = parts.into_iter();
            let first = it.next().unwrap_or_else(|| truth(false));
            it.fold(first, |acc, e| acc.or(e))
        }
    }
}

fn op_sql(op: CmpOp) -> &'static str {
    match op {
        CmpOp::Eq | CmpOp::Ne => "=",
        CmpOp::Lt => "<",
        CmpOp::Lte => "<=",
        CmpOp::Gt => ">",
        CmpOp::Gte => ">=",
    }
}

/// A custom-field key safe to write into SQL as a literal (so expression indexes apply):
/// letters, digits, `_` and `.` (extension fields are `namespace.key`), at most 128 bytes.
pub(crate) fn literal_key(key: &str) -> bool {
    !key.is_empty() && key.len() <= 128 && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
}

/// The expression [`Compiler`] uses for the scalar value of a literal custom key; an index
/// on exactly this expression serves filters and sorts on the field.
pub(crate) fn custom_scalar_sql(d: Dialect, key: &str) -> String {
    match d {
        // Quoted member name: `real_estate.bedrooms` is one key, not a nested path.
        Dialect::Sqlite => format!("(\"custom\" ->> '$.\"{key}\"')"),
        Dialect::Postgres => format!("((\"custom\" ->> '{key}') COLLATE \"C\")"),
    }
}

/// The SQLite JSON path of a custom key: `$."<key>"` with `\\` and `"` escaped, so any key
/// (quotes, backslashes, dots, `$`) names exactly that member.
fn json_path(key: &str) -> String {
    format!("$.\"{}\"", key.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Compiles filters, sorts and cursors for one kind in one dialect.
pub(crate) struct Compiler {
    pub d: Dialect,
    pub kind: EntityKind,
}

/// Where a field's value lives.
pub(crate) enum Source {
    /// A derived column.
    Std(&'static Column),
    /// A custom field (tagged strings in the `custom` JSON).
    Custom(String),
    /// Nothing: an unknown standard field, always null.
    Missing,
}

impl Compiler {
    pub fn new(d: Dialect, kind: EntityKind) -> Self {
        Self { d, kind }
    }

    pub(crate) fn source(&self, field: &Field) -> Source {
        match field {
            Field::Std(name) if name == "id" => Source::Std(&ID_COLUMN),
            Field::Std(name) if name == "version" => Source::Std(&VERSION_COLUMN),
            Field::Std(name) => schema::column(self.kind, name).map_or(Source::Missing, Source::Std),
            Field::Custom(key) if self.kind.has_custom_fields() => Source::Custom(key.clone()),
            Field::Custom(_) => Source::Missing,
        }
    }

    /// The custom value of `key` as text (a tagged string, or a JSON array's text), or NULL.
    pub(crate) fn custom_scalar(&self, key: &str) -> Expr {
        match (self.d, literal_key(key)) {
            (d, true) => Expr::cust(custom_scalar_sql(d, key)),
            (Dialect::Sqlite, false) => tpl(self.d, "json_extract(\"custom\", {})", vec![val(json_path(key))]),
            (Dialect::Postgres, false) => tpl(self.d, "((\"custom\" ->> {}) COLLATE \"C\")", vec![val(key.to_owned())]),
        }
    }

    /// The custom value of `key` when it is a list (the JSON array), else NULL.
    pub(crate) fn custom_array(&self, key: &str) -> Expr {
        match self.d {
            Dialect::Sqlite => tpl(
                self.d,
                "(CASE WHEN json_type(\"custom\", {}) = 'array' THEN json_extract(\"custom\", {}) END)",
                vec![val(json_path(key)), val(json_path(key))],
            ),
            Dialect::Postgres => tpl(
                self.d,
                "(CASE WHEN jsonb_typeof(\"custom\" -> {}) = 'array' THEN \"custom\" -> {} END)",
                vec![val(key.to_owned()), val(key.to_owned())],
            ),
        }
    }

    /// A set-returning source of a list's elements (as text) for `FROM`, with column `v`.
    fn elements(&self, src: &Source) -> Option<(String, Vec<Expr>)> {
        match (self.d, src) {
            (Dialect::Sqlite, Source::Std(c)) => Some((format!("json_each({}) AS e", schema::quote(&c.name)), vec![])),
            (Dialect::Postgres, Source::Std(c)) => {
                Some((format!("jsonb_array_elements_text({}) AS e(value)", schema::quote(&c.name)), vec![]))
            }
            // Only arrays have elements (json_each of a scalar would yield the scalar itself).
            (Dialect::Sqlite, Source::Custom(k)) if literal_key(k) => Some((
                format!(
                    "json_each(CASE WHEN json_type(\"custom\", '$.\"{k}\"') = 'array' THEN \"custom\" END, '$.\"{k}\"') AS e"
                ),
                vec![],
            )),
            (Dialect::Sqlite, Source::Custom(k)) => Some((
                "json_each(CASE WHEN json_type(\"custom\", {}) = 'array' THEN \"custom\" END, {}) AS e".into(),
                vec![val(json_path(k)), val(json_path(k))],
            )),
            (Dialect::Postgres, Source::Custom(k)) => Some((
                "jsonb_array_elements_text(CASE WHEN jsonb_typeof(\"custom\" -> {}) = 'array' THEN \"custom\" -> {} END) AS e(value)"
                    .into(),
                vec![val(k.clone()), val(k.clone())],
            )),
            _ => None,
        }
    }

    /// True when a list element equals one of `items` (exactly, or ASCII-case-insensitively).
    fn list_has(&self, src: &Source, items: Vec<String>, fold_case: bool) -> Expr {
        if items.is_empty() {
            return truth(false);
        }
        let Some((from, mut args)) = self.elements(src) else { return truth(false) };
        let elem = match (self.d, fold_case) {
            (Dialect::Sqlite, false) => "e.value",
            (Dialect::Sqlite, true) => "lower(e.value)",
            (Dialect::Postgres, false) => "(e.value COLLATE \"C\")",
            (Dialect::Postgres, true) => "lower(e.value COLLATE \"C\")",
        };
        let slots = vec!["{}"; items.len()].join(", ");
        args.extend(items.into_iter().map(val));
        tpl(self.d, &format!("EXISTS (SELECT 1 FROM {from} WHERE {elem} IN ({slots}))"), args)
    }

    /// Compiles a filter to a predicate that is never NULL.
    pub fn filter(&self, f: &Filter) -> Expr {
        match f {
            Filter::All => truth(true),
            Filter::And(fs) => and_all(fs.iter().map(|f| self.filter(f)).collect()),
            Filter::Or(fs) => or_any(fs.iter().map(|f| self.filter(f)).collect()),
            Filter::Not(f) => self.filter(f).not(),
            Filter::Cmp { field, op: CmpOp::Ne, value } => self.cmp(field, CmpOp::Eq, value).not(),
            Filter::Cmp { field, op, value } => self.cmp(field, *op, value),
            Filter::In { field, values } => {
                let src = self.source(field);
                let mut parts: Vec<Expr> = values.iter().map(|v| self.cmp(field, CmpOp::Eq, v)).collect();
                let is_list =
                    matches!(&src, Source::Std(c) if c.ty == ColType::List) || matches!(src, Source::Custom(_));
                if is_list {
                    let items: Vec<String> = values
                        .iter()
                        .filter(|v| matches!(v, Value::Text(_) | Value::Id(_)))
                        .filter_map(tagged)
                        .collect();
                    parts.push(self.list_has(&src, items, false));
                }
                or_any(parts)
            }
            Filter::Contains { field, value } => self.contains(field, value),
            Filter::StartsWith { field, value } => self.starts_with(field, value),
            Filter::IsNull { field } => match self.source(field) {
                Source::Std(c) => tpl(self.d, &format!("({} IS NULL)", schema::quote(&c.name)), vec![]),
                Source::Custom(k) => {
                    let e = self.custom_scalar(&k);
                    tpl(self.d, "({} IS NULL)", vec![e])
                }
                Source::Missing => truth(true),
            },
        }
    }

    fn contains(&self, field: &Field, value: &Value) -> Expr {
        let src = self.source(field);
        let instr = if self.d.pg() { "strpos" } else { "instr" };
        match (&src, value) {
            (Source::Std(c), Value::Text(n)) if c.ty == ColType::Text => {
                let q = schema::quote(&c.name);
                tpl(
                    self.d,
                    &format!("({q} IS NOT NULL AND {instr}(lower({q}), {{}}) > 0)"),
                    vec![val(n.to_ascii_lowercase())],
                )
            }
            (Source::Std(c), v) if c.ty == ColType::List => self.list_contains(&src, v),
            (Source::Custom(k), v) => {
                let mut parts = vec![self.list_contains(&src, v)];
                if let Value::Text(n) = v {
                    let e = self.custom_scalar(k);
                    parts.push(tpl(
                        self.d,
                        &format!("({{}} IS NOT NULL AND {{}} >= 't:' AND {{}} < 't;' AND {instr}(lower(substr({{}}, 3)), {{}}) > 0)"),
                        vec![e.clone(), e.clone(), e.clone(), e, val(n.to_ascii_lowercase())],
                    ));
                }
                or_any(parts)
            }
            _ => truth(false),
        }
    }

    fn list_contains(&self, src: &Source, v: &Value) -> Expr {
        match v {
            Value::Text(n) => self.list_has(src, vec![format!("t:{}", n.to_ascii_lowercase())], true),
            Value::Null | Value::List(_) => truth(false),
            other => self.list_has(src, tagged(other).into_iter().collect(), false),
        }
    }

    fn starts_with(&self, field: &Field, prefix: &str) -> Expr {
        let p = prefix.to_ascii_lowercase();
        let n = p.chars().count() as i64;
        match self.source(field) {
            Source::Std(c) if c.ty == ColType::Text => {
                let q = schema::quote(&c.name);
                if self.d.pg() {
                    tpl(self.d, &format!("({q} IS NOT NULL AND starts_with(lower({q}), {{}}))"), vec![val(p)])
                } else {
                    tpl(
                        self.d,
                        &format!("({q} IS NOT NULL AND substr(lower({q}), 1, {{}}) = {{}})"),
                        vec![val(n), val(p)],
                    )
                }
            }
            Source::Custom(k) => {
                let e = self.custom_scalar(&k);
                let tp = format!("t:{p}");
                if self.d.pg() {
                    tpl(
                        self.d,
                        "({} IS NOT NULL AND {} >= 't:' AND {} < 't;' AND starts_with(lower({}), {}))",
                        vec![e.clone(), e.clone(), e.clone(), e, val(tp)],
                    )
                } else {
                    tpl(
                        self.d,
                        "({} IS NOT NULL AND {} >= 't:' AND {} < 't;' AND substr(lower({}), 1, {}) = {})",
                        vec![e.clone(), e.clone(), e.clone(), e, val(n + 2), val(tp)],
                    )
                }
            }
            _ => truth(false),
        }
    }

    /// `field op value` for Eq/Lt/Lte/Gt/Gte; false when the field is null or the types differ.
    fn cmp(&self, field: &Field, op: CmpOp, value: &Value) -> Expr {
        match self.source(field) {
            Source::Std(c) => self.std_cmp(c, op, value),
            Source::Custom(k) => self.custom_cmp(&k, op, value),
            Source::Missing => truth(false),
        }
    }

    fn guarded(&self, col: &str, op: CmpOp, v: SqlValue) -> Expr {
        let q = schema::quote(col);
        tpl(self.d, &format!("({q} IS NOT NULL AND {q} {} {{}})", op_sql(op)), vec![val(v)])
    }

    fn std_cmp(&self, c: &Column, op: CmpOp, value: &Value) -> Expr {
        match (c.ty, value) {
            (ColType::Int, Value::Decimal(d)) => self.int_vs_decimal(&c.name, op, *d),
            (ColType::MoneyAmount, Value::Money(m)) => {
                let Some(cur) = schema::currency_column(self.kind, c.field) else { return truth(false) };
                let (code, amount) = money_parts(m);
                self.guarded(&cur.name, CmpOp::Eq, code.into()).and(self.guarded(&c.name, op, amount.into()))
            }
            (ColType::MoneyAmount, Value::Decimal(_) | Value::Int(_)) => {
                self.guarded(&c.name, op, schema::encode(ColType::Decimal, value))
            }
            (ColType::List | ColType::MoneyCurrency | ColType::MoneyAmount, _) => truth(false),
            (ty, v) => {
                let accepted = matches!(
                    (ty, v),
                    (ColType::Bool, Value::Bool(_))
                        | (ColType::Int, Value::Int(_))
                        | (ColType::Decimal, Value::Decimal(_) | Value::Int(_))
                        | (ColType::Text, Value::Text(_))
                        | (ColType::Date, Value::Date(_))
                        | (ColType::DateTime, Value::DateTime(_))
                        | (ColType::Id, Value::Id(_))
                );
                if accepted { self.guarded(&c.name, op, schema::encode(ty, v)) } else { truth(false) }
            }
        }
    }

    /// An integer column against a decimal operand, exactly.
    fn int_vs_decimal(&self, col: &str, op: CmpOp, d: Decimal) -> Expr {
        if d.fract().is_zero()
            && let Some(i) = d.to_i64()
        {
            return self.guarded(col, op, i.into());
        }
        let q = schema::quote(col);
        let not_null = tpl(self.d, &format!("({q} IS NOT NULL)"), vec![]);
        // x < 2.5 ⇔ x <= 2; x > 2.5 ⇔ x >= 3 (and beyond i64's range, all or nothing).
        match op {
            CmpOp::Eq | CmpOp::Ne => truth(false),
            CmpOp::Lt | CmpOp::Lte => match d.floor().to_i64() {
                Some(f) => self.guarded(col, CmpOp::Lte, f.into()),
                None if d.is_sign_positive() => not_null,
                None => truth(false),
            },
            CmpOp::Gt | CmpOp::Gte => match d.ceil().to_i64() {
                Some(c) => self.guarded(col, CmpOp::Gte, c.into()),
                None if d.is_sign_negative() => not_null,
                None => truth(false),
            },
        }
    }

    fn custom_cmp(&self, key: &str, op: CmpOp, value: &Value) -> Expr {
        let e = self.custom_scalar(key);
        let o = op_sql(op);
        // Compares the tagged value within the range of its tag. Equality with a whole tagged
        // value implies the range: it is left out, as PostgreSQL, which has no statistics on
        // the expression, would take each bound for another filter and expect next to no rows
        // (then sort every match rather than read an index in order).
        let ranged = |lo: String, hi: String, body: &str, arg: String| {
            if op == CmpOp::Eq && body == "{}" {
                return tpl(self.d, "({} IS NOT NULL AND {} = {})", vec![e.clone(), e.clone(), val(arg)]);
            }
            tpl(
                self.d,
                &format!("({{}} IS NOT NULL AND {{}} >= {{}} AND {{}} < {{}} AND {body} {o} {{}})"),
                vec![e.clone(), e.clone(), val(lo), e.clone(), val(hi), e.clone(), val(arg)],
            )
        };
        match value {
            Value::Null | Value::List(_) => truth(false),
            Value::Money(m) => {
                let (cur, amount) = money_parts(m);
                ranged(format!("m:{cur}:"), format!("m:{cur};"), "substr({}, 7)", amount)
            }
            v => {
                let Some(t) = tagged(v) else { return truth(false) };
                let tag = &t[..1];
                let mut parts = vec![ranged(format!("{tag}:"), format!("{tag};"), "{}", t.clone())];
                if let Value::Int(_) | Value::Decimal(_) = v {
                    // Money compares with a bare number by amount.
                    let amount = t[2..].to_owned();
                    parts.push(ranged("m:".into(), "m;".into(), "substr({}, 7)", amount));
                }
                or_any(parts)
            }
        }
    }

    /// The ORDER BY expressions of a sort key (money sorts by currency, then amount).
    pub fn sort_exprs(&self, key: &SortKey) -> Vec<Expr> {
        match self.source(&key.field) {
            Source::Std(c) if c.ty == ColType::List => vec![],
            Source::Std(c) if c.ty == ColType::MoneyAmount => {
                let cur = schema::currency_column(self.kind, c.field).map(|x| col(&x.name));
                cur.into_iter().chain([col(&c.name)]).collect()
            }
            Source::Std(c) => vec![col(&c.name)],
            Source::Custom(k) => vec![self.custom_scalar(&k)],
            Source::Missing => vec![],
        }
    }

    /// The stored values a cursor value sorts as, one per [`sort_exprs`](Self::sort_exprs) entry.
    fn sort_values(&self, key: &SortKey, v: &Value) -> Vec<Option<SqlValue>> {
        let some = |x: SqlValue| if v.is_null() { None } else { Some(x) };
        match self.source(&key.field) {
            Source::Std(c) if c.ty == ColType::List => vec![],
            Source::Std(c) if c.ty == ColType::MoneyAmount => match v {
                Value::Money(m) => {
                    let (cur, amount) = money_parts(m);
                    let mut out = Vec::new();
                    if schema::currency_column(self.kind, c.field).is_some() {
                        out.push(Some(cur.into()));
                    }
                    out.push(Some(amount.into()));
                    out
                }
                _ => {
                    let n = self.sort_exprs(key).len();
                    vec![None; n]
                }
            },
            Source::Std(c) => vec![some(schema::encode(c.ty, v))],
            Source::Custom(_) => vec![tagged(v).map(SqlValue::from)],
            Source::Missing => vec![],
        }
    }

    /// Rows strictly after the cursor position `(values, id)` in the order of `sort` + id.
    pub fn after(&self, sort: &[SortKey], values: &[Value], id: uuid::Uuid) -> Expr {
        // Flatten (expr, stored value, descending) over every key.
        let mut keys: Vec<(Expr, Option<SqlValue>, bool)> = Vec::new();
        for (k, v) in sort.iter().zip(values) {
            let desc = k.order == SortOrder::Desc;
            for (e, sv) in self.sort_exprs(k).into_iter().zip(self.sort_values(k, v)) {
                keys.push((e, sv, desc));
            }
        }
        let mut alternatives = Vec::new();
        let mut equal_so_far: Vec<Expr> = Vec::new();
        for (e, sv, desc) in keys {
            let (beyond, same) = match (sv, desc) {
                (None, false) => {
                    (tpl(self.d, "({} IS NOT NULL)", vec![e.clone()]), tpl(self.d, "({} IS NULL)", vec![e]))
                }
                (None, true) => (truth(false), tpl(self.d, "({} IS NULL)", vec![e])),
                (Some(v), false) => (
                    tpl(self.d, "({} IS NOT NULL AND {} > {})", vec![e.clone(), e.clone(), val(v.clone())]),
                    tpl(self.d, "({} IS NOT NULL AND {} = {})", vec![e.clone(), e, val(v)]),
                ),
                (Some(v), true) => (
                    tpl(self.d, "({} IS NULL OR {} < {})", vec![e.clone(), e.clone(), val(v.clone())]),
                    tpl(self.d, "({} IS NOT NULL AND {} = {})", vec![e.clone(), e, val(v)]),
                ),
            };
            let mut alt = equal_so_far.clone();
            alt.push(beyond);
            alternatives.push(and_all(alt));
            equal_so_far.push(same);
        }
        let mut last = equal_so_far;
        last.push(tpl(self.d, "(\"id\" > {})", vec![val(id)]));
        alternatives.push(and_all(last));
        or_any(alternatives)
    }
}

static ID_COLUMN: Column = Column { name: Cow::Borrowed("id"), field: "id", ty: ColType::Id };
static VERSION_COLUMN: Column = Column { name: Cow::Borrowed("version"), field: "version", ty: ColType::Int };
