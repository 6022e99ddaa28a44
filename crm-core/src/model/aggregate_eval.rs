//! How aggregates are checked and answered: the [`Plan`] of a checked [`Aggregate`] (its
//! fields' types), the reference fold over records ([`Fold`], what
//! [`MemoryStore`](crate::memory::MemoryStore) runs and every store must agree with) and the
//! finishing step every store shares ([`Plan::finish`]): from per-group [`Partial`]s to
//! normalised, sorted, limited [`AggregateRow`]s.

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

use crate::aggregate::{
    Aggregate, AggregateKey, AggregateRow, GroupBy, MAX_GROUP_BY, MAX_GROUPS, MAX_MEASURES, Measure,
};
use crate::entity::EntityKind;
use crate::error::{Error, FieldError, FieldErrorCode, Result};
use crate::model::{FieldRegistry, Record, field_type};
use crate::money::{Currency, Money};
use crate::query::{Field, SortOrder};
use crate::value::{Value, ValueType};

/// A checked aggregate with the types of the fields it names: what a store answers
/// ([`Transaction::aggregate`](crate::store::Transaction::aggregate)).
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// The kind of records aggregated.
    pub kind: EntityKind,
    /// The aggregate.
    pub aggregate: Aggregate,
    /// The type of each group's key: a bucket's is [`ValueType::Date`], a currency's
    /// [`ValueType::Text`], a field's the field's.
    pub group_types: Vec<ValueType>,
    /// The type of each group's field.
    pub group_field_types: Vec<ValueType>,
    /// The type of each measure's field ([`ValueType::Int`] for [`Measure::Count`]).
    pub measure_types: Vec<ValueType>,
    /// For each measure of a money field, the index of the group that is its currency.
    pub currency_groups: Vec<Option<usize>>,
}

/// What a store computed for one measure of one group, before [`Plan::finish`].
#[derive(Clone, Debug, PartialEq)]
pub enum Partial {
    /// A count (of records, values or distinct values).
    Count(u64),
    /// For sums and averages: the exact sum of the non-null values and how many there were.
    Sum {
        /// The sum (of money: of the amounts, in the group's currency).
        total: Decimal,
        /// How many values were summed.
        n: u64,
    },
    /// For minimum, maximum and percentile: the value (of money: the amount or the money), or null.
    Value(Value),
}

