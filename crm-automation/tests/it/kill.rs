//! One real SIGKILL on SQLite: a child process (this test binary run again, with
//! `CRM_AUTOMATION_KILL` naming the database) runs the workflow of sixty new contacts and is
//! killed at random moments, again and again, until one child gets through. Every contact then
//! has one task, one tag and one stamp, and the run log each step once.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crm_automation::Automation;
use crm_core::model::{Step, Trigger};
use crm_core::prelude::*;
use crm_core::query::Filter;
use crm_core::store::TxMode;
use crm_storage::SqlStore;
use serde_json::json;

const CHILD: &str = "CRM_AUTOMATION_KILL";
const CONTACTS: usize = 60;

fn tenant() -> TenantId {
    TenantId::from_uuid(uuid::Uuid::from_u128(0x0193_0000_0000_7000_8000_0000_0000_a11e))
}

/// The child: runs the workflows until there is nothing left, then says so.
async fn child(db: &str) {
    let crm = Crm::new(SqlStore::sqlite(db).await.expect("the child opens the database"));
    let auto = Automation::new(crm);
    loop {
        if auto.run(tenant()).await.expect("a run").events == 0 {
            break;
        }
    }
    println!("drained");
}

#[test]
fn a_runner_killed_again_and_again_repeats_no_step() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    if let Ok(db) = std::env::var(CHILD) {
        return rt.block_on(child(&db));
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("kill.db");
    let db = db.to_str().unwrap().to_owned();
    let made = rt.block_on(async {
        let crm = Crm::new(SqlStore::sqlite(&db).await.unwrap());
        let cx = crm.as_actor(&Actor::system(tenant()));
        cx.workflows()
            .create(
                NewWorkflow::new("Onboard", EntityKind::Contact, Trigger::Created)
                    .step(Step::CreateTask { title: "Welcome call".into(), due_in: None, assign_to: None })
                    .step(Step::AddTags { tags: vec!["onboarding".into()] })
                    .step(Step::Update { fields: json!({"department": "Onboarded"}).as_object().unwrap().clone() }),
            )
            .await
            .unwrap();
        let mut made = Vec::new();
        for i in 0..CONTACTS {
            made.push(cx.contacts().create(NewContact::new("Kim", format!("Kill {i}"))).await.unwrap().id);
        }
        made
    });
    // Kill times from a fixed seed, spread over a child's life.
    let mut rng = fastrand::Rng::with_seed(24);
    let (mut kills, started) = (0, Instant::now());
    loop {
        assert!(started.elapsed() < Duration::from_secs(120), "no child got through in two minutes");
        let exe = std::env::current_exe().unwrap();
        let mut c = Command::new(exe)
            .args([
                "--exact",
                "kill::a_runner_killed_again_and_again_repeats_no_step",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD, &db)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(rng.u64(20..400)));
        if c.try_wait().unwrap().is_none() {
            c.kill().unwrap(); // SIGKILL
            c.wait().unwrap();
            kills += 1;
            continue;
        }
        let out = c.wait_with_output().unwrap();
        if String::from_utf8_lossy(&out.stdout).contains("drained") {
            break;
        }
        panic!("a child failed: {}", String::from_utf8_lossy(&out.stdout));
    }
    assert!(kills >= 3, "the runner was killed at work ({kills} kills)");
    rt.block_on(async {
        let crm = Crm::new(SqlStore::sqlite(&db).await.unwrap());
        let cx = crm.as_actor(&Actor::system(tenant()));
        for id in &made {
            let c = cx.contacts().get(*id).await.unwrap();
            assert_eq!(c.tags, ["onboarding"], "{}", c.family_name);
            assert_eq!(c.department.as_deref(), Some("Onboarded"));
            let f = Filter::eq("kind", ActivityKind::Task).and(Filter::contains("contact_ids", *id));
            assert_eq!(
                cx.activities().count(&f).await.unwrap(),
                1,
                "one task for {} after {kills} kills",
                c.family_name
            );
        }
        let mut tx = crm.store().begin(tenant(), TxMode::ReadOnly).await.unwrap();
        let runs = tx.count(EntityKind::WorkflowRun, &Filter::All).await.unwrap();
        assert_eq!(runs, CONTACTS as u64 * 3, "each step logged once, none failed");
    });
}
