//! A small business automates its CRM with four rules, kept as data in the CRM itself:
//!
//! - **Round-robin leads**: each new lead without an owner goes to Ann or Bob in turn.
//! - **Birthday greeting**: on a contact's birthday, at 09:00 Berlin time, the owner is told
//!   and gets a task to send wishes.
//! - **Proposal follow-up**: three days after a deal reaches the proposal stage, its owner gets
//!   a task to follow up.
//! - **SLA escalation**: two hours before a case's resolution target its owner and the support
//!   lead are warned; at the target, an open case is raised to urgent and handed to the lead.
//!
//! A manual clock then moves through a week, hour by hour, and the runner reports what each
//! rule did. `cargo run --example automation --features automation` (SQLite in memory).

use std::sync::Arc;

use chrono::{Duration, NaiveDate, TimeZone, Utc};
use crm::automation::{Automation, RunReport};
use crm::ids::{Clock, ManualClock};
use crm::model::{AssignMethod, Assignee, CaseChannel, CaseType, Delay, DelayUnit, EventType, Step, Trigger};
use crm::prelude::*;
use crm::query::Filter;
use serde_json::json;

#[tokio::main]
async fn main() -> Result<(), Error> {
    // Monday 2 March 2026, 08:00 UTC: 09:00 in Berlin.
    let clock = Arc::new(ManualClock::new(Utc.with_ymd_and_hms(2026, 3, 2, 8, 0, 0).unwrap()));
    let crm = Crm::builder(SqlStore::sqlite_in_memory().await?).clock(clock.clone()).build()?;
    let tenant = TenantId::new();
    let cx = crm.as_actor(&Actor::system(tenant));
    let berlin = chrono_tz::Tz::Europe__Berlin;

    let ann = cx.users().create(NewUser::new("Ann Archer", "ann@shop.example").role("sales_rep")).await?;
    let bob = cx.users().create(NewUser::new("Bob Baker", "bob@shop.example").role("sales_rep")).await?;
    let sue = cx.users().create(NewUser::new("Sue Support", "sue@shop.example").role("support_agent")).await?;
    let proposal = cx.pipelines().default_pipeline().await?.stage_named("Proposal").map(|s| s.id);
    let proposal = proposal.ok_or_else(|| Error::storage("the default pipeline has a Proposal stage"))?;

    let rules = [
        NewWorkflow::new("Round-robin leads", EntityKind::Contact, Trigger::Created)
            .condition(Filter::is_null("owner_id"))
            .step(Step::Assign {
                method: AssignMethod::RoundRobin,
                pool: vec![Assignee::new(ann.id), Assignee::new(bob.id)],
                open: None,
            }),
        NewWorkflow::new(
            "Birthday greeting",
            EntityKind::Contact,
            Trigger::Date { field: "birthday".into(), before: None, after: None, yearly: true, at: None },
        )
        .time_zone(berlin)
        .step(Step::Notify { message: "Birthday today".into(), users: vec![], owner: true })
        .step(Step::CreateTask {
            title: "Send birthday wishes".into(),
            due_in: Some(Delay::new(4, DelayUnit::Hours)),
            assign_to: None,
        }),
        NewWorkflow::new("Proposal follow-up", EntityKind::Deal, Trigger::Event { event: EventType::StageChanged })
            .condition(Filter::eq("stage_id", proposal))
            .time_zone(berlin)
            .step(Step::Wait { delay: Delay::new(3, DelayUnit::Days) })
            .step(Step::CreateTask {
                title: "Follow up on the proposal".into(),
                due_in: Some(Delay::new(1, DelayUnit::Days)),
                assign_to: None,
            }),
        NewWorkflow::new(
            "SLA warning",
            EntityKind::Case,
            Trigger::Date {
                field: "sla_due_at".into(),
                before: Some(Delay::new(2, DelayUnit::Hours)),
                after: None,
                yearly: false,
                at: None,
            },
        )
        .condition(Filter::is_in("status", ["new", "open"]))
        .step(Step::Notify { message: "Two hours left on this case".into(), users: vec![sue.id], owner: true }),
        NewWorkflow::new(
            "SLA escalation",
            EntityKind::Case,
            Trigger::Date { field: "sla_due_at".into(), before: None, after: None, yearly: false, at: None },
        )
        .condition(Filter::is_in("status", ["new", "open"]))
        .step(Step::Update { fields: json!({"priority": "urgent"}).as_object().cloned().unwrap_or_default() })
        .step(Step::AssignOwner { user_id: sue.id })
        .step(Step::Notify {
            message: "Breached: now yours, and urgent".into(),
            users: vec![sue.id],
            owner: false,
        }),
    ];
    for rule in rules {
        cx.workflows().create(rule).await?;
    }
    let names: Vec<(WorkflowId, String)> =
        cx.workflows().list(&Query::default()).await?.items.into_iter().map(|w| (w.id, w.name)).collect();
    let automation = Automation::new(crm.clone());

    // Monday morning: three leads come in, one with a birthday on Wednesday; a deal reaches
    // the proposal stage; a customer opens a high-priority case (a day to resolve it).
    let ada = cx
        .contacts()
        .create(NewContact::new("Ada", "Lovelace").birthday(NaiveDate::from_ymd_opt(1990, 3, 4).unwrap_or_default()))
        .await?;
    let grace = cx.contacts().create(NewContact::new("Grace", "Hopper")).await?;
    let alan = cx.contacts().create(NewContact::new("Alan", "Turing")).await?;
    let deal = cx.deals().create(NewDeal::new("Shop fit-out").contact(grace.id).owner(bob.id)).await?;
    let deal =
        cx.deals().update(Deal { amount: Some(Money::new(Decimal::new(18_000, 0), Currency::EUR)), ..deal }).await?;
    cx.deals().move_to_stage(deal.id, proposal).await?;
    let case = cx
        .cases()
        .open(
            NewCase::new("Till does not print receipts", CaseType::Problem, CaseChannel::Phone)
                .contact(alan.id)
                .owner(ann.id)
                .priority(Priority::High),
        )
        .await?;

    let mut total = RunReport::default();
    let end = clock.now() + Duration::days(5);
    while clock.now() <= end {
        let report = automation.run(tenant).await?;
        for f in &report.fired {
            let name = names.iter().find(|(id, _)| *id == f.workflow_id).map_or("?", |(_, n)| n.as_str());
            let what = match cx.record(f.subject).await? {
                Some(Record::Contact(c)) => format!("{} {}", c.given_name, c.family_name),
                Some(Record::Deal(d)) => d.name,
                Some(Record::Case(c)) => c.subject,
                _ => f.subject.to_string(),
            };
            let at = clock.now().with_timezone(&berlin).format("%a %d %b %H:%M");
            println!("{at}  {name}: {} step(s) on {what}", f.steps_done);
        }
        total.fired.extend(report.fired);
        total.failed.extend(report.failed);
        clock.advance(Duration::hours(1));
    }

    println!();
    for c in [&ada, &grace, &alan] {
        let owner = cx.contacts().get(c.id).await?.owner_id;
        let owner = if owner == Some(ann.id) {
            "Ann"
        } else if owner == Some(bob.id) {
            "Bob"
        } else {
            "nobody"
        };
        println!("Lead {} {} is {owner}'s", c.given_name, c.family_name);
    }
    let tasks = cx.activities().list(&Query::new(Filter::eq("kind", "task")).sort_asc("created_at")).await?;
    for t in &tasks.items {
        let due = t.due_at.map(|d| d.with_timezone(&berlin).format("%a %d %b %H:%M").to_string()).unwrap_or_default();
        println!("Task: {} (due {due})", t.subject);
    }
    let case = cx.cases().get(case.id).await?;
    let owner = if case.owner_id == Some(sue.id) { "Sue" } else { "Ann" };
    println!("Case \"{}\": priority {}, owner {owner}", case.subject, case.priority);
    for (who, id) in [("Ann", ann.id), ("Bob", bob.id), ("Sue", sue.id)] {
        let inbox = crm.as_actor(&Actor::user(tenant, id)).notifications().inbox(false, 50).await?;
        let messages: Vec<&str> = inbox.iter().rev().map(|n| n.message.as_str()).collect();
        println!("{who}'s notifications: {}", messages.join(" | "));
    }
    println!("Rules run: {}, steps done: {}, failed: {}", total.fired.len(), total.steps_done(), total.failed.len());
    Ok(())
}