impl Aggregate {
    /// Checks every field, type and bound for records of `kind`, and resolves the fields'
    /// types. Errors name the part: `filter.<field>`, `group_by[i]`, `measures[i]`,
    /// `measures[i].p`, `sort[i]`, `limit`.
    pub fn plan(&self, kind: EntityKind, registry: &FieldRegistry) -> Result<Plan> {
        let mut errs = Vec::new();
        if let Err(Error::Validation(v)) = self.filter.validate(kind, registry) {
            errs.extend(v.0);
        }
        let bad = |path: String, code, msg: String| FieldError::new(path, code, msg);
        if self.group_by.len() > MAX_GROUP_BY {
            errs.push(bad("group_by".into(), FieldErrorCode::OutOfRange, format!("at most {MAX_GROUP_BY} group keys")));
        }
        if self.measures.len() > MAX_MEASURES {
            errs.push(bad("measures".into(), FieldErrorCode::OutOfRange, format!("at most {MAX_MEASURES} measures")));
        }
        let typed = |path: &str, f: &Field, errs: &mut Vec<FieldError>| {
            let t = field_type(kind, registry, f).map(|t| match f {
                Field::Std(n) if kind.amount_currency(n).is_some() => ValueType::Money,
                _ => t,
            });
            if t.is_none() {
                let msg = format!("{kind} has no field `{}`", f.path());
                errs.push(FieldError::new(path, FieldErrorCode::UnknownField, msg));
            }
            t
        };
        let mut group_types = Vec::new();
        let mut group_field_types = Vec::new();
        for (i, g) in self.group_by.iter().enumerate() {
            let path = format!("group_by[{i}]");
            let Some(t) = typed(&path, g.field(), &mut errs) else {
                group_types.push(ValueType::Text);
                group_field_types.push(ValueType::Text);
                continue;
            };
            let f = g.field().path();
            let refusal = match g {
                GroupBy::Field(_) if t.is_list() => Some(format!("cannot group by the list field `{f}`")),
                GroupBy::Field(_) if t == ValueType::Money => {
                    Some(format!("group by the currency of the money field `{f}`, not by its amount"))
                }
                GroupBy::Bucket { .. } if !matches!(t, ValueType::Date | ValueType::DateTime) => {
                    Some(format!("`{f}` is not a date or instant field: it has no calendar buckets"))
                }
                GroupBy::Currency(_) if t != ValueType::Money => Some(format!("`{f}` is not a money field")),
                GroupBy::Element(_) if !t.is_list() => {
                    Some(format!("`{f}` is not a list field: group by it as a field"))
                }
                _ => None,
            };
            if let Some(msg) = refusal {
                errs.push(bad(path, FieldErrorCode::TypeMismatch, msg));
            }
            group_types.push(match g {
                GroupBy::Field(_) => t,
                GroupBy::Bucket { .. } => ValueType::Date,
                GroupBy::Currency(_) => ValueType::Text,
                GroupBy::Element(_) if t == ValueType::IdList => ValueType::Id,
                GroupBy::Element(_) => ValueType::Text,
            });
            group_field_types.push(t);
        }
        let mut measure_types = Vec::new();
        let mut currency_groups = Vec::new();
        for (i, m) in self.measures.iter().enumerate() {
            let path = format!("measures[{i}]");
            let Some(field) = m.field() else {
                measure_types.push(ValueType::Int);
                currency_groups.push(None);
                continue;
            };
            let Some(t) = typed(&path, field, &mut errs) else {
                measure_types.push(ValueType::Int);
                currency_groups.push(None);
                continue;
            };
            let f = field.path();
            let numeric = matches!(t, ValueType::Int | ValueType::Decimal | ValueType::Money);
            let ordered = numeric || matches!(t, ValueType::Text | ValueType::Date | ValueType::DateTime);
            let refusal = match m {
                Measure::CountDistinct(_) if t.is_list() => {
                    Some(format!("cannot count distinct values of the list `{f}`"))
                }
                Measure::Sum(_) | Measure::Avg(_) if !numeric => {
                    Some(format!("`{f}` is not an integer, decimal or money field: it cannot be summed or averaged"))
                }
                Measure::Min(_) | Measure::Max(_) | Measure::Percentile { .. } if !ordered => Some(format!(
                    "`{f}` has no order: minimum, maximum and percentiles need a number, money, text, date or instant"
                )),
                _ => None,
            };
            if let Some(msg) = refusal {
                errs.push(bad(path.clone(), FieldErrorCode::TypeMismatch, msg));
            }
            if let Measure::Percentile { p, .. } = m
                && (*p <= Decimal::ZERO || *p > Decimal::ONE || p.normalize().scale() > 6)
            {
                let msg = format!("the percentile must be above 0 and at most 1, with at most 6 decimals (got {p})");
                errs.push(bad(format!("{path}.p"), FieldErrorCode::OutOfRange, msg));
            }
            let needs_currency = t == ValueType::Money && !matches!(m, Measure::CountOf(_));
            let currency = self.group_by.iter().position(|g| match g {
                GroupBy::Currency(c) => c == field,
                GroupBy::Field(Field::Std(c)) => {
                    matches!(field, Field::Std(n) if kind.amount_currency(n) == Some(c.as_str()))
                }
                _ => false,
            });
            if needs_currency && currency.is_none() {
                let msg = format!(
                    "money is never combined across currencies: group by the currency of `{f}` too (GroupBy::Currency)"
                );
                errs.push(bad(path, FieldErrorCode::CurrencyMismatch, msg));
            }
            measure_types.push(t);
            currency_groups.push(if t == ValueType::Money { currency } else { None });
        }
        for (i, s) in self.sort.iter().enumerate() {
            let (n, len, what) = match s.key {
                AggregateKey::Group(n) => (n, self.group_by.len(), "group key"),
                AggregateKey::Measure(n) => (n, self.measures.len(), "measure"),
            };
            if n >= len {
                let msg = format!("there is no {what} {n}: the aggregate has {len}");
                errs.push(bad(format!("sort[{i}]"), FieldErrorCode::OutOfRange, msg));
            }
        }
        if let Some(l) = self.limit
            && (l == 0 || l > MAX_GROUPS)
        {
            errs.push(bad("limit".into(), FieldErrorCode::OutOfRange, format!("the limit must be 1–{MAX_GROUPS}")));
        }
        Error::check(errs)?;
        Ok(Plan { kind, aggregate: self.clone(), group_types, group_field_types, measure_types, currency_groups })
    }
}

