//! Exactly once under faults: a store that fails at random — before a commit, or after it
//! (the commit landed but the caller hears an error, as when a process dies right after) —
//! under a runner that is simply called again until it gets through. Every contact still gets
//! exactly one task, one tag and one stamp, and the run log holds each step once.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use crm_automation::Automation;
use crm_core::aggregate::{AggregateRow, Plan};
use crm_core::chain::ChainReport;
use crm_core::entity::EntityKind;
use crm_core::error::{Error, Result};
use crm_core::event::{Event, EventQuery, StoredEvent};
use crm_core::model::{Step, Trigger};
use crm_core::prelude::*;
use crm_core::query::Filter;
use crm_core::service::CrmBuilder;
use crm_core::store::{Store, Transaction, TxMode};
use serde_json::json;
use uuid::Uuid;

/// Faults injected so far, and the dice.
struct Dice {
    faults: AtomicU64,
    rng: std::sync::Mutex<fastrand::Rng>,
    /// One in this many commits and outbox reads fails.
    one_in: u32,
}

impl Dice {
    fn roll(&self) -> bool {
        let hit = self.rng.lock().unwrap().u32(0..self.one_in) == 0;
        if hit {
            self.faults.fetch_add(1, Ordering::Relaxed);
        }
        hit
    }
}

fn fault() -> Error {
    Error::storage("injected fault")
}

struct Faulty {
    inner: Arc<dyn Store>,
    dice: Arc<Dice>,
}

struct FaultyTx {
    inner: Box<dyn Transaction>,
    dice: Arc<Dice>,
}

#[async_trait]
impl Store for Faulty {
    async fn begin(&self, tenant: TenantId, mode: TxMode) -> Result<Box<dyn Transaction>> {
        Ok(Box::new(FaultyTx { inner: self.inner.begin(tenant, mode).await?, dice: self.dice.clone() }))
    }
    async fn read_events(&self, tenant: TenantId, query: &EventQuery) -> Result<Vec<StoredEvent>> {
        if self.dice.roll() {
            return Err(fault());
        }
        self.inner.read_events(tenant, query).await
    }
    async fn scrub_events(&self, tenant: TenantId, events: &[StoredEvent]) -> Result<()> {
        self.inner.scrub_events(tenant, events).await
    }
    async fn verify_events(&self, tenant: TenantId) -> Result<ChainReport> {
        self.inner.verify_events(tenant).await
    }
}

#[async_trait]
impl Transaction for FaultyTx {
    fn tenant(&self) -> TenantId {
        self.inner.tenant()
    }
    async fn get(&mut self, kind: EntityKind, id: Uuid) -> Result<Option<Record>> {
        self.inner.get(kind, id).await
    }
    async fn insert(&mut self, record: Record) -> Result<()> {
        self.inner.insert(record).await
    }
    async fn update(&mut self, record: Record) -> Result<()> {
        self.inner.update(record).await
    }
    async fn delete(&mut self, kind: EntityKind, id: Uuid, version: u64) -> Result<()> {
        self.inner.delete(kind, id, version).await
    }
    async fn query(&mut self, kind: EntityKind, query: &Query) -> Result<Page<Record>> {
        self.inner.query(kind, query).await
    }
    async fn count(&mut self, kind: EntityKind, filter: &Filter) -> Result<u64> {
        self.inner.count(kind, filter).await
    }
    async fn aggregate(&mut self, plan: &Plan) -> Result<Vec<AggregateRow>> {
        self.inner.aggregate(plan).await
    }
    async fn search(&mut self, kinds: &[(EntityKind, Filter)], terms: &[String], limit: usize) -> Result<Vec<Record>> {
        self.inner.search(kinds, terms, limit).await
    }
    async fn append_events(&mut self, events: Vec<Event>) -> Result<()> {
        self.inner.append_events(events).await
    }
    async fn commit(self: Box<Self>) -> Result<Vec<StoredEvent>> {
        let FaultyTx { inner, dice } = *self;
        // Half the faults strike before the commit, half after it landed.
        if dice.roll() {
            if dice.rng.lock().unwrap().bool() {
                inner.rollback().await?;
            } else {
                inner.commit().await?;
            }
            return Err(fault());
        }
        inner.commit().await
    }
    async fn rollback(self: Box<Self>) -> Result<()> {
        self.inner.rollback().await
    }
}

