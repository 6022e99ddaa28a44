//! Aggregates ([`crm_core::aggregate`]) compiled to SQL: one `GROUP BY` statement over the
//! kind's table, every user value bound, whose per-group results [`Plan::finish`] turns into
//! rows exactly as the reference does.
//!
//! The statement has four levels, each a subquery of the next:
//! 1. `raw`: the tenant's rows the filter selects, with each group's raw value (`r<i>`) and
//!    each measure's input (`k<j>`: the stored key of its field);
//! 2. `keyed`: the group keys (`g<i>`: date buckets found by a binary search over bucket
//!    starts computed in Rust, so they follow the time zone's daylight saving) and what sums
//!    need (below);
//! 3. `ranked` (only with percentiles): each value's rank in its group (`ROW_NUMBER`);
//! 4. the `GROUP BY` of the group keys with the measures.
//!
//! Sums are exact although SQLite has no decimal type: a decimal's order-preserving key
//! ([`decimal_key`](crate::encode::decimal_key)) is laid out as 63 aligned digits (powers
//! 10³⁴ to 10⁻²⁸, every `rust_decimal` fits) and summed as seven 9-digit integer chunks,
//! which no realistic row count overflows; Rust adds the chunks up by their weights. Integer
//! columns are summed as their billions and remainders the same way.

use crm_core::aggregate::{AggregateRow, Bucket, GroupBy, Measure, Partial, Plan, fraction, local_start};
use crm_core::error::{Error, Result};
use crm_core::ids::TenantId;
use crm_core::query::Field;
use crm_core::value::{Value, ValueType};
use rust_decimal::Decimal;
use sea_orm::sea_query::{Alias, Expr, Query as Sql, SelectStatement};
use sea_orm::{ConnectionTrait, DatabaseTransaction, QueryResult};

use crate::encode::{date_from_key, date_key, datetime_from_key, datetime_key, decimal_from_key, tagged, untag};
use crate::filter::{Compiler, Dialect, Source, tpl};
use crate::schema::{self, ColType};
use crate::store::db_err;

/// How a stored value is read back into a [`Value`].
#[derive(Clone, Copy, Debug, PartialEq)]
enum Read {
    Bool,
    Int,
    Text,
    Id,
    /// A decimal key.
    Decimal,
    Date,
    DateTime,
    /// A tagged custom value.
    Tagged,
    /// Nothing can be read (an unknown field): always null.
    Null,
}

/// Where a measure's input comes from and how its sum is taken.
#[derive(Clone, Copy, Debug, PartialEq)]
enum SumShape {
    /// An integer column: billions and remainders.
    Int,
    /// A decimal key: seven aligned 9-digit chunks.
    Decimal,
}

/// The decimal chunks summed: all seven (powers 10³⁴ to 10⁻²⁸, chunk `k` weighing
/// 10^(26 − 9k)), or the three that hold every amount below 10¹⁷ with at most 10 decimals
/// (chunks 2 to 4: powers 10¹⁶ to 10⁻¹⁰), tried first. A sum over values outside the narrow
/// window (counted alongside) is computed again wide.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Width {
    Narrow,
    Wide,
}

impl Width {
    /// The chunks summed.
    fn chunks(self) -> std::ops::RangeInclusive<usize> {
        match self {
            Width::Narrow => 2..=4,
            Width::Wide => 0..=6,
        }
    }
    /// The power of ten of the first aligned digit.
    fn top(self) -> i64 {
        match self {
            Width::Narrow => 16,
            Width::Wide => 34,
        }
    }
}
/// 63 zeros and 63 nines: the padding of aligned digits.
const ZEROS: &str = "000000000000000000000000000000000000000000000000000000000000000";
const NINES: &str = "999999999999999999999999999999999999999999999999999999999999999";

