//! Field-level security: sensitive fields withheld from users whose roles do not open them —
//! absent from every read, kept when a record is saved back, refused when set, refused in
//! filters and sorts, left out of search, the audit trail and the events; roles open fields
//! for reading or editing, and a bad field grant is refused naming it.

use chrono::NaiveDate;
use crm_core::error::FieldErrorCode;
use crm_core::model::{FieldAccess, FieldDefinition, FieldType};
use crm_core::prelude::*;
use crm_core::query::{Filter, Query};

use crate::common::*;

/// An administrator, a sales rep, a support agent, a payroll clerk (support agent plus a role
/// opening the sensitive custom field `income_band`), and Ann, a contact with every sensitive
/// field filled, owned by the rep.
struct Office {
    env: Env,
    admin: User,
    rep: User,
    agent: User,
    clerk: User,
    ann: Contact,
}

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

async fn office() -> Office {
    let env = env();
    let cx = env.cx();
    cx.custom_fields()
        .define(FieldDefinition::new(EntityKind::Contact, "income_band", "Income band", FieldType::Text).sensitive())
        .await
        .unwrap();
    cx.custom_fields()
        .define(FieldDefinition::new(EntityKind::Contact, "shoe", "Shoe size", FieldType::Text))
        .await
        .unwrap();
    cx.roles()
        .create(NewRole::new("payroll", "Payroll").grant(EntityKind::Contact, &[Action::Read], Scope::All).field(
            EntityKind::Contact,
            "custom.income_band",
            FieldAccess::Edit,
        ))
        .await
        .unwrap();
    let u = cx.users();
    let admin = u.create(NewUser::new("Ada Admin", "ada@acme.example").role("administrator")).await.unwrap();
    let rep = u.create(NewUser::new("Ria Rep", "ria@acme.example").role("sales_rep")).await.unwrap();
    let agent = u.create(NewUser::new("Sue Port", "sue@acme.example").role("support_agent")).await.unwrap();
    let clerk =
        u.create(NewUser::new("Pat Roll", "pat@acme.example").role("support_agent").role("payroll")).await.unwrap();
    let ann = cx
        .contacts()
        .create(
            NewContact::new("Ann", "Sailor")
                .birthday(day(1980, 5, 17))
                .family_notes("Loves regattas; two boys")
                .custom("income_band", "high")
                .custom("shoe", "38")
                .owner(rep.id),
        )
        .await
        .unwrap();
    Office { env, admin, rep, agent, clerk, ann }
}

impl Office {
    fn as_user(&self, u: &User) -> Session {
        self.env.crm.as_actor(&Actor::user(tenant_a(), u.id))
    }
}

/// What of Ann's sensitive fields a contact shows: birthday, family notes, income band.
fn shown(c: &Contact) -> (Option<NaiveDate>, Option<&str>, Option<&Value>) {
    (c.birthday, c.family_notes.as_deref(), c.custom.get("income_band"))
}

#[tokio::test]
async fn withheld_fields_are_absent_from_every_read() {
    let o = office().await;
    let (agent, admin) = (o.as_user(&o.agent), o.as_user(&o.admin));
    let all = (Some(day(1980, 5, 17)), Some("Loves regattas; two boys"), Some(&Value::from("high")));
    assert_eq!(shown(&admin.contacts().get(o.ann.id).await.unwrap()), all);
    // The agent reads the birthday only; the income band is absent from the map, not null.
    let seen = agent.contacts().get(o.ann.id).await.unwrap();
    assert_eq!(shown(&seen), (Some(day(1980, 5, 17)), None, None));
    assert!(!seen.custom.contains_key("income_band") && seen.custom.get("shoe") == Some(&Value::from("38")));
    let listed = agent.contacts().list(&Query::new(Filter::eq("family_name", "Sailor"))).await.unwrap();
    assert_eq!(shown(&listed.items[0]), (Some(day(1980, 5, 17)), None, None));
    let Some(Record::Contact(found)) = agent.search("ann sailor").await.unwrap().into_iter().next() else {
        panic!("Ann is found")
    };
    assert_eq!(shown(&found), (Some(day(1980, 5, 17)), None, None));
    let Some(Record::Contact(any)) = agent.record(o.ann.entity_ref()).await.unwrap() else { panic!("a contact") };
    assert_eq!(shown(&any), (Some(day(1980, 5, 17)), None, None));
    let view = agent.customer_360(o.ann.id).await.unwrap();
    assert_eq!(shown(view.contact.as_ref().unwrap()), (Some(day(1980, 5, 17)), None, None));
    // The clerk's second role opens the income band; the rep's opens the notes.
    assert_eq!(shown(&o.as_user(&o.clerk).contacts().get(o.ann.id).await.unwrap()).2, Some(&Value::from("high")));
    assert_eq!(shown(&o.as_user(&o.rep).contacts().get(o.ann.id).await.unwrap()), (all.0, all.1, None));
    // Notes are not searchable at all: a search cannot probe them.
    assert!(admin.search("regattas").await.unwrap().is_empty());
}

