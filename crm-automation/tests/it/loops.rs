//! Loop safety on every store: a rule that changes the field it listens to runs once; two
//! rules setting each other off stop at the depth limit; a rule runs at most so often per
//! record and hour. Every stop is reported and logged.

use std::sync::Arc;

use chrono::Duration;
use crm_automation::{Options, StopReason};
use crm_core::model::{RunOutcome, Step, Trigger};
use crm_core::prelude::*;
use crm_core::query::Filter;
use crm_core::store::Store;
use serde_json::json;

use crate::World;

fn set(field: &str, value: &str) -> Step {
    Step::Update { fields: json!({ field: value }).as_object().unwrap().clone() }
}

pub(crate) async fn a_rule_changing_what_it_listens_to_runs_once(store: Arc<dyn Store>) {
    let w = World::new(store);
    let cx = w.cx();
    let flow = cx
        .workflows()
        .create(
            NewWorkflow::new("Stamp every edit", EntityKind::Contact, Trigger::Updated { fields: vec![] })
                .step(set("department", "Stamped")),
        )
        .await
        .unwrap();
    let c = cx.contacts().create(NewContact::new("Lou", "Loop")).await.unwrap();
    let mut edit = c.clone();
    edit.job_title = Some("Buyer".into());
    cx.contacts().update(edit).await.unwrap();

    let report = w.auto.run_pending(w.tenant).await.unwrap();
    assert_eq!(report.fired.len(), 1, "{report:?}");
    assert_eq!(report.stopped.len(), 1);
    assert_eq!(report.stopped[0].reason, StopReason::OwnChange);
    assert_eq!(cx.contacts().get(c.id).await.unwrap().department.as_deref(), Some("Stamped"));
    // Its own change is on the outbox with the workflow as its origin, one reaction deep.
    let events = cx.events(&EventQuery::after(0, 100)).await.unwrap();
    let own = events.iter().rev().find(|e| e.event.subject == c.entity_ref()).unwrap();
    assert_eq!(own.event.origin.as_deref(), Some(crm_automation::origin_of(flow.id).as_str()));
    assert_eq!(own.event.depth, 1);
    // Both outcomes are in the run log; the next run has nothing to do.
    let runs = cx.workflow_runs(Filter::eq("workflow_id", flow.id), 10).await.unwrap();
    let mut outcomes: Vec<RunOutcome> = runs.iter().map(|r| r.outcome).collect();
    outcomes.sort_by_key(|o| o.as_str());
    assert_eq!(outcomes, [RunOutcome::Done, RunOutcome::Stopped]);
    let again = w.auto.run_pending(w.tenant).await.unwrap();
    assert_eq!((again.fired.len(), again.stopped.len(), again.events), (0, 0, 0));
}

pub(crate) async fn rules_setting_each_other_off_stop_at_the_depth_limit(store: Arc<dyn Store>) {
    let w = World::new(store);
    let cx = w.cx();
    for (name, from, to) in [("Ping", "ping", "pong"), ("Pong", "pong", "ping")] {
        cx.workflows()
            .create(
                NewWorkflow::new(name, EntityKind::Contact, Trigger::Updated { fields: vec!["job_title".into()] })
                    .condition(Filter::eq("job_title", from))
                    .step(set("job_title", to)),
            )
            .await
            .unwrap();
    }
    let c = cx.contacts().create(NewContact::new("Pat", "Pingpong")).await.unwrap();
    let mut edit = c.clone();
    edit.job_title = Some("ping".into());
    cx.contacts().update(edit).await.unwrap();

    let report = w.auto.run_pending(w.tenant).await.unwrap();
    let max = crm_automation::Options::default().max_depth;
    assert_eq!(report.fired.len(), usize::from(max), "one run per level below the limit: {report:?}");
    assert_eq!(report.stopped.len(), 1);
    assert_eq!(report.stopped[0].reason, StopReason::Depth { depth: max });
    // Ping (depth 1), Pong (2), Ping (3), Pong (4): the title is back where the user put it.
    assert_eq!(cx.contacts().get(c.id).await.unwrap().job_title.as_deref(), Some("ping"));
    assert_eq!(w.auto.run_pending(w.tenant).await.unwrap().events, 0, "nothing left to do");
}

pub(crate) async fn a_rule_runs_at_most_so_often_per_record(store: Arc<dyn Store>) {
    let w = World::new(store);
    let auto = w.auto.clone().with_options(Options { max_runs_per_hour: 2, ..Options::default() }).unwrap();
    let cx = w.cx();
    cx.workflows()
        .create(
            NewWorkflow::new(
                "Task per title change",
                EntityKind::Contact,
                Trigger::Updated { fields: vec!["job_title".into()] },
            )
            .step(Step::CreateTask { title: "Check the new title".into(), due_in: None, assign_to: None }),
        )
        .await
        .unwrap();
    let mut c = cx.contacts().create(NewContact::new("Ray", "Rate")).await.unwrap();
    for title in ["One", "Two", "Three"] {
        c.job_title = Some(title.into());
        c = cx.contacts().update(c).await.unwrap();
        w.clock.advance(Duration::minutes(5));
    }
    let report = auto.run_pending(w.tenant).await.unwrap();
    assert_eq!(report.fired.len(), 2);
    assert_eq!(report.stopped.len(), 1);
    assert_eq!(report.stopped[0].reason, StopReason::RateLimit { runs: 2 });
    // An hour later it runs again.
    w.clock.advance(Duration::minutes(61));
    c.job_title = Some("Four".into());
    cx.contacts().update(c.clone()).await.unwrap();
    assert_eq!(auto.run_pending(w.tenant).await.unwrap().fired.len(), 1);
    assert_eq!(w.tasks_about("contact_ids", c.id).await.len(), 3);
    assert_eq!(auto.counters().values().stopped, 1);
    assert_eq!(auto.counters().values().fired, 3);
}

macro_rules! loops_suite {
    ($make:path) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn a_rule_changing_what_it_listens_to_runs_once() {
            let (store, _dir) = $make().await;
            super::super::a_rule_changing_what_it_listens_to_runs_once(store).await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn rules_setting_each_other_off_stop_at_the_depth_limit() {
            let (store, _dir) = $make().await;
            super::super::rules_setting_each_other_off_stop_at_the_depth_limit(store).await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn a_rule_runs_at_most_so_often_per_record() {
            let (store, _dir) = $make().await;
            super::super::a_rule_runs_at_most_so_often_per_record(store).await
        }
    };
}

mod on {
    crate::on_every_store!(loops_suite);
}