/// The rows of `plan` in `db`. A bucket whose bounds a concurrent write outran is computed
/// again (three tries).
pub(crate) async fn run(
    db: &DatabaseTransaction,
    d: Dialect,
    tenant: TenantId,
    plan: &Plan,
) -> Result<Vec<AggregateRow>> {
    let mut width = Width::Narrow;
    let mut tries = 0;
    while tries < 3 {
        let mut spans = Vec::new();
        for (i, g) in plan.aggregate.group_by.iter().enumerate() {
            spans.push(match g {
                GroupBy::Bucket { bucket, .. } => Some(span(db, d, tenant, plan, i, *bucket).await?),
                _ => None,
            });
        }
        let (stmt, reads, shapes) = statement(d, tenant, plan, &spans, width);
        let rows = db.query_all(&stmt).await.map_err(db_err)?;
        if width == Width::Narrow && outside_narrow(&rows, plan, &shapes)? {
            width = Width::Wide;
            continue;
        }
        let mut groups = Vec::with_capacity(rows.len());
        let mut outran = false;
        for row in &rows {
            let mut keys = Vec::with_capacity(reads.len());
            for (i, r) in reads.iter().enumerate() {
                let col = format!("g{i}");
                keys.push(match &spans[i] {
                    Some(starts) => match get::<i64>(row, &col)? {
                        None => Value::Null,
                        Some(b) => match usize::try_from(b).ok().and_then(|b| starts.get(b)) {
                            Some(day) => Value::Date(*day),
                            None => {
                                outran = true;
                                Value::Null
                            }
                        },
                    },
                    None => read(row, &col, *r)?,
                });
            }
            let mut partials = Vec::with_capacity(plan.aggregate.measures.len());
            for (j, m) in plan.aggregate.measures.iter().enumerate() {
                let col = format!("m{j}");
                partials.push(match m {
                    Measure::Count | Measure::CountOf(_) | Measure::CountDistinct(_) => {
                        Partial::Count(get::<i64>(row, &col)?.unwrap_or(0).max(0) as u64)
                    }
                    Measure::Sum(_) | Measure::Avg(_) => sum(row, j, shapes[j], width)?,
                    Measure::Min(f) | Measure::Max(f) | Measure::Percentile { field: f, .. } => {
                        Partial::Value(read(row, &col, measure_read(plan, f))?)
                    }
                });
            }
            groups.push((keys, partials));
        }
        if !outran {
            return plan.finish(groups);
        }
        tries += 1;
    }
    Err(Error::Busy("records kept arriving outside the date buckets being computed".into()))
}

/// Whether a decimal sum met a value its narrow chunks cannot hold.
fn outside_narrow(rows: &[QueryResult], plan: &Plan, shapes: &[SumShape]) -> Result<bool> {
    for (j, m) in plan.aggregate.measures.iter().enumerate() {
        if matches!(m, Measure::Sum(_) | Measure::Avg(_)) && shapes[j] == SumShape::Decimal {
            for row in rows {
                if get::<i64>(row, &format!("m{j}_w"))?.unwrap_or(0) > 0 {
                    return Ok(true);
                }
            }
        }
    }
    Ok(false)
}

fn get<T: sea_orm::TryGetable>(row: &QueryResult, col: &str) -> Result<Option<T>> {
    row.try_get::<Option<T>>("", col).map_err(db_err)
}

fn read(row: &QueryResult, col: &str, r: Read) -> Result<Value> {
    Ok(match r {
        Read::Null => Value::Null,
        Read::Bool => get::<bool>(row, col)?.map_or(Value::Null, Value::Bool),
        Read::Int => get::<i64>(row, col)?.map_or(Value::Null, Value::Int),
        Read::Text => get::<String>(row, col)?.map_or(Value::Null, Value::Text),
        Read::Id => get::<uuid::Uuid>(row, col)?.map_or(Value::Null, Value::Id),
        Read::Decimal => {
            get::<String>(row, col)?.and_then(|k| decimal_from_key(&k)).map_or(Value::Null, Value::Decimal)
        }
        Read::Date => get::<i64>(row, col)?.and_then(date_from_key).map_or(Value::Null, Value::Date),
        Read::DateTime => get::<i64>(row, col)?.map_or(Value::Null, |n| Value::DateTime(datetime_from_key(n))),
        Read::Tagged => get::<String>(row, col)?.and_then(|t| untag(&t)).unwrap_or(Value::Null),
    })
}

