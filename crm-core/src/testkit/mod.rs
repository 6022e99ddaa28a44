//! The store conformance kit: one behaviour suite every [`Store`] must pass.
//!
//! Each case is a public async function taking a fresh `Arc<dyn Store>` and panicking on a
//! contract violation. [`store_conformance_tests!`](crate::store_conformance_tests) turns the
//! whole suite into `#[tokio::test]`s for a backend (the calling crate needs `tokio` with the
//! `macros` and `rt-multi-thread` features as a dev-dependency):
//!
//! ```text
//! crm_core::store_conformance_tests!(|| async {
//!     std::sync::Arc::new(crm_core::memory::MemoryStore::new()) as std::sync::Arc<dyn crm_core::store::Store>
//! });
//! ```
//!
//! Cases use fresh random tenants, so a factory may hand every case the same database.

pub mod fixtures;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering as AtomicOrdering};
use std::time::{Duration, Instant};

use rust_decimal::Decimal;
use uuid::Uuid;

use crate::entity::{Entity, EntityKind, EntityRef, Record};
use crate::error::{Error, FieldErrorCode};
use crate::event::{Change, Event, EventQuery, StoredEvent};
use crate::ids::{ContactId, EventId, InvoiceId, PipelineId, TenantId};
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
    "unique_keys_are_enforced",
    "concurrent_unique_claims_admit_one",
    "every_kind_round_trips_exactly",
    "filters_on_commerce_fields",
    "count_and_query_agree_for_every_kind",
    "failed_write_poisons_the_transaction",
    "search_matches_every_term_as_a_prefix",
    "insert_many_is_insert_of_each",
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
            events_are_numbered_in_commit_order, unique_keys_are_enforced, concurrent_unique_claims_admit_one,
            every_kind_round_trips_exactly, filters_on_commerce_fields, count_and_query_agree_for_every_kind,
            failed_write_poisons_the_transaction, search_matches_every_term_as_a_prefix,
            insert_many_is_insert_of_each
        );
    };
    (@cases $make:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let store: ::std::sync::Arc<dyn $crate::store::Store> = ($make)().await;
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

/// Every record of `kind` matching the query, walking pages of `q.limit` (so paging is exercised).
async fn select(store: &Arc<dyn Store>, tenant: TenantId, kind: EntityKind, q: Query) -> Vec<Record> {
    let mut tx = store.begin(tenant, TxMode::ReadOnly).await.expect("begin");
    select_in(&mut tx, kind, q).await
}

/// Like [`select`], inside an open transaction.
async fn select_in(tx: &mut Box<dyn Transaction>, kind: EntityKind, q: Query) -> Vec<Record> {
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

/// The name the filter cases know a record by.
fn name(r: &Record) -> String {
    match r {
        Record::Contact(c) => c.given_name.clone(),
        Record::Deal(d) => d.name.clone(),
        Record::Product(p) => p.sku.clone(),
        Record::Order(o) => o.number.clone(),
        Record::Invoice(i) => i.number.clone(),
        Record::Payment(p) => p.reference.clone().unwrap_or_else(|| p.id.to_string()),
        Record::Case(c) => c.subject.clone(),
        Record::Campaign(c) => c.name.clone(),
        Record::Segment(s) => s.name.clone(),
        other => other.id().to_string(),
    }
}

/// Runs each filter (through pages of `page`) and compares the names it selects with the expected ones.
async fn assert_filters(
    store: &Arc<dyn Store>,
    t: TenantId,
    kind: EntityKind,
    cases: Vec<(Filter, &[&str])>,
    page: usize,
) {
    assert_filters_by(store, t, kind, &name, cases, page).await
}

/// Like [`assert_filters`], naming records with `label`. Also checks that no record comes twice
/// and that `count` agrees with the query.
async fn assert_filters_by(
    store: &Arc<dyn Store>,
    t: TenantId,
    kind: EntityKind,
    label: &(dyn Fn(&Record) -> String + Sync),
    cases: Vec<(Filter, &[&str])>,
    page: usize,
) {
    for (f, want) in cases {
        let rows = select(store, t, kind, Query::new(f.clone()).limit(page)).await;
        let got: BTreeSet<String> = rows.iter().map(label).collect();
        assert_eq!(got.len(), rows.len(), "{kind}: a record came twice for {f:?}");
        assert_eq!(got, set(want), "{kind} filter {f:?}");
        let mut tx = store.begin(t, TxMode::ReadOnly).await.expect("begin");
        let n = tx.count(kind, &f).await.unwrap_or_else(|e| panic!("count {f:?}: {e}"));
        assert_eq!(n, rows.len() as u64, "{kind}: count disagrees with query for {f:?}");
    }
}

/// Runs `q` (through pages of its limit) and compares the order of the names it returns.
async fn assert_order(
    store: &Arc<dyn Store>,
    t: TenantId,
    kind: EntityKind,
    label: &(dyn Fn(&Record) -> String + Sync),
    q: Query,
    want: Vec<String>,
) {
    let got: Vec<String> = select(store, t, kind, q.clone()).await.iter().map(label).collect();
    assert_eq!(got, want, "{kind} order of {q:?}");
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
    one_of_each_numbered(tenant, 1)
}

/// One record of every kind; sets with different `n` have different unique keys (only set 1
/// has the default pipeline), so several can live in one tenant.
fn one_of_each_numbered(tenant: TenantId, n: usize) -> Vec<Record> {
    let c = full_contact(tenant);
    let co = company(tenant, "Acme");
    let mut p = pipeline(tenant);
    p.is_default = n == 1;
    let d = deal(tenant, &p, "Big deal", Some(Money::new(Decimal::new(10_000, 0), Currency::EUR)));
    let a = activity(tenant, c.id);
    let r = relation(tenant, c.id, co.id);
    let f = custom_field(tenant, EntityKind::Contact, "budget", FieldType::Decimal);
    let seg = segment(tenant, if n == 1 { "Leads".to_owned() } else { format!("Leads {n}") }.as_str());
    let camp = campaign(tenant, "Spring", Some(seg.id));
    let member = campaign_member(tenant, camp.id, c.id);
    let more = vec![
        product(tenant, &format!("SKU-{n}")).into_record(),
        order(tenant, c.id, &format!("SO-{n}")).into_record(),
        invoice(tenant, c.id, &format!("INV-{n}"), 12_345).into_record(),
        payment(tenant, c.id, 5_000).into_record(),
        case(tenant, c.id, "Broken").into_record(),
        feedback(tenant, c.id).into_record(),
        member.into_record(),
        camp.into_record(),
        seg.into_record(),
        full_sync_link(tenant, co.id).into_record(),
        sync_state(tenant, &format!("cursor-{n}")).into_record(),
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
            Record::SyncLink(x) => x.remote_version = Some("Changed".into()),
            Record::SyncState(x) => x.value = serde_json::json!({"state": "Changed"}),
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

/// One write of a transaction in the unique-key cases.
#[derive(Clone, Debug)]
enum Op {
    Insert(Record),
    Update(Record),
    /// Delete of this record at its version.
    Delete(Record),
}

impl Op {
    fn record(&self) -> &Record {
        match self {
            Op::Insert(r) | Op::Update(r) | Op::Delete(r) => r,
        }
    }
}

fn ins(e: impl Entity) -> Op {
    Op::Insert(e.into_record())
}

fn upd(e: impl Entity) -> Op {
    Op::Update(e.into_record())
}

fn del(e: &impl Entity) -> Op {
    Op::Delete(e.clone().into_record())
}

/// `e` as its next version, changed by `change`.
fn next<E: Entity>(e: &E, change: impl FnOnce(&mut E)) -> E {
    let mut n = e.clone();
    n.set_version(e.version() + 1);
    change(&mut n);
    n
}

/// Runs `ops` in one transaction and commits it; the first error drops (rolls back) the transaction.
async fn run(store: &Arc<dyn Store>, t: TenantId, ops: &[Op]) -> Result<(), Error> {
    let mut tx = store.begin(t, TxMode::ReadWrite).await?;
    for op in ops {
        match op.clone() {
            Op::Insert(r) => tx.insert(r).await?,
            Op::Update(r) => tx.update(r).await?,
            Op::Delete(r) => tx.delete(r.kind(), r.id(), r.version()).await?,
        }
    }
    tx.commit().await.map(|_| ())
}

/// The committed state of every record `ops` touch.
async fn touched(store: &Arc<dyn Store>, t: TenantId, ops: &[Op]) -> Vec<Option<Record>> {
    let mut out = Vec::new();
    for op in ops {
        out.push(get(store, t, op.record().kind(), op.record().id()).await);
    }
    out
}

fn is_duplicate(err: &Error, field: &str) -> bool {
    matches!(err, Error::Validation(_))
        && err.field_errors().iter().any(|e| e.field == field && e.code == FieldErrorCode::Duplicate)
}

fn assert_duplicate(res: &Result<(), Error>, field: &str, what: &str) {
    let ok = matches!(res, Err(e) if is_duplicate(e, field));
    assert!(ok, "{what}: expected Error::Validation with a Duplicate error on `{field}`, got {res:?}");
}

/// Runs an unrelated insert and then `ops` in one transaction; asserts it is refused (at a
/// write or at commit) with `Duplicate` on `field` and that nothing it wrote is visible.
async fn refused(store: &Arc<dyn Store>, t: TenantId, what: &str, field: &str, ops: Vec<Op>) {
    let mut all = vec![ins(contact(t, "Marker", what))];
    all.extend(ops);
    let before = touched(store, t, &all).await;
    let res = run(store, t, &all).await;
    assert_duplicate(&res, field, what);
    assert_eq!(touched(store, t, &all).await, before, "{what}: the refused transaction left writes behind");
}

/// Runs `ops` in one transaction; asserts it commits and every record reads as last written.
async fn accepted(store: &Arc<dyn Store>, t: TenantId, what: &str, ops: Vec<Op>) {
    if let Err(e) = run(store, t, &ops).await {
        panic!("{what}: refused with {e:?}");
    }
    let mut last: BTreeMap<(EntityKind, Uuid), Option<Record>> = BTreeMap::new();
    for op in ops {
        let r = op.record();
        let state = if matches!(op, Op::Delete(_)) { None } else { Some(r.clone()) };
        last.insert((r.kind(), r.id()), state);
    }
    for ((kind, id), want) in last {
        assert_eq!(get(store, t, kind, id).await, want, "{what}: {kind} {id} after commit");
    }
}

/// A copy of `r` (same id, same fields) owned by tenant `t`.
fn in_tenant(r: &Record, t: TenantId) -> Record {
    let mut json = serde_json::to_value(r).expect("serialize");
    json["record"]["tenant_id"] = serde_json::to_value(t).expect("serialize");
    let copy: Record = serde_json::from_value(json).expect("deserialize");
    assert_eq!(copy.tenant_id(), t, "tenant moved");
    copy
}

/// A product with no external refs, so only its SKU can collide.
fn bare_product(t: TenantId, sku: &str) -> Product {
    let mut p = product(t, sku);
    p.external_refs.clear();
    p
}

/// An invoice with no external refs, so only its number can collide.
fn bare_invoice(t: TenantId, contact: ContactId, number: &str) -> Invoice {
    let mut i = invoice(t, contact, number, 10_000);
    i.external_refs.clear();
    i
}

/// Unique keys ([`Record::unique_keys`]) hold per tenant and kind. A duplicate SKU (in any ASCII
/// case), order or invoice number, external ref, segment name (in any case), second default
/// pipeline or repeated campaign member — inserted, or reached by an update, or claimed twice in
/// one transaction — is refused with `Duplicate` naming the key's field, and the transaction
/// writes nothing. A record keeps its own key across updates; the same key text in another
/// tenant, another kind or another key field is fine; a key freed in a transaction (delete or
/// change) may be claimed later in it; a key freed by a committed delete or change is free, and
/// a refused transaction holds no key.
pub async fn unique_keys_are_enforced(store: Arc<dyn Store>) {
    let s = &store;
    let t = tenant();
    let buyer = contact(t, "Buyer", "");
    let (xena, yuri) = (contact(t, "Xena", ""), contact(t, "Yuri", ""));
    let p1 = product(t, "Widget-1");
    let p2 = product(t, "Gadget-2");
    let mut o1 = order(t, buyer.id, "SO-100");
    o1.external_refs = vec![ExternalRef::new("shop", "1001")];
    let o2 = order(t, buyer.id, "SO-101");
    let i1 = invoice(t, buyer.id, "INV-7", 10_000);
    let mut pay1 = payment(t, buyer.id, 500);
    pay1.external_refs = vec![ExternalRef::new("stripe", "ch_1")];
    let pipe1 = pipeline(t);
    let mut pipe2 = pipeline(t);
    pipe2.name = "Renewals".into();
    pipe2.is_default = false;
    let mut pipe_other = pipe2.clone();
    pipe_other.id = PipelineId::from_uuid(Uuid::now_v7());
    pipe_other.name = "Partners".into();
    let seg1 = segment(t, "Leads");
    let seg2 = segment(t, "Été");
    let camp = campaign(t, "Spring", Some(seg1.id));
    let m1 = campaign_member(t, camp.id, xena.id);
    let m2 = campaign_member(t, camp.id, yuri.id);
    let originals: Vec<Record> = vec![
        buyer.clone().into_record(),
        xena.clone().into_record(),
        yuri.clone().into_record(),
        p1.clone().into_record(),
        p2.clone().into_record(),
        o1.clone().into_record(),
        o2.clone().into_record(),
        i1.clone().into_record(),
        pay1.clone().into_record(),
        pipe1.clone().into_record(),
        pipe2.clone().into_record(),
        pipe_other.clone().into_record(),
        seg1.clone().into_record(),
        seg2.clone().into_record(),
        camp.clone().into_record(),
        m1.clone().into_record(),
        m2.clone().into_record(),
    ];
    accepted(s, t, "distinct keys, several non-default pipelines", originals.iter().cloned().map(Op::Insert).collect())
        .await;

    // Duplicates by insert.
    for sku in ["Widget-1", "widget-1", "WIDGET-1", " wIdGeT-1 "] {
        refused(s, t, &format!("product SKU {sku:?}"), "sku", vec![ins(bare_product(t, sku))]).await;
    }
    let twins = vec![ins(bare_product(t, "New-9")), ins(bare_product(t, "NEW-9"))];
    refused(s, t, "two new products with one SKU", "sku", twins).await;
    refused(s, t, "order number", "number", vec![ins(order(t, buyer.id, "SO-100"))]).await;
    refused(s, t, "invoice number", "number", vec![ins(bare_invoice(t, buyer.id, "INV-7"))]).await;
    let mut p = bare_product(t, "Other-3");
    p.external_refs = vec![ExternalRef::new("shopify", "9"), p1.external_refs[0].clone()];
    refused(s, t, "product external ref", "external_refs", vec![ins(p)]).await;
    let mut o = order(t, buyer.id, "SO-200");
    o.external_refs = o1.external_refs.clone();
    refused(s, t, "order external ref", "external_refs", vec![ins(o)]).await;
    let mut i = bare_invoice(t, buyer.id, "INV-8");
    i.external_refs = i1.external_refs.clone();
    refused(s, t, "invoice external ref", "external_refs", vec![ins(i)]).await;
    let mut pay = payment(t, buyer.id, 100);
    pay.external_refs = pay1.external_refs.clone();
    refused(s, t, "payment external ref", "external_refs", vec![ins(pay)]).await;
    refused(s, t, "segment name in another case", "name", vec![ins(segment(t, "LEADS"))]).await;
    refused(s, t, "segment name in another non-ASCII case", "name", vec![ins(segment(t, "ÉTÉ"))]).await;
    refused(s, t, "second default pipeline", "is_default", vec![ins(pipeline(t))]).await;
    let again = campaign_member(t, camp.id, xena.id);
    refused(s, t, "contact twice in a campaign", "contact_id", vec![ins(again)]).await;

    // Duplicates by update.
    refused(s, t, "SKU changed to a taken one", "sku", vec![upd(next(&p2, |p| p.sku = "widget-1".into()))]).await;
    let taken = next(&o2, |o| o.number = "SO-100".into());
    refused(s, t, "order number changed to a taken one", "number", vec![upd(taken)]).await;
    let pay1 = next(&pay1, |p| p.external_refs.push(o1.external_refs[0].clone()));
    accepted(s, t, "an order's external ref on a payment", vec![upd(pay1.clone())]).await;
    let taken = next(&pipe2, |p| p.is_default = true);
    refused(s, t, "a second pipeline made default", "is_default", vec![upd(taken)]).await;
    refused(s, t, "segment renamed to a taken name", "name", vec![upd(next(&seg2, |x| x.name = "leads".into()))]).await;
    let taken = next(&m2, |m| m.contact_id = xena.id);
    refused(s, t, "member moved to a contact already in the campaign", "contact_id", vec![upd(taken)]).await;

    // A holder that is rewritten but keeps its key still holds it; a freed key goes to one claimant.
    let kept = vec![upd(next(&p1, |p| p.name = "Renamed".into())), ins(bare_product(t, "WIDGET-1"))];
    refused(s, t, "claim of a key its holder keeps while updated", "sku", kept).await;
    let twice = vec![del(&p2), ins(bare_product(t, "gadget-2")), ins(bare_product(t, "GADGET-2"))];
    refused(s, t, "a freed SKU claimed twice", "sku", twice).await;
    let twice = vec![upd(next(&pipe1, |p| p.is_default = false)), ins(pipeline(t)), ins(pipeline(t))];
    refused(s, t, "a freed default claimed twice", "is_default", twice).await;

    // Nothing above left a key behind: the keys of the refused transactions are free.
    let mut p = bare_product(t, "Other-3");
    p.external_refs = vec![ExternalRef::new("shopify", "9")];
    let freed = vec![
        ins(bare_product(t, "new-9")),
        ins(p),
        ins(order(t, buyer.id, "SO-200")),
        ins(bare_invoice(t, buyer.id, "INV-8")),
    ];
    accepted(s, t, "keys the refused transactions tried to claim", freed).await;

    // A record never collides with itself, even listing one external ref twice.
    let mut p = bare_product(t, "Twice-1");
    p.external_refs = vec![ExternalRef::new("shop", "twice"), ExternalRef::new("shop", "twice")];
    accepted(s, t, "a record repeating its own external ref", vec![ins(p)]).await;

    // A record keeps its own key across updates, even re-cased.
    let p1 = next(&p1, |p| {
        p.sku = "WIDGET-1".into();
        p.name = "Widget, re-cased".into();
    });
    let seg2 = next(&seg2, |x| x.name = "ÉTÉ".into());
    let pipe1 = next(&pipe1, |p| p.name = "Main".into());
    let m1 = next(&m1, |m| m.responses.clear());
    let own = vec![upd(p1.clone()), upd(seg2.clone()), upd(pipe1.clone()), upd(m1.clone())];
    accepted(s, t, "updates keeping their own keys", own).await;

    // The same text in another kind or another key field is no duplicate.
    let order_like_invoice = order(t, buyer.id, "INV-7");
    let invoice_like_order = bare_invoice(t, buyer.id, "SO-100");
    let mut order_like_ref = order(t, buyer.id, "shop:1001");
    order_like_ref.external_refs = vec![p1.external_refs[0].clone()];
    let mut payment_like_invoice = payment(t, buyer.id, 1);
    payment_like_invoice.external_refs = i1.external_refs.clone();
    let product_like_order = bare_product(t, "SO-101");
    let other_kinds = vec![
        ins(order_like_invoice),
        ins(invoice_like_order),
        ins(order_like_ref),
        ins(payment_like_invoice),
        ins(product_like_order),
    ];
    accepted(s, t, "the same key text in other kinds and fields", other_kinds).await;
    // Keys compare exactly as the model normalised them (no case folding the model did not do).
    let lower = order(t, buyer.id, "so-100");
    if lower.unique_keys().iter().any(|k| o1.unique_keys().contains(k)) {
        refused(s, t, "order number in another case", "number", vec![ins(lower)]).await;
    } else {
        accepted(s, t, "order number differing in case only", vec![ins(lower)]).await;
    }

    // A key freed in a transaction may be claimed later in it.
    let mut heir = bare_product(t, "GADGET-2");
    heir.external_refs = p2.external_refs.clone();
    accepted(s, t, "delete the holder, claim its SKU and external ref", vec![del(&p2), ins(heir)]).await;
    let seg1 = next(&seg1, |x| x.name = "Prospects".into());
    let seg_heir = segment(t, "leads");
    accepted(s, t, "rename the holder, claim its name", vec![upd(seg1.clone()), ins(seg_heir)]).await;
    let o1b = next(&o1, |o| {
        o.number = "SO-100-A".into();
        o.external_refs.clear();
    });
    let mut o_heir = order(t, buyer.id, "SO-100");
    o_heir.external_refs = o1.external_refs.clone();
    accepted(s, t, "renumber the holder, claim its number and external ref", vec![upd(o1b), ins(o_heir)]).await;
    let pipe1 = next(&pipe1, |p| p.is_default = false);
    let mut pipe3 = pipeline(t);
    pipe3.name = "New main".into();
    accepted(s, t, "move the default to a new pipeline", vec![upd(pipe1.clone()), ins(pipe3.clone())]).await;
    let defaults = select(s, t, EntityKind::Pipeline, Query::new(Filter::eq("is_default", true)).limit(3)).await;
    assert_eq!(defaults, vec![pipe3.clone().into_record()], "exactly one default pipeline");
    let pipe2 = next(&pipe2, |p| p.is_default = true);
    let pipe3 = next(&pipe3, |p| p.is_default = false);
    accepted(s, t, "hand the default to an existing pipeline", vec![upd(pipe3), upd(pipe2)]).await;
    let m1_again = campaign_member(t, camp.id, xena.id);
    accepted(s, t, "remove a member and add them again", vec![del(&m1), ins(m1_again)]).await;
    let tmp = bare_product(t, "Tmp-1");
    let tmp_heir = bare_product(t, "TMP-1");
    accepted(s, t, "a key claimed and freed within one transaction", vec![ins(tmp.clone()), del(&tmp), ins(tmp_heir)])
        .await;

    // Keys freed by committed deletes and changes are free.
    accepted(s, t, "delete holders", vec![del(&p1), del(&i1), del(&pay1)]).await;
    let seg2 = next(&seg2, |x| x.name = "Herbst".into());
    accepted(s, t, "rename a holder", vec![upd(seg2)]).await;
    let mut p1_heir = bare_product(t, "widget-1");
    p1_heir.external_refs = p1.external_refs.clone();
    let mut i1_heir = bare_invoice(t, buyer.id, "INV-7");
    i1_heir.external_refs = i1.external_refs.clone();
    let mut pay1_heir = payment(t, buyer.id, 7);
    pay1_heir.external_refs = pay1.external_refs.clone();
    let freed = vec![ins(p1_heir), ins(i1_heir), ins(pay1_heir), ins(segment(t, "été"))];
    accepted(s, t, "claim keys freed by committed deletes and changes", freed).await;

    // A key committed by a transaction that began later is still taken.
    let mut early = begin(s, t).await;
    accepted(s, t, "a later transaction claims a SKU", vec![ins(bare_product(t, "Race-1"))]).await;
    let late_claim = bare_product(t, "race-1");
    let res = match early.insert(late_claim.clone().into_record()).await {
        Ok(()) => early.commit().await.map(|_| ()),
        Err(e) => Err(e),
    };
    assert_duplicate(&res, "sku", "claim of a SKU committed after the transaction began");
    assert_eq!(get(s, t, EntityKind::Product, late_claim.id.as_uuid()).await, None);

    // Another tenant may hold every one of these keys, even on records with the same ids.
    let u = tenant();
    let twins: Vec<Op> = originals.iter().map(|r| Op::Insert(in_tenant(r, u))).collect();
    accepted(s, u, "the same keys in another tenant", twins).await;
}

/// Waits until `n` callers have arrived, or 5 s have passed (so a backend whose `begin` waits
/// for other transactions cannot hang the case; its claims then overlap less).
async fn rendezvous(arrived: &AtomicUsize, n: usize) {
    arrived.fetch_add(1, AtomicOrdering::SeqCst);
    let deadline = Instant::now() + Duration::from_secs(5);
    futures::future::poll_fn(|cx| {
        if arrived.load(AtomicOrdering::SeqCst) >= n || Instant::now() >= deadline {
            std::task::Poll::Ready(())
        } else {
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    })
    .await
}

/// Every claim runs in its own transaction: all begin, wait for each other, insert a marker
/// and the claim, yield, and commit. Asserts that exactly one commits, that every other fails
/// with `Duplicate` on `field`, and that a failed transaction left neither marker nor claim.
async fn race(store: &Arc<dyn Store>, t: TenantId, field: &str, claims: Vec<Record>) {
    let n = claims.len();
    let arrived = AtomicUsize::new(0);
    let tasks = claims.into_iter().enumerate().map(|(i, claim)| {
        let arrived = &arrived;
        async move {
            let marker = contact(t, &format!("claimer-{i}"), "");
            let attempt = async {
                let mut tx = store.begin(t, TxMode::ReadWrite).await?;
                rendezvous(arrived, n).await;
                tx.insert(marker.clone().into_record()).await?;
                tx.insert(claim.clone()).await?;
                tokio_yield().await;
                tx.commit().await.map(|_| ())
            };
            let res = attempt.await;
            (claim, marker, res)
        }
    });
    let results = futures::future::join_all(tasks).await;
    let mut winners = 0;
    for (claim, marker, res) in &results {
        let kept = get(store, t, claim.kind(), claim.id()).await;
        let marker_kept = get(store, t, EntityKind::Contact, marker.id.as_uuid()).await.is_some();
        if res.is_ok() {
            winners += 1;
            assert_eq!(kept.as_ref(), Some(claim), "the winning {field} claim is stored");
            assert!(marker_kept, "the winning transaction's other insert is stored");
        } else {
            assert_duplicate(res, field, &format!("a losing {field} claim"));
            assert_eq!(kept, None, "a losing {field} claim left its record behind");
            assert!(!marker_kept, "a losing {field} claim left its other insert behind");
        }
    }
    assert_eq!(winners, 1, "exactly one of {n} concurrent {field} claims commits");
    let kind = results[0].0.kind();
    let mut tx = store.begin(t, TxMode::ReadOnly).await.expect("begin");
    assert_eq!(tx.count(kind, &Filter::All).await.expect("count"), 1, "one {kind} holds the {field}");
}

/// 8 transactions claim the same unique key at once (all open before any writes, inserts
/// overlapping, commits racing): exactly one commits, the others fail with `Duplicate` (not
/// `Conflict`: the contract says a racing commit is a `Validation` error) and write nothing.
/// Done for a SKU in different ASCII cases (in two tenants at once, each of which admits one),
/// the default pipeline and a campaign member.
pub async fn concurrent_unique_claims_admit_one(store: Arc<dyn Store>) {
    const N: usize = 8;
    let s = &store;
    let skus = |t: TenantId| -> Vec<Record> {
        (0..N)
            .map(|i| {
                let mut p = product(t, ["Race-1", "RACE-1", "race-1", " Race-1"][i % 4]);
                p.external_refs = vec![ExternalRef::new("shop", format!("p-{i}"))];
                p.into_record()
            })
            .collect()
    };
    let (t, u) = (tenant(), tenant());
    futures::join!(race(s, t, "sku", skus(t)), race(s, u, "sku", skus(u)));

    let t = tenant();
    race(s, t, "is_default", (0..N).map(|_| pipeline(t).into_record()).collect()).await;

    let t = tenant();
    let c = contact(t, "Popular", "");
    let camp = campaign(t, "Launch", None);
    put_all(s, t, vec![c.clone().into_record(), camp.clone().into_record()]).await;
    race(s, t, "contact_id", (0..N).map(|_| campaign_member(t, camp.id, c.id).into_record()).collect()).await;
}

/// `got` equals `want`, and serializes the same (so decimal scale such as `10.50`, and every
/// nested value, survived).
fn assert_exact(got: Option<&Record>, want: &Record, what: &str) {
    let kind = want.kind();
    assert_eq!(got, Some(want), "{what}: {kind} reads back equal");
    let json = |r: &Record| serde_json::to_value(r).expect("serialize");
    assert_eq!(got.map(json), Some(json(want)), "{what}: {kind} reads back with the same representation");
}

/// A record of every kind, the new ones with every optional field set (lines with discounts and
/// tax, applied payments, responses, external refs, custom values of several types, decimals
/// with trailing zeros, non-ASCII text, a segment filter nesting and/or/not), reads back exactly
/// — by id and through a query — after insert and after update.
pub async fn every_kind_round_trips_exactly(store: Arc<dyn Store>) {
    let s = &store;
    let t = tenant();
    let c = full_contact(t);
    let co = company(t, "Ünïcode GmbH & Co. KG");
    let pipe = pipeline(t);
    let d = deal(t, &pipe, "Groß", Some(Money::new(Decimal::new(1_000_050, 2), Currency::EUR)));
    let prod = full_product(t, "RT-1");
    let ord = full_order(t, c.id, &prod, "SO-RT-1");
    let inv = full_invoice(t, c.id, &prod, "INV-RT-1");
    let inv2 = full_invoice(t, c.id, &prod, "INV-RT-2");
    let pay = full_payment(t, c.id, [inv.id, inv2.id]);
    let cs = full_case(t, c.id, prod.id);
    let fb = full_feedback(t, c.id, cs.id, prod.id);
    let seg = full_segment(t, "Führungskräfte");
    let camp = full_campaign(t, "Frühling ✿", seg.id);
    let mem = full_campaign_member(t, camp.id, c.id);
    let link = full_sync_link(t, co.id);
    let state = sync_state(t, "imap:jane@example.com/INBOX");
    let records = vec![
        link.into_record(),
        state.into_record(),
        activity(t, c.id).into_record(),
        relation(t, c.id, co.id).into_record(),
        custom_field(t, EntityKind::Order, "größe", FieldType::Decimal).into_record(),
        c.into_record(),
        co.into_record(),
        pipe.into_record(),
        d.into_record(),
        prod.into_record(),
        ord.into_record(),
        inv.into_record(),
        inv2.into_record(),
        pay.into_record(),
        cs.into_record(),
        fb.into_record(),
        seg.into_record(),
        camp.into_record(),
        mem.into_record(),
    ];
    let kinds: BTreeSet<EntityKind> = records.iter().map(Record::kind).collect();
    assert_eq!(kinds.len(), EntityKind::ALL.len(), "fixture covers every kind");
    let json = serde_json::to_string(&records).expect("serialize");
    for needle in [r#""10.50""#, r#""7.700""#, r#""12.50""#, r#""30.000""#, r#""2.50""#] {
        assert!(json.contains(needle), "fixtures carry the trailing-zero decimal {needle}");
    }
    put_all(s, t, records.clone()).await;
    let check = |records: Vec<Record>, what: &'static str| async move {
        for r in &records {
            assert_exact(get(s, t, r.kind(), r.id()).await.as_ref(), r, what);
        }
        for kind in EntityKind::ALL {
            let listed = select(s, t, *kind, Query::default().limit(1)).await;
            let want: Vec<&Record> = records.iter().filter(|r| r.kind() == *kind).collect();
            assert_eq!(listed.len(), want.len(), "{what}: every {kind} listed");
            for w in want {
                assert_exact(listed.iter().find(|r| r.id() == w.id()), w, what);
            }
        }
    };
    check(records.clone(), "after insert").await;
    let updated: Vec<Record> = records
        .into_iter()
        .map(|mut r| {
            r.set_version(2);
            r.set_updated_at(at(999_999));
            r
        })
        .collect();
    let mut tx = begin(s, t).await;
    for r in &updated {
        tx.update(r.clone()).await.expect("update");
    }
    tx.commit().await.expect("commit");
    check(updated, "after update").await;
}

/// Filters and sorts on the commerce and service kinds: status text, `total` (decimal, across
/// scales) and `due_date` (date) ranges, the derived `balance_due` and `unapplied`, `is_null`
/// on `paid_on`, `contains`/`in` on id lists (`product_ids`, `invoice_ids`) and text lists
/// (`external_refs`, `responses`), `in` on `priority`, sorting by `sla_due_at` or `total` with
/// the id breaking ties — all through pages of 3, with `count` agreeing.
pub async fn filters_on_commerce_fields(store: Arc<dyn Store>) {
    let s = &store;
    let t = tenant();
    let buyer = contact(t, "Buyer", "");
    let (pa, pb, pc) = (product(t, "P-A"), product(t, "P-B"), product(t, "P-C"));
    let refs = |items: &[&str]| -> Vec<ExternalRef> {
        items
            .iter()
            .map(|r| {
                let (system, id) = r.split_once(':').expect("system:id");
                ExternalRef::new(system, id)
            })
            .collect()
    };
    let mut recs: Vec<Record> =
        vec![buyer.clone().into_record(), pa.clone().into_record(), pb.clone().into_record(), pc.clone().into_record()];

    // Orders.
    let custom_line = LineItem::new("Custom work", Decimal::ONE, Money::new(Decimal::ONE, Currency::EUR));
    type OrderRow<'a> = (&'a str, OrderStatus, Vec<&'a Product>, bool, Decimal, &'a [&'a str]);
    let rows: Vec<OrderRow> = vec![
        ("SO-1", OrderStatus::Placed, vec![&pa], false, Decimal::new(999, 2), &["shop:A-1"]),
        ("SO-2", OrderStatus::Paid, vec![&pa, &pb], false, Decimal::new(1050, 2), &["shop:A-2", "xero:X-2"]),
        ("SO-3", OrderStatus::Paid, vec![&pc], false, Decimal::new(10_000, 2), &[]),
        ("SO-4", OrderStatus::Cancelled, vec![], true, Decimal::new(25, 1), &[]),
        ("SO-5", OrderStatus::Draft, vec![&pb, &pb], false, Decimal::new(100_000, 2), &["XERO:x-5"]),
        ("SO-6", OrderStatus::Fulfilled, vec![&pa], true, Decimal::new(105, 1), &[]),
    ];
    let orders: Vec<Order> = rows
        .iter()
        .map(|(number, status, products, custom, total, ext)| {
            let mut o = order(t, buyer.id, number);
            o.status = *status;
            o.lines = products.iter().map(|p| LineItem::for_product(p, Decimal::ONE)).collect();
            if *custom {
                o.lines.push(custom_line.clone());
            }
            o.total = Money::new(*total, Currency::EUR);
            o.external_refs = refs(ext);
            o
        })
        .collect();
    recs.extend(orders.iter().cloned().map(Entity::into_record));

    // Invoices.
    type InvoiceRow<'a> = (&'a str, InvoiceStatus, i64, i64, NaiveDateArgs, Option<NaiveDateArgs>, &'a [&'a str]);
    type NaiveDateArgs = (i32, u32, u32);
    use InvoiceStatus as IS;
    let rows: Vec<InvoiceRow> = vec![
        ("INV-1", IS::Sent, 10_000, 0, (2026, 2, 1), None, &["qb:1"]),
        ("INV-2", IS::PartiallyPaid, 25_000, 10_000, (2026, 2, 15), None, &[]),
        ("INV-3", IS::Paid, 8_000, 8_000, (2026, 1, 31), Some((2026, 1, 20)), &["qb:3", "xero:3"]),
        ("INV-4", IS::Overdue, 1_050, 0, (2025, 12, 31), None, &[]),
        ("INV-5", IS::Void, 30_000, 0, (2026, 3, 1), None, &[]),
        ("INV-6", IS::Paid, 4_200, 4_200, (2026, 2, 1), Some((2026, 2, 3)), &[]),
    ];
    let invoices: Vec<Invoice> = rows
        .iter()
        .map(|(number, status, total, paid, due, paid_on, ext)| {
            let mut i = invoice(t, buyer.id, number, *total);
            i.status = *status;
            i.total = Money::new(Decimal::new(*total, 2), Currency::EUR);
            i.amount_paid = Money::new(Decimal::new(*paid, 2), Currency::EUR);
            i.due_date = date(due.0, due.1, due.2);
            i.paid_on = paid_on.map(|(y, m, d)| date(y, m, d));
            i.external_refs = refs(ext);
            i
        })
        .collect();
    recs.extend(invoices.iter().cloned().map(Entity::into_record));
    let inv = |n: usize| invoices[n - 1].id;

    // Payments.
    type PaymentRow<'a> = (&'a str, i64, Vec<(InvoiceId, i64)>, &'a [&'a str]);
    let rows: Vec<PaymentRow> = vec![
        ("PAY-1", 10_000, vec![(inv(2), 10_000)], &[]),
        ("PAY-2", 8_000, vec![(inv(3), 8_000)], &["stripe:ch_2"]),
        ("PAY-3", 5_000, vec![(inv(6), 4_200)], &["stripe:ch_3", "bank:77"]),
        ("PAY-4", 2_050, vec![], &[]),
        ("PAY-5", 20_000, vec![(inv(2), 5_000), (inv(1), 10_000)], &[]),
    ];
    let payments: Vec<Payment> = rows
        .iter()
        .map(|(reference, amount, apps, ext)| {
            let mut p = payment(t, buyer.id, *amount);
            p.reference = Some(reference.to_string());
            p.applications = apps
                .iter()
                .map(|(invoice_id, cents)| PaymentApplication {
                    invoice_id: *invoice_id,
                    amount: Money::new(Decimal::new(*cents, 2), Currency::EUR),
                })
                .collect();
            p.external_refs = refs(ext);
            p
        })
        .collect();
    recs.extend(payments.iter().cloned().map(Entity::into_record));

    // Cases.
    let rows = [
        ("C1", Priority::Low, CaseStatus::Open, 5_000),
        ("C2", Priority::Urgent, CaseStatus::New, 1_000),
        ("C3", Priority::High, CaseStatus::Resolved, 3_000),
        ("C4", Priority::Normal, CaseStatus::PendingCustomer, 3_000),
        ("C5", Priority::Urgent, CaseStatus::Closed, 1_000),
        ("C6", Priority::High, CaseStatus::Open, 2_000),
        ("C7", Priority::Normal, CaseStatus::Open, 3_000),
    ];
    let cases: Vec<Case> = rows
        .iter()
        .map(|(subject, priority, status, due)| {
            let mut c = case(t, buyer.id, subject);
            c.priority = *priority;
            c.status = *status;
            c.sla_due_at = at(*due);
            c
        })
        .collect();
    recs.extend(cases.iter().cloned().map(Entity::into_record));

    // Campaign members.
    let (ca, cb) = (campaign(t, "A", None), campaign(t, "B", None));
    let people: Vec<Contact> = ["Ann", "Ben", "Cid", "Dee"].iter().map(|n| contact(t, n, "")).collect();
    use ResponseKind as R;
    type MemberRow<'a> = (&'a Campaign, usize, Vec<(ResponseKind, i64)>);
    let rows: Vec<MemberRow> = vec![
        (&ca, 0, vec![(R::Sent, 10), (R::Delivered, 11), (R::Opened, 12)]),
        (&ca, 1, vec![(R::Sent, 10), (R::Bounced, 11)]),
        (&ca, 2, vec![(R::Sent, 10), (R::Delivered, 11), (R::Opened, 12), (R::Clicked, 13), (R::Converted, 900)]),
        (&cb, 0, vec![]),
        (&cb, 3, vec![(R::Sent, 10), (R::Delivered, 11), (R::Converted, 400), (R::Unsubscribed, 500)]),
    ];
    let mut member_names: HashMap<Uuid, String> = HashMap::new();
    let members: Vec<CampaignMember> = rows
        .iter()
        .map(|(camp, who, responses)| {
            let mut m = campaign_member(t, camp.id, people[*who].id);
            m.responses =
                responses.iter().map(|(kind, secs)| CampaignResponse { kind: *kind, at: at(*secs) }).collect();
            member_names.insert(m.id.as_uuid(), format!("{}/{}", camp.name, people[*who].given_name));
            m
        })
        .collect();
    recs.extend([ca.clone().into_record(), cb.clone().into_record()]);
    recs.extend(people.iter().cloned().map(Entity::into_record));
    recs.extend(members.iter().cloned().map(Entity::into_record));
    put_all(s, t, recs).await;

    let d = |cents: i64, scale: u32| Decimal::new(cents, scale);
    let filters: Vec<(Filter, &[&str])> = vec![
        (Filter::eq("status", "paid"), &["SO-2", "SO-3"]),
        (Filter::eq("status", OrderStatus::Cancelled), &["SO-4"]),
        (Filter::ne("status", OrderStatus::Paid), &["SO-1", "SO-4", "SO-5", "SO-6"]),
        (Filter::gt("total", 10), &["SO-2", "SO-3", "SO-5", "SO-6"]),
        (Filter::gte("total", d(1050, 2)), &["SO-2", "SO-3", "SO-5", "SO-6"]),
        (Filter::eq("total", d(105, 1)), &["SO-2", "SO-6"]),
        (Filter::eq("total", d(10_500, 3)), &["SO-2", "SO-6"]),
        (Filter::lt("total", d(1000, 2)), &["SO-1", "SO-4"]),
        (Filter::gte("total", d(999, 2)).and(Filter::lte("total", 100)), &["SO-1", "SO-2", "SO-3", "SO-6"]),
        (Filter::gt("total", d(25, 1)).and(Filter::lt("total", d(10, 0))), &["SO-1"]),
        (Filter::is_in("total", [d(25, 1), d(100_000, 2)]), &["SO-4", "SO-5"]),
        (Filter::contains("product_ids", pa.id.as_uuid()), &["SO-1", "SO-2", "SO-6"]),
        (Filter::contains("product_ids", pb.id.as_uuid()), &["SO-2", "SO-5"]),
        (Filter::is_in("product_ids", [pb.id.as_uuid(), pc.id.as_uuid()]), &["SO-2", "SO-3", "SO-5"]),
        (Filter::is_null("product_ids"), &["SO-4"]),
        (Filter::contains("product_ids", pc.id.as_uuid()).not(), &["SO-1", "SO-2", "SO-4", "SO-5", "SO-6"]),
        (Filter::contains("external_refs", "xero:x-2"), &["SO-2"]),
        (Filter::contains("external_refs", "xero:X-5"), &["SO-5"]),
        (Filter::contains("external_refs", "shop:A"), &[]),
        (Filter::is_in("external_refs", ["shop:A-1", "XERO:x-5"]), &["SO-1", "SO-5"]),
        (Filter::is_null("external_refs"), &["SO-3", "SO-4", "SO-6"]),
        (
            Filter::eq("status", "paid")
                .and(Filter::contains("product_ids", pa.id.as_uuid()))
                .or(Filter::is_null("product_ids")),
            &["SO-2", "SO-4"],
        ),
    ];
    assert_filters(s, t, EntityKind::Order, filters, 3).await;
    let mut want: Vec<&Order> = orders.iter().collect();
    want.sort_by(|a, b| b.total.amount.cmp(&a.total.amount).then(a.id.cmp(&b.id)));
    let want = want.iter().map(|o| o.number.clone()).collect();
    assert_order(s, t, EntityKind::Order, &name, Query::default().sort_desc("total").limit(3), want).await;
    let mut want: Vec<&Order> = orders.iter().collect();
    want.sort_by(|a, b| {
        a.status.as_str().cmp(b.status.as_str()).then(a.total.amount.cmp(&b.total.amount)).then(a.id.cmp(&b.id))
    });
    let want = want.iter().map(|o| o.number.clone()).collect();
    let q = Query::default().sort_asc("status").sort_asc("total").limit(3);
    assert_order(s, t, EntityKind::Order, &name, q, want).await;

    let filters: Vec<(Filter, &[&str])> = vec![
        (Filter::eq("status", "paid"), &["INV-3", "INV-6"]),
        (Filter::is_in("status", [IS::Sent, IS::Overdue]), &["INV-1", "INV-4"]),
        (Filter::gt("balance_due", 0), &["INV-1", "INV-2", "INV-4"]),
        (Filter::eq("balance_due", 0), &["INV-3", "INV-5", "INV-6"]),
        (Filter::gte("balance_due", d(105, 1)).and(Filter::lt("balance_due", 150)), &["INV-1", "INV-4"]),
        (Filter::lte("balance_due", d(1050, 2)), &["INV-3", "INV-4", "INV-5", "INV-6"]),
        (Filter::gt("total", 100), &["INV-2", "INV-5"]),
        (Filter::lte("total", 80), &["INV-3", "INV-4", "INV-6"]),
        (Filter::gte("amount_paid", d(4200, 2)), &["INV-2", "INV-3", "INV-6"]),
        (Filter::is_null("paid_on"), &["INV-1", "INV-2", "INV-4", "INV-5"]),
        (Filter::is_null("paid_on").not(), &["INV-3", "INV-6"]),
        (Filter::gte("paid_on", date(2026, 2, 1)), &["INV-6"]),
        (Filter::lt("paid_on", date(2026, 2, 1)), &["INV-3"]),
        (Filter::lt("due_date", date(2026, 2, 1)), &["INV-3", "INV-4"]),
        (Filter::lte("due_date", date(2026, 2, 1)), &["INV-1", "INV-3", "INV-4", "INV-6"]),
        (
            Filter::gte("due_date", date(2026, 2, 1)).and(Filter::lte("due_date", date(2026, 2, 28))),
            &["INV-1", "INV-2", "INV-6"],
        ),
        (Filter::eq("due_date", date(2026, 2, 1)), &["INV-1", "INV-6"]),
        (Filter::ne("due_date", date(2026, 2, 1)), &["INV-2", "INV-3", "INV-4", "INV-5"]),
        (Filter::lt("due_date", date(2026, 2, 2)).and(Filter::gt("balance_due", 0)), &["INV-1", "INV-4"]),
        (Filter::contains("external_refs", "QB:3"), &["INV-3"]),
        (Filter::contains("external_refs", "xero:3"), &["INV-3"]),
        (Filter::is_null("external_refs"), &["INV-2", "INV-4", "INV-5", "INV-6"]),
    ];
    assert_filters(s, t, EntityKind::Invoice, filters, 3).await;
    let mut want: Vec<&Invoice> = invoices.iter().collect();
    want.sort_by(|a, b| {
        a.due_date.cmp(&b.due_date).then(b.balance_due().amount.cmp(&a.balance_due().amount)).then(a.id.cmp(&b.id))
    });
    let want = want.iter().map(|i| i.number.clone()).collect();
    let q = Query::default().sort_asc("due_date").sort_desc("balance_due").limit(3);
    assert_order(s, t, EntityKind::Invoice, &name, q, want).await;

    let filters: Vec<(Filter, &[&str])> = vec![
        (Filter::contains("invoice_ids", inv(2).as_uuid()), &["PAY-1", "PAY-5"]),
        (Filter::contains("invoice_ids", inv(6).as_uuid()), &["PAY-3"]),
        (Filter::contains("invoice_ids", inv(5).as_uuid()), &[]),
        (Filter::is_in("invoice_ids", [inv(1).as_uuid(), inv(3).as_uuid()]), &["PAY-2", "PAY-5"]),
        (Filter::is_null("invoice_ids"), &["PAY-4"]),
        (Filter::gt("unapplied", 0), &["PAY-3", "PAY-4", "PAY-5"]),
        (Filter::eq("unapplied", d(205, 1)), &["PAY-4"]),
        (Filter::gte("amount", 80), &["PAY-1", "PAY-2", "PAY-5"]),
        (Filter::contains("external_refs", "STRIPE:CH_3"), &["PAY-3"]),
        (Filter::contains("external_refs", "bank:77"), &["PAY-3"]),
        (Filter::is_null("external_refs"), &["PAY-1", "PAY-4", "PAY-5"]),
    ];
    assert_filters(s, t, EntityKind::Payment, filters, 3).await;

    use CaseStatus as CS;
    let filters: Vec<(Filter, &[&str])> = vec![
        (Filter::is_in("priority", [Priority::High, Priority::Urgent]), &["C2", "C3", "C5", "C6"]),
        (Filter::is_in("priority", ["low"]), &["C1"]),
        (Filter::eq("priority", Priority::Normal), &["C4", "C7"]),
        (Filter::eq("status", "open"), &["C1", "C6", "C7"]),
        (
            Filter::is_in("status", [CS::New, CS::Open, CS::PendingCustomer]).and(Filter::lt("sla_due_at", at(3_000))),
            &["C2", "C6"],
        ),
        (Filter::lte("sla_due_at", at(3_000)), &["C2", "C3", "C4", "C5", "C6", "C7"]),
        (Filter::gt("sla_due_at", at(1_000)), &["C1", "C3", "C4", "C6", "C7"]),
        (Filter::eq("sla_due_at", at(3_000)), &["C3", "C4", "C7"]),
    ];
    assert_filters(s, t, EntityKind::Case, filters, 3).await;
    let subjects = |mut v: Vec<&Case>, cmp: &dyn Fn(&Case, &Case) -> std::cmp::Ordering| -> Vec<String> {
        v.sort_by(|a, b| cmp(a, b));
        v.iter().map(|c| c.subject.clone()).collect()
    };
    let by_due = subjects(cases.iter().collect(), &|a, b| a.sla_due_at.cmp(&b.sla_due_at).then(a.id.cmp(&b.id)));
    assert_order(s, t, EntityKind::Case, &name, Query::default().sort_asc("sla_due_at").limit(3), by_due.clone()).await;
    let q = Query::default().sort_asc("sla_due_at").sort_asc("id").limit(3);
    assert_order(s, t, EntityKind::Case, &name, q, by_due).await;
    let want = subjects(cases.iter().collect(), &|a, b| b.sla_due_at.cmp(&a.sla_due_at).then(a.id.cmp(&b.id)));
    assert_order(s, t, EntityKind::Case, &name, Query::default().sort_desc("sla_due_at").limit(3), want).await;
    let want = subjects(cases.iter().collect(), &|a, b| {
        a.priority.as_str().cmp(b.priority.as_str()).then(b.sla_due_at.cmp(&a.sla_due_at)).then(a.id.cmp(&b.id))
    });
    let q = Query::default().sort_asc("priority").sort_desc("sla_due_at").limit(3);
    assert_order(s, t, EntityKind::Case, &name, q, want).await;

    let label = |r: &Record| member_names.get(&r.id()).cloned().unwrap_or_else(|| r.id().to_string());
    let filters: Vec<(Filter, &[&str])> = vec![
        (Filter::contains("responses", "opened"), &["A/Ann", "A/Cid"]),
        (Filter::contains("responses", "CONVERTED"), &["A/Cid", "B/Dee"]),
        (Filter::is_in("responses", [R::Bounced, R::Unsubscribed]), &["A/Ben", "B/Dee"]),
        (Filter::is_null("responses"), &["B/Ann"]),
        (Filter::contains("responses", "sent").not(), &["B/Ann"]),
        (Filter::eq("campaign_id", cb.id.as_uuid()), &["B/Ann", "B/Dee"]),
        (Filter::eq("contact_id", people[0].id.as_uuid()), &["A/Ann", "B/Ann"]),
        (Filter::is_null("converted_at"), &["A/Ann", "A/Ben", "B/Ann"]),
        (Filter::lt("converted_at", at(500)), &["B/Dee"]),
        (
            Filter::eq("campaign_id", ca.id.as_uuid()).and(Filter::contains("responses", "delivered")),
            &["A/Ann", "A/Cid"],
        ),
    ];
    assert_filters_by(s, t, EntityKind::CampaignMember, &label, filters, 3).await;
    let mut want: Vec<&CampaignMember> = members.iter().collect();
    want.sort_by(|a, b| {
        let (x, y) = (a.responded(R::Converted), b.responded(R::Converted));
        // Descending: nulls last.
        y.is_some().cmp(&x.is_some()).then(y.cmp(&x)).then(a.id.cmp(&b.id))
    });
    let want = want.iter().map(|m| member_names[&m.id.as_uuid()].clone()).collect();
    let q = Query::default().sort_desc("converted_at").limit(3);
    assert_order(s, t, EntityKind::CampaignMember, &label, q, want).await;
}

