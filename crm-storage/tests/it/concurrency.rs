//! Many writers racing on one deal: every write either commits or fails with `Conflict`
//! (never "database is locked" / busy, never a lost update), and the deal ends at version
//! 1 + commits holding exactly the last committed write.
//!
//! Two kinds of writer: through the deals service (`Deals::update` of a deal read earlier,
//! which checks the version it was read at), and straight through the `Store` (read in one
//! transaction, write `version + 1` in another, so the store's own conditional update is what
//! refuses stale writes).
//!
//! SQLite runs with two separate stores on one file (as two processes would), which is what
//! exercises busy handling between writers; PostgreSQL (feature `postgres`) with two pools.

use std::future::Future;
use std::sync::Arc;

use crm_core::{
    actor::Actor, entity::EntityKind, error::Error, event::Change, event::EventQuery, ids::DealId, ids::TenantId,
    model::Deal, model::Entity, money::Currency, money::Money, service::Crm, service::NewDeal, service::Session,
    store::Store, store::TxMode,
};
use crm_storage::SqlStore;
use rust_decimal::Decimal;
use tokio::sync::Barrier;
use uuid::Uuid;

const WRITERS: usize = 16;
const ROUNDS: usize = 5;

/// How writer `i` of a round changes the deal (distinct per writer, so no write is a no-op).
fn edit(d: &mut Deal, round: usize, i: usize) {
    d.name = format!("round {round} writer {i}");
    d.amount = Some(Money::new(Decimal::new(10_000 + i as i64, 2), Currency::USD));
    d.tags = vec![format!("writer-{i}")];
}

/// Half the writers read the deal before the start line (they all see the same version),
/// half after it (they may see a later version and commit too).
fn reads_early(i: usize) -> bool {
    i % 4 < 2
}

/// Through the deals service.
async fn service_writer(
    Client { s, .. }: Client,
    id: DealId,
    barrier: Arc<Barrier>,
    round: usize,
    i: usize,
) -> crm_core::error::Result<Deal> {
    let early = if reads_early(i) { Some(s.deals().get(id).await) } else { None };
    barrier.wait().await;
    let mut d = match early {
        Some(d) => d?,
        None => s.deals().get(id).await?,
    };
    edit(&mut d, round, i);
    s.deals().update(d).await
}

/// Straight through the store: read in one transaction, write `version + 1` in another.
async fn store_writer(
    c: Client,
    id: DealId,
    barrier: Arc<Barrier>,
    round: usize,
    i: usize,
) -> crm_core::error::Result<Deal> {
    let (store, t) = (c.store, c.s.tenant());
    let read = || async {
        let mut tx = store.begin(t, TxMode::ReadOnly).await?;
        tx.require::<Deal>(id).await
    };
    let early = if reads_early(i) { Some(read().await) } else { None };
    barrier.wait().await;
    let mut d = match early {
        Some(d) => d?,
        None => read().await?,
    };
    edit(&mut d, round, i);
    d.version += 1;
    let mut tx = store.begin(t, TxMode::ReadWrite).await?;
    tx.update(d.clone().into_record()).await?;
    tx.commit().await?;
    Ok(d)
}

/// One client of the database: a service session and the store beneath it.
#[derive(Clone)]
struct Client {
    s: Session,
    store: Arc<dyn Store>,
}

fn client(store: SqlStore, tenant: TenantId) -> Client {
    let crm = Crm::new(store);
    Client { s: crm.as_actor(&Actor::system(tenant)), store: crm.store().clone() }
}

/// `ROUNDS` rounds of `WRITERS` concurrent writers on a fresh deal; writer `i` goes through
/// `clients[i % clients.len()]`.
async fn race_on_one_deal<W, F>(clients: &[Client], writer: W)
where
    W: Fn(Client, DealId, Arc<Barrier>, usize, usize) -> F,
    F: Future<Output = crm_core::error::Result<Deal>> + Send + 'static,
{
    assert!(!clients.is_empty());
    for round in 0..ROUNDS {
        let deal = clients[0]
            .s
            .deals()
            .create(NewDeal::new(format!("round {round}")).amount(Money::new(Decimal::new(1, 0), Currency::USD)))
            .await
            .expect("create the contended deal");
        assert_eq!(deal.version, 1);

        let barrier = Arc::new(Barrier::new(WRITERS));
        let handles: Vec<_> = (0..WRITERS)
            .map(|i| tokio::spawn(writer(clients[i % clients.len()].clone(), deal.id, barrier.clone(), round, i)))
            .collect();

        let mut committed: Vec<(usize, Deal)> = Vec::new();
        for (i, h) in handles.into_iter().enumerate() {
            match h.await.expect("writer task panicked") {
                Ok(d) => committed.push((i, d)),
                Err(Error::Conflict { kind, id, expected, found }) => {
                    assert_eq!((kind, id), (EntityKind::Deal, deal.id.as_uuid()), "conflict on another record");
                    assert!(
                        found.is_some_and(|f| f > expected),
                        "round {round}: writer {i} conflicted but the deal was not newer: expected {expected}, found {found:?}"
                    );
                }
                Err(e) => panic!("round {round}: writer {i} got `{e}` ({e:?}) instead of committing or Conflict"),
            }
        }
        let commits = committed.len() as u64;
        assert!(commits >= 1, "round {round}: no writer committed");

        // Each commit produced exactly one new version: 2, 3, …, 1 + commits.
        let mut versions: Vec<u64> = committed.iter().map(|(_, d)| d.version).collect();
        versions.sort_unstable();
        assert_eq!(versions, (2..=1 + commits).collect::<Vec<_>>(), "round {round}: committed versions");

        let (last_writer, last) = committed.iter().max_by_key(|(_, d)| d.version).cloned().expect("commits >= 1");
        for c in clients {
            let stored = c.s.deals().get(deal.id).await.expect("read the deal back");
            assert_eq!(stored.version, 1 + commits, "round {round}: final version is 1 + commits ({commits})");
            assert_eq!(stored, last, "round {round}: the deal holds the last committed write");
            assert_eq!(stored.name, format!("round {round} writer {last_writer}"));
            assert_eq!(stored.tags, vec![format!("writer-{last_writer}")]);
        }
    }
}