/// The smallest rank (1-based) at or below which at least the fraction `p` of `n` values lie:
/// `⌈p·n⌉`, at least 1. SQL stores compute it as `(num·n + den − 1) / den` with
/// [`fraction`]`(p)`.
pub fn nearest_rank(p: Decimal, n: u64) -> u64 {
    let (num, den) = fraction(p);
    let rank = (i128::from(num) * i128::from(n) + i128::from(den) - 1) / i128::from(den);
    rank.clamp(1, i128::from(n.max(1))) as u64
}

/// A checked percentile as `num / den` with `den` a power of ten (at most 10⁶).
pub fn fraction(p: Decimal) -> (i64, i64) {
    let p = p.normalize();
    let den = 10i64.pow(p.scale().min(6));
    let num = (p * Decimal::from(den)).trunc().to_i64().unwrap_or(den);
    (num, den)
}

/// `v` as a value of a field of type `ty` (decimals and money normalised), or null when it is
/// not one.
pub fn conform(ty: ValueType, v: Value) -> Value {
    match (ty, v) {
        (ValueType::Int, Value::Int(i)) => Value::Int(i),
        (ValueType::Int, Value::Decimal(d)) if d.fract().is_zero() => d.to_i64().map_or(Value::Null, Value::Int),
        (ValueType::Decimal, Value::Int(i)) => Value::Decimal(Decimal::from(i)),
        (ValueType::Decimal, Value::Decimal(d)) => Value::Decimal(d.normalize()),
        (ValueType::Money, Value::Money(m)) => Value::Money(normal_money(m)),
        // A standard amount, whose currency is another field.
        (ValueType::Money, Value::Decimal(d)) => Value::Decimal(d.normalize()),
        (ValueType::Bool, v @ Value::Bool(_))
        | (ValueType::Text, v @ Value::Text(_))
        | (ValueType::Date, v @ Value::Date(_))
        | (ValueType::DateTime, v @ Value::DateTime(_))
        | (ValueType::Id, v @ Value::Id(_)) => v,
        (ValueType::TextList | ValueType::IdList, v @ Value::List(_)) => v,
        _ => Value::Null,
    }
}

/// Money with its amount normalised, but never fewer decimals than its currency has.
fn normal_money(m: Money) -> Money {
    let mut amount = m.amount.normalize();
    if amount.scale() < m.minor_digits() {
        amount.rescale(m.minor_digits());
    }
    Money { amount, currency: m.currency }
}

fn too_large(j: usize) -> Error {
    Error::invalid(
        format!("measures[{j}]"),
        FieldErrorCode::OutOfRange,
        "the sum is beyond the largest number the measure can hold",
    )
}

