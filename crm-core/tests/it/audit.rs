//! The audit trail: every field an update writes, with its old and new value and who wrote
//! it; per record and per user; a field put back through the kind's rules; the chain verified.

use crm_core::error::FieldErrorCode;
use crm_core::model::{FieldDefinition, FieldType};
use crm_core::prelude::*;
use crm_core::service::AuditEntry;

use crate::common::*;

/// An administrator and a sales rep, each with a session of their own.
struct Team {
    env: Env,
    admin: User,
    rep: User,
}

async fn team() -> Team {
    let env = env();
    let cx = env.cx();
    let admin = cx.users().create(NewUser::new("Ada Admin", "ada@acme.example").role("administrator")).await.unwrap();
    let rep = cx.users().create(NewUser::new("Ria Rep", "ria@acme.example").role("sales_rep")).await.unwrap();
    cx.custom_fields()
        .define(FieldDefinition::new(EntityKind::Contact, "source", "Source", FieldType::Text))
        .await
        .unwrap();
    Team { env, admin, rep }
}

impl Team {
    fn as_user(&self, u: &User) -> Session {
        self.env.crm.as_actor(&Actor::user(tenant_a(), u.id))
    }
}

fn fields(trail: &[AuditEntry]) -> Vec<&str> {
    trail.iter().map(|e| e.field.as_str()).collect()
}

#[tokio::test]
async fn an_update_keeps_each_field_with_its_old_and_new_value_and_who_wrote_it() {
    let t = team().await;
    let cx = t.as_user(&t.admin);
    let mut ann = cx.contacts().create(NewContact::new("Ann", "Lee")).await.unwrap();
    ann.job_title = Some("Analyst".into());
    ann.custom.insert("source".into(), Value::from("web"));
    let ann = cx.contacts().update(ann).await.unwrap();
    let mut moved = ann.clone();
    moved.lifecycle_stage = LifecycleStage::Customer;
    cx.contacts().update(moved).await.unwrap();

    let trail = cx.audit().history(ann.entity_ref()).await.unwrap();
    assert_eq!(fields(&trail), ["custom.source", "job_title", "lifecycle_stage"]);
    assert!(trail.iter().all(|e| e.actor == Some(t.admin.id) && e.record == ann.entity_ref()));
    assert_eq!(trail[0].seq, trail[1].seq, "one update, one event");
    assert_eq!((trail[0].old_value(), trail[0].new_value()), (Some(Value::Null), Some(Value::from("web"))));
    assert_eq!((trail[1].old_value(), trail[1].new_value()), (Some(Value::Null), Some(Value::from("Analyst"))));
    assert_eq!(trail[2].old_value(), Some(Value::from(LifecycleStage::Lead.as_str())), "{:?}", trail[2]);
    assert_eq!(trail[2].new_value(), Some(Value::from(LifecycleStage::Customer.as_str())));
    // The lifecycle has an event of its own: the values ride on it.
    let events = cx.events(&EventQuery::after(trail[1].seq, 100)).await.unwrap();
    let own = events.iter().find(|e| e.seq == trail[2].seq).expect("the lifecycle event");
    assert!(matches!(own.event.change, Change::LifecycleChanged { .. }), "{own:?}");
}

#[tokio::test]
async fn a_verb_s_write_is_on_the_event_that_announces_it() {
    let t = team().await;
    let cx = t.as_user(&t.admin);
    let deal = cx.deals().create(NewDeal::new("Fleet")).await.unwrap();
    let pipeline = cx.pipelines().default_pipeline().await.unwrap();
    let next = pipeline.stage_named("Qualification").unwrap().id;
    cx.deals().move_to_stage(deal.id, next).await.unwrap();
    let trail = cx.audit().history(deal.entity_ref()).await.unwrap();
    let stage = trail.iter().find(|e| e.field == "stage_id").expect("the stage change");
    assert_eq!((stage.old_value(), stage.new_value()), (Some(Value::from(deal.stage_id)), Some(Value::from(next))));
    let events = cx.events(&EventQuery::after(stage.seq - 1, 1)).await.unwrap();
    assert!(matches!(events[0].event.change, Change::StageChanged { to, .. } if to == next), "{events:?}");
}

