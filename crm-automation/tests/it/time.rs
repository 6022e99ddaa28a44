//! Time on every store: a birthday on 29 February greeted each year at 09:00 Berlin time, a
//! task three days before an expected close across the change to summer time, a date that
//! moves its timer, a step that waits two days, and a weekly schedule.

use std::sync::Arc;

use chrono::{Duration, NaiveDate, TimeZone, Utc};
use crm_core::model::{Delay, DelayUnit, Step, Trigger};
use crm_core::prelude::*;
use crm_core::query::Filter;
use crm_core::store::Store;

use crate::World;

fn berlin() -> chrono_tz::Tz {
    chrono_tz::Tz::Europe__Berlin
}

fn task(title: &str) -> Step {
    Step::CreateTask { title: title.into(), due_in: None, assign_to: None }
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

pub(crate) async fn a_leap_day_birthday_is_greeted_every_year(store: Arc<dyn Store>) {
    let w = World::new(store);
    let cx = w.cx();
    let owner = cx.users().create(NewUser::new("Olga Owner", "olga@shop.example")).await.unwrap();
    cx.workflows()
        .create(
            NewWorkflow::new(
                "Birthday wishes",
                EntityKind::Contact,
                Trigger::Date { field: "birthday".into(), before: None, after: None, yearly: true, at: None },
            )
            .time_zone(berlin())
            .step(Step::Notify {
                message: "Birthday today: send wishes".into(),
                users: vec![],
                owner: true,
            }),
        )
        .await
        .unwrap();
    w.clock.set(Utc.with_ymd_and_hms(2027, 2, 20, 12, 0, 0).unwrap());
    let leap =
        cx.contacts().create(NewContact::new("Lea", "Leap").birthday(date(1992, 2, 29)).owner(owner.id)).await.unwrap();
    cx.contacts().create(NewContact::new("Nat", "Nobirthday").owner(owner.id)).await.unwrap();
    w.auto.run(w.tenant).await.unwrap();
    let timers = cx
        .start_timers(cx.workflows().list(&Query::default()).await.unwrap().items[0].id, Some(leap.entity_ref()))
        .await
        .unwrap();
    // 28 February 2027 (no 29th), 09:00 in Berlin = 08:00 UTC.
    assert_eq!(
        timers.iter().map(|t| t.due_at).collect::<Vec<_>>(),
        [Utc.with_ymd_and_hms(2027, 2, 28, 8, 0, 0).unwrap()]
    );

    let inbox = |cx: Session| async move { cx.notifications().inbox(false, 50).await.unwrap() };
    let as_owner = w.crm.as_actor(&Actor::user(w.tenant, owner.id));
    w.clock.set(Utc.with_ymd_and_hms(2027, 2, 28, 7, 59, 0).unwrap());
    assert_eq!(w.auto.run_due(w.tenant).await.unwrap().steps_done(), 0, "not yet");
    w.clock.set(Utc.with_ymd_and_hms(2027, 2, 28, 8, 0, 0).unwrap());
    assert_eq!(w.auto.run_due(w.tenant).await.unwrap().steps_done(), 1);
    let got = inbox(as_owner.clone()).await;
    assert_eq!(got.len(), 1);
    assert_eq!((got[0].message.as_str(), got[0].link), ("Birthday today: send wishes", Some(leap.entity_ref())));
    assert_eq!(w.auto.run(w.tenant).await.unwrap().steps_done(), 0, "once a year");

    // In 2028, a leap year, on the 29th itself; the clocks are still on winter time.
    w.clock.set(Utc.with_ymd_and_hms(2028, 2, 29, 8, 0, 0).unwrap());
    assert_eq!(w.auto.run_due(w.tenant).await.unwrap().steps_done(), 1);
    assert_eq!(inbox(as_owner).await.len(), 2);
}

async fn due_times(w: &World, flow: WorkflowId, subject: EntityRef) -> Vec<chrono::DateTime<Utc>> {
    w.cx().start_timers(flow, Some(subject)).await.unwrap().iter().map(|t| t.due_at).collect()
}

pub(crate) async fn a_task_three_days_before_the_close_follows_the_date(store: Arc<dyn Store>) {
    let w = World::new(store);
    let cx = w.cx();
    let flow = cx
        .workflows()
        .create(
            NewWorkflow::new(
                "Chase before close",
                EntityKind::Deal,
                Trigger::Date {
                    field: "expected_close_date".into(),
                    before: Some(Delay::new(3, DelayUnit::Days)),
                    after: None,
                    yearly: false,
                    at: None,
                },
            )
            .time_zone(berlin())
            .condition(Filter::eq("status", "open"))
            .step(task("Chase the decision")),
        )
        .await
        .unwrap();
    // Closes Wednesday 1 April 2026: the task is due Sunday 29 March 09:00 Berlin, the day the
    // clocks go forward: 07:00 UTC, not 08:00.
    let deal = cx.deals().create(NewDeal::new("Spring order").expected_close(date(2026, 4, 1))).await.unwrap();
    w.auto.run(w.tenant).await.unwrap();
    assert_eq!(due_times(&w, flow.id, deal.entity_ref()).await, [Utc.with_ymd_and_hms(2026, 3, 29, 7, 0, 0).unwrap()]);

    // The close moves to 30 October: three days before is 27 October 09:00, winter time again.
    let mut d = cx.deals().get(deal.id).await.unwrap();
    d.expected_close_date = Some(date(2026, 10, 30));
    cx.deals().update(d).await.unwrap();
    w.auto.run(w.tenant).await.unwrap();
    assert_eq!(
        due_times(&w, flow.id, deal.entity_ref()).await,
        [Utc.with_ymd_and_hms(2026, 10, 27, 8, 0, 0).unwrap()],
        "the timer moved"
    );

    // The old time passes: nothing. The new one: the task.
    w.clock.set(Utc.with_ymd_and_hms(2026, 3, 30, 0, 0, 0).unwrap());
    assert_eq!(w.auto.run(w.tenant).await.unwrap().steps_done(), 0);
    w.clock.set(Utc.with_ymd_and_hms(2026, 10, 27, 8, 0, 0).unwrap());
    assert_eq!(w.auto.run(w.tenant).await.unwrap().steps_done(), 1);
    assert_eq!(w.tasks_about("deal_ids", deal.id).await.len(), 1);
    assert!(due_times(&w, flow.id, deal.entity_ref()).await.is_empty(), "a date that is not yearly fires once");

    // A deal won before its time sets nothing off; a deleted one leaves no timer.
    let other = cx
        .deals()
        .create(NewDeal::new("Autumn order").expected_close(date(2026, 12, 1)).amount(crate::eur(500)))
        .await
        .unwrap();
    let gone = cx.deals().create(NewDeal::new("Lost order").expected_close(date(2026, 12, 1))).await.unwrap();
    w.auto.run(w.tenant).await.unwrap();
    cx.deals().win(other.id).await.unwrap();
    cx.deals().delete(gone.id, gone.version).await.unwrap();
    w.auto.run(w.tenant).await.unwrap();
    assert!(cx.start_timers(flow.id, Some(gone.entity_ref())).await.unwrap().is_empty());
    w.clock.set(Utc.with_ymd_and_hms(2026, 11, 29, 8, 0, 0).unwrap());
    assert_eq!(w.auto.run(w.tenant).await.unwrap().steps_done(), 0);
    assert!(w.tasks_about("deal_ids", other.id).await.is_empty());
}

pub(crate) async fn a_step_waits_and_a_schedule_ticks(store: Arc<dyn Store>) {
    let w = World::new(store);
    let cx = w.cx();
    let rep = cx.users().create(NewUser::new("Ria Rep", "ria@shop.example")).await.unwrap();
    cx.workflows()
        .create(
            NewWorkflow::new("Nudge", EntityKind::Contact, Trigger::Created)
                .time_zone(berlin())
                .step(task("First call"))
                .step(Step::Wait { delay: Delay::new(2, DelayUnit::Days) })
                .step(Step::Notify {
                    message: "Two days since the first call".into(),
                    users: vec![rep.id],
                    owner: false,
                }),
        )
        .await
        .unwrap();
    // Every Monday at 09:00 Berlin: a task on every open deal.
    cx.workflows()
        .create(
            NewWorkflow::new("Weekly review", EntityKind::Deal, Trigger::Schedule { cron: "0 9 * * 1".into() })
                .time_zone(berlin())
                .condition(Filter::eq("status", "open"))
                .step(task("Review the deal")),
        )
        .await
        .unwrap();
    let open = cx.deals().create(NewDeal::new("Open one")).await.unwrap();
    let won = cx.deals().create(NewDeal::new("Won one").amount(crate::eur(500))).await.unwrap();
    cx.deals().win(won.id).await.unwrap();
    let c = cx.contacts().create(NewContact::new("Wes", "Wait")).await.unwrap();

    // Monday 2 March 2026, 09:00 UTC (10:00 in Berlin): the first call; the notice waits.
    let r = w.auto.run(w.tenant).await.unwrap();
    assert_eq!(r.steps_done(), 2, "the task and the wait: {r:?}");
    assert_eq!(w.tasks_about("contact_ids", c.id).await.len(), 1);
    let as_rep = w.crm.as_actor(&Actor::user(w.tenant, rep.id));
    assert_eq!(as_rep.notifications().unread().await.unwrap(), 0);
    w.clock.advance(Duration::days(2) - Duration::minutes(1));
    assert_eq!(w.auto.run(w.tenant).await.unwrap().steps_done(), 0);
    w.clock.advance(Duration::minutes(1));
    assert_eq!(w.auto.run(w.tenant).await.unwrap().steps_done(), 1);
    assert_eq!(as_rep.notifications().unread().await.unwrap(), 1);
    assert_eq!(w.tasks_about("contact_ids", c.id).await.len(), 1, "the steps before the wait ran once");

    // The schedule: Monday 9 and Monday 16 March, 08:00 UTC each (09:00 in Berlin).
    w.clock.set(Utc.with_ymd_and_hms(2026, 3, 16, 8, 30, 0).unwrap());
    w.auto.run(w.tenant).await.unwrap();
    let reviews = w.tasks_about("deal_ids", open.id).await;
    assert_eq!(reviews.len(), 1, "ticks missed while the runner was away run once");
    assert!(w.tasks_about("deal_ids", won.id).await.is_empty());
    w.clock.set(Utc.with_ymd_and_hms(2026, 3, 23, 8, 0, 0).unwrap());
    w.auto.run(w.tenant).await.unwrap();
    assert_eq!(w.tasks_about("deal_ids", open.id).await.len(), 2);
}

pub(crate) async fn a_deal_rotting_in_its_stage_gets_a_note(store: Arc<dyn Store>) {
    let w = World::new(store);
    let cx = w.cx();
    let pipeline = cx.pipelines().default_pipeline().await.unwrap();
    let proposal = pipeline.stage_named("Proposal").unwrap().id;
    cx.workflows()
        .create(
            NewWorkflow::new(
                "Rotting deals",
                EntityKind::Deal,
                Trigger::Date {
                    field: "stage_entered_at".into(),
                    before: None,
                    after: Some(Delay::new(14, DelayUnit::Days)),
                    yearly: false,
                    at: None,
                },
            )
            .condition(Filter::eq("status", "open"))
            .step(Step::CreateNote { text: "Two weeks in this stage".into() }),
        )
        .await
        .unwrap();
    // A newsletter every new contact joins (a member already stays one).
    let news = cx
        .campaigns()
        .create(crm_core::service::NewCampaign::new("Newsletter", crm_core::model::CampaignChannel::Email))
        .await
        .unwrap();
    cx.workflows()
        .create(
            NewWorkflow::new("Newsletter", EntityKind::Contact, Trigger::Created)
                .step(Step::AddToCampaign { campaign_id: news.id }),
        )
        .await
        .unwrap();
    let ann = cx.contacts().create(NewContact::new("Ann", "News")).await.unwrap();
    let bob = cx.contacts().create(NewContact::new("Bob", "Member")).await.unwrap();
    cx.campaigns().add_contact(news.id, bob.id).await.unwrap();
    let deal = cx.deals().create(NewDeal::new("Slow one").contact(ann.id)).await.unwrap();
    w.auto.run(w.tenant).await.unwrap();
    assert_eq!(cx.campaigns().members(news.id, &Query::default()).await.unwrap().items.len(), 2);

    // Ten days on it moves to the proposal stage: the fortnight starts again there.
    w.clock.advance(Duration::days(10));
    let moved = cx
        .deals()
        .update(Deal { amount: Some(crate::eur(900)), ..cx.deals().get(deal.id).await.unwrap() })
        .await
        .unwrap();
    cx.deals().move_to_stage(moved.id, proposal).await.unwrap();
    w.clock.advance(Duration::days(5));
    let r = w.auto.run(w.tenant).await.unwrap();
    assert_eq!(r.steps_done(), 0, "fifteen days in the pipeline, five in this stage: {r:?}");
    w.clock.advance(Duration::days(9));
    assert_eq!(w.auto.run(w.tenant).await.unwrap().steps_done(), 1);
    let notes = cx.activities().list(&Query::new(Filter::eq("kind", "note"))).await.unwrap().items;
    assert_eq!(notes.len(), 1);
    assert_eq!((notes[0].subject.as_str(), notes[0].deal_ids.clone()), ("Two weeks in this stage", vec![deal.id]));
}

macro_rules! time_suite {
    ($make:path) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn a_leap_day_birthday_is_greeted_every_year() {
            let (store, _dir) = $make().await;
            super::super::a_leap_day_birthday_is_greeted_every_year(store).await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn a_task_three_days_before_the_close_follows_the_date() {
            let (store, _dir) = $make().await;
            super::super::a_task_three_days_before_the_close_follows_the_date(store).await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn a_deal_rotting_in_its_stage_gets_a_note() {
            let (store, _dir) = $make().await;
            super::super::a_deal_rotting_in_its_stage_gets_a_note(store).await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn a_step_waits_and_a_schedule_ticks() {
            let (store, _dir) = $make().await;
            super::super::a_step_waits_and_a_schedule_ticks(store).await
        }
    };
}

mod on {
    crate::on_every_store!(time_suite);
}