/// The exact sum and count of measure `j` from its chunk columns.
fn sum(row: &QueryResult, j: usize, shape: SumShape, width: Width) -> Result<Partial> {
    let n = get::<i64>(row, &format!("m{j}_n"))?.unwrap_or(0).max(0) as u64;
    let overflow = || {
        Error::invalid(
            format!("measures[{j}]"),
            crm_core::error::FieldErrorCode::OutOfRange,
            "the sum is beyond the largest decimal",
        )
    };
    let mut total = Decimal::ZERO;
    let parts: &[(usize, i32)] = match shape {
        SumShape::Int => &[(0, 9), (1, 0)],
        SumShape::Decimal => &[(0, 26), (1, 17), (2, 8), (3, -1), (4, -10), (5, -19), (6, -28)],
    };
    for &(k, exp) in parts {
        if shape == SumShape::Decimal && !width.chunks().contains(&k) {
            continue;
        }
        let s = get::<i64>(row, &format!("m{j}_{k}"))?.unwrap_or(0);
        let term = if exp >= 0 {
            Decimal::from(s)
                .checked_mul(Decimal::from_i128_with_scale(10i128.pow(exp as u32), 0))
                .ok_or_else(overflow)?
        } else {
            Decimal::try_from_i128_with_scale(i128::from(s), (-exp) as u32).map_err(|_| overflow())?
        };
        total = total.checked_add(term).ok_or_else(overflow)?;
    }
    Ok(Partial::Sum { total, n })
}

/// How the stored value of `f` reads back.
fn measure_read(plan: &Plan, f: &Field) -> Read {
    match Compiler::new(Dialect::Sqlite, plan.kind).source(f) {
        Source::Std(c) => col_read(c.ty),
        Source::Custom(_) => Read::Tagged,
        Source::Missing => Read::Null,
    }
}

fn col_read(ty: ColType) -> Read {
    match ty {
        ColType::Bool => Read::Bool,
        ColType::Int => Read::Int,
        ColType::Decimal | ColType::MoneyAmount => Read::Decimal,
        ColType::MoneyCurrency | ColType::Text => Read::Text,
        ColType::Date => Read::Date,
        ColType::DateTime => Read::DateTime,
        ColType::Id => Read::Id,
        ColType::List => Read::Null,
    }
}

/// The tag a custom value of type `t` is stored under.
fn tag(t: ValueType) -> &'static str {
    match t {
        ValueType::Bool => "b",
        ValueType::Int | ValueType::Decimal => "n",
        ValueType::Money => "m",
        ValueType::Date => "d",
        ValueType::DateTime => "z",
        ValueType::Id => "i",
        ValueType::Text => "t",
        _ => "[",
    }
}

/// The custom value of `key` when it is of type `t` (else NULL), as `body` of it (`{}` for the
/// whole tagged text, `substr({}, 3)` for its key).
fn custom_of(c: &Compiler, key: &str, t: ValueType, body: &str) -> Expr {
    let e = c.custom_scalar(key);
    let tag = tag(t);
    let hi = if tag == "[" { "\\".to_owned() } else { format!("{tag};") };
    tpl(c.d, &format!("(CASE WHEN {{}} >= '{tag}' AND {{}} < '{hi}' THEN {body} END)"), vec![e.clone(), e.clone(), e])
}

