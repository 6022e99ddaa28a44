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

pub mod faults;
pub mod fixtures;

mod access;
mod aggregates;
mod customers;
mod events;
mod hostile;
mod privacy;
mod queries;
mod records;
mod search;
mod transactions;
mod unique_keys;

pub use access::*;
pub use aggregates::*;
pub use customers::*;
pub use events::*;
pub use hostile::*;
pub use privacy::*;
pub use queries::*;
pub use records::*;
pub use search::*;
pub use transactions::*;
pub use unique_keys::*;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering as AtomicOrdering};
use std::time::{Duration, Instant};

use rust_decimal::Decimal;
use uuid::Uuid;

use crate::entity::{EntityKind, EntityRef};
use crate::error::{Error, FieldErrorCode};
use crate::event::{Change, Event, EventQuery, StoredEvent};
use crate::ids::{ContactId, EventId, InvoiceId, PipelineId, TenantId, UserId};
use crate::model::*;
use crate::model::{Entity, Record};
use crate::money::{Currency, Money};
use crate::profile::LifecycleStage;
use crate::query::{Filter, Query};
use crate::store::{Store, Transaction, TxMode};
use crate::value::Value;
use fixtures::*;

/// Every case of the suite, by name (what [`store_conformance_tests!`](crate::store_conformance_tests) runs).
pub const CASES: &[&str] = crate::store_conformance_tests!(@with names);

/// Generates one `#[tokio::test]` per conformance case for the store made by `$make`
/// (an expression callable as `$make().await -> Arc<dyn Store>`).
///
/// The cases are listed here once; [`CASES`](crate::testkit::CASES) is made from the same list.
#[macro_export]
macro_rules! store_conformance_tests {
    (@with $then:ident $($args:tt)*) => {
        $crate::store_conformance_tests! { @$then $($args)*;
            crud_every_kind, records_round_trip_exactly, insert_of_existing_id_conflicts,
            stale_writes_conflict, concurrent_writers_never_lose_updates, rollback_leaves_nothing,
            read_only_transactions_refuse_writes, tenants_are_isolated, filters_on_standard_fields,
            filters_on_custom_fields, filters_on_lists_ids_and_money, sorting_is_multi_key_with_nulls_first,
            pagination_has_no_gaps_or_duplicates_under_inserts, count_agrees_with_query,
            events_are_numbered_in_commit_order, events_form_an_intact_chain, scrubbed_events_keep_the_chain,
            unique_keys_are_enforced, concurrent_unique_claims_admit_one,
            every_kind_round_trips_exactly, filters_on_commerce_fields, count_and_query_agree_for_every_kind,
            failed_write_poisons_the_transaction, search_matches_every_term_as_a_prefix,
            insert_many_is_insert_of_each, hostile_strings_filter_and_search_as_the_reference,
            hostile_input_is_refused_naming_the_field, search_is_narrowed_before_the_limit,
            access_matches_the_reference, erasure_leaves_no_trace, customers_reach_only_their_own,
            aggregates_match_the_naive_reference, aggregates_bucket_by_calendar_and_time_zone,
            aggregate_sums_are_exact
        }
    };
    (@names; $($case:ident),* $(,)?) => {
        &[$(stringify!($case)),*]
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
    ($make:expr) => {
        $crate::store_conformance_tests!(@with cases $make);
    };
}

/// A small deterministic generator (xorshift), so a failing seed replays exactly.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
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
        values: Vec::new(),
        // Every store keeps what made a change and how deep a reaction it was.
        origin: Some("workflow:conformance".into()),
        depth: 2,
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
        merge_record(tenant, &c, &contact(tenant, "Old", "Twin"), case(tenant, c.id, "Moved").into_record())
            .into_record(),
    ];
    let rep = user(tenant, "Ria Rep", &format!("ria{n}@acme.example"), None);
    let north = team(tenant, &format!("North {n}"), vec![rep.id]);
    let desk = role(tenant, &format!("desk_{n}"));
    let people = [
        consent(tenant, c.id).into_record(),
        erasure(tenant, ContactId::new()).into_record(),
        share(tenant, d.entity_ref(), rep.id).into_record(),
        api_key(tenant, rep.id, &format!("crm_secret_{n}")).into_record(),
    ];
    let flow = workflow(tenant, &format!("Welcome {n}"));
    let run = workflow_run(tenant, &flow, c.entity_ref(), &format!("event:{n}"));
    let note = notification(tenant, rep.id, Some(c.entity_ref()));
    let timer = workflow_timer(tenant, &flow, Some(c.entity_ref()), n as u32);
    let people =
        people.into_iter().chain([flow.into_record(), run.into_record(), note.into_record(), timer.into_record()]);
    let more: Vec<Record> =
        more.into_iter().chain([rep.into_record(), north.into_record(), desk.into_record()]).chain(people).collect();
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

/// A product with no external refs, so only its SKU can collide.
fn bare_product(t: TenantId, sku: &str) -> Product {
    let mut p = product(t, sku);
    p.external_refs.clear();
    p
}

fn is_duplicate(err: &Error, field: &str) -> bool {
    matches!(err, Error::Validation(_))
        && err.field_errors().iter().any(|e| e.field == field && e.code == FieldErrorCode::Duplicate)
}

fn assert_duplicate(res: &Result<(), Error>, field: &str, what: &str) {
    let ok = matches!(res, Err(e) if is_duplicate(e, field));
    assert!(ok, "{what}: expected Error::Validation with a Duplicate error on `{field}`, got {res:?}");
}

async fn search_ids(store: &Arc<dyn Store>, t: TenantId, query: &str, limit: usize) -> Vec<Uuid> {
    let mut tx = store.begin(t, TxMode::ReadOnly).await.expect("begin");
    let terms = crate::search::terms(query);
    let hits = tx
        .search(&crate::search::every(crate::search::SEARCHABLE), &terms, limit)
        .await
        .unwrap_or_else(|e| panic!("search {query:?}: {e}"));
    hits.iter().map(Record::id).collect()
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
