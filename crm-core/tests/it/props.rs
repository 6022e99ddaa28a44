//! Properties: phone numbers round-trip through E.164, filters agree with a naive reference
//! evaluator (in memory and through `MemoryStore`), and keyset pagination visits every record
//! exactly once, even while records are inserted between pages.

use std::cmp::Ordering;
use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Duration, TimeZone, Utc};
use crm_core::model::{FieldDefinition, FieldRegistry, FieldSource, FieldType, RegisteredField, Totals};
use crm_core::prelude::*;
use crm_core::profile::PhoneNumber;
use crm_core::query::{CmpOp, Field, Filter, Query};
use crm_core::store::TxMode;
use futures::executor::block_on;
use proptest::prelude::*;
use rust_decimal::Decimal;
use uuid::Uuid;

// ---------------------------------------------------------------------------------------------
// Phone numbers
// ---------------------------------------------------------------------------------------------

/// US area codes in service (every exchange 200–999 is valid under them).
const US_AREAS: &[u32] = &[
    201, 202, 203, 205, 206, 212, 213, 214, 215, 216, 217, 224, 225, 231, 239, 240, 248, 251, 253, 256, 262, 267, 281,
    301, 302, 303, 304, 305, 310, 312, 313, 314, 315, 317, 320, 321, 323, 330, 347, 352, 360, 385, 401, 402, 404, 405,
    406, 407, 408, 410, 412, 414, 415, 425, 469, 470, 480, 484, 501, 502, 503, 504, 505, 507, 508, 510, 512, 513, 515,
    516, 518, 520, 530, 540, 541, 559, 561, 562, 571, 585, 602, 603, 608, 610, 612, 614, 615, 616, 617, 619, 626, 630,
    646, 650, 651, 678, 702, 703, 704, 707, 708, 713, 714, 716, 718, 720, 727, 732, 734, 757, 760, 770, 773, 774, 781,
    786, 801, 802, 803, 804, 805, 808, 813, 815, 816, 818, 832, 843, 847, 856, 858, 860, 901, 904, 907, 908, 909, 912,
    914, 916, 917, 919, 925, 941, 949, 951, 954, 970, 971, 972, 973, 978, 989,
];