/// The raw value a group is keyed on, and how it reads back.
fn group_raw(c: &Compiler, g: &GroupBy, t: ValueType) -> (Expr, Read) {
    let col = |name: &str| Expr::col(Alias::new(name));
    match (g, c.source(g.field())) {
        (GroupBy::Currency(_), Source::Std(amount)) => {
            let cur = schema::currency_column(c.kind, amount.field)
                .or_else(|| c.kind.amount_currency(amount.field).and_then(|f| schema::column(c.kind, f)));
            match cur {
                Some(cur) => (col(&cur.name), Read::Text),
                None => (Expr::cust("NULL"), Read::Null),
            }
        }
        (GroupBy::Currency(_), Source::Custom(k)) => {
            (custom_of(c, &k, ValueType::Money, "substr({}, 3, 3)"), Read::Text)
        }
        // The list itself (a JSON array of tagged elements): the next level takes it apart.
        (GroupBy::Element(_), Source::Std(column)) => (col(&column.name), Read::Tagged),
        (GroupBy::Element(_), Source::Custom(k)) => (c.custom_array(&k), Read::Tagged),
        (_, Source::Std(column)) => (col(&column.name), col_read(column.ty)),
        (_, Source::Custom(k)) => (custom_of(c, &k, t, "{}"), Read::Tagged),
        (_, Source::Missing) => (Expr::cust("NULL"), Read::Null),
    }
}

/// A measure's input: the stored key of its field (for sums, the key of its number).
fn measure_input(c: &Compiler, m: &Measure, t: ValueType) -> Option<(Expr, Option<SumShape>)> {
    let f = m.field()?;
    let summed = matches!(m, Measure::Sum(_) | Measure::Avg(_));
    Some(match c.source(f) {
        Source::Std(column) => {
            let shape = match column.ty {
                ColType::Int => SumShape::Int,
                _ => SumShape::Decimal,
            };
            (Expr::col(Alias::new(column.name.as_ref())), summed.then_some(shape))
        }
        Source::Custom(k) if summed && t == ValueType::Money => {
            (custom_of(c, &k, t, "substr({}, 7)"), Some(SumShape::Decimal))
        }
        Source::Custom(k) if summed => (custom_of(c, &k, t, "substr({}, 3)"), Some(SumShape::Decimal)),
        Source::Custom(k) => (custom_of(c, &k, t, "{}"), None),
        Source::Missing => (Expr::cust("NULL"), None),
    })
}

/// The bucket starts spanning the values of group `i`'s field among the selected rows.
async fn span(
    db: &DatabaseTransaction,
    d: Dialect,
    tenant: TenantId,
    plan: &Plan,
    i: usize,
    bucket: Bucket,
) -> Result<Vec<chrono::NaiveDate>> {
    let (c, mut q) = crate::list::select(d, tenant, plan.kind, &plan.aggregate.filter);
    let (raw, read_as) = group_raw(&c, &plan.aggregate.group_by[i], plan.group_field_types[i]);
    q.expr_as(tpl(d, "MIN({})", vec![raw.clone()]), Alias::new("lo"));
    q.expr_as(tpl(d, "MAX({})", vec![raw]), Alias::new("hi"));
    let Some(row) = db.query_one(&q).await.map_err(db_err)? else { return Ok(Vec::new()) };
    let (lo, hi) = (read(&row, "lo", read_as)?, read(&row, "hi", read_as)?);
    let tz = plan.aggregate.time_zone;
    let day = |v: &Value| match v {
        Value::Date(d) => Some(bucket.start(*d)),
        Value::DateTime(t) => Some(bucket.of_instant(*t, tz)),
        _ => None,
    };
    match (day(&lo), day(&hi)) {
        (Some(a), Some(b)) => bucket.span(a, b, &format!("group_by[{i}]")),
        _ => Ok(Vec::new()),
    }
}

/// The SQL literal of the stored form of bucket start `day` for a field read as `r`.
fn bound(day: chrono::NaiveDate, r: Read, t: ValueType, tz: chrono_tz::Tz) -> String {
    let instant = local_start(tz, day);
    match (r, t) {
        (Read::Date, _) => date_key(day).to_string(),
        (Read::DateTime, _) => datetime_key(instant).to_string(),
        (_, ValueType::Date) => format!("'{}'", tagged(&Value::Date(day)).unwrap_or_default()),
        _ => format!("'{}'", tagged(&Value::DateTime(instant)).unwrap_or_default()),
    }
}