#[tokio::test]
async fn history_follows_read_access_and_a_deleted_record_s_needs_read_audit() {
    let t = team().await;
    let (admin, rep) = (t.as_user(&t.admin), t.as_user(&t.rep));
    let mine = rep.contacts().create(NewContact::new("Rick", "Mine")).await.unwrap();
    let mut theirs = admin.contacts().create(NewContact::new("Tess", "Theirs")).await.unwrap();
    theirs.job_title = Some("CFO".into());
    admin.contacts().update(theirs.clone()).await.unwrap();

    let err = rep.audit().history(theirs.entity_ref()).await.unwrap_err();
    assert!(matches!(err, Error::NotFound { kind: EntityKind::Contact, .. }), "{err:?}");
    assert!(rep.audit().history(mine.entity_ref()).await.unwrap().is_empty(), "created, never updated");

    let mut edited = mine.clone();
    edited.job_title = Some("Buyer".into());
    let edited = rep.contacts().update(edited).await.unwrap();
    rep.contacts().delete(edited.id, edited.version).await.unwrap();
    let err = rep.audit().history(mine.entity_ref()).await.unwrap_err();
    assert!(matches!(&err, Error::Forbidden(m) if m.contains("read_audit")), "{err:?}");
    assert_eq!(fields(&admin.audit().history(mine.entity_ref()).await.unwrap()), ["job_title"]);
    let never = EntityRef::new(EntityKind::Contact, ContactId::new());
    assert!(matches!(admin.audit().history(never).await.unwrap_err(), Error::NotFound { .. }));
}

#[tokio::test]
async fn a_user_s_changes_come_in_pages_to_those_who_may_read_the_audit() {
    let t = team().await;
    let (admin, rep) = (t.as_user(&t.admin), t.as_user(&t.rep));
    let mut c = rep.contacts().create(NewContact::new("Page", "Turner")).await.unwrap();
    for title in ["One", "Two", "Three"] {
        c.job_title = Some(title.into());
        c = rep.contacts().update(c).await.unwrap();
    }
    c.job_title = Some("Admin's".into());
    admin.contacts().update(c).await.unwrap();

    let all = admin.audit().by_user(t.rep.id, 0, 100).await.unwrap();
    assert_eq!(
        all.iter().map(|e| e.new_value()).collect::<Vec<_>>(),
        ["One", "Two", "Three"].map(|s| Some(Value::from(s)))
    );
    assert!(all.iter().all(|e| e.actor == Some(t.rep.id)));
    let first = admin.audit().by_user(t.rep.id, 0, 2).await.unwrap();
    assert_eq!(first, all[..2]);
    let rest = admin.audit().by_user(t.rep.id, first[1].seq, 2).await.unwrap();
    assert_eq!(rest, all[2..]);
    assert_eq!(admin.audit().by_user(t.admin.id, 0, 100).await.unwrap().len(), 1);

    let err = rep.audit().by_user(t.admin.id, 0, 10).await.unwrap_err();
    assert!(matches!(&err, Error::Forbidden(m) if m.contains("read_audit")), "{err:?}");
}

