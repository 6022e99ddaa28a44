//! Triggers and conditions on every store: a follow-up task three days after a deal reaches
//! the proposal stage, edge triggering judged change by change while the runner is behind,
//! creations and deletions, manual and dry runs.

use std::sync::Arc;

use chrono::Duration;
use crm_automation::RunReport;
use crm_core::model::{EventType, RunOutcome, Step, Trigger};
use crm_core::prelude::*;
use crm_core::query::Filter;
use crm_core::store::Store;

use crate::World;

pub(crate) async fn a_task_follows_a_proposal(store: Arc<dyn Store>) {
    let w = World::new(store);
    let cx = w.cx();
    let sam = cx.users().create(NewUser::new("Sam Seller", "sam@shop.example")).await.unwrap();
    let pipeline = cx.pipelines().default_pipeline().await.unwrap();
    let proposal = pipeline.stage_named("Proposal").unwrap().id;
    let flow = cx
        .workflows()
        .create(
            NewWorkflow::new("Proposal follow-up", EntityKind::Deal, Trigger::Event { event: EventType::StageChanged })
                .condition(Filter::eq("stage_id", proposal))
                .step(Step::CreateTask {
                    title: "Follow up on the proposal".into(),
                    due_in: Some("3d".parse().unwrap()),
                    assign_to: None,
                }),
        )
        .await
        .unwrap();
    let ada = cx.contacts().create(NewContact::new("Ada", "Buyer")).await.unwrap();
    let deal = cx
        .deals()
        .create(NewDeal::new("Shop fit-out").contact(ada.id).owner(sam.id).amount(crate::eur(9_000)))
        .await
        .unwrap();
    let other = cx.deals().create(NewDeal::new("Spare parts").contact(ada.id)).await.unwrap();
    // Nothing has reached the proposal stage yet.
    assert_eq!(w.auto.run_pending(w.tenant).await.unwrap().steps_done(), 0);

    w.clock.advance(Duration::hours(2));
    cx.deals().move_to_stage(deal.id, proposal).await.unwrap();
    let qualified = pipeline.stages.iter().find(|s| s.id != proposal && s.id != deal.stage_id).unwrap().id;
    cx.deals().move_to_stage(other.id, qualified).await.unwrap();
    let report = w.auto.run_pending(w.tenant).await.unwrap();
    assert_eq!(report.fired.len(), 1, "{report:?}");
    assert_eq!(report.fired[0].subject, deal.entity_ref());
    assert_eq!(report.cursor, w.auto.cursor(w.tenant).await.unwrap());

    let tasks = w.tasks_about("deal_ids", deal.id).await;
    assert_eq!(tasks.len(), 1);
    let task = &tasks[0];
    assert_eq!(task.subject, "Follow up on the proposal");
    assert_eq!(task.due_at, Some(crate::start() + Duration::hours(2) + Duration::days(3)));
    assert_eq!(task.owner_id, Some(sam.id), "the deal's owner gets the task");
    assert_eq!(task.contact_ids, [ada.id], "the deal's contact is linked too");
    assert!(w.tasks_about("deal_ids", other.id).await.is_empty(), "another stage sets nothing off");

    // The run is logged with the workflow's version; a second run does nothing.
    let runs = cx.workflow_runs(Filter::eq("workflow_id", flow.id), 10).await.unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!((runs[0].outcome, runs[0].workflow_version, runs[0].step), (RunOutcome::Done, 1, 0));
    assert_eq!(runs[0].subject, deal.entity_ref());
    assert_eq!(w.auto.run_pending(w.tenant).await.unwrap(), RunReport { cursor: report.cursor, ..Default::default() });
    assert_eq!(w.tasks_about("deal_ids", deal.id).await.len(), 1);
}

