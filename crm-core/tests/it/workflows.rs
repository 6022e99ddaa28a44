//! Workflows as records: checked on save against the fields of the kind they watch, every
//! mistake a typed error naming the part, nothing stored; who may manage them; the log entry a
//! step commits with its changes; changing fields named at run time.

use crm_core::model::{Delay, DelayUnit, EventType, RunOutcome, Step, Trigger, Workflow};
use crm_core::prelude::*;
use crm_core::service::{NewWorkflow, RunStep, derived, is_logged};
use serde_json::json;

use crate::common::*;

fn fields(v: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    v.as_object().unwrap().clone()
}

fn date_on(field: &str, yearly: bool) -> Trigger {
    Trigger::Date { field: field.into(), before: None, after: None, yearly, at: None }
}

fn task(title: &str) -> Step {
    Step::CreateTask { title: title.into(), due_in: Some(Delay::new(3, DelayUnit::Days)), assign_to: None }
}

/// The field and code of a refusal's first error.
fn first(e: &Error) -> (String, FieldErrorCode) {
    let f = &e.field_errors()[0];
    (f.field.clone(), f.code)
}

#[tokio::test]
async fn a_wrong_rule_is_refused_naming_the_part_and_nothing_is_stored() {
    let env = env();
    let cx = env.cx();
    let on_contacts = |t: Trigger| NewWorkflow::new("Rule", EntityKind::Contact, t);
    let updated = |f: &str| Trigger::Updated { fields: vec![f.into()] };
    let cases: Vec<(NewWorkflow, &str, FieldErrorCode)> = vec![
        (on_contacts(updated("shoe_size")).step(task("x")), "trigger.fields[0]", FieldErrorCode::UnknownField),
        (
            on_contacts(Trigger::Created).condition(Filter::eq("budget_code", "x")).step(task("x")),
            "condition.budget_code",
            FieldErrorCode::UnknownField,
        ),
        (
            on_contacts(Trigger::Created).condition(Filter::gt("birthday", "soon")).step(task("x")),
            "condition.birthday",
            FieldErrorCode::TypeMismatch,
        ),
        (
            on_contacts(updated("tags")).was(Filter::eq("lifecycle", "lead")).step(task("x")),
            "was.lifecycle",
            FieldErrorCode::UnknownField,
        ),
        (on_contacts(Trigger::Created), "steps", FieldErrorCode::Required),
        (
            on_contacts(Trigger::Created).step(Step::Update { fields: fields(json!({"shoe_size": 9})) }),
            "steps[0].fields.shoe_size",
            FieldErrorCode::UnknownField,
        ),
        (
            on_contacts(Trigger::Created)
                .step(task("x"))
                .step(Step::Update { fields: fields(json!({"birthday": "31/02"})) }),
            "steps[1].fields.birthday",
            FieldErrorCode::TypeMismatch,
        ),
        (
            on_contacts(Trigger::Created).step(Step::Update { fields: fields(json!({"email": "a@b.example"})) }),
            "steps[0].fields.email",
            FieldErrorCode::ReadOnly,
        ),
        (
            on_contacts(Trigger::Created).step(Step::Update { fields: fields(json!({"id": "x"})) }),
            "steps[0].fields.id",
            FieldErrorCode::ReadOnly,
        ),
        (
            NewWorkflow::new("Rule", EntityKind::Payment, Trigger::Created)
                .step(Step::AddTags { tags: vec!["x".into()] }),
            "steps[0]",
            FieldErrorCode::Rule,
        ),
        (
            NewWorkflow::new("Rule", EntityKind::Activity, Trigger::Created)
                .step(Step::AddTags { tags: vec!["x".into()] }),
            "steps[0].tags",
            FieldErrorCode::Rule,
        ),
        (
            on_contacts(Trigger::Event { event: EventType::DealWon }).step(task("x")),
            "trigger.event",
            FieldErrorCode::Rule,
        ),
        (
            on_contacts(Trigger::Date {
                field: "birthday".into(),
                before: Some(Delay::new(13, DelayUnit::Months)),
                after: None,
                yearly: true,
                at: None,
            })
            .step(task("x")),
            "trigger.before",
            FieldErrorCode::OutOfRange,
        ),
        (
            on_contacts(Trigger::Created).step(Step::Wait { delay: Delay::new(4000, DelayUnit::Days) }).step(task("x")),
            "steps[0].delay",
            FieldErrorCode::OutOfRange,
        ),
        (
            on_contacts(Trigger::Created).step(Step::AssignOwner { user_id: UserId::new() }),
            "steps[0].user_id",
            FieldErrorCode::NotFound,
        ),
        (
            NewWorkflow::new("Rule", EntityKind::Product, Trigger::Created).step(task("x")),
            "steps[0]",
            FieldErrorCode::Rule,
        ),
        (on_contacts(Trigger::Created).step(task("  ")), "steps[0].title", FieldErrorCode::Required),
        (
            on_contacts(Trigger::Deleted).condition(Filter::eq("given_name", "Ada")).step(task("x")),
            "condition",
            FieldErrorCode::Rule,
        ),
        (
            on_contacts(Trigger::Deleted).step(Step::AddTags { tags: vec!["gone".into()] }),
            "steps[0]",
            FieldErrorCode::Rule,
        ),
        (on_contacts(Trigger::Created).on_edge().step(task("x")), "edge", FieldErrorCode::Rule),
        (
            NewWorkflow::new("Rule", EntityKind::Workflow, Trigger::Created).step(task("x")),
            "entity_kind",
            FieldErrorCode::NotAnOption,
        ),
        (NewWorkflow::new(" ", EntityKind::Deal, Trigger::Created).step(task("x")), "name", FieldErrorCode::Required),
        (
            NewWorkflow::new("Rule", EntityKind::Deal, Trigger::Schedule { cron: "every monday".into() })
                .step(task("x")),
            "trigger.cron",
            FieldErrorCode::InvalidFormat,
        ),
        (
            NewWorkflow::new("Rule", EntityKind::Deal, Trigger::Schedule { cron: "0 9 30 2 *".into() }).step(task("x")),
            "trigger.cron",
            FieldErrorCode::Rule,
        ),
        (on_contacts(date_on("given_name", false)).step(task("x")), "trigger.field", FieldErrorCode::TypeMismatch),
        (on_contacts(date_on("anniversary", false)).step(task("x")), "trigger.field", FieldErrorCode::UnknownField),
        (on_contacts(date_on("updated_at", true)).step(task("x")), "trigger.yearly", FieldErrorCode::Rule),
        (on_contacts(date_on("birthday", true)).on_edge().step(task("x")), "edge", FieldErrorCode::Rule),
        (
            on_contacts(Trigger::Date {
                field: "birthday".into(),
                before: Some(Delay::new(1, DelayUnit::Days)),
                after: Some(Delay::new(1, DelayUnit::Days)),
                yearly: true,
                at: None,
            })
            .step(task("x")),
            "trigger.after",
            FieldErrorCode::Rule,
        ),
        (
            on_contacts(Trigger::Created).step(task("x")).step(Step::Wait { delay: Delay::new(1, DelayUnit::Hours) }),
            "steps[1]",
            FieldErrorCode::Rule,
        ),
        (
            on_contacts(Trigger::Created).step(Step::Wait { delay: Delay::new(0, DelayUnit::Minutes) }).step(task("x")),
            "steps[0].delay",
            FieldErrorCode::OutOfRange,
        ),
        (
            on_contacts(Trigger::Created).step(Step::Notify { message: "Hi".into(), users: vec![], owner: false }),
            "steps[0].users",
            FieldErrorCode::Required,
        ),
    ];
    for (input, field, code) in cases {
        let e = env.refused(cx.workflows().create(input.clone())).await;
        assert_eq!(first(&e), (field.to_owned(), code), "{input:?}: {e}");
    }
    assert_eq!(cx.workflows().count(&Filter::All).await.unwrap(), 0);

    // A right one saves; a second of the same name (any case) does not.
    let ok = cx.workflows().create(on_contacts(updated("custom.budget")).step(task("x"))).await.map(|_| ());
    assert_eq!(first(&ok.unwrap_err()).0, "trigger.fields[0]", "custom fields must be defined first");
    let good = cx
        .workflows()
        .create(
            NewWorkflow::new("Won deals", EntityKind::Deal, Trigger::Event { event: EventType::DealWon })
                .step(task("Thank them")),
        )
        .await
        .unwrap();
    assert_eq!((good.version, good.enabled), (1, true));
    let e = env
        .refused(
            cx.workflows().create(NewWorkflow::new("WON DEALS", EntityKind::Deal, Trigger::Created).step(task("x"))),
        )
        .await;
    assert_eq!(first(&e), ("name".into(), FieldErrorCode::Duplicate));
    // Switching it off is a new version.
    let off = cx.workflows().set_enabled(good.id, false).await.unwrap();
    assert_eq!((off.version, off.enabled), (2, false));
    assert!(cx.workflows().enabled(None).await.unwrap().is_empty());
}