#[tokio::test]
async fn restoring_puts_a_field_back_as_an_update_through_the_kind_s_rules() {
    let t = team().await;
    let (admin, rep) = (t.as_user(&t.admin), t.as_user(&t.rep));
    let mut c = admin.contacts().create(NewContact::new("Rhea", "Stored")).await.unwrap();
    c.job_title = Some("Analyst".into());
    c.custom.insert("source".into(), Value::from("fair"));
    c = admin.contacts().update(c).await.unwrap();
    c.job_title = Some("Lead analyst".into());
    let c = admin.contacts().update(c).await.unwrap();
    let trail = admin.audit().history(c.entity_ref()).await.unwrap();
    assert_eq!(fields(&trail), ["custom.source", "job_title", "job_title"]);

    let back = admin.audit().restore(&trail[1]).await.unwrap();
    let Record::Contact(back) = back else { panic!("a contact") };
    assert_eq!(back.job_title, None, "back to before the first change");
    let back = admin.audit().restore(&trail[0]).await.unwrap();
    assert!(back.custom().is_some_and(|c| !c.contains_key("source")), "a custom value restored to none is removed");
    let trail = admin.audit().history(c.entity_ref()).await.unwrap();
    let last = &trail[trail.len() - 2];
    assert_eq!(
        (last.field.as_str(), last.old_value(), last.new_value()),
        ("job_title", Some(Value::from("Lead analyst")), Some(Value::Null))
    );

    // The restorer's rights apply: out of reach is not found, and nothing is written.
    let err = t.env.refused(rep.audit().restore(&trail[1])).await;
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    // A verb's field stays the verb's.
    let deal = admin.deals().create(NewDeal::new("Fleet")).await.unwrap();
    let stage = admin.pipelines().default_pipeline().await.unwrap().stage_named("Qualification").unwrap().id;
    admin.deals().move_to_stage(deal.id, stage).await.unwrap();
    let moved = admin.audit().history(deal.entity_ref()).await.unwrap();
    let entry = moved.iter().find(|e| e.field == "stage_id").unwrap();
    let err = t.env.refused(admin.audit().restore(entry)).await;
    assert!(matches!(&err, Error::InvalidTransition { field, .. } if field == "stage_id"), "{err:?}");
    // A field the record does not have is named.
    let bogus = AuditEntry { field: "shoe_size".into(), ..trail[1].clone() };
    let err = t.env.refused(admin.audit().restore(&bogus)).await;
    assert!(
        matches!(&err, Error::Validation(v) if v.0[0].field == "shoe_size" && v.0[0].code == FieldErrorCode::UnknownField),
        "{err:?}"
    );
}

#[tokio::test]
async fn the_trail_verifies_intact_for_those_who_may_read_it() {
    let t = team().await;
    let (admin, rep) = (t.as_user(&t.admin), t.as_user(&t.rep));
    let mut c = rep.contacts().create(NewContact::new("Vera", "Fied")).await.unwrap();
    c.job_title = Some("Auditor".into());
    rep.contacts().update(c).await.unwrap();
    let report = admin.audit().verify().await.unwrap();
    let events = admin.events(&EventQuery::after(0, 10_000)).await.unwrap();
    assert!(report.is_intact(), "{:?}", report.faults);
    assert_eq!(report.events, events.len() as u64);
    assert_eq!(report.head.map(|h| h.seq), events.last().map(|e| e.seq));
    let err = rep.audit().verify().await.unwrap_err();
    assert!(matches!(&err, Error::Forbidden(m) if m.contains("read_audit")), "{err:?}");
}

#[tokio::test]
async fn the_retention_policy_drops_old_values_and_the_chain_still_verifies() {
    let t = team().await;
    let (admin, rep) = (t.as_user(&t.admin), t.as_user(&t.rep));
    let mut c = admin.contacts().create(NewContact::new("Ret", "Ention")).await.unwrap();
    c.job_title = Some("Old title".into());
    c = admin.contacts().update(c).await.unwrap();
    t.env.advance(chrono::Duration::days(40));
    c.job_title = Some("New title".into());
    admin.contacts().update(c.clone()).await.unwrap();
    let before = admin.audit().history(c.entity_ref()).await.unwrap();
    assert_eq!(before.len(), 2);

    let err = rep.audit().retain(t.env.now()).await.unwrap_err();
    assert!(matches!(&err, Error::Forbidden(m) if m.contains("manage_audit")), "{err:?}");
    assert_eq!(admin.audit().history(c.entity_ref()).await.unwrap(), before, "a refused policy drops nothing");

    let cutoff = t.env.now() - chrono::Duration::days(30);
    assert_eq!(admin.audit().retain(cutoff).await.unwrap(), 1, "the one older change");
    let after = admin.audit().history(c.entity_ref()).await.unwrap();
    assert_eq!(after, before[1..], "the newer change keeps its values");
    let report = admin.audit().verify().await.unwrap();
    assert!(report.is_intact(), "{:?}", report.faults);
    assert_eq!(report.scrubbed, [before[0].seq]);
    // The event itself stays: who changed which field, and when.
    let old = admin.events(&EventQuery::after(before[0].seq - 1, 1)).await.unwrap();
    assert!(matches!(&old[0].event.change, Change::Updated { fields } if fields == &["job_title"]), "{old:?}");
    assert_eq!(admin.audit().retain(cutoff).await.unwrap(), 0, "nothing left to drop");
}