fn parse(s: &str, region: Option<&str>) -> Result<PhoneNumber, String> {
    PhoneNumber::parse(s, region)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn us_numbers_round_trip_through_e164(
        area in prop::sample::select(US_AREAS),
        exchange in 200u32..=999,
        line in 0u32..=9999,
    ) {
        let e164 = format!("+1{area}{exchange}{line:04}");
        let p = parse(&e164, None).map_err(TestCaseError::fail)?;
        prop_assert_eq!(p.as_str(), e164.as_str());
        prop_assert_eq!(parse(p.as_str(), None), Ok(p.clone()), "E.164 parses to itself");
        prop_assert_eq!(parse(p.as_str(), Some("DE")), Ok(p.clone()), "a +country prefix overrides the region");
        for written in [
            format!("({area}) {exchange}-{line:04}"),
            format!("{area}-{exchange}-{line:04}"),
            format!("{area}.{exchange}.{line:04}"),
            format!("{area} {exchange} {line:04}"),
            format!("1 {area} {exchange} {line:04}"),
            format!("1-{area}-{exchange}-{line:04}"),
            format!("  {area}{exchange}{line:04}  "),
            format!("+1 ({area}) {exchange}-{line:04}"),
            format!("tel:+1-{area}-{exchange}-{line:04}"),
        ] {
            prop_assert_eq!(parse(&written, Some("US")), Ok(p.clone()), "{:?}", written);
            prop_assert_eq!(parse(&written, Some("us")), Ok(p.clone()), "region codes are case-insensitive");
        }
        // Without a region a national number cannot be placed.
        let national = format!("({area}) {exchange}-{line:04}");
        prop_assert!(parse(&national, None).is_err(), "{:?} parsed without a region", national);
    }

    #[test]
    fn uk_numbers_round_trip_through_e164(line in 0u32..=999) {
        // London drama numbers 020 7946 0000–0999.
        let e164 = format!("+44207946{line:04}");
        let p = parse(&e164, None).map_err(TestCaseError::fail)?;
        prop_assert_eq!(p.as_str(), e164.as_str());
        prop_assert_eq!(parse(p.as_str(), None), Ok(p.clone()));
        for written in [
            format!("020 7946 {line:04}"),
            format!("(020) 7946-{line:04}"),
            format!("02079 46{line:04}"),
            format!("+44 20 7946 {line:04}"),
        ] {
            prop_assert_eq!(parse(&written, Some("GB")), Ok(p.clone()), "{:?}", written);
        }
    }

    #[test]
    fn german_numbers_round_trip_through_e164(
        berlin in 2_000_000u32..=99_999_999,
        mobile in 0u32..=99_999_999,
    ) {
        let fixed = format!("+4930{berlin}");
        let p = parse(&fixed, None).map_err(TestCaseError::fail)?;
        prop_assert_eq!(p.as_str(), fixed.as_str());
        prop_assert_eq!(parse(p.as_str(), None), Ok(p.clone()));
        for written in [format!("030 {berlin}"), format!("(030) {berlin}"), format!("030-{berlin}"), format!("+49 (30) {berlin}")] {
            prop_assert_eq!(parse(&written, Some("DE")), Ok(p.clone()), "{:?}", written);
        }

        let cell = format!("+49151{mobile:08}");
        let p = parse(&cell, None).map_err(TestCaseError::fail)?;
        prop_assert_eq!(p.as_str(), cell.as_str());
        prop_assert_eq!(parse(p.as_str(), None), Ok(p.clone()));
        for written in [format!("0151 {mobile:08}"), format!("0151-{mobile:08}"), format!("+49 151 {mobile:08}")] {
            prop_assert_eq!(parse(&written, Some("DE")), Ok(p.clone()), "{:?}", written);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Records for the filter and pagination properties
// ---------------------------------------------------------------------------------------------

fn tenant() -> TenantId {
    TenantId::from_uuid(Uuid::from_u128(0x7E57))
}

fn base_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
}

/// The fields the properties vary; everything else is fixed.
#[derive(Clone, Debug)]
struct Row {
    given: String,
    stage: LifecycleStage,
    tags: Vec<String>,
    score: Option<i64>,
    /// Minutes after `base_time`.
    created: i64,
}

const NAMES: &[&str] = &["ann", "Ann", "ANN", "anna", "bob", "Bob", "", "zoë", "Zoë", "ZOË", "b"];
const TAGS: &[&str] = &["vip", "VIP", "b2b", "lead", "Lead"];

fn row() -> impl Strategy<Value = Row> {
    (
        prop::sample::select(NAMES),
        prop::sample::select(LifecycleStage::ALL),
        prop::collection::vec(prop::sample::select(TAGS), 0..3),
        prop::option::of(-3i64..=3),
        0i64..3,
    )
        .prop_map(|(given, stage, tags, score, created)| Row {
            given: given.to_owned(),
            stage,
            tags: tags.into_iter().map(str::to_owned).collect(),
            score,
            created,
        })
}

fn contact(id: u128, r: &Row) -> Contact {
    let at = base_time() + Duration::minutes(r.created);
    let mut c = crm_core::testkit::fixtures::contact(tenant(), &r.given, "Test");
    c.id = ContactId::from_uuid(Uuid::from_u128(id));
    c.created_at = at;
    c.updated_at = at;
    c.lifecycle_stage = r.stage;
    c.tags = r.tags.clone();
    if let Some(s) = r.score {
        c.custom.insert("score".into(), Value::Int(s));
    }
    c
}

/// Writes contacts straight into the store (no service rules), in one transaction.
fn insert(store: &MemoryStore, contacts: &[Contact]) {
    block_on(async {
        let mut tx = store.begin(tenant(), TxMode::ReadWrite).await.unwrap();
        for c in contacts {
            tx.insert(Record::Contact(c.clone())).await.unwrap();
        }
        tx.commit().await.unwrap();
    });
}

// ---------------------------------------------------------------------------------------------
// Naive reference semantics (written from the documented rules, not from the library code)
// ---------------------------------------------------------------------------------------------

/// A field's value as the reference sees it.
#[derive(Clone, Debug)]
enum Naive {
    Null,
    Text(String),
    Num(Decimal),
    Time(DateTime<Utc>),
    List(Vec<String>),
}

fn naive_field(c: &Contact, field: &Field) -> Naive {
    match field {
        Field::Std(n) if n == "given_name" => Naive::Text(c.given_name.clone()),
        Field::Std(n) if n == "lifecycle_stage" => Naive::Text(c.lifecycle_stage.as_str().to_owned()),
        Field::Std(n) if n == "created_at" => Naive::Time(c.created_at),
        Field::Std(n) if n == "tags" => {
            if c.tags.is_empty() {
                Naive::Null
            } else {
                Naive::List(c.tags.clone())
            }
        }
        Field::Custom(k) if k == "score" => match c.custom.get("score") {
            Some(Value::Int(i)) => Naive::Num(Decimal::from(*i)),
            None => Naive::Null,
            Some(other) => panic!("unexpected score {other:?}"),
        },
        other => panic!("the reference does not know {other:?}"),
    }
}

fn naive_operand(v: &Value) -> Naive {
    match v {
        Value::Text(s) => Naive::Text(s.clone()),
        Value::Int(i) => Naive::Num(Decimal::from(*i)),
        Value::Decimal(d) => Naive::Num(*d),
        other => panic!("operand {other:?} not generated"),
    }
}

/// Compares two scalars of the same type; None for null or different types.
fn naive_cmp(a: &Naive, b: &Naive) -> Option<Ordering> {
    match (a, b) {
        (Naive::Text(x), Naive::Text(y)) => Some(x.as_bytes().cmp(y.as_bytes())),
        (Naive::Num(x), Naive::Num(y)) => Some(x.cmp(y)),
        (Naive::Time(x), Naive::Time(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

fn naive_eq(a: &Naive, b: &Naive) -> bool {
    naive_cmp(a, b) == Some(Ordering::Equal)
}

/// ASCII-only case folding, character by character.
fn fold(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_uppercase() { ((c as u8) + 32) as char } else { c }).collect()
}

fn naive_matches(f: &Filter, c: &Contact) -> bool {
    match f {
        Filter::All => true,
        Filter::And(fs) => fs.iter().all(|f| naive_matches(f, c)),
        Filter::Or(fs) => fs.iter().any(|f| naive_matches(f, c)),
        Filter::Not(f) => !naive_matches(f, c),
        Filter::Cmp { field, op, value } => {
            let (v, x) = (naive_field(c, field), naive_operand(value));
            let o = naive_cmp(&v, &x);
            match op {
                CmpOp::Eq => o == Some(Ordering::Equal),
                CmpOp::Ne => o != Some(Ordering::Equal),
                CmpOp::Lt => o == Some(Ordering::Less),
                CmpOp::Lte => matches!(o, Some(Ordering::Less | Ordering::Equal)),
                CmpOp::Gt => o == Some(Ordering::Greater),
                CmpOp::Gte => matches!(o, Some(Ordering::Greater | Ordering::Equal)),
            }
        }
        Filter::In { field, values } => {
            let ops: Vec<Naive> = values.iter().map(naive_operand).collect();
            match naive_field(c, field) {
                Naive::List(items) => items.iter().any(|i| ops.iter().any(|o| naive_eq(&Naive::Text(i.clone()), o))),
                v => ops.iter().any(|o| naive_eq(&v, o)),
            }
        }
        Filter::Contains { field, value } => match (naive_field(c, field), value) {
            (Naive::Text(s), Value::Text(n)) => fold(&s).contains(&fold(n)),
            (Naive::List(items), Value::Text(n)) => items.iter().any(|i| fold(i) == fold(n)),
            _ => false,
        },
        Filter::StartsWith { field, value } => match naive_field(c, field) {
            Naive::Text(s) => fold(&s).starts_with(&fold(value)),
            _ => false,
        },
        Filter::IsNull { field } => matches!(naive_field(c, field), Naive::Null),
    }
}

// ---------------------------------------------------------------------------------------------
// Filters
// ---------------------------------------------------------------------------------------------

fn cmp_op() -> impl Strategy<Value = CmpOp> {
    prop::sample::select(vec![CmpOp::Eq, CmpOp::Ne, CmpOp::Lt, CmpOp::Lte, CmpOp::Gt, CmpOp::Gte])
}

fn name_operand() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["ann", "Ann", "ANN", "an", "AN", "b", "B", "", "zoë", "ZOË", "ë", "Ë", "nna", "x"])
        .prop_map(str::to_owned)
}

fn stage_operand() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(LifecycleStage::ALL).prop_map(|s| s.as_str().to_owned()),
        Just("LEAD".to_owned()),
        Just("m".to_owned()),
    ]
}

fn tag_operand() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["vip", "VIP", "Vip", "b2b", "lead", "LEAD", "vi", "none"]).prop_map(str::to_owned)
}

