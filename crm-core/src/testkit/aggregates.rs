//! Aggregates ([`crate::aggregate`]): random aggregates over random deals against a naive
//! reference written here, date buckets across daylight saving in several zones, and exact sums
//! at the edges of `rust_decimal` and `i64`.

use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;

use super::*;
use crate::aggregate::{Aggregate, AggregateKey, AggregateRow, Bucket, GroupBy, Measure, local_start};
use crate::model::{FieldDefinition, FieldRegistry, FieldSource, FieldType, RegisteredField};
use crate::query::{Field, SortOrder};

/// The custom fields the cases put on deals.
fn registry() -> FieldRegistry {
    let mut reg = FieldRegistry::default();
    let fields = [
        ("score", FieldType::Number),
        ("ratio", FieldType::Decimal),
        ("fee", FieldType::Money),
        ("due", FieldType::Date),
        ("seen", FieldType::DateTime),
        ("tier", FieldType::Enum { options: vec!["gold".into(), "silver".into()] }),
        ("labels", FieldType::MultiEnum { options: vec!["red".into(), "blue".into(), "green".into()] }),
        ("flag", FieldType::Bool),
    ];
    for (key, ty) in fields {
        reg.insert(RegisteredField {
            definition: FieldDefinition::new(EntityKind::Deal, key, key, ty),
            source: FieldSource::Tenant,
        });
    }
    reg
}

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).expect("decimal fixture")
}

/// Some of `items`, in a random order, each at most once.
fn some_of<T: Clone>(rng: &mut Rng, items: &[T]) -> Vec<T> {
    let mut out: Vec<T> = items.iter().filter(|_| rng.chance(40)).cloned().collect();
    if out.len() > 1 && rng.chance(50) {
        out.reverse();
    }
    out
}

/// A random deal: every field the aggregates read, sometimes missing.
fn random_deal(rng: &mut Rng, t: TenantId, p: &Pipeline, owners: &[UserId]) -> Deal {
    let currencies = [Currency::EUR, Currency::USD, Currency::JPY];
    let amount = |rng: &mut Rng| {
        let scale = rng.below(5) as u32;
        let mantissa = rng.below(2_000_000) as i64 - 200_000;
        Money::new(Decimal::new(mantissa, scale), currencies[rng.below(3)])
    };
    let instant = |rng: &mut Rng| {
        // Two years around 2026, to the second, often near midnight and month ends.
        let day = rng.below(730) as i64 - 365;
        let secs = if rng.chance(50) { rng.below(7200) as i64 - 3600 } else { rng.below(86_400) as i64 };
        at(day * 86_400 + secs)
    };
    let mut d = deal(t, p, "deal", rng.chance(85).then(|| amount(rng)));
    d.status = [DealStatus::Open, DealStatus::Won, DealStatus::Lost][rng.below(3)];
    d.owner_id = (!rng.chance(20)).then(|| owners[rng.below(owners.len())]);
    d.name = ["Alpha", "beta", "Gamma", "Ωmega", "alpha"][rng.below(5)].into();
    d.expected_close_date = rng.chance(80).then(|| date(2025, 1, 1) + chrono::Days::new(rng.below(900) as u64));
    d.closed_at = rng.chance(60).then(|| instant(rng));
    d.tags = some_of(rng, &["vip".to_owned(), "renewal".to_owned(), "Ωmega".to_owned()]);
    // Contacts drawn from the owners' ids: a few that recur across deals.
    d.contact_ids = some_of(rng, owners).into_iter().map(|u| ContactId::from_uuid(u.as_uuid())).collect();
    let mut put = |key: &str, v: Option<Value>| {
        if let Some(v) = v {
            d.custom.insert(key.into(), v);
        }
    };
    put("score", rng.chance(80).then(|| Value::Int(rng.below(200) as i64 - 50)));
    put(
        "ratio",
        rng.chance(80).then(|| Value::Decimal(Decimal::new(rng.below(100_000) as i64 - 30_000, rng.below(7) as u32))),
    );
    put("fee", rng.chance(70).then(|| Value::Money(amount(rng))));
    put("due", rng.chance(70).then(|| Value::Date(date(2024, 12, 1) + chrono::Days::new(rng.below(500) as u64))));
    put("seen", rng.chance(70).then(|| Value::DateTime(instant(rng))));
    put("tier", rng.chance(70).then(|| Value::Text(["gold", "silver"][rng.below(2)].into())));
    put("flag", rng.chance(70).then(|| Value::Bool(rng.chance(50))));
    let labels = some_of(rng, &["red", "blue", "green"]);
    put("labels", rng.chance(70).then(|| Value::List(labels.into_iter().map(|l| Value::Text(l.into())).collect())));
    d
}