/// For every kind, `count` equals the number of records a paged query returns and the ids
/// expected, for filters on id, version and creation time, in a tenant holding three records
/// of each kind (another tenant's records never counted); inside a writing transaction both
/// see its uncommitted inserts and deletes, which vanish with the rollback.
pub async fn count_and_query_agree_for_every_kind(store: Arc<dyn Store>) {
    let s = &store;
    let (t, u) = (tenant(), tenant());
    let sets: Vec<Vec<Record>> = (1..=3).map(|n| one_of_each_numbered(t, n)).collect();
    for set in &sets {
        put_all(s, t, set.clone()).await;
    }
    put_all(s, u, one_of_each_numbered(u, 1)).await;
    let ids_of = |records: &[Record], kind: EntityKind| -> Vec<Uuid> {
        records.iter().filter(|r| r.kind() == kind).map(Record::id).collect()
    };
    for kind in EntityKind::ALL.iter().copied() {
        let ids: Vec<Uuid> = sets.iter().flat_map(|set| ids_of(set, kind)).collect();
        assert_eq!(ids.len(), 3, "one {kind} per fixture set");
        let cases: Vec<(Filter, Vec<Uuid>)> = vec![
            (Filter::All, ids.clone()),
            (Filter::eq("id", ids[1]), vec![ids[1]]),
            (Filter::ne("id", ids[1]), vec![ids[0], ids[2]]),
            (Filter::is_in("id", [ids[0], ids[2], Uuid::now_v7()]), vec![ids[0], ids[2]]),
            (Filter::gte("version", 1), ids.clone()),
            (Filter::gt("version", 1), vec![]),
            (Filter::gte("created_at", at(0)).and(Filter::ne("id", ids[0])), vec![ids[1], ids[2]]),
            (Filter::Not(Box::new(Filter::All)), vec![]),
        ];
        for (f, want) in cases {
            let rows = select(s, t, kind, Query::new(f.clone()).limit(2)).await;
            let got: BTreeSet<Uuid> = rows.iter().map(Record::id).collect();
            assert_eq!(got.len(), rows.len(), "{kind}: a record came twice for {f:?}");
            assert_eq!(got, want.iter().copied().collect::<BTreeSet<_>>(), "{kind}: query {f:?}");
            let mut tx = s.begin(t, TxMode::ReadOnly).await.expect("begin");
            assert_eq!(tx.count(kind, &f).await.expect("count"), want.len() as u64, "{kind}: count {f:?}");
        }
        let mut tx = s.begin(u, TxMode::ReadOnly).await.expect("begin");
        assert_eq!(tx.count(kind, &Filter::All).await.expect("count"), 1, "{kind}: the other tenant's count");
    }

    let fourth = one_of_each_numbered(t, 4);
    let mut tx = begin(s, t).await;
    for r in &fourth {
        tx.insert(r.clone()).await.expect("insert");
    }
    for r in &sets[0] {
        tx.delete(r.kind(), r.id(), r.version()).await.expect("delete");
    }
    for kind in EntityKind::ALL.iter().copied() {
        let want: BTreeSet<Uuid> = sets[1..].iter().chain([&fourth]).flat_map(|set| ids_of(set, kind)).collect();
        let rows = select_in(&mut tx, kind, Query::default().limit(2)).await;
        assert_eq!(rows.iter().map(Record::id).collect::<BTreeSet<_>>(), want, "{kind}: query inside the transaction");
        assert_eq!(tx.count(kind, &Filter::All).await.expect("count"), 3, "{kind}: count inside the transaction");
        let gone = Filter::eq("id", ids_of(&sets[0], kind)[0]);
        assert_eq!(tx.count(kind, &gone).await.expect("count"), 0, "{kind}: a deleted record is not counted");
        let new = Filter::eq("id", ids_of(&fourth, kind)[0]);
        assert_eq!(tx.count(kind, &new).await.expect("count"), 1, "{kind}: an inserted record is counted");
    }
    drop(tx);
    for kind in EntityKind::ALL.iter().copied() {
        let mut tx = s.begin(t, TxMode::ReadOnly).await.expect("begin");
        assert_eq!(tx.count(kind, &Filter::All).await.expect("count"), 3, "{kind}: count after the rollback");
    }
}