#[tokio::test]
async fn a_withheld_field_saved_back_keeps_its_value_and_one_set_or_changed_is_refused() {
    let o = office().await;
    let (agent, admin, rep) = (o.as_user(&o.agent), o.as_user(&o.admin), o.as_user(&o.rep));
    // The agent may update contacts they own: give them one with everything filled.
    let mut bo = admin
        .contacts()
        .create(
            NewContact::new("Bo", "Kept")
                .birthday(day(1990, 1, 2))
                .family_notes("Private")
                .custom("income_band", "low")
                .owner(o.agent.id),
        )
        .await
        .unwrap();
    let mut seen = agent.contacts().get(bo.id).await.unwrap();
    seen.job_title = Some("Buyer".into());
    let saved = agent.contacts().update(seen.clone()).await.unwrap();
    assert_eq!(shown(&saved), (Some(day(1990, 1, 2)), None, None), "what a save returns is withheld too");
    bo = admin.contacts().get(bo.id).await.unwrap();
    assert_eq!(bo.job_title.as_deref(), Some("Buyer"));
    assert_eq!(shown(&bo), (Some(day(1990, 1, 2)), Some("Private"), Some(&Value::from("low"))), "kept as stored");

    let fresh = agent.contacts().get(bo.id).await.unwrap();
    let mut notes = fresh.clone();
    notes.family_notes = Some("Overwritten".into());
    let err = o.env.refused(agent.contacts().update(notes)).await;
    assert!(
        matches!(&err, Error::Validation(v) if v.0[0].field == "family_notes" && v.0[0].code == FieldErrorCode::ReadOnly),
        "{err:?}"
    );
    let mut birthday = fresh.clone();
    birthday.birthday = Some(day(1991, 1, 2));
    let err = o.env.refused(agent.contacts().update(birthday)).await;
    assert!(
        matches!(&err, Error::Validation(v) if v.0[0].field == "birthday" && v.0[0].message.contains("read-only")),
        "{err:?}"
    );
    let mut band = fresh;
    band.custom.insert("income_band".into(), Value::from("mid"));
    let err = o.env.refused(agent.contacts().update(band)).await;
    assert!(matches!(&err, Error::Validation(v) if v.0[0].field == "custom.income_band"), "{err:?}");
    let err = o.env.refused(agent.contacts().create(NewContact::new("New", "Born").birthday(day(2000, 1, 1)))).await;
    assert!(matches!(&err, Error::Validation(v) if v.0[0].field == "birthday"), "{err:?}");

    // The rep edits what their role opens for editing.
    let mut ann = rep.contacts().get(o.ann.id).await.unwrap();
    ann.family_notes = Some("Loves regattas; three boys".into());
    rep.contacts().update(ann).await.unwrap();
    let stored = admin.contacts().get(o.ann.id).await.unwrap();
    assert_eq!(stored.family_notes.as_deref(), Some("Loves regattas; three boys"));
    assert_eq!(stored.custom.get("income_band"), Some(&Value::from("high")), "the rep's save kept what they never saw");
}