/// A random aggregate the deals can answer.
fn random_aggregate(rng: &mut Rng) -> Aggregate {
    let buckets = [Bucket::Day, Bucket::Week, Bucket::Month, Bucket::Quarter, Bucket::Year];
    let zones = [Tz::UTC, Tz::Europe__Berlin, Tz::America__New_York, Tz::Asia__Kolkata, Tz::Australia__Lord_Howe];
    let filters = [
        Filter::All,
        Filter::eq("status", "open"),
        Filter::gte("amount", 100),
        Filter::lt("custom.score", 50),
        Filter::is_null("closed_at").not(),
    ];
    let mut a = Aggregate::new(filters[rng.below(filters.len())].clone()).time_zone(zones[rng.below(zones.len())]);
    let mut groups = vec![
        GroupBy::Field("status".into()),
        GroupBy::Field("owner_id".into()),
        GroupBy::Field("custom.tier".into()),
        GroupBy::Field("custom.flag".into()),
        GroupBy::Field("custom.score".into()),
        GroupBy::Currency("amount".into()),
        GroupBy::Field("currency".into()),
        GroupBy::Currency("custom.fee".into()),
        GroupBy::Bucket { field: "expected_close_date".into(), bucket: buckets[rng.below(5)] },
        GroupBy::Bucket { field: "closed_at".into(), bucket: buckets[rng.below(5)] },
        GroupBy::Bucket { field: "custom.due".into(), bucket: buckets[rng.below(5)] },
        GroupBy::Bucket { field: "custom.seen".into(), bucket: buckets[rng.below(5)] },
        GroupBy::Element("tags".into()),
        GroupBy::Element("contact_ids".into()),
        GroupBy::Element("custom.labels".into()),
    ];
    for _ in 0..rng.below(3) {
        let g = groups.remove(rng.below(groups.len()));
        a.group_by.push(g);
    }
    let grouped = |a: &Aggregate, f: &str| {
        a.group_by.iter().any(|g| match g {
            GroupBy::Currency(c) => c.path() == f,
            GroupBy::Field(c) => f == "amount" && c.path() == "currency",
            _ => false,
        })
    };
    let p = [dec("0.1"), dec("0.5"), dec("0.9"), dec("1"), dec("0.333333")][rng.below(5)];
    let mut measures = vec![
        Measure::Count,
        Measure::CountOf("closed_at".into()),
        Measure::CountDistinct("owner_id".into()),
        Measure::CountDistinct("custom.ratio".into()),
        Measure::Sum("custom.score".into()),
        Measure::Sum("custom.ratio".into()),
        Measure::Avg("custom.ratio".into()),
        Measure::Avg("custom.score".into()),
        Measure::Min("expected_close_date".into()),
        Measure::Max("closed_at".into()),
        Measure::Min("name".into()),
        Measure::Max("custom.ratio".into()),
        Measure::Min("custom.seen".into()),
        Measure::Percentile { field: "custom.score".into(), p },
        Measure::Percentile { field: "custom.ratio".into(), p },
        Measure::Percentile { field: "name".into(), p },
    ];
    if grouped(&a, "amount") {
        measures.extend([
            Measure::Sum("amount".into()),
            Measure::Avg("amount".into()),
            Measure::Max("amount".into()),
            Measure::Percentile { field: "amount".into(), p },
        ]);
    }
    if grouped(&a, "custom.fee") {
        measures.extend([Measure::Sum("custom.fee".into()), Measure::Min("custom.fee".into())]);
    }
    for _ in 0..1 + rng.below(4) {
        a.measures.push(measures[rng.below(measures.len())].clone());
    }
    if rng.chance(30) {
        let order = if rng.chance(50) { SortOrder::Desc } else { SortOrder::Asc };
        a.sort.push(crate::aggregate::AggregateSort { key: AggregateKey::Measure(rng.below(a.measures.len())), order });
        if rng.chance(50) {
            a.limit = Some(1 + rng.below(5));
        }
    }
    a
}