fn score_operand() -> impl Strategy<Value = Value> {
    prop_oneof![(-4i64..=4).prop_map(Value::Int), (-8i64..=8).prop_map(|h| Value::Decimal(Decimal::new(h * 5, 1))),]
}

fn std(name: &str) -> Field {
    Field::Std(name.to_owned())
}

fn score() -> Field {
    Field::Custom("score".to_owned())
}

fn leaf() -> impl Strategy<Value = Filter> {
    prop_oneof![
        Just(Filter::All),
        (cmp_op(), name_operand()).prop_map(|(op, v)| Filter::Cmp {
            field: std("given_name"),
            op,
            value: Value::Text(v)
        }),
        (cmp_op(), stage_operand()).prop_map(|(op, v)| Filter::Cmp {
            field: std("lifecycle_stage"),
            op,
            value: Value::Text(v)
        }),
        (cmp_op(), score_operand()).prop_map(|(op, value)| Filter::Cmp { field: score(), op, value }),
        prop::collection::vec(name_operand(), 0..3).prop_map(|v| Filter::is_in("given_name", v)),
        prop::collection::vec(stage_operand(), 0..3).prop_map(|v| Filter::is_in("lifecycle_stage", v)),
        prop::collection::vec(tag_operand(), 0..3).prop_map(|v| Filter::is_in("tags", v)),
        prop::collection::vec(score_operand(), 0..3).prop_map(|values| Filter::In { field: score(), values }),
        name_operand().prop_map(|v| Filter::contains("given_name", v)),
        tag_operand().prop_map(|v| Filter::contains("tags", v)),
        name_operand().prop_map(|v| Filter::starts_with("given_name", v)),
        stage_operand().prop_map(|v| Filter::starts_with("lifecycle_stage", v)),
        Just(Filter::is_null("given_name")),
        Just(Filter::is_null("tags")),
        Just(Filter::is_null("custom.score")),
    ]
}