#[tokio::test]
async fn withheld_fields_cannot_be_probed_in_filters_or_sorts() {
    let o = office().await;
    let agent = o.as_user(&o.agent);
    let probe = Filter::eq("custom.income_band", "high");
    let err = o.env.refused(agent.contacts().list(&Query::new(probe.clone()))).await;
    assert!(
        matches!(&err, Error::Validation(v) if v.0[0].field == "custom.income_band" && v.0[0].code == FieldErrorCode::ReadOnly),
        "{err:?}"
    );
    let err =
        agent.contacts().count(&Filter::eq("given_name", "Ann").and(Filter::Not(Box::new(probe)))).await.unwrap_err();
    assert!(matches!(&err, Error::Validation(v) if v.0[0].field == "custom.income_band"), "{err:?}");
    let err = agent.contacts().list(&Query::new(Filter::All).sort_asc("custom.income_band")).await.unwrap_err();
    assert!(matches!(&err, Error::Validation(_)), "{err:?}");
    let err = agent.companies().count(&Filter::starts_with("tax_id", "GB")).await.unwrap_err();
    assert!(matches!(&err, Error::Validation(v) if v.0[0].field == "tax_id"), "{err:?}");
    // What is open may be filtered on.
    assert_eq!(agent.contacts().count(&Filter::eq("birthday", day(1980, 5, 17))).await.unwrap(), 1);
    assert_eq!(o.as_user(&o.clerk).contacts().count(&Filter::eq("custom.income_band", "high")).await.unwrap(), 1);
}

#[tokio::test]
async fn the_audit_trail_and_the_events_leave_out_withheld_values() {
    let o = office().await;
    let (admin, agent) = (o.as_user(&o.admin), o.as_user(&o.agent));
    let mut ann = admin.contacts().get(o.ann.id).await.unwrap();
    let since = admin.events(&EventQuery::after(0, 10_000)).await.unwrap().last().unwrap().seq;
    ann.family_notes = Some("Moved to Leeds".into());
    ann.job_title = Some("Skipper".into());
    admin.contacts().update(ann).await.unwrap();
    let fields = |trail: &[crm_core::service::AuditEntry]| trail.iter().map(|e| e.field.clone()).collect::<Vec<_>>();
    assert_eq!(fields(&admin.audit().history(o.ann.entity_ref()).await.unwrap()), ["family_notes", "job_title"]);
    assert_eq!(fields(&agent.audit().history(o.ann.entity_ref()).await.unwrap()), ["job_title"]);
    let theirs = agent.events(&EventQuery::after(since, 10)).await.unwrap();
    let values: Vec<&str> = theirs.iter().flat_map(|e| e.event.values.iter().map(|v| v.field.as_str())).collect();
    assert_eq!(values, ["job_title"], "{theirs:?}");
    let text = serde_json::to_string(&theirs).unwrap();
    assert!(!text.contains("Leeds"), "{text}");
}

#[tokio::test]
async fn field_grants_name_sensitive_fields_once_or_are_refused_naming_them() {
    let o = office().await;
    let cx = o.env.cx();
    let err = o
        .env
        .refused(cx.roles().create(NewRole::new("peek", "Peek").field(
            EntityKind::Contact,
            "given_name",
            FieldAccess::Read,
        )))
        .await;
    assert!(
        matches!(&err, Error::Validation(v) if v.0[0].field == "fields[0].field" && v.0[0].code == FieldErrorCode::NotAnOption),
        "{err:?}"
    );
    for bad in ["custom.shoe", "custom.nope"] {
        let err = o
            .env
            .refused(cx.roles().create(NewRole::new("peek", "Peek").field(EntityKind::Contact, bad, FieldAccess::Read)))
            .await;
        assert!(matches!(&err, Error::Validation(v) if v.0[0].field == "fields[0].field"), "{bad}: {err:?}");
    }
    let twice = NewRole::new("peek", "Peek").field(EntityKind::Company, "tax_id", FieldAccess::Read).field(
        EntityKind::Company,
        "tax_id",
        FieldAccess::Edit,
    );
    let err = o.env.refused(cx.roles().create(twice)).await;
    assert!(
        matches!(&err, Error::Validation(v) if v.0[0].field == "fields[1]" && v.0[0].code == FieldErrorCode::Duplicate),
        "{err:?}"
    );
    // A good one opens the field to who holds it, from their next session on.
    cx.roles()
        .create(NewRole::new("tax_desk", "Tax desk").grant(EntityKind::Company, &[Action::Read], Scope::All).field(
            EntityKind::Company,
            "tax_id",
            FieldAccess::Read,
        ))
        .await
        .unwrap();
    let acme = cx.companies().create(NewCompany::new("Acme").tax_id("GB123456789")).await.unwrap();
    assert_eq!(o.as_user(&o.agent).companies().get(acme.id).await.unwrap().tax_id, None);
    let mut agent = o.agent.clone();
    agent.roles.push("tax_desk".into());
    cx.users().update(agent).await.unwrap();
    assert_eq!(o.as_user(&o.agent).companies().get(acme.id).await.unwrap().tax_id.as_deref(), Some("GB123456789"));
}