#[tokio::test]
async fn only_those_who_manage_automations_change_workflows() {
    let env = env();
    let admin = env.cx();
    let rep = admin.users().create(NewUser::new("Ria Rep", "ria@acme.example").role("sales_rep")).await.unwrap();
    let boss = admin.users().create(NewUser::new("Max Boss", "max@acme.example").role("administrator")).await.unwrap();
    let input = NewWorkflow::new("Welcome", EntityKind::Contact, Trigger::Created).step(task("Call"));
    let as_rep = env.crm.as_actor(&Actor::user(tenant_a(), rep.id));
    assert!(matches!(env.refused(as_rep.workflows().create(input.clone())).await, Error::Forbidden(_)));
    let as_boss = env.crm.as_actor(&Actor::user(tenant_a(), boss.id));
    let flow: Workflow = as_boss.workflows().create(input).await.unwrap();
    assert!(matches!(as_rep.workflows().list(&Query::default()).await, Err(Error::Forbidden(_))), "reps read no rules");
    assert_eq!(as_boss.workflows().get(flow.id).await.unwrap().name, "Welcome");
}

#[tokio::test]
async fn a_step_commits_with_its_log_entry_once() {
    let env = env();
    let cx = env.cx();
    let flow = cx
        .workflows()
        .create(NewWorkflow::new("Tagger", EntityKind::Contact, Trigger::Manual).step(task("x")))
        .await
        .unwrap();
    let ada = cx.contacts().create(NewContact::new("Ada", "Lovelace")).await.unwrap();
    let step = RunStep {
        workflow_id: flow.id,
        workflow_version: flow.version,
        subject: ada.entity_ref(),
        occurrence: "manual:1".into(),
        step: 0,
        action: "add_tags".into(),
        detail: None,
    };
    let once = cx.with_receipt(step.clone());
    once.add_tag(ada.entity_ref(), "vip").await.unwrap();
    assert!(!once.commit_receipt().await.unwrap(), "the tag's write took the entry");
    let run = cx.run_logged(&step.key()).await.unwrap().expect("logged");
    assert_eq!((run.outcome, run.subject, run.step), (RunOutcome::Done, ada.entity_ref(), 0));

    // The same step again: its write fails on the key, and nothing of it lands.
    let again = cx.with_receipt(step.clone());
    let before = env.state_of(tenant_a()).await;
    let e = again.add_tag(ada.entity_ref(), "second").await.unwrap_err();
    assert!(is_logged(&e), "{e}");
    assert_eq!(env.state_of(tenant_a()).await, before);
    // Logging it as failed now changes nothing either.
    assert!(!cx.log_run(step, RunOutcome::Failed, Some("late".into())).await.unwrap());
    assert_eq!(cx.contacts().get(ada.id).await.unwrap().tags, ["vip"]);
}