/// Rounds of `contacts` new contacts each, the runner called until it gets through, until
/// `min_faults` faults were injected; then every contact's effects are counted.
pub(crate) async fn every_step_runs_once_whatever_fails(store: Arc<dyn Store>, contacts: usize, min_faults: u64) {
    let tenant = TenantId::new();
    let plain = CrmBuilder::from_arc(store.clone()).build().unwrap();
    let cx = plain.as_actor(&Actor::system(tenant));
    cx.workflows()
        .create(
            NewWorkflow::new("Onboard", EntityKind::Contact, Trigger::Created)
                .step(Step::CreateTask {
                    title: "Welcome call".into(),
                    due_in: Some("2d".parse().unwrap()),
                    assign_to: None,
                })
                .step(Step::AddTags { tags: vec!["onboarding".into()] })
                .step(Step::Update { fields: json!({"department": "Onboarded"}).as_object().unwrap().clone() }),
        )
        .await
        .unwrap();
    let dice = Arc::new(Dice {
        faults: AtomicU64::new(0),
        rng: std::sync::Mutex::new(fastrand::Rng::with_seed(7)),
        one_in: 4,
    });
    let faulty = CrmBuilder::from_arc(Arc::new(Faulty { inner: store, dice: dice.clone() })).build().unwrap();
    // One run per contact and hour: a run resumed after a fault must not count its own first
    // step against the limit.
    let one = crm_automation::Options { max_runs_per_hour: 1, ..crm_automation::Options::default() };
    let auto = Automation::new(faulty).with_options(one).unwrap();
    let mut made = Vec::new();
    let mut errors = 0u64;
    while dice.faults.load(Ordering::Relaxed) < min_faults {
        for i in 0..contacts {
            let c = cx.contacts().create(NewContact::new("Fay", format!("Fault {}", made.len() + i))).await.unwrap();
            made.push(c.id);
        }
        loop {
            match auto.run_pending(tenant).await {
                Ok(r) if r.events == 0 => break,
                Ok(_) => {}
                Err(e) => {
                    errors += 1;
                    assert!(errors < 100_000, "the runner never gets through: {e}");
                }
            }
        }
    }
    assert!(errors > 0, "the runner met faults");
    for id in &made {
        let c = cx.contacts().get(*id).await.unwrap();
        assert_eq!(c.tags, ["onboarding"], "{}", c.family_name);
        assert_eq!(c.department.as_deref(), Some("Onboarded"));
        let f = Filter::eq("kind", ActivityKind::Task).and(Filter::contains("contact_ids", *id));
        assert_eq!(cx.activities().count(&f).await.unwrap(), 1, "one task for {}", c.family_name);
    }
    let mut tx = cx.crm().store().begin(tenant, TxMode::ReadOnly).await.unwrap();
    let all = tx.count(EntityKind::WorkflowRun, &Filter::All).await.unwrap();
    let done = tx.count(EntityKind::WorkflowRun, &Filter::eq("outcome", "done")).await.unwrap();
    assert_eq!(done, made.len() as u64 * 3, "each step logged once");
    assert_eq!(all, done, "nothing failed or stopped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_memory_a_thousand_faults_repeat_nothing() {
    let (store, _dir) = crate::memory().await;
    every_step_runs_once_whatever_fails(store, 10, 1000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_sqlite_faults_repeat_nothing() {
    let (store, _dir) = crate::sqlite().await;
    every_step_runs_once_whatever_fails(store, 10, 150).await;
}