// ---- The naive reference: the documented semantics, written as plainly as possible. ----

fn normal(v: Value) -> Value {
    match v {
        Value::Decimal(d) => Value::Decimal(d.normalize()),
        Value::Money(m) => Value::Money(money_of(m.amount, m.currency)),
        v => v,
    }
}

fn money_of(amount: Decimal, currency: Currency) -> Money {
    let mut a = amount.normalize();
    let minor = currency.exponent().map(u32::from).unwrap_or(2);
    if a.scale() < minor {
        a.rescale(minor);
    }
    Money::new(a, currency)
}

/// The bucket of an instant: among the bucket starts around its UTC date, the last one whose
/// local start is at or before it.
fn naive_bucket(t: DateTime<Utc>, b: Bucket, tz: Tz) -> NaiveDate {
    let mut start = b.start(t.date_naive() - chrono::Days::new(2));
    let mut best = start;
    while start <= t.date_naive() + chrono::Days::new(2) {
        if local_start(tz, start) <= t {
            best = start;
        }
        start = b.next(start).expect("calendar");
    }
    best
}

/// The values `r` is grouped under by `g`: one, or each element of a list.
fn group_values(r: &Record, g: &GroupBy, tz: Tz) -> Vec<Value> {
    match (g, r.field(g.field())) {
        (GroupBy::Element(_), Value::List(items)) => items,
        (GroupBy::Element(_), _) => Vec::new(),
        _ => vec![group_value(r, g, tz)],
    }
}

fn group_value(r: &Record, g: &GroupBy, tz: Tz) -> Value {
    match g {
        GroupBy::Element(_) => Value::Null,
        GroupBy::Field(f) => match r.field(f) {
            Value::Int(i) if f.path() == "custom.score" => Value::Int(i),
            v => normal(v),
        },
        GroupBy::Bucket { field, bucket } => match r.field(field) {
            Value::Date(d) => Value::Date(bucket.start(d)),
            Value::DateTime(t) => Value::Date(naive_bucket(t, *bucket, tz)),
            _ => Value::Null,
        },
        GroupBy::Currency(f) if f.path() == "amount" => r.field(&Field::Std("currency".into())),
        GroupBy::Currency(f) => match r.field(f) {
            Value::Money(m) => Value::Text(m.currency.code().into()),
            _ => Value::Null,
        },
    }
}

fn currency_in(a: &Aggregate, keys: &[Value], f: &Field) -> Option<Currency> {
    a.group_by.iter().zip(keys).find_map(|(g, k)| {
        let hit = match g {
            GroupBy::Currency(c) => c == f,
            GroupBy::Field(c) => f.path() == "amount" && c.path() == "currency",
            _ => false,
        };
        if hit { k.as_text().and_then(Currency::from_code) } else { None }
    })
}