impl Plan {
    /// The reference fold: add records one by one, then [`finish`](Fold::finish).
    pub fn fold(&self) -> Fold<'_> {
        let mut groups = HashMap::new();
        if self.aggregate.group_by.is_empty() {
            groups.insert(Vec::new(), self.fresh());
        }
        Fold { plan: self, groups }
    }

    fn fresh(&self) -> Vec<Acc> {
        self.aggregate
            .measures
            .iter()
            .map(|m| match m {
                Measure::Count | Measure::CountOf(_) => Acc::Count(0),
                Measure::CountDistinct(_) => Acc::Distinct(HashSet::new()),
                Measure::Sum(_) | Measure::Avg(_) => Acc::Sum(Decimal::ZERO, 0),
                Measure::Min(_) => Acc::Min(None),
                Measure::Max(_) => Acc::Max(None),
                Measure::Percentile { .. } => Acc::Values(Vec::new()),
            })
            .collect()
    }

    /// The group keys of `record`: one set, or one per element of each list grouped by (none
    /// when such a list is empty).
    fn key_sets(&self, record: &Record) -> Vec<Vec<Value>> {
        let a = &self.aggregate;
        let mut sets = vec![Vec::with_capacity(a.group_by.len())];
        for (g, t) in a.group_by.iter().zip(&self.group_types) {
            let choices = match g {
                GroupBy::Element(f) => match record.field(f) {
                    Value::List(items) => items.into_iter().map(|v| conform(*t, v)).collect(),
                    _ => Vec::new(),
                },
                GroupBy::Field(f) => vec![conform(*t, record.field(f))],
                GroupBy::Bucket { field, bucket } => vec![match record.field(field) {
                    Value::Date(d) => Value::Date(bucket.start(d)),
                    Value::DateTime(t) => Value::Date(bucket.of_instant(t, a.time_zone)),
                    _ => Value::Null,
                }],
                GroupBy::Currency(f) => vec![match (record.field(f), f) {
                    (Value::Money(m), _) => Value::Text(m.currency.code().to_owned()),
                    (_, Field::Std(n)) => match self.kind.amount_currency(n) {
                        Some(c) => record.std_field(c).unwrap_or(Value::Null),
                        None => Value::Null,
                    },
                    _ => Value::Null,
                }],
            };
            sets = match choices.len() {
                1 => {
                    let v = choices.into_iter().next().unwrap_or(Value::Null);
                    sets.iter_mut().for_each(|s| s.push(v.clone()));
                    sets
                }
                _ => sets
                    .iter()
                    .flat_map(|s| {
                        choices.iter().map(move |v| {
                            let mut s = s.clone();
                            s.push(v.clone());
                            s
                        })
                    })
                    .collect(),
            };
        }
        sets
    }

    /// The rows of `groups` (each group's keys and one [`Partial`] per measure): the measures
    /// finished (sums typed, averages divided, money in its group's currency, values
    /// normalised), sorted and limited as the aggregate asks.
    pub fn finish(&self, groups: Vec<(Vec<Value>, Vec<Partial>)>) -> Result<Vec<AggregateRow>> {
        if groups.len() > MAX_GROUPS {
            return Err(Error::invalid(
                "group_by",
                FieldErrorCode::OutOfRange,
                format!("more than {MAX_GROUPS} groups: filter fewer records or group more coarsely"),
            ));
        }
        let mut rows = Vec::with_capacity(groups.len());
        for (keys, partials) in groups {
            let groups: Vec<Value> = keys.into_iter().zip(&self.group_types).map(|(k, t)| conform(*t, k)).collect();
            let mut values = Vec::with_capacity(partials.len());
            for (j, p) in partials.into_iter().enumerate() {
                values.push(self.finish_one(j, p, &groups)?);
            }
            rows.push(AggregateRow { groups, values });
        }
        let a = &self.aggregate;
        rows.sort_by(|x, y| {
            for s in &a.sort {
                let (l, r) = match s.key {
                    AggregateKey::Group(i) => (&x.groups[i], &y.groups[i]),
                    AggregateKey::Measure(i) => (&x.values[i], &y.values[i]),
                };
                let o = l.sort_cmp(r);
                let o = if s.order == SortOrder::Desc { o.reverse() } else { o };
                if o != Ordering::Equal {
                    return o;
                }
            }
            x.groups
                .iter()
                .zip(&y.groups)
                .map(|(l, r)| l.sort_cmp(r))
                .find(|o| *o != Ordering::Equal)
                .unwrap_or(Ordering::Equal)
        });
        if let Some(l) = a.limit {
            rows.truncate(l);
        }
        Ok(rows)
    }

    fn finish_one(&self, j: usize, p: Partial, groups: &[Value]) -> Result<Value> {
        let ty = self.measure_types[j];
        let currency = || -> Option<Currency> {
            let i = self.currency_groups[j]?;
            groups[i].as_text().and_then(Currency::from_code)
        };
        let money = |amount: Decimal| match currency() {
            Some(c) => Value::Money(normal_money(Money::new(amount, c))),
            None => Value::Null,
        };
        let measure = &self.aggregate.measures[j];
        Ok(match (measure, p) {
            (Measure::Count | Measure::CountOf(_) | Measure::CountDistinct(_), Partial::Count(n)) => {
                Value::Int(i64::try_from(n).map_err(|_| too_large(j))?)
            }
            (Measure::Sum(_) | Measure::Avg(_), Partial::Sum { n: 0, .. }) => Value::Null,
            (Measure::Sum(_), Partial::Sum { total, .. }) => match ty {
                ValueType::Int => {
                    Value::Int(total.to_i64().filter(|_| total.fract().is_zero()).ok_or_else(|| too_large(j))?)
                }
                ValueType::Money => money(total),
                _ => Value::Decimal(total.normalize()),
            },
            (Measure::Avg(_), Partial::Sum { total, n }) => {
                let avg = total.checked_div(Decimal::from(n)).ok_or_else(|| too_large(j))?;
                if ty == ValueType::Money { money(avg) } else { Value::Decimal(avg.normalize()) }
            }
            (Measure::Min(_) | Measure::Max(_) | Measure::Percentile { .. }, Partial::Value(v)) => match (ty, v) {
                (ValueType::Money, Value::Decimal(d)) => money(d),
                (ValueType::Money, Value::Money(m)) => money(m.amount),
                (ty, v) => conform(ty, v),
            },
            (m, p) => return Err(Error::storage(format!("a store answered {m:?} with {p:?}"))),
        })
    }
}