fn filter() -> impl Strategy<Value = Filter> {
    leaf().prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Filter::And),
            prop::collection::vec(inner.clone(), 0..4).prop_map(Filter::Or),
            inner.prop_map(|f| Filter::Not(Box::new(f))),
        ]
    })
}

/// The registry a service would check these filters against.
fn score_registry() -> FieldRegistry {
    let mut reg = FieldRegistry::default();
    reg.insert(RegisteredField {
        definition: FieldDefinition::new(EntityKind::Contact, "score", "Score", FieldType::Number),
        source: FieldSource::Tenant,
    });
    reg
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn filters_agree_with_the_naive_reference(rows in prop::collection::vec(row(), 0..14), f in filter()) {
        prop_assert!(f.validate(EntityKind::Contact, &score_registry()).is_ok(), "generated filters are valid: {:?}", f);
        let contacts: Vec<Contact> = rows.iter().enumerate().map(|(i, r)| contact(i as u128 + 1, r)).collect();

        let mut expected = Vec::new();
        for c in &contacts {
            let want = naive_matches(&f, c);
            prop_assert_eq!(f.matches(&Record::Contact(c.clone())), want, "{:?} on {:?}", f, c);
            // `not` is the complement, always.
            prop_assert_eq!(f.clone().not().matches(&Record::Contact(c.clone())), !want);
            if want {
                expected.push(c.id);
            }
        }

        let store = MemoryStore::new();
        insert(&store, &contacts);
        let (page, count) = block_on(async {
            let mut tx = store.begin(tenant(), TxMode::ReadOnly).await.unwrap();
            let page = tx.query(EntityKind::Contact, &Query::new(f.clone()).limit(1000)).await.unwrap();
            let count = tx.count(EntityKind::Contact, &f).await.unwrap();
            (page, count)
        });
        let got: Vec<ContactId> = page.items.into_iter().map(|r| ContactId::from_uuid(r.id())).collect();
        prop_assert_eq!(&got, &expected, "the store returns exactly the matching records, in id order");
        prop_assert!(page.next.is_none());
        prop_assert_eq!(count, expected.len() as u64);
    }
}

