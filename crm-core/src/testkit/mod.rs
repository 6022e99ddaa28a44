//! The store conformance kit: one behaviour suite every [`Store`] must pass.
//!
//! Each case is a public async function taking a fresh `Arc<dyn Store>` and panicking on a
//! contract violation. [`store_conformance_tests!`](crate::store_conformance_tests) turns the
//! whole suite into `#[tokio::test]`s for a backend (the calling crate needs `tokio` with the
//! `macros` and `rt-multi-thread` features as a dev-dependency):
//!
//! ```text
//! crm_core::store_conformance_tests!(|| async {
//!     std::sync::Arc::new(crm_core::MemoryStore::new()) as std::sync::Arc<dyn crm_core::Store>
//! });
//! ```
//!
//! Cases use fresh random tenants, so a factory may hand every case the same database.

pub mod fixtures;

use std::collections::BTreeSet;
use std::sync::Arc;

use rust_decimal::Decimal;
use uuid::Uuid;

use crate::entity::{Entity, EntityKind, EntityRef, Record};
use crate::error::Error;
use crate::event::{Change, Event, EventQuery, StoredEvent};
use crate::ids::{ContactId, EventId, TenantId};
use crate::model::*;
use crate::money::{Currency, Money};
use crate::profile::LifecycleStage;
use crate::query::{Filter, Query};
use crate::store::{Store, Transaction, TxMode};
use crate::value::Value;
use fixtures::*;

/// Every case of the suite, by name (what [`store_conformance_tests!`](crate::store_conformance_tests) runs).
pub const CASES: &[&str] = &[
    "crud_every_kind",
    "records_round_trip_exactly",
    "insert_of_existing_id_conflicts",
    "stale_writes_conflict",
    "concurrent_writers_never_lose_updates",
    "rollback_leaves_nothing",
    "read_only_transactions_refuse_writes",
    "tenants_are_isolated",
    "filters_on_standard_fields",
    "filters_on_custom_fields",
    "filters_on_lists_ids_and_money",
    "sorting_is_multi_key_with_nulls_first",
    "pagination_has_no_gaps_or_duplicates_under_inserts",
    "count_agrees_with_query",
    "events_are_numbered_in_commit_order",
];

/// Generates one `#[tokio::test]` per conformance case for the store made by `$make`
/// (an expression callable as `$make().await -> Arc<dyn Store>`).
#[macro_export]
macro_rules! store_conformance_tests {
    ($make:expr) => {
        $crate::store_conformance_tests!(@cases $make;
            crud_every_kind, records_round_trip_exactly, insert_of_existing_id_conflicts,
            stale_writes_conflict, concurrent_writers_never_lose_updates, rollback_leaves_nothing,
            read_only_transactions_refuse_writes, tenants_are_isolated, filters_on_standard_fields,
            filters_on_custom_fields, filters_on_lists_ids_and_money, sorting_is_multi_key_with_nulls_first,
            pagination_has_no_gaps_or_duplicates_under_inserts, count_agrees_with_query,
            events_are_numbered_in_commit_order
        );
    };
    (@cases $make:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let store: ::std::sync::Arc<dyn $crate::Store> = ($make)().await;
                $crate::testkit::$case(store).await;
            }
        )*
    };
}

async fn begin(store: &Arc<dyn Store>, tenant: TenantId) -> Box<dyn Transaction> {
    store.begin(tenant, TxMode::ReadWrite).await.expect("begin")
}

async fn put_all(store: &Arc<dyn Store>, tenant: TenantId, records: Vec<Record>) {
    let mut tx = begin(store, tenant).await;
    for r in records {
        tx.insert(r).await.expect("insert");
    }
    tx.commit().await.expect("commit");
}

async fn get(store: &Arc<dyn Store>, tenant: TenantId, kind: EntityKind, id: Uuid) -> Option<Record> {
    let mut tx = store.begin(tenant, TxMode::ReadOnly).await.expect("begin");
    tx.get(kind, id).await.expect("get")
}

/// Every record of `kind` matching `filter`, through pages of 3 (so paging is exercised).
async fn select(store: &Arc<dyn Store>, tenant: TenantId, kind: EntityKind, q: Query) -> Vec<Record> {
    let mut tx = store.begin(tenant, TxMode::ReadOnly).await.expect("begin");
    let mut q = q;
    let mut out = Vec::new();
    loop {
        let page = tx.query(kind, &q).await.unwrap_or_else(|e| panic!("query {q:?}: {e}"));
        assert!(page.items.len() <= q.limit, "page larger than its limit");
        out.extend(page.items);
        match page.next {
            Some(c) => q.after = Some(c),
            None => return out,
        }
    }
}

fn names(records: &[Record]) -> BTreeSet<String> {
    records
        .iter()
        .map(|r| match r {
            Record::Contact(c) => c.given_name.clone(),
            Record::Deal(d) => d.name.clone(),
            other => other.id().to_string(),
        })
        .collect()
}