pub(crate) async fn edges_are_judged_change_by_change(store: Arc<dyn Store>) {
    let w = World::new(store);
    let cx = w.cx();
    cx.workflows()
        .create(
            NewWorkflow::new("New VIP", EntityKind::Contact, Trigger::Updated { fields: vec!["tags".into()] })
                .condition(Filter::contains("tags", "vip"))
                .on_edge()
                .step(Step::CreateTask { title: "Call the new VIP".into(), due_in: None, assign_to: None }),
        )
        .await
        .unwrap();
    let c = cx.contacts().create(NewContact::new("Vic", "Important")).await.unwrap();
    let set_tags = |mut c: Contact, tags: &[&str]| {
        c.tags = tags.iter().map(|t| t.to_string()).collect();
        c
    };
    // Five changes before the runner looks: becomes VIP, stays VIP (another tag), an unrelated
    // edit, stops being VIP, becomes VIP again. Only the first and the last are edges.
    let c = cx.contacts().update(set_tags(c, &["vip"])).await.unwrap();
    let c = cx.contacts().update(set_tags(c, &["vip", "golf"])).await.unwrap();
    let mut edit = c.clone();
    edit.job_title = Some("Owner".into());
    let c = cx.contacts().update(edit).await.unwrap();
    let c = cx.contacts().update(set_tags(c, &["golf"])).await.unwrap();
    let c = cx.contacts().update(set_tags(c, &["golf", "VIP"])).await.unwrap();

    let report = w.auto.run_pending(w.tenant).await.unwrap();
    let fired: Vec<&str> = report.fired.iter().map(|f| f.occurrence.as_str()).collect();
    assert_eq!(fired.len(), 2, "{report:?}");
    let seqs: Vec<u64> = fired.iter().map(|o| o.trim_start_matches("event:").parse().unwrap()).collect();
    assert!(seqs[0] < seqs[1]);
    assert_eq!(w.tasks_about("contact_ids", c.id).await.len(), 2);
}

pub(crate) async fn creations_deletions_manual_and_dry_runs(store: Arc<dyn Store>) {
    let w = World::new(store);
    let cx = w.cx();
    let greet = cx
        .workflows()
        .create(
            NewWorkflow::new("Tag new leads", EntityKind::Contact, Trigger::Created)
                .condition(Filter::eq("lifecycle_stage", LifecycleStage::Lead))
                .step(Step::AddTags { tags: vec!["new-lead".into()] })
                .step(Step::Update {
                    fields: serde_json::json!({"preferred_channel": "email"}).as_object().unwrap().clone(),
                }),
        )
        .await
        .unwrap();
    let gone = cx
        .workflows()
        .create(NewWorkflow::new("Note lost companies", EntityKind::Company, Trigger::Deleted).step(Step::CreateTask {
            title: "A company was removed".into(),
            due_in: None,
            assign_to: None,
        }))
        .await
        .unwrap();
    let lead =
        cx.contacts().create(NewContact::new("Lea", "Lead").lifecycle_stage(LifecycleStage::Lead)).await.unwrap();
    let sub = cx
        .contacts()
        .create(NewContact::new("Sue", "Subscriber").lifecycle_stage(LifecycleStage::Subscriber))
        .await
        .unwrap();
    let acme = cx.companies().create(NewCompany::new("Acme")).await.unwrap();

    // A dry run of what is in the outbox: the lead's creation, nothing else, nothing written.
    let would = w.auto.dry_run(w.tenant, &[greet.clone(), gone.clone()], 0, 1000).await.unwrap();
    assert_eq!(would.len(), 1, "{would:?}");
    assert_eq!(
        (would[0].subject, would[0].actions.clone()),
        (lead.entity_ref(), vec!["add_tags".into(), "update".into()])
    );
    assert!(cx.contacts().get(lead.id).await.unwrap().tags.is_empty(), "a dry run writes nothing");

    cx.companies().delete(acme.id, acme.version).await.unwrap();
    let report = w.auto.run_pending(w.tenant).await.unwrap();
    assert_eq!(report.fired.len(), 2, "{report:?}");
    let lead = cx.contacts().get(lead.id).await.unwrap();
    assert_eq!(lead.tags, ["new-lead"]);
    assert_eq!(lead.preferred_channel.map(|c| c.to_string()).as_deref(), Some("email"));
    assert!(cx.contacts().get(sub.id).await.unwrap().tags.is_empty(), "a subscriber is not a lead");
    let removed = cx.activities().list(&Query::new(Filter::eq("subject", "A company was removed"))).await.unwrap();
    assert_eq!(removed.items.len(), 1);

    // By hand: the greeting on the subscriber runs only if the condition holds.
    let none = w.auto.run_manual(w.tenant, greet.id, sub.entity_ref()).await.unwrap();
    assert!(none.fired.is_empty());
    let mut promoted = cx.contacts().get(sub.id).await.unwrap();
    promoted.lifecycle_stage = LifecycleStage::Lead;
    cx.contacts().update(promoted).await.unwrap();
    let by_hand = w.auto.run_manual(w.tenant, greet.id, sub.entity_ref()).await.unwrap();
    assert_eq!(by_hand.steps_done(), 2);
    assert_eq!(cx.contacts().get(sub.id).await.unwrap().tags, ["new-lead"]);
    let wrong = w.auto.run_manual(w.tenant, greet.id, EntityRef::new(EntityKind::Company, acme.id)).await;
    assert_eq!(wrong.unwrap_err().field_errors()[0].field, "subject");
}