fn measure_value(a: &Aggregate, keys: &[Value], m: &Measure, rows: &[&Record]) -> Value {
    let Some(f) = m.field() else { return Value::Int(rows.len() as i64) };
    let vals: Vec<Value> = rows.iter().map(|r| r.field(f)).filter(|v| !v.is_null()).collect();
    let money = currency_in(a, keys, f);
    let amount = |v: &Value| match v {
        Value::Int(i) => Decimal::from(*i),
        Value::Decimal(d) => *d,
        Value::Money(m) => m.amount,
        _ => panic!("not a number: {v:?}"),
    };
    let as_result = |d: Decimal| match money {
        Some(c) => Value::Money(money_of(d, c)),
        None if f.path() == "custom.score" && matches!(m, Measure::Sum(_)) => {
            Value::Int(d.to_string().parse().expect("int"))
        }
        None => Value::Decimal(d.normalize()),
    };
    let ordered = |mut v: Vec<Value>| {
        v.sort_by(|a, b| a.sort_cmp(b));
        v
    };
    match m {
        Measure::Count => unreachable!(),
        Measure::CountOf(_) => Value::Int(vals.len() as i64),
        Measure::CountDistinct(_) => {
            let mut seen: Vec<Value> = Vec::new();
            for v in vals.into_iter().map(normal) {
                if !seen.contains(&v) {
                    seen.push(v);
                }
            }
            Value::Int(seen.len() as i64)
        }
        Measure::Sum(_) | Measure::Avg(_) if vals.is_empty() => Value::Null,
        Measure::Sum(_) => as_result(vals.iter().map(amount).sum()),
        Measure::Avg(_) => as_result(vals.iter().map(amount).sum::<Decimal>() / Decimal::from(vals.len())),
        Measure::Min(_) | Measure::Max(_) | Measure::Percentile { .. } if vals.is_empty() => Value::Null,
        Measure::Min(_) | Measure::Max(_) | Measure::Percentile { .. } => {
            let sorted = ordered(vals);
            let pick = match m {
                Measure::Min(_) => sorted[0].clone(),
                Measure::Max(_) => sorted[sorted.len() - 1].clone(),
                Measure::Percentile { p, .. } => {
                    let rank = (*p * Decimal::from(sorted.len())).ceil().to_string().parse::<usize>().expect("rank");
                    sorted[rank.max(1) - 1].clone()
                }
                _ => unreachable!(),
            };
            match (money, pick) {
                (Some(c), v) => Value::Money(money_of(amount(&v), c)),
                (None, Value::Int(i)) => Value::Int(i),
                (None, v) => normal(v),
            }
        }
    }
}