// ---------------------------------------------------------------------------------------------
// Pagination
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug)]
enum Key {
    Given,
    Stage,
    Score,
    Created,
}

impl Key {
    fn field(self) -> Field {
        match self {
            Key::Given => std("given_name"),
            Key::Stage => std("lifecycle_stage"),
            Key::Score => score(),
            Key::Created => std("created_at"),
        }
    }
}

fn sort_keys() -> impl Strategy<Value = Vec<(Key, bool)>> {
    prop::collection::vec(
        (prop::sample::select(vec![Key::Given, Key::Stage, Key::Score, Key::Created]), any::<bool>()),
        0..3,
    )
}

/// Null first ascending, last descending; then the id, ascending.
fn naive_order(keys: &[(Key, bool)], a: &Contact, b: &Contact) -> Ordering {
    for (k, desc) in keys {
        let (x, y) = (naive_field(a, &k.field()), naive_field(b, &k.field()));
        let o = match (&x, &y) {
            (Naive::Null, Naive::Null) => Ordering::Equal,
            (Naive::Null, _) => Ordering::Less,
            (_, Naive::Null) => Ordering::Greater,
            _ => naive_cmp(&x, &y).expect("same types"),
        };
        let o = if *desc { o.reverse() } else { o };
        if o != Ordering::Equal {
            return o;
        }
    }
    a.id.cmp(&b.id)
}

fn query(keys: &[(Key, bool)], limit: usize) -> Query {
    let mut q = Query::new(Filter::All).limit(limit);
    for (k, desc) in keys {
        q = if *desc { q.sort_desc(k.field()) } else { q.sort_asc(k.field()) };
    }
    q
}

