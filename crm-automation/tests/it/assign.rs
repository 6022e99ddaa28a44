//! Assignment on every store: new leads in turn among three reps, a territory and a deactivated
//! rep passed over, the least loaded rep under their capacity, shares by weight, and a record no
//! one can take logged as a failed step.

use std::sync::Arc;

use crm_core::model::{AssignMethod, Assignee, Step, Trigger};
use crm_core::prelude::*;
use crm_core::query::Filter;
use crm_core::store::Store;

use crate::World;

async fn reps(w: &World, names: &[&str]) -> Vec<UserId> {
    let mut out = Vec::new();
    for n in names {
        let email = format!("{}@shop.example", n.to_lowercase());
        out.push(w.cx().users().create(NewUser::new(*n, email)).await.unwrap().id);
    }
    out
}

async fn owners(w: &World, ids: &[ContactId]) -> Vec<Option<UserId>> {
    let mut out = Vec::new();
    for id in ids {
        out.push(w.cx().contacts().get(*id).await.unwrap().owner_id);
    }
    out
}

fn assign(method: AssignMethod, pool: Vec<Assignee>) -> NewWorkflow {
    NewWorkflow::new("Assign leads", EntityKind::Contact, Trigger::Created)
        .condition(Filter::is_null("owner_id"))
        .step(Step::Assign { method, pool, open: None })
}

pub(crate) async fn leads_go_round_in_turn_within_territories(store: Arc<dyn Store>) {
    let w = World::new(store);
    let cx = w.cx();
    let r = reps(&w, &["Ann", "Bob", "Cat"]).await;
    let mut de_only = Assignee::new(r[2]);
    de_only.territory = Some(Filter::contains("tags", "de"));
    let flow = cx
        .workflows()
        .create(assign(AssignMethod::RoundRobin, vec![Assignee::new(r[0]), Assignee::new(r[1]), de_only]))
        .await
        .unwrap();
    let mut made = Vec::new();
    for (i, tag) in ["de", "fr", "de", "fr", "fr"].iter().enumerate() {
        made.push(cx.contacts().create(NewContact::new("Lead", format!("No {i}")).tag(*tag)).await.unwrap().id);
        // One run per lead: each sees the turns the ones before took.
        w.auto.run(w.tenant).await.unwrap();
    }
    // Ann, Bob, Cat (German), Ann (Cat cannot take a French lead), Bob.
    assert_eq!(owners(&w, &made).await, [Some(r[0]), Some(r[1]), Some(r[2]), Some(r[0]), Some(r[1])]);
    // Whose turn it is survives a new runner, and a deactivated rep is passed over.
    cx.users().deactivate(r[2]).await.unwrap();
    let next = cx.contacts().create(NewContact::new("Lead", "German").tag("de")).await.unwrap().id;
    crm_automation::Automation::new(w.crm.clone()).run(w.tenant).await.unwrap();
    assert_eq!(owners(&w, &[next]).await, [Some(r[0])], "after Bob comes Cat, inactive: Ann");
    // The run log says whom each assignment picked.
    let runs = cx.workflow_runs(Filter::eq("workflow_id", flow.id), 10).await.unwrap();
    assert_eq!(runs.len(), 6);
    assert_eq!(runs[0].detail, Some(r[0].to_string()), "the latest picked Ann");
}

pub(crate) async fn the_least_loaded_under_capacity_and_shares_by_weight(store: Arc<dyn Store>) {
    let w = World::new(store);
    let cx = w.cx();
    let r = reps(&w, &["Dan", "Eve"]).await;
    // Dan owns two open deals already, Eve one.
    for (owner, name) in [(r[0], "D1"), (r[0], "D2"), (r[1], "E1")] {
        cx.deals().create(NewDeal::new(name).owner(owner)).await.unwrap();
    }
    let mut eve = Assignee::new(r[1]);
    eve.capacity = Some(3);
    cx.workflows()
        .create(
            NewWorkflow::new("Deals to the least loaded", EntityKind::Deal, Trigger::Created)
                .condition(Filter::is_null("owner_id"))
                .step(Step::Assign {
                    method: AssignMethod::LeastLoaded,
                    pool: vec![Assignee::new(r[0]), eve],
                    open: None,
                }),
        )
        .await
        .unwrap();
    let mut got = Vec::new();
    for i in 0..4 {
        let d = cx.deals().create(NewDeal::new(format!("New {i}"))).await.unwrap();
        w.auto.run(w.tenant).await.unwrap();
        got.push(cx.deals().get(d.id).await.unwrap().owner_id);
    }
    // Eve (1 < 2), then tied at 2: Dan first in the pool; Eve (2 < 3), then Eve is at her
    // capacity of 3: Dan.
    assert_eq!(got, [Some(r[1]), Some(r[0]), Some(r[1]), Some(r[0])]);

    // By weight, 3 to 1, over contacts.
    let (f, g) = (r[0], r[1]);
    let mut heavy = Assignee::new(f);
    heavy.weight = 3;
    cx.workflows().create(assign(AssignMethod::Weighted, vec![heavy, Assignee::new(g)])).await.unwrap();
    let mut made = Vec::new();
    for i in 0..8 {
        made.push(cx.contacts().create(NewContact::new("Weighted", format!("No {i}"))).await.unwrap().id);
    }
    w.auto.run(w.tenant).await.unwrap();
    let o = owners(&w, &made).await;
    assert_eq!((o.iter().filter(|x| **x == Some(f)).count(), o.iter().filter(|x| **x == Some(g)).count()), (6, 2));
}

pub(crate) async fn a_record_no_one_can_take_is_a_failed_step(store: Arc<dyn Store>) {
    let w = World::new(store);
    let cx = w.cx();
    let r = reps(&w, &["Fay"]).await;
    let mut fay = Assignee::new(r[0]);
    fay.territory = Some(Filter::contains("tags", "uk"));
    let flow = cx.workflows().create(assign(AssignMethod::RoundRobin, vec![fay])).await.unwrap();
    let c = cx.contacts().create(NewContact::new("Out", "Ofarea").tag("us")).await.unwrap();
    let report = w.auto.run(w.tenant).await.unwrap();
    assert_eq!(report.failed.len(), 1, "{report:?}");
    assert!(report.failed[0].error.contains("no one in the pool"), "{}", report.failed[0].error);
    assert_eq!(cx.contacts().get(c.id).await.unwrap().owner_id, None);
    let runs = cx.workflow_runs(Filter::eq("workflow_id", flow.id), 10).await.unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].outcome, crm_core::model::RunOutcome::Failed);
    // A failed step is not tried again.
    assert!(w.auto.run(w.tenant).await.unwrap().failed.is_empty());
}

macro_rules! assign_suite {
    ($make:path) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn leads_go_round_in_turn_within_territories() {
            let (store, _dir) = $make().await;
            super::super::leads_go_round_in_turn_within_territories(store).await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn the_least_loaded_under_capacity_and_shares_by_weight() {
            let (store, _dir) = $make().await;
            super::super::the_least_loaded_under_capacity_and_shares_by_weight(store).await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn a_record_no_one_can_take_is_a_failed_step() {
            let (store, _dir) = $make().await;
            super::super::a_record_no_one_can_take_is_a_failed_step(store).await
        }
    };
}

mod on {
    crate::on_every_store!(assign_suite);
}