#[tokio::test]
async fn fields_named_at_run_time_are_set_through_the_kinds_rules() {
    let env = env();
    let cx = env.cx();
    let deal = cx.deals().create(NewDeal::new("Fit-out")).await.unwrap();
    // A field the record leaves out while empty can be set.
    let r = cx.update_fields(deal.entity_ref(), None, &fields(json!({"lead_source": "referral"}))).await.unwrap();
    assert!(matches!(r, Record::Deal(d) if d.lead_source.map(|s| s.to_string()).as_deref() == Some("referral")));
    let e = env.refused(cx.update_fields(deal.entity_ref(), None, &fields(json!({"currency": "EUR"})))).await;
    assert_eq!(first(&e), ("currency".into(), FieldErrorCode::ReadOnly));
    let e =
        env.refused(cx.update_fields(deal.entity_ref(), None, &fields(json!({"lead_source": "carrier pigeon"})))).await;
    assert_eq!(first(&e).0, "body");
    let e = env.refused(cx.update_fields(deal.entity_ref(), Some(1), &fields(json!({"name": "Stale"})))).await;
    assert!(matches!(e, Error::Conflict { .. }), "{e}");
}

#[test]
fn derived_fields_are_not_stored_as_such() {
    use crm_core::testkit::fixtures::*;
    let t = tenant();
    let c = full_contact(t);
    let records = [c.clone().into_record(), company(t, "Acme").into_record(), order(t, c.id, "SO-1").into_record()];
    for r in records {
        let json = serde_json::to_value(&r).unwrap();
        for f in r.kind().std_fields() {
            let stored = json["record"].get(f.name).is_some();
            assert!(!(stored && derived(r.kind(), f.name)), "{}.{} is stored, not derived", r.kind(), f.name);
        }
    }
    assert!(derived(EntityKind::Contact, "email") && derived(EntityKind::Deal, "currency"));
}