/// Runs each filter (through pages of `page`) and compares the names it selects with the expected ones.
async fn assert_filters(
    store: &Arc<dyn Store>,
    t: TenantId,
    kind: EntityKind,
    cases: Vec<(Filter, &[&str])>,
    page: usize,
) {
    for (f, want) in cases {
        let got = names(&select(store, t, kind, Query::new(f.clone()).limit(page)).await);
        assert_eq!(got, set(want), "filter {f:?}");
    }
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn event(tenant: TenantId, subject: EntityRef, related: Vec<EntityRef>, change: Change) -> Event {
    Event {
        id: EventId::from_uuid(Uuid::now_v7()),
        tenant_id: tenant,
        occurred_at: at(1),
        actor: None,
        subject,
        related,
        change,
    }
}

fn one_of_each(tenant: TenantId) -> Vec<Record> {
    let c = full_contact(tenant);
    let co = company(tenant, "Acme");
    let p = pipeline(tenant);
    let d = deal(tenant, &p, "Big deal", Some(Money::new(Decimal::new(10_000, 0), Currency::EUR)));
    let a = activity(tenant, c.id);
    let r = relation(tenant, c.id, co.id);
    let f = custom_field(tenant, EntityKind::Contact, "budget", FieldType::Decimal);
    let seg = segment(tenant, "Leads");
    let camp = campaign(tenant, "Spring", Some(seg.id));
    let member = campaign_member(tenant, camp.id, c.id);
    let more = vec![
        product(tenant, "SKU-1").into_record(),
        order(tenant, c.id, "SO-1").into_record(),
        invoice(tenant, c.id, "INV-1", 12_345).into_record(),
        payment(tenant, c.id, 5_000).into_record(),
        case(tenant, c.id, "Broken").into_record(),
        feedback(tenant, c.id).into_record(),
        member.into_record(),
        camp.into_record(),
        seg.into_record(),
    ];
    let mut all = vec![
        c.into_record(),
        co.into_record(),
        p.into_record(),
        d.into_record(),
        a.into_record(),
        r.into_record(),
        f.into_record(),
    ];
    all.extend(more);
    all
}

/// Insert, get, update and delete a record of every kind.
pub async fn crud_every_kind(store: Arc<dyn Store>) {
    let t = tenant();
    let records = one_of_each(t);
    let kinds: BTreeSet<EntityKind> = records.iter().map(Record::kind).collect();
    assert_eq!(kinds.len(), EntityKind::ALL.len(), "fixture covers every kind");
    put_all(&store, t, records.clone()).await;
    for r in &records {
        assert_eq!(get(&store, t, r.kind(), r.id()).await.as_ref(), Some(r), "{} reads back", r.kind());
    }
    let mut tx = begin(&store, t).await;
    for r in &records {
        let mut changed = r.clone();
        changed.set_version(2);
        match &mut changed {
            Record::Contact(x) => x.given_name = "Changed".into(),
            Record::Company(x) => x.name = "Changed".into(),
            Record::Deal(x) => x.name = "Changed".into(),
            Record::Pipeline(x) => x.name = "Changed".into(),
            Record::Activity(x) => x.subject = "Changed".into(),
            Record::Relation(x) => x.role = Some("Changed".into()),
            Record::CustomField(x) => x.definition.label = "Changed".into(),
            Record::Product(x) => x.name = "Changed".into(),
            Record::Order(x) => x.notes = Some("Changed".into()),
            Record::Invoice(x) => x.notes = Some("Changed".into()),
            Record::Payment(x) => x.notes = Some("Changed".into()),
            Record::Case(x) => x.subject = "Changed".into(),
            Record::Feedback(x) => x.text = Some("Changed".into()),
            Record::Campaign(x) => x.name = "Changed".into(),
            Record::CampaignMember(x) => x.responses.push(CampaignResponse { kind: ResponseKind::Clicked, at: at(30) }),
            Record::Segment(x) => x.name = "Changed".into(),
        }
        tx.update(changed).await.expect("update");
    }
    tx.commit().await.expect("commit");
    for r in &records {
        let got = get(&store, t, r.kind(), r.id()).await.expect("still there");
        assert_eq!(got.version(), 2);
        let text = serde_json::to_string(&got).expect("serialize");
        let changed = text.contains("Changed") || text.contains("clicked");
        assert!(changed, "{} update persisted", r.kind());
    }
    let mut tx = begin(&store, t).await;
    for r in &records {
        tx.delete(r.kind(), r.id(), 2).await.expect("delete");
    }
    tx.commit().await.expect("commit");
    for r in &records {
        assert_eq!(get(&store, t, r.kind(), r.id()).await, None, "{} deleted", r.kind());
    }
}

/// A record with every field set, odd text and custom values of every type, reads back equal.
pub async fn records_round_trip_exactly(store: Arc<dyn Store>) {
    let t = tenant();
    let c = full_contact(t);
    put_all(&store, t, vec![c.clone().into_record()]).await;
    let back = get(&store, t, EntityKind::Contact, c.id.as_uuid()).await;
    assert_eq!(back, Some(c.into_record()));
}

/// Inserting an id that exists is a conflict, and changes nothing.
pub async fn insert_of_existing_id_conflicts(store: Arc<dyn Store>) {
    let t = tenant();
    let c = contact(t, "Once", "Only");
    put_all(&store, t, vec![c.clone().into_record()]).await;
    let mut dup = c.clone();
    dup.given_name = "Twice".into();
    let mut tx = begin(&store, t).await;
    let res = tx.insert(dup.into_record()).await;
    let res = match res {
        Ok(()) => tx.commit().await.map(|_| ()),
        Err(e) => Err(e),
    };
    assert!(matches!(res, Err(Error::Conflict { .. })), "duplicate insert: {res:?}");
    assert_eq!(get(&store, t, EntityKind::Contact, c.id.as_uuid()).await, Some(c.into_record()));
}

/// Updates and deletes based on a stale version are conflicts; missing records are reported.
pub async fn stale_writes_conflict(store: Arc<dyn Store>) {
    let t = tenant();
    let c = contact(t, "Stale", "Writer");
    put_all(&store, t, vec![c.clone().into_record()]).await;
    // Someone else moves it to version 2.
    let mut v2 = c.clone();
    v2.version = 2;
    v2.family_name = "Second".into();
    let mut tx = begin(&store, t).await;
    tx.update(v2.clone().into_record()).await.expect("update to v2");
    tx.commit().await.expect("commit");
    // A writer still holding version 1 tries to write version 2.
    let mut stale = c.clone();
    stale.version = 2;
    stale.family_name = "Lost update".into();
    let mut tx = begin(&store, t).await;
    let err = tx.update(stale.into_record()).await.expect_err("stale update must fail");
    assert!(matches!(err, Error::Conflict { found: Some(2), .. }), "{err:?}");
    drop(tx);
    let mut tx = begin(&store, t).await;
    let err = tx.delete(EntityKind::Contact, c.id.as_uuid(), 1).await.expect_err("stale delete must fail");
    assert!(matches!(err, Error::Conflict { found: Some(2), .. }), "{err:?}");
    drop(tx);
    let mut tx = begin(&store, t).await;
    let mut ghost = contact(t, "Ghost", "");
    ghost.version = 2;
    let err = tx.update(ghost.clone().into_record()).await.expect_err("update of missing record");
    assert!(matches!(err, Error::Conflict { found: None, .. }), "{err:?}");
    let err = tx.delete(EntityKind::Contact, ghost.id.as_uuid(), 1).await.expect_err("delete of missing record");
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    drop(tx);
    assert_eq!(get(&store, t, EntityKind::Contact, c.id.as_uuid()).await, Some(v2.into_record()));
}

/// 16 concurrent read-modify-write transactions on one record: each commits or gets
/// `Conflict`; the final version is 1 + commits; a failed transaction leaves nothing behind.
pub async fn concurrent_writers_never_lose_updates(store: Arc<dyn Store>) {
    let t = tenant();
    let hot = contact(t, "Hot", "Record");
    put_all(&store, t, vec![hot.clone().into_record()]).await;
    let tasks = (0..16).map(|i| {
        let store = store.clone();
        let id = hot.id;
        async move {
            let marker = contact(t, &format!("marker-{i}"), "");
            let attempt = async {
                let mut tx = store.begin(t, TxMode::ReadWrite).await?;
                tx.insert(marker.clone().into_record()).await?;
                let mut c = tx.require::<Contact>(id).await?;
                tokio_yield().await;
                c.version += 1;
                c.hobbies.push(format!("writer-{i}"));
                tx.update(c.into_record()).await?;
                tx.commit().await?;
                Ok::<_, Error>(())
            };
            (marker.id, attempt.await)
        }
    });
    let results = futures::future::join_all(tasks).await;
    let mut commits = 0u64;
    for (marker, res) in &results {
        let exists = get(&store, t, EntityKind::Contact, marker.as_uuid()).await.is_some();
        match res {
            Ok(()) => {
                commits += 1;
                assert!(exists, "a committed transaction's insert is visible");
            }
            Err(Error::Conflict { .. }) => assert!(!exists, "a conflicting transaction left its insert behind"),
            Err(e) => panic!("a concurrent writer got {e} instead of Conflict"),
        }
    }
    assert!(commits >= 1, "at least one writer commits");
    let Some(Record::Contact(final_)) = get(&store, t, EntityKind::Contact, hot.id.as_uuid()).await else {
        panic!("hot record vanished")
    };
    assert_eq!(final_.version, 1 + commits, "every commit bumped the version exactly once");
    assert_eq!(final_.hobbies.len() as u64, commits, "no committed update was lost");
}

async fn tokio_yield() {
    let mut yielded = false;
    futures::future::poll_fn(|cx| {
        if yielded {
            std::task::Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    })
    .await
}

/// Rolled back or dropped transactions leave no record and no event.
pub async fn rollback_leaves_nothing(store: Arc<dyn Store>) {
    let t = tenant();
    let keep = contact(t, "Keep", "Me");
    put_all(&store, t, vec![keep.clone().into_record()]).await;
    for explicit in [true, false] {
        let mut tx = begin(&store, t).await;
        let new = contact(t, "Phantom", "");
        tx.insert(new.clone().into_record()).await.expect("insert");
        let mut changed = keep.clone();
        changed.version = 2;
        changed.given_name = "Changed".into();
        tx.update(changed.into_record()).await.expect("update");
        tx.append_events(vec![event(t, new.entity_ref(), vec![], Change::Created)]).await.expect("events");
        // Inside the transaction the changes are visible…
        assert!(tx.get(EntityKind::Contact, new.id.as_uuid()).await.expect("get").is_some());
        if explicit {
            tx.rollback().await.expect("rollback");
        } else {
            drop(tx);
        }
        // …and after it, gone.
        assert_eq!(get(&store, t, EntityKind::Contact, new.id.as_uuid()).await, None);
        assert_eq!(get(&store, t, EntityKind::Contact, keep.id.as_uuid()).await, Some(keep.clone().into_record()));
        assert!(store.read_events(t, &EventQuery::after(0, 100)).await.expect("events").is_empty());
    }
}

/// A read-only transaction refuses every write.
pub async fn read_only_transactions_refuse_writes(store: Arc<dyn Store>) {
    let t = tenant();
    let c = contact(t, "Read", "Only");
    put_all(&store, t, vec![c.clone().into_record()]).await;
    let mut tx = store.begin(t, TxMode::ReadOnly).await.expect("begin");
    assert!(matches!(tx.insert(contact(t, "No", "").into_record()).await, Err(Error::Forbidden(_))));
    let mut c2 = c.clone();
    c2.version = 2;
    assert!(matches!(tx.update(c2.into_record()).await, Err(Error::Forbidden(_))));
    assert!(matches!(tx.delete(EntityKind::Contact, c.id.as_uuid(), 1).await, Err(Error::Forbidden(_))));
    assert!(matches!(
        tx.append_events(vec![event(t, c.entity_ref(), vec![], Change::Created)]).await,
        Err(Error::Forbidden(_))
    ));
    drop(tx);
    assert_eq!(get(&store, t, EntityKind::Contact, c.id.as_uuid()).await, Some(c.into_record()));
}

/// No read, list, count, update, delete or event crosses tenants; the same id may exist in two tenants.
pub async fn tenants_are_isolated(store: Arc<dyn Store>) {
    let (a, b) = (tenant(), tenant());
    let ca = contact(a, "Alice", "A");
    put_all(&store, a, vec![ca.clone().into_record()]).await;
    let mut tx = begin(&store, a).await;
    tx.append_events(vec![event(a, ca.entity_ref(), vec![], Change::Created)]).await.expect("events");
    tx.commit().await.expect("commit");

    let mut tx = begin(&store, b).await;
    assert_eq!(tx.get(EntityKind::Contact, ca.id.as_uuid()).await.expect("get"), None);
    assert!(tx.query(EntityKind::Contact, &Query::default()).await.expect("query").items.is_empty());
    assert_eq!(tx.count(EntityKind::Contact, &Filter::All).await.expect("count"), 0);
    let mut hijack = ca.clone();
    hijack.version = 2;
    hijack.given_name = "Mallory".into();
    assert!(matches!(tx.update(hijack.clone().into_record()).await, Err(Error::Forbidden(_))));
    let mut hijack_b = hijack.clone();
    hijack_b.tenant_id = b;
    assert!(tx.update(hijack_b.into_record()).await.is_err(), "update of another tenant's id must fail");
    assert!(matches!(tx.delete(EntityKind::Contact, ca.id.as_uuid(), 1).await, Err(Error::NotFound { .. })));
    assert!(matches!(tx.insert(contact(a, "Sneaky", "").into_record()).await, Err(Error::Forbidden(_))));
    assert!(matches!(
        tx.append_events(vec![event(a, ca.entity_ref(), vec![], Change::Deleted)]).await,
        Err(Error::Forbidden(_))
    ));
    drop(tx);
    assert!(store.read_events(b, &EventQuery::after(0, 100)).await.expect("events").is_empty());

    // The same id in tenant B is a different record.
    let mut twin = ca.clone();
    twin.tenant_id = b;
    twin.given_name = "Bob".into();
    put_all(&store, b, vec![twin.clone().into_record()]).await;
    assert_eq!(get(&store, a, EntityKind::Contact, ca.id.as_uuid()).await, Some(ca.into_record()));
    assert_eq!(get(&store, b, EntityKind::Contact, twin.id.as_uuid()).await, Some(twin.into_record()));
    assert_eq!(store.read_events(a, &EventQuery::after(0, 100)).await.expect("events").len(), 1);
}

fn people(t: TenantId) -> Vec<Contact> {
    use LifecycleStage as L;
    type Row<'a> = (&'a str, &'a str, L, &'a [&'a str], Option<(i32, u32, u32)>, i64);
    let rows: [Row; 8] = [
        ("Ada", "Lovelace", L::Customer, &["vip", "math"], Some((1815, 12, 10)), 10),
        ("Alan", "Turing", L::Lead, &["math"], Some((1912, 6, 23)), 20),
        ("Grace", "Hopper", L::Opportunity, &["VIP"], Some((1906, 12, 9)), 30),
        ("anna", "lopez", L::Lead, &[], None, 40),
        ("Dan", "Brown", L::Subscriber, &["author"], Some((1964, 6, 22)), 50),
        ("Édith", "Piaf", L::Evangelist, &["music", "vip"], Some((1915, 12, 19)), 60),
        ("Zoe", "O'Brien", L::Lead, &["it's; DROP TABLE"], None, 70),
        ("Bob", "Lovelace", L::Customer, &[], Some((1990, 1, 1)), 80),
    ];
    rows.iter()
        .map(|(g, f, stage, tags, bday, secs)| {
            let mut c = contact(t, g, f);
            c.lifecycle_stage = *stage;
            c.tags = tags.iter().map(|s| s.to_string()).collect();
            c.birthday = bday.map(|(y, m, d)| date(y, m, d));
            c.created_at = at(*secs);
            c.updated_at = at(*secs);
            c
        })
        .collect()
}

async fn seed_people(store: &Arc<dyn Store>) -> (TenantId, Vec<Contact>) {
    let t = tenant();
    let ps = people(t);
    put_all(store, t, ps.iter().cloned().map(Entity::into_record).collect()).await;
    (t, ps)
}

/// Every operator on standard fields, with the null and case rules of [`crate::query`].
pub async fn filters_on_standard_fields(store: Arc<dyn Store>) {
    let (t, _) = seed_people(&store).await;
    use LifecycleStage as L;
    let cases: Vec<(Filter, &[&str])> = vec![
        (Filter::eq("given_name", "Ada"), &["Ada"]),
        (Filter::eq("given_name", "ada"), &[]),
        (Filter::eq("lifecycle_stage", L::Lead), &["Alan", "anna", "Zoe"]),
        (Filter::ne("lifecycle_stage", L::Lead), &["Ada", "Grace", "Dan", "Édith", "Bob"]),
        (Filter::is_in("lifecycle_stage", [L::Customer, L::Evangelist]), &["Ada", "Édith", "Bob"]),
        (Filter::lt("birthday", date(1912, 6, 23)), &["Ada", "Grace"]),
        (Filter::lte("birthday", date(1912, 6, 23)), &["Ada", "Alan", "Grace"]),
        (Filter::gt("birthday", date(1912, 6, 23)), &["Dan", "Édith", "Bob"]),
        (Filter::gte("created_at", at(70)), &["Zoe", "Bob"]),
        (Filter::lt("created_at", at(20)), &["Ada"]),
        (Filter::ne("birthday", date(1990, 1, 1)), &["Ada", "Alan", "Grace", "anna", "Dan", "Édith", "Zoe"]),
        (Filter::eq("birthday", date(1990, 1, 1)).not(), &["Ada", "Alan", "Grace", "anna", "Dan", "Édith", "Zoe"]),
        (Filter::is_null("birthday"), &["anna", "Zoe"]),
        (Filter::contains("given_name", "AN"), &["Alan", "anna", "Dan"]),
        (Filter::contains("family_name", "'b"), &["Zoe"]),
        (Filter::contains("family_name", "%"), &[]),
        (Filter::contains("family_name", "_"), &[]),
        (Filter::starts_with("family_name", "LO"), &["Ada", "anna", "Bob"]),
        (Filter::starts_with("given_name", "É"), &["Édith"]),
        (Filter::eq("family_name", "Lovelace").and(Filter::eq("lifecycle_stage", L::Customer)), &["Ada", "Bob"]),
        (Filter::eq("given_name", "Dan").or(Filter::eq("given_name", "Zoe")), &["Dan", "Zoe"]),
        (
            Filter::eq("family_name", "Lovelace").or(Filter::is_null("birthday")).and(Filter::ne("given_name", "Bob")),
            &["Ada", "anna", "Zoe"],
        ),
        (Filter::Not(Box::new(Filter::All)), &[]),
        (Filter::Or(vec![]), &[]),
        (Filter::And(vec![]), &["Ada", "Alan", "Grace", "anna", "Dan", "Édith", "Zoe", "Bob"]),
        (
            Filter::gte("version", 1).and(Filter::lt("version", 2)),
            &["Ada", "Alan", "Grace", "anna", "Dan", "Édith", "Zoe", "Bob"],
        ),
    ];
    assert_filters(&store, t, EntityKind::Contact, cases, 3).await;
}

/// Every operator on custom fields of every type.
pub async fn filters_on_custom_fields(store: Arc<dyn Store>) {
    let t = tenant();
    let mut ps = people(t);
    type Vals<'a> = (Option<i64>, Option<&'a str>, Option<bool>, Option<(i32, u32, u32)>, &'a [&'a str], Option<i64>);
    let vals: [Vals; 8] = [
        (Some(5), Some("web"), Some(true), Some((2026, 1, 5)), &["golf"], Some(1050)),
        (Some(50), Some("Web form"), Some(false), Some((2026, 2, 1)), &["golf", "tennis"], Some(-1)),
        (Some(500), Some("referral"), None, None, &[], Some(99_999)),
        (None, None, None, None, &[], None),
        (Some(-7), Some("event"), Some(true), Some((2025, 12, 31)), &["chess"], Some(0)),
        (Some(50), Some("WEB"), Some(false), Some((2026, 1, 5)), &["tennis"], Some(1051)),
        (Some(0), Some("it's; DROP"), None, None, &[], None),
        (Some(1_000_000_000_000), Some(""), Some(true), Some((2030, 1, 1)), &["golf"], Some(2)),
    ];
    for (c, (n, s, b, d, multi, cents)) in ps.iter_mut().zip(vals.iter()) {
        let cf = &mut c.custom;
        if let Some(n) = n {
            cf.insert("visits".into(), Value::Int(*n));
        }
        if let Some(s) = s {
            cf.insert("source".into(), Value::Text(s.to_string()));
        }
        if let Some(b) = b {
            cf.insert("vip".into(), Value::Bool(*b));
        }
        if let Some((y, m, dd)) = d {
            cf.insert("since".into(), Value::Date(date(*y, *m, *dd)));
        }
        if !multi.is_empty() {
            cf.insert("sports".into(), Value::List(multi.iter().map(|x| Value::Text(x.to_string())).collect()));
        }
        if let Some(cents) = cents {
            cf.insert("budget".into(), Value::Decimal(Decimal::new(*cents, 2)));
        }
    }
    put_all(&store, t, ps.iter().cloned().map(Entity::into_record).collect()).await;
    let cases: Vec<(Filter, &[&str])> = vec![
        (Filter::eq("custom.visits", 50), &["Alan", "Édith"]),
        (Filter::ne("custom.visits", 50), &["Ada", "Grace", "anna", "Dan", "Zoe", "Bob"]),
        (Filter::gt("custom.visits", 5), &["Alan", "Grace", "Édith", "Bob"]),
        (Filter::lte("custom.visits", 0), &["Dan", "Zoe"]),
        (Filter::is_in("custom.visits", [5, 500]), &["Ada", "Grace"]),
        (Filter::is_null("custom.visits"), &["anna"]),
        (Filter::eq("custom.source", "web"), &["Ada"]),
        (Filter::starts_with("custom.source", "web"), &["Ada", "Alan", "Édith"]),
        (Filter::contains("custom.source", "'s;"), &["Zoe"]),
        (Filter::eq("custom.source", ""), &["Bob"]),
        (Filter::eq("custom.vip", true), &["Ada", "Dan", "Bob"]),
        (Filter::eq("custom.vip", false).not(), &["Ada", "Grace", "anna", "Dan", "Zoe", "Bob"]),
        (Filter::gte("custom.since", date(2026, 1, 5)), &["Ada", "Alan", "Édith", "Bob"]),
        (Filter::lt("custom.since", date(2026, 1, 5)), &["Dan"]),
        (Filter::contains("custom.sports", "golf"), &["Ada", "Alan", "Bob"]),
        (Filter::is_in("custom.sports", ["chess", "tennis"]), &["Alan", "Dan", "Édith"]),
        (Filter::is_null("custom.sports"), &["Grace", "anna", "Zoe"]),
        (Filter::gt("custom.budget", Decimal::new(1050, 2)), &["Grace", "Édith"]),
        (Filter::gte("custom.budget", 0), &["Ada", "Grace", "Dan", "Édith", "Bob"]),
        (Filter::lt("custom.budget", 0), &["Alan"]),
        (Filter::eq("custom.budget", Decimal::new(2, 2)), &["Bob"]),
        (Filter::is_null("custom.nope"), &["Ada", "Alan", "Grace", "anna", "Dan", "Édith", "Zoe", "Bob"]),
        (Filter::eq("custom.visits", 50).and(Filter::eq("custom.vip", false)), &["Alan", "Édith"]),
    ];
    assert_filters(&store, t, EntityKind::Contact, cases, 3).await;
}

/// Filters on list fields (tags), id fields and decimal amounts of deals.
pub async fn filters_on_lists_ids_and_money(store: Arc<dyn Store>) {
    let (t, ps) = seed_people(&store).await;
    let cases: Vec<(Filter, &[&str])> = vec![
        (Filter::contains("tags", "vip"), &["Ada", "Grace", "Édith"]),
        (Filter::contains("tags", "it's; DROP TABLE"), &["Zoe"]),
        (Filter::is_in("tags", ["math", "music"]), &["Ada", "Alan", "Édith"]),
        (Filter::is_null("tags"), &["anna", "Bob"]),
        (Filter::contains("tags", "vip").not(), &["Alan", "anna", "Dan", "Zoe", "Bob"]),
        (Filter::eq("id", ps[3].id.as_uuid()), &["anna"]),
        (Filter::is_in("id", [ps[0].id.as_uuid(), ps[7].id.as_uuid()]), &["Ada", "Bob"]),
    ];
    assert_filters(&store, t, EntityKind::Contact, cases, 3).await;
    let p = pipeline(t);
    let eur = |c: i64| Some(Money::new(Decimal::new(c, 2), Currency::EUR));
    let mut deals = [
        deal(t, &p, "small", eur(9_999)),
        deal(t, &p, "medium", eur(100_000)),
        deal(t, &p, "large", Some(Money::new(Decimal::new(1_000_000, 0), Currency::USD))),
        deal(t, &p, "unpriced", None),
    ];
    deals[0].contact_ids = vec![ps[0].id, ps[1].id];
    deals[1].contact_ids = vec![ps[1].id];
    deals[2].status = DealStatus::Won;
    let mut recs = vec![p.clone().into_record()];
    recs.extend(deals.iter().cloned().map(Entity::into_record));
    put_all(&store, t, recs).await;
    let cases: Vec<(Filter, &[&str])> = vec![
        (Filter::gt("amount", Decimal::new(9999, 2)), &["medium", "large"]),
        (Filter::gte("amount", Decimal::new(9999, 2)), &["small", "medium", "large"]),
        (Filter::is_null("amount"), &["unpriced"]),
        (Filter::eq("currency", "USD"), &["large"]),
        (Filter::eq("status", DealStatus::Open), &["small", "medium", "unpriced"]),
        (Filter::contains("contact_ids", ps[1].id.as_uuid()), &["small", "medium"]),
        (Filter::contains("contact_ids", ps[0].id.as_uuid()), &["small"]),
        (Filter::is_null("contact_ids"), &["large", "unpriced"]),
        (Filter::eq("pipeline_id", p.id.as_uuid()), &["small", "medium", "large", "unpriced"]),
        (Filter::eq("stage_id", p.stages[1].id.as_uuid()), &[]),
    ];
    assert_filters(&store, t, EntityKind::Deal, cases, 2).await;
}

/// Multi-key sorts in both directions, on standard and custom fields, nulls first ascending.
pub async fn sorting_is_multi_key_with_nulls_first(store: Arc<dyn Store>) {
    let t = tenant();
    let mut ps = people(t);
    for (i, c) in ps.iter_mut().enumerate() {
        if i % 3 != 0 {
            c.custom.insert("rank".into(), Value::Int((i % 2) as i64));
        }
    }
    put_all(&store, t, ps.iter().cloned().map(Entity::into_record).collect()).await;
    let order = |rs: Vec<Record>| -> Vec<String> {
        rs.into_iter().filter_map(|r| Contact::from_record(r).map(|c| c.given_name)).collect()
    };
    let q = Query::default().sort_asc("family_name").sort_desc("given_name");
    let got = order(select(&store, t, EntityKind::Contact, q.limit(3)).await);
    assert_eq!(got, ["Dan", "Grace", "Bob", "Ada", "Zoe", "Édith", "Alan", "anna"]);
    let q = Query::default().sort_desc("birthday").sort_asc("given_name");
    let got = order(select(&store, t, EntityKind::Contact, q.limit(2)).await);
    assert_eq!(got, ["Bob", "Dan", "Édith", "Alan", "Grace", "Ada", "Zoe", "anna"], "nulls last descending");
    let q = Query::default().sort_asc("birthday").sort_desc("created_at");
    let got = order(select(&store, t, EntityKind::Contact, q.limit(5)).await);
    assert_eq!(got, ["Zoe", "anna", "Ada", "Grace", "Alan", "Édith", "Dan", "Bob"], "nulls first ascending");
    let q = Query::default().sort_asc("custom.rank").sort_asc("created_at");
    let got = order(select(&store, t, EntityKind::Contact, q.limit(4)).await);
    // rank: i%3==0 → null (Ada 0, anna 3, Zoe 6); else i%2: Alan 1, Grace 0, Dan 0, Édith 1, Bob 1.
    assert_eq!(got, ["Ada", "anna", "Zoe", "Grace", "Dan", "Alan", "Édith", "Bob"]);
    let q = Query::default().sort_asc("lifecycle_stage");
    let got = order(select(&store, t, EntityKind::Contact, q.limit(8)).await);
    let mut sorted: Vec<(String, Uuid, String)> =
        ps.iter().map(|c| (c.lifecycle_stage.as_str().to_owned(), c.id.as_uuid(), c.given_name.clone())).collect();
    sorted.sort();
    assert_eq!(got, sorted.into_iter().map(|x| x.2).collect::<Vec<_>>(), "ties broken by id");
}

/// Walking pages while other records are inserted: every record present at the start is seen
/// exactly once, and no record is seen twice.
pub async fn pagination_has_no_gaps_or_duplicates_under_inserts(store: Arc<dyn Store>) {
    let t = tenant();
    let originals: Vec<Contact> = (0..40)
        .map(|i| {
            let mut c = contact(t, &format!("orig-{i:02}"), "");
            c.custom.insert("bucket".into(), Value::Int(i % 5));
            c.updated_at = at(i % 7);
            c
        })
        .collect();
    put_all(&store, t, originals.iter().cloned().map(Entity::into_record).collect()).await;
    for q in [
        Query::default().sort_asc("custom.bucket").limit(6),
        Query::default().sort_desc("updated_at").sort_asc("custom.bucket").limit(7),
        Query::default().limit(9),
    ] {
        let mut q = q;
        let mut seen: Vec<ContactId> = Vec::new();
        let mut round = 0;
        loop {
            let mut tx = store.begin(t, TxMode::ReadOnly).await.expect("begin");
            let page = tx.query(EntityKind::Contact, &q).await.expect("query");
            drop(tx);
            seen.extend(page.items.iter().map(|r| ContactId::from_uuid(r.id())));
            // Between pages, other writers insert records that sort before, among and after.
            let mut extra = contact(t, &format!("extra-{round}"), "");
            extra.custom.insert("bucket".into(), Value::Int(round % 6 - 1));
            extra.updated_at = at(round % 9);
            put_all(&store, t, vec![extra.into_record()]).await;
            round += 1;
            match page.next {
                Some(c) => q.after = Some(c),
                None => break,
            }
        }
        let unique: BTreeSet<ContactId> = seen.iter().copied().collect();
        assert_eq!(unique.len(), seen.len(), "a record was returned twice for {q:?}");
        for o in &originals {
            assert!(unique.contains(&o.id), "record {} was skipped for {q:?}", o.given_name);
        }
    }
}

/// `count` equals the number of records a query returns, for several filters.
pub async fn count_agrees_with_query(store: Arc<dyn Store>) {
    let (t, _) = seed_people(&store).await;
    for f in [
        Filter::All,
        Filter::eq("lifecycle_stage", LifecycleStage::Lead),
        Filter::contains("tags", "vip").or(Filter::is_null("birthday")),
        Filter::eq("given_name", "nobody"),
    ] {
        let n = select(&store, t, EntityKind::Contact, Query::new(f.clone()).limit(2)).await.len() as u64;
        let mut tx = store.begin(t, TxMode::ReadOnly).await.expect("begin");
        assert_eq!(tx.count(EntityKind::Contact, &f).await.expect("count"), n, "count of {f:?}");
    }
    let mut tx = store.begin(t, TxMode::ReadOnly).await.expect("begin");
    assert_eq!(tx.count(EntityKind::Company, &Filter::All).await.expect("count"), 0);
}

/// Events commit with their transaction, are numbered 1, 2, 3… per tenant in commit order,
/// round-trip exactly, and can be read from a cursor, in pages, or by the record they touch.
pub async fn events_are_numbered_in_commit_order(store: Arc<dyn Store>) {
    let t = tenant();
    let c = contact(t, "Evented", "");
    let d = EntityRef::new(EntityKind::Deal, Uuid::now_v7());
    let mut appended = Vec::new();
    for batch in 0..5 {
        let mut tx = begin(&store, t).await;
        let evs = vec![
            event(t, c.entity_ref(), vec![], Change::Updated { fields: vec![format!("f{batch}")] }),
            event(
                t,
                d,
                vec![c.entity_ref()],
                Change::StageChanged {
                    pipeline_id: crate::ids::PipelineId::from_uuid(Uuid::now_v7()),
                    from: crate::ids::StageId::from_uuid(Uuid::now_v7()),
                    to: crate::ids::StageId::from_uuid(Uuid::now_v7()),
                },
            ),
            event(t, d, vec![], Change::DealLost { reason: "price 'too' high; --".into() }),
        ];
        tx.append_events(evs.clone()).await.expect("append");
        if batch == 2 {
            tx.rollback().await.expect("rollback");
            continue;
        }
        let stored = tx.commit().await.expect("commit");
        assert_eq!(stored.iter().map(|s| &s.event).collect::<Vec<_>>(), evs.iter().collect::<Vec<_>>());
        appended.extend(evs);
    }
    let all = store.read_events(t, &EventQuery::after(0, 1000)).await.expect("read");
    assert_eq!(
        all.iter().map(|s| s.event.clone()).collect::<Vec<_>>(),
        appended,
        "exactly the committed events, in order"
    );
    assert!(all.windows(2).all(|w| w[0].seq < w[1].seq), "seq strictly increasing");
    // Resume from a cursor, in pages of 5.
    let mut resumed: Vec<StoredEvent> = Vec::new();
    let mut after = 0;
    loop {
        let page = store.read_events(t, &EventQuery::after(after, 5)).await.expect("read");
        assert!(page.len() <= 5);
        let Some(last) = page.last() else { break };
        after = last.seq;
        resumed.extend(page);
    }
    assert_eq!(resumed, all);
    let from_middle = store.read_events(t, &EventQuery::after(all[4].seq, 1000)).await.expect("read");
    assert_eq!(from_middle, all[5..].to_vec());
    let touching = store
        .read_events(t, &EventQuery { after: 0, limit: 1000, touching: Some(c.entity_ref()) })
        .await
        .expect("read");
    assert_eq!(touching.len(), 8, "4 committed batches × (own event + related deal event)");
    assert!(touching.iter().all(|e| e.event.touches(&c.entity_ref())));
    let touching_deal =
        store.read_events(t, &EventQuery { after: 0, limit: 3, touching: Some(d) }).await.expect("read");
    assert_eq!(touching_deal.len(), 3, "limit applies after the touching filter");
    assert!(touching_deal.iter().all(|e| e.event.subject == d));
}