/// A write that fails poisons its transaction: later writes and the commit fail, and nothing
/// the transaction wrote before the failure becomes visible.
pub async fn failed_write_poisons_the_transaction(store: Arc<dyn Store>) {
    let t = tenant();
    put_all(&store, t, vec![bare_product(t, "Dup-1").into_record()]).await;
    let marker = contact(t, "Marker", "Before");
    let later = contact(t, "Marker", "After");
    let mut tx = begin(&store, t).await;
    tx.insert(marker.clone().into_record()).await.expect("insert before the failure");
    let err = tx.insert(bare_product(t, "dup-1").into_record()).await.expect_err("duplicate SKU");
    assert!(is_duplicate(&err, "sku"), "{err:?}");
    // A backend may refuse this write already, or only the commit; either way nothing lands.
    let _ = tx.insert(later.clone().into_record()).await;
    let committed = tx.commit().await;
    assert!(committed.is_err(), "a transaction with a failed write must not commit");
    assert_eq!(get(&store, t, EntityKind::Contact, marker.id.as_uuid()).await, None);
    assert_eq!(get(&store, t, EntityKind::Contact, later.id.as_uuid()).await, None);
}

/// The records a search must find among `records`: every term a prefix of a token.
fn expected_hits(records: &[Record], query: &str) -> BTreeSet<Uuid> {
    let terms = crate::search::terms(query);
    records
        .iter()
        .filter(|r| crate::search::search_text(r).and_then(|t| crate::search::score(&t, &terms)).is_some())
        .map(Record::id)
        .collect()
}