pub(crate) async fn a_rule_sees_only_what_happens_while_it_is_on(store: Arc<dyn Store>) {
    use chrono::Duration;
    let w = World::new(store);
    let cx = w.cx();
    let old = cx
        .contacts()
        .create(NewContact::new("Old", "Timer").lifecycle_stage(LifecycleStage::Subscriber))
        .await
        .unwrap();
    w.clock.advance(Duration::minutes(1));
    // The welcome of the library's own documentation: on becoming a customer, once.
    cx.workflows()
        .create(
            NewWorkflow::new(
                "Welcome customers",
                EntityKind::Contact,
                Trigger::Updated { fields: vec!["lifecycle_stage".into()] },
            )
            .condition(Filter::eq("lifecycle_stage", LifecycleStage::Customer))
            .on_edge()
            .step(Step::CreateTask { title: "Welcome call".into(), due_in: None, assign_to: None }),
        )
        .await
        .unwrap();
    let greet = cx
        .workflows()
        .create(
            NewWorkflow::new("Greet", EntityKind::Contact, Trigger::Created)
                .step(Step::AddTags { tags: vec!["greeted".into()] }),
        )
        .await
        .unwrap();
    w.clock.advance(Duration::minutes(1));
    let new = cx
        .contacts()
        .create(NewContact::new("New", "Comer").lifecycle_stage(LifecycleStage::Subscriber))
        .await
        .unwrap();
    // A lifecycle move is its own event, carrying the field's old and new value.
    for c in [&old, &new] {
        let mut c = cx.contacts().get(c.id).await.unwrap();
        c.lifecycle_stage = LifecycleStage::Customer;
        cx.contacts().update(c).await.unwrap();
    }
    let report = w.auto.run(w.tenant).await.unwrap();
    assert_eq!(report.fired.len(), 3, "{report:?}");
    assert!(cx.contacts().get(old.id).await.unwrap().tags.is_empty(), "created before the rule: not greeted");
    assert_eq!(cx.contacts().get(new.id).await.unwrap().tags, ["greeted"]);
    assert_eq!(w.tasks_about("contact_ids", old.id).await.len(), 1, "became a customer after: welcomed");

    // Switched off, a change passes; switched on again, it is not caught up.
    cx.workflows().set_enabled(greet.id, false).await.unwrap();
    w.clock.advance(Duration::minutes(1));
    let unseen = cx.contacts().create(NewContact::new("While", "Off")).await.unwrap();
    w.clock.advance(Duration::minutes(1));
    cx.workflows().set_enabled(greet.id, true).await.unwrap();
    w.auto.run(w.tenant).await.unwrap();
    assert!(cx.contacts().get(unseen.id).await.unwrap().tags.is_empty());
}

macro_rules! triggers_suite {
    ($make:path) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn a_task_follows_a_proposal() {
            let (store, _dir) = $make().await;
            super::super::a_task_follows_a_proposal(store).await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn edges_are_judged_change_by_change() {
            let (store, _dir) = $make().await;
            super::super::edges_are_judged_change_by_change(store).await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn a_rule_sees_only_what_happens_while_it_is_on() {
            let (store, _dir) = $make().await;
            super::super::a_rule_sees_only_what_happens_while_it_is_on(store).await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn creations_deletions_manual_and_dry_runs() {
            let (store, _dir) = $make().await;
            super::super::creations_deletions_manual_and_dry_runs(store).await
        }
    };
}

mod on {
    crate::on_every_store!(triggers_suite);
}