/// Service writers also leave one `Updated` event per commit and none for a failed write.
async fn service_race(clients: &[Client]) {
    race_on_one_deal(clients, service_writer).await;
    let s = &clients[0].s;
    let deals = s
        .deals()
        .list(&crm_core::query::Query::new(crm_core::query::Filter::All).limit(100))
        .await
        .expect("list deals");
    assert_eq!(deals.items.len(), ROUNDS);
    for deal in deals.items {
        let events = s
            .events(&EventQuery { after: 0, limit: 10_000, touching: Some(deal.entity_ref()) })
            .await
            .expect("read the deal's events");
        let updates = events
            .iter()
            .filter(|e| e.event.subject == deal.entity_ref() && matches!(e.event.change, Change::Updated { .. }))
            .count() as u64;
        assert_eq!(updates + 1, deal.version, "{}: one Updated event per committed write", deal.name);
    }
}

fn fresh_tenant() -> TenantId {
    TenantId::from_uuid(Uuid::now_v7())
}

async fn sqlite_pair() -> (tempfile::TempDir, [SqlStore; 2]) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("crm.db");
    let a = SqlStore::sqlite(&path).await.expect("open the file (store A)");
    let b = SqlStore::sqlite(&path).await.expect("open the same file again (store B)");
    (dir, [a, b])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_file_two_stores_service_writers_commit_or_conflict() {
    let (_dir, [a, b]) = sqlite_pair().await;
    let t = fresh_tenant();
    service_race(&[client(a, t), client(b, t)]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_file_two_stores_store_writers_commit_or_conflict() {
    let (_dir, [a, b]) = sqlite_pair().await;
    let t = fresh_tenant();
    race_on_one_deal(&[client(a, t), client(b, t)], store_writer).await;
}

#[cfg(feature = "postgres")]
mod postgres {
    use super::*;

    async fn pools() -> [SqlStore; 2] {
        let url = std::env::var("CRM_PG_URL")
            .expect("CRM_PG_URL must name a PostgreSQL database (see scripts/pg.sh; scripts/test.sh sets it)");
        let a = SqlStore::postgres_with(&url, 8).await.expect("connect to PostgreSQL (pool A)");
        let b = SqlStore::postgres_with(&url, 8).await.expect("connect to PostgreSQL (pool B)");
        [a, b]
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn postgres_service_writers_commit_or_conflict() {
        let [a, b] = pools().await;
        let t = fresh_tenant();
        service_race(&[client(a, t), client(b, t)]).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn postgres_store_writers_commit_or_conflict() {
        let [a, b] = pools().await;
        let t = fresh_tenant();
        race_on_one_deal(&[client(a, t), client(b, t)], store_writer).await;
    }

    /// Opening a store while another connection holds a write transaction open neither waits
    /// for it nor deadlocks with it: an open re-creates nothing that exists (an existing index
    /// re-declared with `IF NOT EXISTS` would take a share lock on its table until commit).
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn postgres_opening_a_store_waits_for_no_writer() {
        let [a, _] = pools().await;
        let t = fresh_tenant();
        let crm = Crm::new(a);
        let s = crm.as_actor(&Actor::system(t));
        let deal = s.deals().create(NewDeal::new("open while writing")).await.expect("a deal");
        // A write transaction that has written to the deals table and stays open.
        let mut tx = crm.store().begin(t, TxMode::ReadWrite).await.expect("begin");
        let mut d = deal.clone();
        d.name = "held".into();
        d.version += 1;
        tx.update(d.into_record()).await.expect("update inside the open transaction");
        let url = std::env::var("CRM_PG_URL").expect("CRM_PG_URL");
        let opened = tokio::time::timeout(std::time::Duration::from_secs(10), SqlStore::postgres_with(&url, 2)).await;
        assert!(matches!(opened, Ok(Ok(_))), "the open waited for the writer or failed: {opened:?}");
        // The writer is unharmed and commits.
        tx.commit().await.expect("the writer commits");
        assert_eq!(s.deals().get(deal.id).await.expect("the deal").name, "held");
    }
}