async fn search_ids(store: &Arc<dyn Store>, t: TenantId, query: &str, limit: usize) -> Vec<Uuid> {
    let mut tx = store.begin(t, TxMode::ReadOnly).await.expect("begin");
    let terms = crate::search::terms(query);
    let hits =
        tx.search(crate::search::SEARCHABLE, &terms, limit).await.unwrap_or_else(|e| panic!("search {query:?}: {e}"));
    hits.iter().map(Record::id).collect()
}

/// Full-text search finds exactly the records in which every term starts a token of their
/// search text (names, e-mails, phones, notes, tags) across contacts, companies and deals, in
/// the caller's tenant only; honours the limit; follows inserts, updates and deletes (also a
/// transaction's own, before commit); treats query syntax of SQL and of search engines as text.
pub async fn search_matches_every_term_as_a_prefix(store: Arc<dyn Store>) {
    let t = tenant();
    let mut jane = contact(t, "Jane", "Cooper");
    jane.job_title = Some("VP Operations".into());
    jane.hobbies = vec!["sailing".into()];
    let mut janet = contact(t, "Janet", "Acker");
    janet.tags = vec!["or".into(), "near".into()];
    let mut omar = contact(t, "Omar", "Haddad");
    omar.family_notes = Some("Two kids; loves 'quoted' \"text\" and AND/OR -minus *star".into());
    let acme = company(t, "Acme Logistics");
    let acmes = company(t, "Acmes Jane Supplies");
    let p = pipeline(t);
    let d = deal(t, &p, "Acme — fleet tracking", None);
    let records: Vec<Record> = vec![
        jane.clone().into_record(),
        janet.clone().into_record(),
        omar.clone().into_record(),
        acme.clone().into_record(),
        acmes.clone().into_record(),
        p.clone().into_record(),
        d.clone().into_record(),
    ];
    put_all(&store, t, records.clone()).await;
    // Another tenant with the same words finds only its own.
    let u = tenant();
    put_all(&store, u, vec![contact(u, "Jane", "Acme").into_record()]).await;

    for q in [
        "jane",
        "JANE",
        "jan",
        "jane acme",
        "acme jane",
        "acme",
        "acm log",
        "cooper vp",
        "sail",
        "fleet",
        "kids quoted",
        "\"text\"",
        "and or",
        "or",
        "near",
        "-minus",
        "*star",
        "star*",
        "NEAR(jane acme)",
        "'; DROP TABLE contacts; --",
        "jane:*",
        "jane & acme | x",
        "zzz",
        "janex",
        "",
    ] {
        let got: BTreeSet<Uuid> = search_ids(&store, t, q, 100).await.into_iter().collect();
        assert_eq!(got, expected_hits(&records, q), "search {q:?}");
    }
    assert!(!search_ids(&store, t, "jane", 100).await.is_empty());
    assert_eq!(search_ids(&store, t, "a", 2).await.len(), 2, "the limit applies");
    assert_eq!(search_ids(&store, u, "jane", 100).await.len(), 1, "tenants are isolated");

    // Updates and deletes reach the index; a transaction sees its own writes.
    let mut jane2 = jane.clone();
    jane2.version = 2;
    jane2.family_name = "Zebulon".into();
    let mut tx = begin(&store, t).await;
    tx.update(jane2.clone().into_record()).await.expect("update");
    tx.delete(EntityKind::Company, acmes.id.as_uuid(), 1).await.expect("delete");
    let terms = crate::search::terms("zebulon");
    let own = tx.search(crate::search::SEARCHABLE, &terms, 10).await.expect("search in tx");
    assert_eq!(own.iter().map(Record::id).collect::<Vec<_>>(), vec![jane.id.as_uuid()], "own update is searchable");
    tx.commit().await.expect("commit");
    assert_eq!(search_ids(&store, t, "zebulon", 10).await, vec![jane.id.as_uuid()]);
    assert!(search_ids(&store, t, "cooper", 10).await.is_empty(), "the old name is gone from the index");
    assert!(!search_ids(&store, t, "supplies", 10).await.contains(&acmes.id.as_uuid()), "deleted records are gone");
    // A rolled-back write leaves the index as it was.
    let mut tx = begin(&store, t).await;
    let mut ghost = contact(t, "Ghostly", "Visitor");
    ghost.tags = vec!["phantom".into()];
    tx.insert(ghost.into_record()).await.expect("insert");
    tx.rollback().await.expect("rollback");
    assert!(search_ids(&store, t, "phantom", 10).await.is_empty(), "rolled back inserts are not found");
}