/// One measure's running state in the reference fold.
#[derive(Debug)]
enum Acc {
    Count(u64),
    Distinct(HashSet<Value>),
    Sum(Decimal, u64),
    Min(Option<Value>),
    Max(Option<Value>),
    Values(Vec<Value>),
}

/// The reference evaluation of a [`Plan`] over records (see [`Plan::fold`]).
#[derive(Debug)]
pub struct Fold<'p> {
    plan: &'p Plan,
    groups: HashMap<Vec<Value>, Vec<Acc>>,
}

impl Fold<'_> {
    /// Adds a record (the caller has matched it against the filter).
    pub fn add(&mut self, record: &Record) -> Result<()> {
        for keys in self.plan.key_sets(record) {
            self.add_to(keys, record)?;
        }
        Ok(())
    }

    /// Adds a record to the group of `keys`.
    fn add_to(&mut self, keys: Vec<Value>, record: &Record) -> Result<()> {
        let plan = self.plan;
        if !self.groups.contains_key(&keys) && self.groups.len() == MAX_GROUPS {
            return Err(Error::invalid(
                "group_by",
                FieldErrorCode::OutOfRange,
                format!("more than {MAX_GROUPS} groups: filter fewer records or group more coarsely"),
            ));
        }
        let accs = self.groups.entry(keys).or_insert_with(|| plan.fresh());
        for (j, (acc, m)) in accs.iter_mut().zip(&plan.aggregate.measures).enumerate() {
            let v = match m.field() {
                Some(f) => conform(plan.measure_types[j], record.field(f)),
                None => Value::Bool(true),
            };
            if v.is_null() {
                continue;
            }
            match acc {
                Acc::Count(n) => *n += 1,
                Acc::Distinct(set) => {
                    set.insert(v);
                }
                Acc::Sum(total, n) => {
                    let x = match v {
                        Value::Int(i) => Decimal::from(i),
                        Value::Decimal(d) => d,
                        Value::Money(m) => m.amount,
                        _ => continue,
                    };
                    *total = total.checked_add(x).ok_or_else(|| too_large(j))?;
                    *n += 1;
                }
                Acc::Min(cur) => {
                    if cur.as_ref().is_none_or(|c| v.sort_cmp(c) == Ordering::Less) {
                        *cur = Some(v);
                    }
                }
                Acc::Max(cur) => {
                    if cur.as_ref().is_none_or(|c| v.sort_cmp(c) == Ordering::Greater) {
                        *cur = Some(v);
                    }
                }
                Acc::Values(vs) => vs.push(v),
            }
        }
        Ok(())
    }

    /// The finished rows ([`Plan::finish`]).
    pub fn finish(self) -> Result<Vec<AggregateRow>> {
        let plan = self.plan;
        let groups = self
            .groups
            .into_iter()
            .map(|(keys, accs)| {
                let partials = accs
                    .into_iter()
                    .zip(&plan.aggregate.measures)
                    .map(|(acc, m)| match acc {
                        Acc::Count(n) => Partial::Count(n),
                        Acc::Distinct(set) => Partial::Count(set.len() as u64),
                        Acc::Sum(total, n) => Partial::Sum { total, n },
                        Acc::Min(v) | Acc::Max(v) => Partial::Value(v.unwrap_or(Value::Null)),
                        Acc::Values(mut vs) => {
                            vs.sort_by(|a, b| a.sort_cmp(b));
                            let p = match m {
                                Measure::Percentile { p, .. } => *p,
                                _ => Decimal::ONE,
                            };
                            let pick = match vs.len() as u64 {
                                0 => None,
                                n => vs.into_iter().nth(nearest_rank(p, n) as usize - 1),
                            };
                            Partial::Value(pick.unwrap_or(Value::Null))
                        }
                    })
                    .collect();
                (keys, partials)
            })
            .collect();
        plan.finish(groups)
    }
}