fn naive(a: &Aggregate, records: &[Record]) -> Vec<AggregateRow> {
    let mut groups: Vec<(Vec<Value>, Vec<&Record>)> = Vec::new();
    if a.group_by.is_empty() {
        groups.push((Vec::new(), Vec::new()));
    }
    for r in records {
        // Every combination of the record's values for each grouping.
        let mut combos: Vec<Vec<Value>> = vec![Vec::new()];
        for g in &a.group_by {
            let mut next = Vec::new();
            for c in &combos {
                for v in group_values(r, g, a.time_zone) {
                    next.push(c.iter().cloned().chain([v]).collect());
                }
            }
            combos = next;
        }
        for keys in combos {
            match groups.iter_mut().find(|(k, _)| *k == keys) {
                Some((_, rs)) => rs.push(r),
                None => groups.push((keys, vec![r])),
            }
        }
    }
    let mut rows: Vec<AggregateRow> = groups
        .into_iter()
        .map(|(keys, rs)| {
            let values = a.measures.iter().map(|m| measure_value(a, &keys, m, &rs)).collect();
            AggregateRow { groups: keys, values }
        })
        .collect();
    rows.sort_by(|x, y| {
        for s in &a.sort {
            let (l, r) = match s.key {
                AggregateKey::Group(i) => (&x.groups[i], &y.groups[i]),
                AggregateKey::Measure(i) => (&x.values[i], &y.values[i]),
            };
            let o = if s.order == SortOrder::Desc { r.sort_cmp(l) } else { l.sort_cmp(r) };
            if o != std::cmp::Ordering::Equal {
                return o;
            }
        }
        x.groups
            .iter()
            .zip(&y.groups)
            .map(|(l, r)| l.sort_cmp(r))
            .find(|o| o.is_ne())
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    if let Some(l) = a.limit {
        rows.truncate(l);
    }
    rows
}

async fn aggregate(store: &Arc<dyn Store>, t: TenantId, a: &Aggregate) -> crate::error::Result<Vec<AggregateRow>> {
    let plan = a.plan(EntityKind::Deal, &registry())?;
    let mut tx = store.begin(t, TxMode::ReadOnly).await.expect("begin");
    tx.aggregate(&plan).await
}

/// Random aggregates (groups by text, ids, enums, booleans, numbers, currencies, date
/// buckets in five zones and each element of standard and custom lists; every measure; sorts
/// and limits) over random deals give what the
/// naive reference gives; another tenant's deals never count.
pub async fn aggregates_match_the_naive_reference(store: Arc<dyn Store>) {
    let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(7, |d| d.as_nanos() as u64);
    let mut rng = Rng(seed | 1);
    let (t, other) = (tenant(), tenant());
    let p = pipeline(t);
    let owners: Vec<UserId> = (0..3).map(|_| UserId::new()).collect();
    let deals: Vec<Record> = (0..150).map(|_| random_deal(&mut rng, t, &p, &owners).into_record()).collect();
    put_all(&store, t, deals).await;
    let noise: Vec<Record> = (0..20).map(|_| random_deal(&mut rng, other, &p, &owners).into_record()).collect();
    put_all(&store, other, noise).await;
    for _ in 0..60 {
        let a = random_aggregate(&mut rng);
        let records = select(&store, t, EntityKind::Deal, Query::new(a.filter.clone()).limit(200)).await;
        let want = naive(&a, &records);
        let got = aggregate(&store, t, &a).await.unwrap_or_else(|e| panic!("seed {seed}: {a:?}: {e}"));
        assert_eq!(got, want, "seed {seed}: {a:?}");
    }
}

/// Calendar buckets: ISO weeks, quarters and years of dates; instants bucketed in their zone's
/// local time across daylight-saving changes; the null group; no rows for no records but one
/// row when nothing is grouped.
pub async fn aggregates_bucket_by_calendar_and_time_zone(store: Arc<dyn Store>) {
    let t = tenant();
    let p = pipeline(t);
    let instant = |s: &str| DateTime::parse_from_rfc3339(s).expect("instant").to_utc();
    let cases: [(Option<&str>, Option<NaiveDate>); 5] = [
        // Berlin local 2026-04-01 00:30 (CEST), UTC still March.
        (Some("2026-03-31T22:30:00Z"), Some(date(2024, 2, 29))),
        // Berlin local 2026-11-01 00:30 (CET again), UTC still October.
        (Some("2026-10-31T23:30:00Z"), Some(date(2024, 1, 1))),
        // New York local 2025-12-31 22:00.
        (Some("2026-01-01T03:00:00Z"), Some(date(2023, 12, 31))),
        (Some("2026-03-15T12:00:00Z"), None),
        (None, Some(date(2024, 3, 31))),
    ];
    let deals: Vec<Record> = cases
        .iter()
        .map(|(closed, close)| {
            let mut d = deal(t, &p, "d", None);
            d.closed_at = closed.map(instant);
            d.expected_close_date = *close;
            d.into_record()
        })
        .collect();
    put_all(&store, t, deals).await;
    let rows = |a: Aggregate| {
        let store = store.clone();
        async move {
            let rows = aggregate(&store, t, &a).await.expect("aggregate");
            rows.into_iter().map(|r| (r.groups, r.values)).collect::<Vec<_>>()
        }
    };
    let d = |y, m, dd| Value::Date(date(y, m, dd));
    let month_by = |tz| Aggregate::default().bucket("closed_at", Bucket::Month).count().time_zone(tz);
    assert_eq!(
        rows(month_by(Tz::Europe__Berlin)).await,
        vec![
            (vec![Value::Null], vec![Value::Int(1)]),
            (vec![d(2026, 1, 1)], vec![Value::Int(1)]),
            (vec![d(2026, 3, 1)], vec![Value::Int(1)]),
            (vec![d(2026, 4, 1)], vec![Value::Int(1)]),
            (vec![d(2026, 11, 1)], vec![Value::Int(1)]),
        ]
    );
    assert_eq!(
        rows(month_by(Tz::UTC)).await,
        vec![
            (vec![Value::Null], vec![Value::Int(1)]),
            (vec![d(2026, 1, 1)], vec![Value::Int(1)]),
            (vec![d(2026, 3, 1)], vec![Value::Int(2)]),
            (vec![d(2026, 10, 1)], vec![Value::Int(1)]),
        ]
    );
    let year_ny = Aggregate::new(Filter::is_null("closed_at").not())
        .bucket("closed_at", Bucket::Year)
        .bucket("closed_at", Bucket::Week)
        .count()
        .time_zone(Tz::America__New_York);
    assert_eq!(
        rows(year_ny).await,
        vec![
            (vec![d(2025, 1, 1), d(2025, 12, 29)], vec![Value::Int(1)]),
            (vec![d(2026, 1, 1), d(2026, 3, 9)], vec![Value::Int(1)]),
            (vec![d(2026, 1, 1), d(2026, 3, 30)], vec![Value::Int(1)]),
            (vec![d(2026, 1, 1), d(2026, 10, 26)], vec![Value::Int(1)]),
        ]
    );
    let dates = Aggregate::default()
        .bucket("expected_close_date", Bucket::Quarter)
        .bucket("expected_close_date", Bucket::Week)
        .count()
        .min("expected_close_date");
    assert_eq!(
        rows(dates).await,
        vec![
            (vec![Value::Null, Value::Null], vec![Value::Int(1), Value::Null]),
            (vec![d(2023, 10, 1), d(2023, 12, 25)], vec![Value::Int(1), d(2023, 12, 31)]),
            (vec![d(2024, 1, 1), d(2024, 1, 1)], vec![Value::Int(1), d(2024, 1, 1)]),
            (vec![d(2024, 1, 1), d(2024, 2, 26)], vec![Value::Int(1), d(2024, 2, 29)]),
            (vec![d(2024, 1, 1), d(2024, 3, 25)], vec![Value::Int(1), d(2024, 3, 31)]),
        ]
    );
    let none = Filter::eq("name", "nobody");
    assert_eq!(rows(Aggregate::new(none.clone()).bucket("closed_at", Bucket::Day).count()).await, vec![]);
    assert_eq!(
        rows(Aggregate::new(none).count().max("closed_at").sum("amount").currency("amount")).await,
        vec![],
        "grouped by currency, no records make no rows"
    );
    assert_eq!(
        rows(Aggregate::new(Filter::eq("name", "nobody")).count().max("closed_at")).await,
        vec![(vec![], vec![Value::Int(0), Value::Null])],
        "ungrouped, no records still make one row"
    );
}

/// Sums and averages are exact at the edges: 28 decimal places, the largest decimal, negative
/// and zero values, money in currencies with 0 and 2 minor digits; a sum beyond the largest
/// integer or decimal is an error naming the measure, never a wrong number.
pub async fn aggregate_sums_are_exact(store: Arc<dyn Store>) {
    let p = pipeline(tenant());
    let seed = |t: TenantId, rows: Vec<(Option<Value>, Option<Value>, Option<Money>)>| {
        let store = store.clone();
        let p = p.clone();
        async move {
            let deals = rows
                .into_iter()
                .map(|(ratio, score, amount)| {
                    let mut d = deal(t, &p, "d", amount);
                    ratio.into_iter().for_each(|v| drop(d.custom.insert("ratio".into(), v)));
                    score.into_iter().for_each(|v| drop(d.custom.insert("score".into(), v)));
                    d.into_record()
                })
                .collect();
            put_all(&store, t, deals).await;
        }
    };
    let r = |s: &str| Some(Value::Decimal(dec(s)));
    let money = |s: &str, c| Some(Money::new(dec(s), c));
    let t = tenant();
    seed(
        t,
        vec![
            (r("0.1"), Some(Value::Int(i64::MAX)), money("10.5", Currency::EUR)),
            (r("0.0000000000000000000000000001"), Some(Value::Int(-1)), money("100", Currency::JPY)),
            (r("-0.2"), Some(Value::Int(1)), money("0.25", Currency::EUR)),
            (r("0"), None, money("200", Currency::JPY)),
            (None, None, money("-0.75", Currency::EUR)),
            (None, None, None),
        ],
    )
    .await;
    let sum = Aggregate::default().sum("custom.ratio").avg("custom.ratio").sum("custom.score").avg("custom.score");
    let row = aggregate(&store, t, &sum).await.expect("sums").remove(0);
    let tiny = dec("-0.0999999999999999999999999999");
    assert_eq!(
        row.values,
        vec![
            Value::Decimal(tiny),
            Value::Decimal((tiny / Decimal::from(4)).normalize()),
            Value::Int(i64::MAX),
            Value::Decimal((Decimal::from(i64::MAX) / Decimal::from(3)).normalize()),
        ]
    );
    let t4 = tenant();
    seed(t4, vec![(r("7922816251426433759354395033.4"), None, None), (r("0.1"), None, None)]).await;
    let row = aggregate(&store, t4, &Aggregate::default().sum("custom.ratio")).await.expect("largest").remove(0);
    assert_eq!(
        row.values,
        vec![Value::Decimal(dec("7922816251426433759354395033.5"))],
        "the largest decimal, to its last digit"
    );
    let by_currency = Aggregate::default().currency("amount").sum("amount").min("amount").count_distinct("amount");
    let rows = aggregate(&store, t, &by_currency).await.expect("money");
    let eur = |s: &str| Value::Money(Money::new(dec(s), Currency::EUR));
    let jpy = |s: &str| Value::Money(Money::new(dec(s), Currency::JPY));
    assert_eq!(rows[0].groups, vec![Value::Null]);
    assert_eq!(rows[0].values, vec![Value::Null, Value::Null, Value::Int(0)]);
    assert_eq!(rows[1].groups, vec![Value::Text("EUR".into())]);
    assert_eq!(rows[1].values, vec![eur("10.00"), eur("-0.75"), Value::Int(3)]);
    assert_eq!(rows[2].values, vec![jpy("300"), jpy("100"), Value::Int(2)]);
    match &rows[1].values[0] {
        Value::Money(m) => assert_eq!(m.amount.to_string(), "10.00", "money keeps its currency's minor digits"),
        v => panic!("not money: {v:?}"),
    }
    // One more unit of the largest integer is refused, naming the measure.
    let t2 = tenant();
    seed(t2, vec![(None, Some(Value::Int(i64::MAX)), None), (None, Some(Value::Int(1)), None)]).await;
    let err = aggregate(&store, t2, &Aggregate::default().count().sum("custom.score")).await.expect_err("beyond i64");
    assert!(matches!(&err, Error::Validation(v) if v.0[0].field == "measures[1]"), "{err}");
    let t3 = tenant();
    seed(t3, vec![(r("79228162514264337593543950335"), None, None), (r("1"), None, None)]).await;
    let err = aggregate(&store, t3, &Aggregate::default().sum("custom.ratio")).await.expect_err("beyond decimal");
    assert!(matches!(&err, Error::Validation(v) if v.0[0].code == FieldErrorCode::OutOfRange), "{err}");
}