/// `insert_many` writes every record exactly as `insert` would: more rows than one SQL
/// statement can carry, several kinds in one call, searchable and counted at once. A clash
/// with a stored id gives that id's `Conflict`, a taken unique key `Duplicate`, a record of
/// another tenant `Forbidden`; after any of them the transaction does not commit and none of
/// its records lands.
pub async fn insert_many_is_insert_of_each(store: Arc<dyn Store>) {
    let t = tenant();
    let mut records: Vec<Record> = (0..2500)
        .map(|i| {
            let mut c = contact(t, "Bulk", &format!("Person{i}"));
            c.custom = sample_custom();
            c.into_record()
        })
        .collect();
    records.push(company(t, "Bulkco Holdings").into_record());
    records.push(bare_product(t, "BULK-1").into_record());
    let mut tx = begin(&store, t).await;
    tx.insert_many(&records).await.expect("insert_many");
    assert_eq!(tx.count(EntityKind::Contact, &Filter::All).await.expect("count"), 2500, "own writes");
    tx.commit().await.expect("commit");
    for r in [&records[0], &records[1234], &records[2499], &records[2500], &records[2501]] {
        assert_eq!(get(&store, t, r.kind(), r.id()).await.as_ref(), Some(r), "round trip of {} {}", r.kind(), r.id());
    }
    assert_eq!(search_ids(&store, t, "bulkco", 10).await, vec![records[2500].id()]);
    assert_eq!(search_ids(&store, t, "person2499", 10).await, vec![records[2499].id()]);
    let listed = select(&store, t, EntityKind::Contact, Query::new(Filter::All).limit(1000)).await;
    assert_eq!(listed.len(), 2500);

    let fresh = contact(t, "Fresh", "Before");
    let mut stale = records[7].clone();
    stale.set_updated_at(at(99));
    let mut tx = begin(&store, t).await;
    let err = tx.insert_many(&[fresh.clone().into_record(), stale]).await.expect_err("existing id");
    assert!(matches!(err, Error::Conflict { id, expected: 0, found: Some(1), .. } if id == records[7].id()), "{err:?}");
    assert!(tx.commit().await.is_err(), "a failed insert_many must not commit");
    assert_eq!(get(&store, t, EntityKind::Contact, fresh.id.as_uuid()).await, None);
    assert_eq!(get(&store, t, EntityKind::Contact, records[7].id()).await.as_ref(), Some(&records[7]));

    let mut tx = begin(&store, t).await;
    let dup = [fresh.clone().into_record(), bare_product(t, "bulk-1").into_record()];
    let res = tx.insert_many(&dup).await;
    assert_duplicate(&res, "sku", "insert_many of a taken SKU");
    assert!(tx.commit().await.is_err());
    assert_eq!(get(&store, t, EntityKind::Contact, fresh.id.as_uuid()).await, None);

    let mut tx = begin(&store, t).await;
    let other = contact(tenant(), "Other", "Tenant").into_record();
    let err = tx.insert_many(&[fresh.clone().into_record(), other]).await.expect_err("other tenant");
    assert!(matches!(err, Error::Forbidden(_)), "{err:?}");
    assert!(tx.commit().await.is_err());
    assert_eq!(get(&store, t, EntityKind::Contact, fresh.id.as_uuid()).await, None);
    let n = store.begin(t, TxMode::ReadOnly).await.expect("begin").count(EntityKind::Contact, &Filter::All).await;
    assert_eq!(n.expect("count"), 2500);
}
