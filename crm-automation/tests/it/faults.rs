//! Exactly once under faults: a store that fails at random — before a commit, or after it
//! (the commit landed but the caller hears an error, as when a process dies right after) —
//! under a runner that is simply called again until it gets through. Every contact still gets
//! exactly one task, one tag and one stamp, and the run log holds each step once.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crm_automation::Automation;
use crm_core::entity::EntityKind;
use crm_core::model::{Step, Trigger};
use crm_core::prelude::*;
use crm_core::query::Filter;
use crm_core::service::CrmBuilder;
use crm_core::store::{Store, TxMode};
use crm_core::testkit::faults::{At, Fault, FaultyStore};
use serde_json::json;

/// Faults injected so far, and the dice: one in `one_in` commits and outbox reads fails, half
/// of the commits before they land and half after.
struct Dice {
    faults: AtomicU64,
    rng: std::sync::Mutex<fastrand::Rng>,
    one_in: u32,
}

impl Dice {
    fn roll(&self, at: At) -> Option<Fault> {
        let mut rng = self.rng.lock().unwrap();
        if rng.u32(0..self.one_in) != 0 {
            return None;
        }
        self.faults.fetch_add(1, Ordering::Relaxed);
        Some(if matches!(at, At::Commit { .. }) && rng.bool() { Fault::After } else { Fault::Before })
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
    let rolled = dice.clone();
    let faulty = FaultyStore::new(store, move |at| rolled.roll(at));
    let faulty = CrmBuilder::from_arc(Arc::new(faulty)).build().unwrap();
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