/// A CRM over `store` with the `score` custom field defined, so the service accepts the sorts.
fn service(store: &MemoryStore) -> Session {
    let crm = Crm::new(store.clone());
    let cx = crm.as_actor(&Actor::system(tenant()));
    block_on(cx.custom_fields().define(FieldDefinition::new(EntityKind::Contact, "score", "Score", FieldType::Number)))
        .unwrap();
    cx
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn pages_cover_every_record_exactly_once(
        rows in prop::collection::vec(row(), 0..30),
        keys in sort_keys(),
        page_size in 1usize..8,
    ) {
        let store = MemoryStore::new();
        let contacts: Vec<Contact> = rows.iter().enumerate().map(|(i, r)| contact(i as u128 + 1, r)).collect();
        insert(&store, &contacts);
        let cx = service(&store);

        let mut sorted = contacts.clone();
        sorted.sort_by(|a, b| naive_order(&keys, a, b));
        let expected: Vec<ContactId> = sorted.iter().map(|c| c.id).collect();

        let mut q = query(&keys, page_size);
        let mut seen = Vec::new();
        let mut pages = 0;
        loop {
            let page = block_on(cx.contacts().list(&q)).unwrap();
            pages += 1;
            prop_assert!(pages <= contacts.len() + 1, "pagination does not terminate");
            prop_assert!(page.items.len() <= page_size);
            if page.next.is_some() {
                prop_assert_eq!(page.items.len(), page_size, "only the last page may be short");
            }
            seen.extend(page.items.iter().map(|c| c.id));
            match page.next {
                Some(cursor) => q = q.after(Some(cursor)),
                None => break,
            }
        }
        prop_assert_eq!(&seen, &expected);
        prop_assert_eq!(pages, contacts.len().div_ceil(page_size).max(1));

        // One big page gives the same order.
        let all = block_on(cx.contacts().list(&query(&keys, 1000))).unwrap();
        prop_assert_eq!(all.items.iter().map(|c| c.id).collect::<Vec<_>>(), expected);
    }

    #[test]
    fn pages_stay_consistent_while_records_are_inserted(
        rows in prop::collection::vec(row(), 1..25),
        keys in sort_keys(),
        page_size in 1usize..6,
        inserts in prop::collection::vec(prop::collection::vec(row(), 0..4), 0..12),
    ) {
        let store = MemoryStore::new();
        let contacts: Vec<Contact> = rows.iter().enumerate().map(|(i, r)| contact(i as u128 + 1, r)).collect();
        insert(&store, &contacts);
        let cx = service(&store);
        let original: BTreeSet<ContactId> = contacts.iter().map(|c| c.id).collect();

        let mut next_id = 1_000u128;
        let mut by_id: HashMap<ContactId, Contact> = contacts.iter().map(|c| (c.id, c.clone())).collect();
        let mut batches = inserts.into_iter();
        let mut q = query(&keys, page_size);
        let mut seen: Vec<ContactId> = Vec::new();
        let mut pages = 0;
        loop {
            let page = block_on(cx.contacts().list(&q)).unwrap();
            pages += 1;
            prop_assert!(pages <= 200, "pagination does not terminate");
            seen.extend(page.items.iter().map(|c| c.id));
            // Others write between our page fetches.
            if let Some(batch) = batches.next() {
                let new: Vec<Contact> = batch
                    .iter()
                    .map(|r| {
                        next_id += 1;
                        contact(next_id, r)
                    })
                    .collect();
                insert(&store, &new);
                by_id.extend(new.into_iter().map(|c| (c.id, c)));
            }
            match page.next {
                Some(cursor) => q = q.after(Some(cursor)),
                None => break,
            }
        }

        let distinct: BTreeSet<ContactId> = seen.iter().copied().collect();
        prop_assert_eq!(distinct.len(), seen.len(), "no record appears twice");
        for id in &original {
            prop_assert!(distinct.contains(id), "original record {} was skipped", id);
        }
        // What was returned is in sort order (inserted records only appear ahead of the cursor).
        for w in seen.windows(2) {
            prop_assert_eq!(naive_order(&keys, &by_id[&w[0]], &by_id[&w[1]]), Ordering::Less);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Line and document totals
// ---------------------------------------------------------------------------------------------

/// Currencies with 0, 2 and 3 minor digits, with their digits written out independently of the
/// library.
const TOTALS_CURRENCIES: [(Currency, u32); 3] = [(Currency::JPY, 0), (Currency::EUR, 2), (Currency::KWD, 3)];

/// A decimal as integers: `units / 10^scale`.
type Scaled = (i64, u32);

/// A line with every number as integers.
#[derive(Clone, Copy, Debug)]
struct IntLine {
    quantity: Scaled,
    price: Scaled,
    discount: Scaled,
    tax: Scaled,
}

fn pow10(n: u32) -> i128 {
    10i128.pow(n)
}

/// `n / d` rounded half away from zero, in integers.
fn div_round(n: i128, d: i128) -> i128 {
    assert!(d > 0);
    let (q, r) = (n / d, n % d);
    if 2 * r.abs() >= d { q + n.signum() } else { q }
}

/// The reference: a line's net and tax in minor units of a currency with `digits` minor digits.
///
/// net = quantity × price × (100 − discount) / 100, rounded to the minor unit;
/// tax = net × rate / 100, rounded to the minor unit.
fn reference_line(l: &IntLine, digits: u32) -> (i128, i128) {
    let ((q, qs), (p, ps), (d, ds), (t, ts)) = (l.quantity, l.price, l.discount, l.tax);
    let hundred_d = 100 * pow10(ds);
    let num = i128::from(q) * i128::from(p) * (hundred_d - i128::from(d)) * pow10(digits);
    let net = div_round(num, pow10(qs) * pow10(ps) * hundred_d);
    let tax = div_round(net * i128::from(t), 100 * pow10(ts));
    (net, tax)
}

fn minor(units: i128, digits: u32, currency: Currency) -> Money {
    Money::new(Decimal::from_i128_with_scale(units, digits), currency)
}

fn to_decimal((units, scale): Scaled) -> Decimal {
    Decimal::new(units, scale)
}

fn int_item(i: usize, l: &IntLine, currency: Currency) -> LineItem {
    LineItem::new(format!("Line {i}"), to_decimal(l.quantity), Money::new(to_decimal(l.price), currency))
        .discount(to_decimal(l.discount))
        .tax_rate(to_decimal(l.tax))
}

/// A percentage 0–100: common rates, whole numbers and up to two decimals.
fn percent() -> impl Strategy<Value = Scaled> {
    prop_oneof![
        prop::sample::select(vec![0i64, 5, 7, 10, 15, 19, 20, 21, 25, 33, 50, 100]).prop_map(|p| (p, 0)),
        (0i64..=100).prop_map(|p| (p, 0)),
        (1u32..=2).prop_flat_map(|s| (0i64..=100 * 10i64.pow(s), Just(s))),
    ]
}

/// A positive quantity: whole, fractional (to 0.001), or an exact half (to provoke ties).
fn quantity() -> impl Strategy<Value = Scaled> {
    prop_oneof![
        (1i64..=1_000).prop_map(|q| (q, 0)),
        (1u32..=3).prop_flat_map(|s| (1i64..=1_000_000, Just(s))),
        (0i64..=999).prop_map(|q| (q * 10 + 5, 1)),
    ]
}

/// A unit price with the currency's minor digits or up to two more (e.g. 0.125 EUR a unit).
fn price(digits: u32) -> impl Strategy<Value = Scaled> {
    prop_oneof![
        (0i64..=1_000_000_000).prop_map(move |p| (p, digits)),
        (0u32..=2).prop_flat_map(move |extra| (0i64..=1_000_000_000, Just(digits + extra))),
        (0i64..=10_000).prop_map(move |p| (2 * p + 1, digits)), // odd minor units: halves round
    ]
}

fn int_line(digits: u32) -> impl Strategy<Value = IntLine> {
    (quantity(), price(digits), percent(), percent()).prop_map(|(quantity, price, discount, tax)| IntLine {
        quantity,
        price,
        discount,
        tax,
    })
}

fn totals_case(lines: std::ops::Range<usize>) -> impl Strategy<Value = (Currency, u32, Vec<IntLine>)> {
    prop::sample::select(TOTALS_CURRENCIES.to_vec()).prop_flat_map(move |(currency, digits)| {
        (Just(currency), Just(digits), prop::collection::vec(int_line(digits), lines.clone()))
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

    #[test]
    fn line_and_document_totals_match_an_integer_reference(
        (currency, digits, lines) in totals_case(0..8),
        foreign in (any::<prop::sample::Index>(), prop::sample::select(vec![Currency::USD, Currency::GBP, Currency::BHD])),
    ) {
        prop_assert_eq!(Money::zero(currency).minor_digits(), digits, "the reference's digits are ISO 4217's");
        let items: Vec<LineItem> = lines.iter().enumerate().map(|(i, l)| int_item(i, l, currency)).collect();
        let (mut subtotal, mut tax) = (0i128, 0i128);
        for (item, l) in items.iter().zip(&lines) {
            let (n, t) = reference_line(l, digits);
            prop_assert_eq!(item.total(), minor(n, digits, currency), "net of {:?}", l);
            prop_assert_eq!(item.total().amount.scale(), digits, "rounded to the minor unit");
            prop_assert_eq!(item.tax(), minor(t, digits, currency), "tax of {:?}", l);
            prop_assert_eq!(item.tax().amount.scale(), digits);
            prop_assert_eq!(item.gross(), minor(n + t, digits, currency));
            subtotal += n;
            tax += t;
        }
        let t = Totals::of(&items, currency).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(t.subtotal, minor(subtotal, digits, currency));
        prop_assert_eq!(t.tax, minor(tax, digits, currency));
        prop_assert_eq!(t.total, minor(subtotal + tax, digits, currency));
        prop_assert!([t.subtotal, t.tax, t.total].iter().all(|m| m.currency == currency));

        // One line in another currency anywhere: refused, naming that line.
        let (at, other) = foreign;
        let at = at.index(items.len() + 1);
        let mut mixed = items.clone();
        mixed.insert(at, LineItem::new("Foreign", Decimal::ONE, Money::new(Decimal::ONE, other)));
        let err = Totals::of(&mixed, currency).unwrap_err();
        prop_assert_eq!(err.field, format!("lines[{at}].unit_price"));
        prop_assert_eq!(err.code, FieldErrorCode::CurrencyMismatch);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn orders_and_invoices_store_the_reference_totals((currency, digits, lines) in totals_case(1..6)) {
        let items: Vec<LineItem> = lines.iter().enumerate().map(|(i, l)| int_item(i, l, currency)).collect();
        let (subtotal, tax) = lines
            .iter()
            .map(|l| reference_line(l, digits))
            .fold((0i128, 0i128), |(s, t), (n, x)| (s + n, t + x));
        let want = (minor(subtotal, digits, currency), minor(tax, digits, currency), minor(subtotal + tax, digits, currency));

        let cx = Crm::new(MemoryStore::new()).as_actor(&Actor::system(tenant()));
        let (order, invoice, deal) = block_on(async {
            let ann = cx.contacts().create(NewContact::new("Ann", "Lee")).await.unwrap();
            let input = NewOrder { lines: items.clone(), ..NewOrder::for_contact(ann.id) }.placed();
            let order = cx.orders().create(input).await.unwrap();
            let invoice = cx.invoices().from_order(order.id).await.unwrap();
            let mut deal = NewDeal::new("Deal").contact(ann.id);
            deal.line_items = items.clone();
            let deal = cx.deals().create(deal).await.unwrap();
            (order, invoice, deal)
        });
        prop_assert_eq!((order.subtotal, order.tax, order.total), want);
        prop_assert_eq!((invoice.subtotal, invoice.tax, invoice.total), want);
        prop_assert_eq!(invoice.balance_due(), want.2);
        prop_assert_eq!(deal.amount, Some(want.0), "a deal's amount is its lines' net total");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// Random worlds of users, managers, teams, roles with random scopes and field grants, and
    /// contacts with sensitive fields: every user's reads, writes and probes agree with the
    /// reference evaluator (the conformance kit runs fixed seeds on every store; this draws more).
    #[test]
    fn access_agrees_with_the_reference_in_random_worlds(seed in any::<u64>()) {
        let store: std::sync::Arc<dyn crm_core::store::Store> = std::sync::Arc::new(MemoryStore::new());
        block_on(crm_core::testkit::access_scenario(store, seed));
    }
}