/// The bucket index of `x` among `bounds` (ascending starts; `end` the start after the last):
/// a binary search written as nested `CASE`s; -1 outside them.
fn bucket_index(x: &str, bounds: &[String], end: &str) -> String {
    fn node(x: &str, b: &[String], lo: usize, hi: usize, out: &mut String) {
        if hi - lo == 1 {
            out.push_str(&lo.to_string());
            return;
        }
        let mid = (lo + hi) / 2;
        out.push_str(&format!("CASE WHEN {x} < {} THEN ", b[mid]));
        node(x, b, lo, mid, out);
        out.push_str(" ELSE ");
        node(x, b, mid, hi, out);
        out.push_str(" END");
    }
    if bounds.is_empty() {
        return format!("CASE WHEN {x} IS NULL THEN NULL ELSE -1 END");
    }
    let mut out = format!("CASE WHEN {x} IS NULL THEN NULL WHEN {x} < {} OR {x} >= {end} THEN -1 ELSE ", bounds[0]);
    node(x, bounds, 0, bounds.len(), &mut out);
    out.push_str(" END");
    out
}

/// The statement of `plan`, how each group key reads back and each measure's sum shape.
fn statement(
    d: Dialect,
    tenant: TenantId,
    plan: &Plan,
    spans: &[Option<Vec<chrono::NaiveDate>>],
    width: Width,
) -> (SelectStatement, Vec<Read>, Vec<SumShape>) {
    let a = &plan.aggregate;
    let (c, mut raw) = crate::list::select(d, tenant, plan.kind, &a.filter);
    let mut keyed = Sql::select();
    // Every level selects something, even an aggregate with no groups or measures.
    raw.expr_as(Expr::cust("1"), Alias::new("one"));
    keyed.expr_as(Expr::cust("one"), Alias::new("one"));
    let mut reads = Vec::new();
    // The lists taken apart, one element per row: set-returning functions joined to `raw`.
    let mut elements = Vec::new();
    for (i, g) in a.group_by.iter().enumerate() {
        let (e, r) = group_raw(&c, g, plan.group_field_types[i]);
        raw.expr_as(e, Alias::new(format!("r{i}")));
        let key = match (&spans[i], g) {
            (_, GroupBy::Element(_)) => {
                let (f, elem) = match d {
                    Dialect::Sqlite => ("json_each", format!("\"elem{i}\".\"value\"")),
                    Dialect::Postgres => ("jsonb_array_elements_text", format!("\"elem{i}\"")),
                };
                let arg = Expr::cust(format!("\"raw\".\"r{i}\""));
                elements.push((sea_orm::sea_query::Func::cust(Alias::new(f)).arg(arg), format!("elem{i}")));
                elem
            }
            (Some(starts), GroupBy::Bucket { bucket, .. }) => {
                let bounds: Vec<String> =
                    starts.iter().map(|s| bound(*s, r, plan.group_field_types[i], a.time_zone)).collect();
                let end = starts
                    .last()
                    .and_then(|l| bucket.next(*l))
                    .map_or_else(|| "NULL".to_owned(), |n| bound(n, r, plan.group_field_types[i], a.time_zone));
                format!("CAST({} AS BIGINT)", bucket_index(&format!("r{i}"), &bounds, &end))
            }
            _ => format!("r{i}"),
        };
        keyed.expr_as(Expr::cust(key), Alias::new(format!("g{i}")));
        reads.push(r);
    }
    let mut shapes = vec![SumShape::Decimal; a.measures.len()];
    let mut ranked_cols = Vec::new();
    // Sums and averages of one field share their inputs: `shared[j]` is the measure whose
    // columns measure `j` reads.
    let mut shared: Vec<usize> = (0..a.measures.len()).collect();
    for (j, m) in a.measures.iter().enumerate() {
        let summed = |m: &Measure| matches!(m, Measure::Sum(_) | Measure::Avg(_));
        if let Some(first) = (0..j).find(|&i| summed(m) && summed(&a.measures[i]) && a.measures[i].field() == m.field())
        {
            shared[j] = first;
            shapes[j] = shapes[first];
            continue;
        }
        let Some((input, shape)) = measure_input(&c, m, plan.measure_types[j]) else { continue };
        raw.expr_as(input, Alias::new(format!("k{j}")));
        keyed.expr_as(Expr::cust(format!("k{j}")), Alias::new(format!("k{j}")));
        ranked_cols.push(format!("k{j}"));
        match shape {
            Some(SumShape::Int) => {
                shapes[j] = SumShape::Int;
                keyed.expr_as(Expr::cust(format!("k{j} / 1000000000")), Alias::new(format!("h{j}")));
                keyed.expr_as(Expr::cust(format!("k{j} % 1000000000")), Alias::new(format!("l{j}")));
                ranked_cols.extend([format!("h{j}"), format!("l{j}")]);
            }
            Some(SumShape::Decimal) => {
                let k = format!("k{j}");
                // x = the key's exponent field: a positive value is 0.D × 10^(x − 500), a
                // negative one −0.D × 10^(499 − x); the first digit goes (top + 1 − e) places in.
                let x = format!("CAST(substr({k}, 2, 3) AS INTEGER)");
                let (top, len) = (width.top(), 9 * width.chunks().count());
                let at_least_0 = |e: String| match d {
                    Dialect::Sqlite => format!("max(0, {e})"),
                    Dialect::Postgres => format!("GREATEST(0, {e})"),
                };
                let lead = at_least_0(format!("{} - {x}", top + 501));
                let pos = format!("substr(substr('{ZEROS}', 1, {lead}) || substr({k}, 5) || '{ZEROS}', 1, {len})");
                let lead = at_least_0(format!("{x} - {}", 498 - top));
                let neg = format!(
                    "substr(substr('{NINES}', 1, {lead}) || substr({k}, 5, length({k}) - 5) || '{NINES}', 1, {len})"
                );
                let aligned = format!("CASE substr({k}, 1, 1) WHEN '2' THEN {pos} WHEN '0' THEN {neg} END");
                keyed.expr_as(Expr::cust(aligned), Alias::new(format!("a{j}")));
                keyed.expr_as(Expr::cust(format!("substr({k}, 1, 1)")), Alias::new(format!("s{j}")));
                ranked_cols.extend([format!("a{j}"), format!("s{j}")]);
                if width == Width::Narrow {
                    // Values of 10^17 or more, or with digits below 10^-10, do not fit.
                    let outside = format!(
                        "CASE substr({k}, 1, 1) \
                         WHEN '2' THEN (CASE WHEN {x} - 500 > 17 OR length({k}) - 4 - ({x} - 500) > 10 THEN 1 ELSE 0 END) \
                         WHEN '0' THEN (CASE WHEN 499 - {x} > 17 OR length({k}) - 5 - (499 - {x}) > 10 THEN 1 ELSE 0 END) \
                         ELSE 0 END"
                    );
                    keyed.expr_as(Expr::cust(outside), Alias::new(format!("w{j}")));
                    ranked_cols.push(format!("w{j}"));
                }
            }
            None => {}
        }
    }
    keyed.from_subquery(raw, Alias::new("raw"));
    for (f, alias) in elements {
        keyed.from_function(f, Alias::new(alias));
    }
    // A fence where derived columns are used more than once: without it the database inlines
    // this level into the next and computes each of them once per use (seven chunks of one
    // aligned string: seven alignments). Without derived columns, inlining is what lets an
    // index answer alone.
    let derived = a.group_by.iter().any(|g| matches!(g, GroupBy::Bucket { .. }))
        || a.measures
            .iter()
            .enumerate()
            .any(|(j, m)| matches!(m, Measure::Sum(_) | Measure::Avg(_)) && shapes[j] == SumShape::Decimal);
    if derived {
        match d {
            Dialect::Sqlite => keyed.limit(i64::MAX as u64),
            Dialect::Postgres => keyed.offset(0),
        };
    }
    let groups: Vec<String> = (0..a.group_by.len()).map(|i| format!("g{i}")).collect();
    // Ranks, when a percentile needs them.
    let percentiles: Vec<usize> = a
        .measures
        .iter()
        .enumerate()
        .filter(|(_, m)| matches!(m, Measure::Percentile { .. }))
        .map(|(j, _)| j)
        .collect();
    let source = if percentiles.is_empty() {
        keyed
    } else {
        let mut ranked = Sql::select();
        ranked.expr_as(Expr::cust("one"), Alias::new("one"));
        for col in groups.iter().chain(&ranked_cols) {
            ranked.expr_as(Expr::cust(col.clone()), Alias::new(col.as_str()));
        }
        let partition = if groups.is_empty() { String::new() } else { format!("PARTITION BY {} ", groups.join(", ")) };
        for j in &percentiles {
            let rank = format!("ROW_NUMBER() OVER ({partition}ORDER BY (k{j} IS NULL), k{j})");
            ranked.expr_as(Expr::cust(rank), Alias::new(format!("rn{j}")));
            ranked.expr_as(Expr::cust(format!("COUNT(k{j}) OVER ({partition})")), Alias::new(format!("n{j}")));
        }
        ranked.from_subquery(keyed, Alias::new("keyed"));
        ranked
    };
    let mut q = Sql::select();
    q.expr_as(Expr::cust("COUNT(one)"), Alias::new("rows"));
    for g in &groups {
        q.expr_as(Expr::cust(g.clone()), Alias::new(g.as_str()));
    }
    for (j, m) in a.measures.iter().enumerate() {
        let out = |q: &mut SelectStatement, sql: String, name: String| {
            q.expr_as(Expr::cust(sql), Alias::new(name));
        };
        match m {
            Measure::Count => out(&mut q, "COUNT(*)".into(), format!("m{j}")),
            Measure::CountOf(_) => out(&mut q, format!("COUNT(k{j})"), format!("m{j}")),
            Measure::CountDistinct(_) => out(&mut q, format!("COUNT(DISTINCT k{j})"), format!("m{j}")),
            Measure::Min(_) => out(&mut q, format!("MIN(k{j})"), format!("m{j}")),
            Measure::Max(_) => out(&mut q, format!("MAX(k{j})"), format!("m{j}")),
            Measure::Percentile { p, .. } => {
                let (num, den) = fraction(*p);
                let pick = format!("MIN(CASE WHEN rn{j} = ({num} * n{j} + {den} - 1) / {den} THEN k{j} END)");
                out(&mut q, pick, format!("m{j}"));
            }
            Measure::Sum(_) | Measure::Avg(_) => {
                let i = shared[j];
                match shapes[j] {
                    SumShape::Int => {
                        out(&mut q, format!("CAST(SUM(h{i}) AS BIGINT)"), format!("m{j}_0"));
                        out(&mut q, format!("CAST(SUM(l{i}) AS BIGINT)"), format!("m{j}_1"));
                        out(&mut q, format!("COUNT(k{i})"), format!("m{j}_n"));
                    }
                    SumShape::Decimal => {
                        for (c, k) in width.chunks().enumerate() {
                            let chunk = format!("CAST(substr(a{i}, {}, 9) AS BIGINT)", 9 * c + 1);
                            let signed =
                                format!("CASE s{i} WHEN '2' THEN {chunk} WHEN '0' THEN {chunk} - 999999999 END");
                            out(&mut q, format!("CAST(SUM({signed}) AS BIGINT)"), format!("m{j}_{k}"));
                        }
                        out(&mut q, format!("COUNT(s{i})"), format!("m{j}_n"));
                        if width == Width::Narrow {
                            out(&mut q, format!("CAST(SUM(w{i}) AS BIGINT)"), format!("m{j}_w"));
                        }
                    }
                }
            }
        }
    }
    q.from_subquery(source, Alias::new("src"));
    for g in &groups {
        q.add_group_by([Expr::cust(g.clone())]);
    }
    q.limit(crm_core::aggregate::MAX_GROUPS as u64 + 1);
    (q, reads, shapes)
}
