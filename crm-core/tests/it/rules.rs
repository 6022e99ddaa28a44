//! The rules of the service layer, proved through the public API.
//!
//! Every rejection is checked for the exact error variant, the field it names and — through
//! [`Env::refused`] — that the refused call wrote nothing: no record changed and no event was
//! appended.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use crm_core::ids::{Clock, ManualClock, SequentialIds};
use crm_core::model::{
    Direction, FieldDefinition, FieldSource, FieldType, Outcome, ParticipantRole, StageKind, StageVisit,
};
use crm_core::prelude::*;
use crm_core::profile::{Address, Channel, ConsentMethod, ConsentStatus, Email, EmailEntry, EmailLabel, PhoneLabel};
use crm_core::query::{Filter, Query};
use crm_core::service::NewParticipant;
use crm_core::service::extension::{EventContext, Extension, HookContext, WriteOp};
use crm_core::service::{CrmBuilder, TimelineItem};
use crm_core::store::TxMode;
use rust_decimal::Decimal;
use uuid::Uuid;

// ---------------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------------

/// 2026-03-02T09:00:00Z, a Monday.
fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap()
}

fn tenant_a() -> TenantId {
    TenantId::from_uuid(Uuid::from_u128(0xA))
}

fn tenant_b() -> TenantId {
    TenantId::from_uuid(Uuid::from_u128(0xB))
}

struct Env {
    crm: Crm,
    clock: Arc<ManualClock>,
}

/// Everything one tenant has stored: every record of every kind, and every event.
#[derive(Debug, PartialEq)]
struct State {
    records: Vec<Record>,
    events: Vec<StoredEvent>,
}

fn env() -> Env {
    env_with(|b| b)
}

fn env_with(f: impl FnOnce(CrmBuilder) -> CrmBuilder) -> Env {
    let clock = Arc::new(ManualClock::new(t0()));
    let builder =
        Crm::builder(MemoryStore::new()).clock(clock.clone()).ids(SequentialIds::default()).default_region("US");
    let crm = f(builder).build().expect("valid configuration");
    Env { crm, clock }
}

impl Env {
    /// The system actor of tenant A.
    fn cx(&self) -> Session {
        self.crm.as_actor(&Actor::system(tenant_a()))
    }

    fn cx_of(&self, tenant: TenantId) -> Session {
        self.crm.as_actor(&Actor::system(tenant))
    }

    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    fn advance(&self, by: Duration) {
        self.clock.advance(by);
    }

    async fn state_of(&self, tenant: TenantId) -> State {
        let mut tx = self.crm.store().begin(tenant, TxMode::ReadOnly).await.unwrap();
        let mut records = Vec::new();
        for kind in EntityKind::ALL {
            let page = tx.query(*kind, &Query::new(Filter::All).limit(1000)).await.unwrap();
            assert!(page.next.is_none(), "test data sets stay below one page");
            records.extend(page.items);
        }
        let events = self.cx_of(tenant).events(&EventQuery::after(0, 1000)).await.unwrap();
        State { records, events }
    }

    async fn events(&self) -> Vec<StoredEvent> {
        self.cx().events(&EventQuery::after(0, 1000)).await.unwrap()
    }

    /// Runs a call that must fail, and checks that it wrote nothing in tenant A nor in tenant B.
    async fn refused<T: std::fmt::Debug>(&self, call: impl Future<Output = Result<T>>) -> Error {
        let (a, b) = (self.state_of(tenant_a()).await, self.state_of(tenant_b()).await);
        let err = match call.await {
            Ok(v) => panic!("expected the call to be refused, got {v:?}"),
            Err(e) => e,
        };
        assert_eq!(self.state_of(tenant_a()).await, a, "a refused call changed tenant A: {err}");
        assert_eq!(self.state_of(tenant_b()).await, b, "a refused call changed tenant B: {err}");
        err
    }

    /// Events appended since `seq`.
    async fn events_since(&self, seq: u64) -> Vec<StoredEvent> {
        self.cx().events(&EventQuery::after(seq, 1000)).await.unwrap()
    }

    async fn last_seq(&self) -> u64 {
        self.events().await.last().map(|e| e.seq).unwrap_or(0)
    }
}

/// The error is a validation error with an error of `code` about `field`.
#[track_caller]
fn assert_field(err: &Error, field: &str, code: FieldErrorCode) {
    assert!(matches!(err, Error::Validation(_)), "expected a validation error, got {err:?}");
    assert!(err.names_field(field), "expected an error about `{field}`, got {err}");
    assert!(
        err.field_errors().iter().any(|e| e.field == field && e.code == code),
        "expected `{field}` to be refused with {code:?}, got {err}"
    );
}

/// The error is a validation error with exactly one error: `code` about `field`.
#[track_caller]
fn assert_only_field(err: &Error, field: &str, code: FieldErrorCode) {
    assert_field(err, field, code);
    assert_eq!(err.field_errors().len(), 1, "expected only `{field}` to be refused, got {err}");
}

/// The error is an invalid transition of `field`.
#[track_caller]
fn assert_transition(err: &Error, field: &str) {
    match err {
        Error::InvalidTransition { field: f, .. } => assert_eq!(f, field, "wrong field in {err}"),
        other => panic!("expected an invalid transition of `{field}`, got {other:?}"),
    }
    assert!(err.names_field(field));
}

#[track_caller]
fn assert_not_found(err: &Error, kind: EntityKind, id: impl Into<Uuid>) {
    let id = id.into();
    match err {
        Error::NotFound { kind: k, id: i } => {
            assert_eq!(*k, kind);
            assert_eq!(*i, id);
        }
        other => panic!("expected {kind} {id} not found, got {other:?}"),
    }
}

fn usd(amount: &str) -> Money {
    Money::new(dec(amount), Currency::USD)
}

fn eur(amount: &str) -> Money {
    Money::new(dec(amount), Currency::EUR)
}

fn dec(s: &str) -> Decimal {
    s.parse().unwrap()
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn changes(events: &[StoredEvent]) -> Vec<(EntityKind, Change)> {
    events.iter().map(|e| (e.event.subject.kind, e.event.change.clone())).collect()
}

fn contact_ref(id: ContactId) -> EntityRef {
    EntityRef::new(EntityKind::Contact, id)
}

fn company_ref(id: CompanyId) -> EntityRef {
    EntityRef::new(EntityKind::Company, id)
}

/// The default pipeline's stages by name.
struct Sales {
    pipeline: Pipeline,
}

impl Sales {
    async fn of(cx: &Session) -> Sales {
        Sales { pipeline: cx.pipelines().default_pipeline().await.unwrap() }
    }
    fn stage(&self, name: &str) -> StageId {
        self.pipeline.stage_named(name).unwrap_or_else(|| panic!("no stage {name}")).id
    }
    fn lead(&self) -> StageId {
        self.stage("Lead generation")
    }
    fn qualification(&self) -> StageId {
        self.stage("Qualification")
    }
    fn needs(&self) -> StageId {
        self.stage("Needs identification")
    }
    fn proposal(&self) -> StageId {
        self.stage("Proposal")
    }
    fn won(&self) -> StageId {
        self.stage("Closed won")
    }
    fn lost(&self) -> StageId {
        self.stage("Closed lost")
    }
}

fn small_pipeline(name: &str) -> NewPipeline {
    NewPipeline::new(
        name,
        vec![NewStage::open("First", 20), NewStage::open("Second", 60), NewStage::won("Won"), NewStage::lost("Lost")],
    )
}

// ---------------------------------------------------------------------------------------------
// Contacts
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn contact_needs_a_given_or_family_name() {
    let env = env();
    let cx = env.cx();
    let err = env.refused(cx.contacts().create(NewContact::new("   ", ""))).await;
    assert_only_field(&err, "given_name", FieldErrorCode::Required);

    let err = env.refused(cx.contacts().create(NewContact::new("x".repeat(201), "Doe"))).await;
    assert_only_field(&err, "given_name", FieldErrorCode::OutOfRange);

    // Either name is enough; names are trimmed.
    let c = cx.contacts().create(NewContact::new("", "  Doe ")).await.unwrap();
    assert_eq!((c.given_name.as_str(), c.family_name.as_str()), ("", "Doe"));
    assert_eq!(c.lifecycle_stage, LifecycleStage::Lead, "new contacts start as leads");
    assert_eq!((c.version, c.created_at, c.updated_at), (1, env.now(), env.now()));

    // Clearing both names on update is refused the same way.
    let mut c2 = c.clone();
    c2.family_name = " ".into();
    let err = env.refused(cx.contacts().update(c2)).await;
    assert_only_field(&err, "given_name", FieldErrorCode::Required);
}

#[tokio::test]
async fn malformed_emails_are_refused_by_index() {
    let env = env();
    let cx = env.cx();
    let input = NewContact::new("Jane", "Doe").email("jane@acme.com").email("jane@@acme.com").email("jane@acme");
    let err = env.refused(cx.contacts().create(input)).await;
    assert_field(&err, "emails[1]", FieldErrorCode::InvalidFormat);
    assert_field(&err, "emails[2]", FieldErrorCode::InvalidFormat);
    assert!(!err.names_field("emails[0]"));
    assert_eq!(err.field_errors().len(), 2);

    let c = cx.contacts().create(NewContact::new("Jane", "Doe").email("  Jane.Doe@ACME.com ")).await.unwrap();
    assert_eq!(c.primary_email().unwrap().as_str(), "jane.doe@acme.com", "emails are trimmed and lower-cased");
    assert_eq!(c.emails[0].label, EmailLabel::Work);
}

#[tokio::test]
async fn duplicate_emails_and_phones_are_refused() {
    let env = env();
    let cx = env.cx();
    let input = NewContact::new("Jane", "Doe")
        .email("jane@acme.com")
        .email_labeled("JANE@acme.com", EmailLabel::Personal)
        .phone("(415) 555-2671")
        .phone_labeled("+1 415 555 2671", PhoneLabel::Work);
    let err = env.refused(cx.contacts().create(input)).await;
    assert_field(&err, "emails[1]", FieldErrorCode::Duplicate);
    assert_field(&err, "phones[1]", FieldErrorCode::Duplicate);
    assert_eq!(err.field_errors().len(), 2);
}

#[tokio::test]
async fn malformed_phones_are_refused_and_national_numbers_use_the_default_region() {
    let env = env();
    let cx = env.cx();
    let err =
        env.refused(cx.contacts().create(NewContact::new("Jane", "Doe").phone("+1 415 555 2671").phone("12"))).await;
    assert_only_field(&err, "phones[1]", FieldErrorCode::InvalidFormat);
    let err = env.refused(cx.contacts().create(NewContact::new("Jane", "Doe").phone("not a phone"))).await;
    assert_only_field(&err, "phones[0]", FieldErrorCode::InvalidFormat);

    // The CRM's default region (US) is used for national numbers.
    let c = cx
        .contacts()
        .create(
            NewContact::new("Jane", "Doe").phone("(415) 555-2671").phone_labeled("+44 20 7946 0958", PhoneLabel::Work),
        )
        .await
        .unwrap();
    let phones: Vec<_> = c.phones.iter().map(|p| (p.number.as_str(), p.label)).collect();
    assert_eq!(phones, vec![("+14155552671", PhoneLabel::Mobile), ("+442079460958", PhoneLabel::Work)]);

    // A German CRM reads the same digits as a German number.
    let de = env_with(|b| b.default_region("de"));
    let c = de.cx().contacts().create(NewContact::new("Jan", "Weber").phone("030 901820")).await.unwrap();
    assert_eq!(c.primary_phone().unwrap().as_str(), "+4930901820");

    // Without a default region a national number cannot be read.
    let none = Env { crm: Crm::builder(MemoryStore::new()).build().unwrap(), clock: Arc::new(ManualClock::new(t0())) };
    let err = none.refused(none.cx().contacts().create(NewContact::new("Jane", "Doe").phone("(415) 555-2671"))).await;
    assert_only_field(&err, "phones[0]", FieldErrorCode::InvalidFormat);
    let ok = none.cx().contacts().create(NewContact::new("Jane", "Doe").phone("+1 (415) 555-2671")).await.unwrap();
    assert_eq!(ok.primary_phone().unwrap().as_str(), "+14155552671");
}

#[tokio::test]
async fn addresses_need_a_valid_country_code() {
    let env = env();
    let cx = env.cx();
    let bad =
        |country: &str| Address { city: Some("Somewhere".into()), country: Some(country.into()), ..Default::default() };
    let input = NewContact::new("Jane", "Doe").address(bad("DE")).address(bad("XX")).address(bad("USA"));
    let err = env.refused(cx.contacts().create(input)).await;
    assert_field(&err, "addresses[1].country", FieldErrorCode::InvalidFormat);
    assert_field(&err, "addresses[2].country", FieldErrorCode::InvalidFormat);
    assert_eq!(err.field_errors().len(), 2);

    let err = env.refused(cx.contacts().create(NewContact::new("Jane", "Doe").address(Address::default()))).await;
    assert_only_field(&err, "addresses[0]", FieldErrorCode::Required);

    let c = cx.contacts().create(NewContact::new("Jane", "Doe").address(bad(" de "))).await.unwrap();
    assert_eq!(c.addresses[0].country.as_deref(), Some("DE"), "country codes are normalised to upper case");
}

#[tokio::test]
async fn birthdays_cannot_be_in_the_future() {
    let env = env();
    let cx = env.cx();
    let tomorrow = env.now().date_naive().succ_opt().unwrap();
    let err = env.refused(cx.contacts().create(NewContact::new("Jane", "Doe").birthday(tomorrow))).await;
    assert_only_field(&err, "birthday", FieldErrorCode::OutOfRange);

    let today = env.now().date_naive();
    let c = cx.contacts().create(NewContact::new("Jane", "Doe").birthday(today)).await.unwrap();
    assert_eq!(c.birthday, Some(today));

    let mut later = c.clone();
    later.birthday = Some(date(2030, 1, 1));
    let err = env.refused(cx.contacts().update(later)).await;
    assert_only_field(&err, "birthday", FieldErrorCode::OutOfRange);
}

#[tokio::test]
async fn lifecycle_only_moves_forward_on_update_and_reset_moves_it_anywhere() {
    let env = env();
    let cx = env.cx();
    let c =
        cx.contacts().create(NewContact::new("Jane", "Doe").lifecycle_stage(LifecycleStage::Customer)).await.unwrap();

    let mut back = c.clone();
    back.lifecycle_stage = LifecycleStage::Lead;
    let err = env.refused(cx.contacts().update(back)).await;
    match &err {
        Error::InvalidTransition { field, from, to, .. } => {
            assert_eq!((field.as_str(), from.as_str(), to.as_str()), ("lifecycle_stage", "customer", "lead"));
        }
        other => panic!("expected InvalidTransition, got {other:?}"),
    }

    // Forward is fine; the lifecycle change has its own event, not an `Updated`.
    let seq = env.last_seq().await;
    let mut fwd = c.clone();
    fwd.lifecycle_stage = LifecycleStage::Evangelist;
    let c = cx.contacts().update(fwd).await.unwrap();
    assert_eq!((c.lifecycle_stage, c.version), (LifecycleStage::Evangelist, 2));
    assert_eq!(
        changes(&env.events_since(seq).await),
        vec![(
            EntityKind::Contact,
            Change::LifecycleChanged { from: LifecycleStage::Customer, to: LifecycleStage::Evangelist, reset: false }
        )]
    );

    // A reset moves it back and says so.
    let seq = env.last_seq().await;
    let c = cx.contacts().reset_lifecycle(c.id, LifecycleStage::Lead).await.unwrap();
    assert_eq!((c.lifecycle_stage, c.version), (LifecycleStage::Lead, 3));
    assert_eq!(cx.contacts().get(c.id).await.unwrap().lifecycle_stage, LifecycleStage::Lead);
    let evs = env.events_since(seq).await;
    assert_eq!(
        changes(&evs),
        vec![(
            EntityKind::Contact,
            Change::LifecycleChanged { from: LifecycleStage::Evangelist, to: LifecycleStage::Lead, reset: true }
        )]
    );
    assert_eq!(evs[0].event.subject, contact_ref(c.id));

    // Resetting to the current stage writes nothing.
    let before = env.state_of(tenant_a()).await;
    cx.contacts().reset_lifecycle(c.id, LifecycleStage::Lead).await.unwrap();
    assert_eq!(env.state_of(tenant_a()).await, before);

    let missing = ContactId::from_uuid(Uuid::from_u128(99));
    let err = env.refused(cx.contacts().reset_lifecycle(missing, LifecycleStage::Lead)).await;
    assert_not_found(&err, EntityKind::Contact, missing);
}

#[tokio::test]
async fn stale_updates_conflict() {
    let env = env();
    let cx = env.cx();
    let c = cx.contacts().create(NewContact::new("Jane", "Doe")).await.unwrap();
    let mut first = c.clone();
    first.given_name = "Janet".into();
    let saved = cx.contacts().update(first).await.unwrap();
    assert_eq!(saved.version, 2);

    let mut stale = c.clone();
    stale.family_name = "Smith".into();
    let err = env.refused(cx.contacts().update(stale)).await;
    match err {
        Error::Conflict { kind, id, expected, found } => {
            assert_eq!((kind, id, expected, found), (EntityKind::Contact, c.id.as_uuid(), 1, Some(2)));
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert!(cx.contacts().update(c.clone()).await.unwrap_err().is_conflict());

    // Deleting at a stale version conflicts too.
    let err = env.refused(cx.contacts().delete(c.id, 1)).await;
    assert!(err.is_conflict(), "{err:?}");
    cx.contacts().delete(c.id, 2).await.unwrap();
    assert_not_found(&cx.contacts().get(c.id).await.unwrap_err(), EntityKind::Contact, c.id);
}

#[tokio::test]
async fn company_of_another_tenant_is_not_found() {
    let env = env();
    let cx = env.cx();
    let theirs = env.cx_of(tenant_b()).companies().create(NewCompany::new("Other Corp")).await.unwrap();
    let input = NewContact::new("Jane", "Doe").works_at(theirs.id, Some("CTO"), None);
    let err = env.refused(cx.contacts().create(input)).await;
    assert_only_field(&err, "company_id", FieldErrorCode::NotFound);

    let ours = cx.companies().create(NewCompany::new("Acme")).await.unwrap();
    let c = cx.contacts().create(NewContact::new("Jane", "Doe").works_at(ours.id, Some(" CTO "), None)).await.unwrap();
    assert_eq!((c.company_id, c.job_title.as_deref()), (Some(ours.id), Some("CTO")));

    let mut moved = c.clone();
    moved.company_id = Some(theirs.id);
    let err = env.refused(cx.contacts().update(moved)).await;
    assert_only_field(&err, "company_id", FieldErrorCode::NotFound);
}

#[tokio::test]
async fn find_by_email_matches_any_address_case_insensitively() {
    let env = env();
    let cx = env.cx();
    let jane = cx
        .contacts()
        .create(
            NewContact::new("Jane", "Doe").email("jane@acme.com").email_labeled("j.doe@home.org", EmailLabel::Personal),
        )
        .await
        .unwrap();
    cx.contacts().create(NewContact::new("John", "Roe").email("john@acme.com")).await.unwrap();

    assert_eq!(cx.contacts().find_by_email(" JANE@Acme.com ").await.unwrap().map(|c| c.id), Some(jane.id));
    assert_eq!(cx.contacts().find_by_email("j.doe@home.org").await.unwrap().map(|c| c.id), Some(jane.id));
    assert!(cx.contacts().find_by_email("ane@acme.com").await.unwrap().is_none(), "whole addresses only");
    assert!(cx.contacts().find_by_email("nobody@acme.com").await.unwrap().is_none());
    let err = cx.contacts().find_by_email("not an email").await.unwrap_err();
    assert_only_field(&err, "email", FieldErrorCode::InvalidFormat);
}

#[tokio::test]
async fn marketing_consent_is_stamped() {
    let env = env();
    let cx = env.cx();
    let c = cx
        .contacts()
        .create(NewContact::new("Jane", "Doe").consent(ConsentStatus::Granted, ConsentMethod::DoubleOptIn))
        .await
        .unwrap();
    assert_eq!(c.marketing_consent.changed_at, Some(t0()));
    env.advance(Duration::days(1));
    let mut w = c.clone();
    w.marketing_consent.status = ConsentStatus::Withdrawn;
    w.marketing_consent.method = Some(ConsentMethod::Unsubscribe);
    let w = cx.contacts().update(w).await.unwrap();
    assert_eq!(w.marketing_consent.changed_at, Some(t0() + Duration::days(1)));
}

// ---------------------------------------------------------------------------------------------
// Custom fields
// ---------------------------------------------------------------------------------------------

fn contact_field(key: &str, ty: FieldType) -> FieldDefinition {
    FieldDefinition::new(EntityKind::Contact, key, "A label", ty)
}

#[tokio::test]
async fn custom_field_definitions_are_checked() {
    let env = env();
    let cx = env.cx();
    let err = env.refused(cx.custom_fields().define(contact_field("Bad Key", FieldType::Text))).await;
    assert_only_field(&err, "key", FieldErrorCode::InvalidFormat);

    let err = env.refused(cx.custom_fields().define(contact_field("acme.budget", FieldType::Number))).await;
    assert_only_field(&err, "key", FieldErrorCode::InvalidFormat);

    let err = env
        .refused(cx.custom_fields().define(FieldDefinition::new(EntityKind::Pipeline, "x", "X", FieldType::Text)))
        .await;
    assert_only_field(&err, "entity_kind", FieldErrorCode::Rule);

    let err = env
        .refused(cx.custom_fields().define(FieldDefinition::new(EntityKind::Contact, "x", "  ", FieldType::Text)))
        .await;
    assert_only_field(&err, "label", FieldErrorCode::Required);

    let enum_ty = FieldType::Enum { options: vec!["a".into(), "a".into()] };
    let err = env.refused(cx.custom_fields().define(contact_field("tier", enum_ty))).await;
    assert_only_field(&err, "field_type.options[1]", FieldErrorCode::Duplicate);

    let f = cx.custom_fields().define(contact_field("budget", FieldType::Number)).await.unwrap();
    assert_eq!((f.definition.key.as_str(), f.version), ("budget", 1));
    let err = env.refused(cx.custom_fields().define(contact_field("budget", FieldType::Text))).await;
    assert_only_field(&err, "key", FieldErrorCode::Duplicate);

    // Keys are unique per kind, not across kinds.
    cx.custom_fields()
        .define(FieldDefinition::new(EntityKind::Company, "budget", "Budget", FieldType::Number))
        .await
        .unwrap();
    let keys: Vec<_> =
        cx.custom_fields().list(EntityKind::Contact).await.unwrap().into_iter().map(|f| f.definition.key).collect();
    assert_eq!(keys, vec!["budget"]);
    assert_eq!(cx.custom_fields().list(EntityKind::Company).await.unwrap().len(), 1);
}

#[tokio::test]
async fn custom_values_are_validated_on_create_and_update() {
    let env = env();
    let cx = env.cx();
    cx.custom_fields().define(contact_field("budget", FieldType::Number)).await.unwrap();
    cx.custom_fields()
        .define(contact_field("tier", FieldType::Enum { options: vec!["gold".into(), "silver".into()] }))
        .await
        .unwrap();
    cx.custom_fields()
        .define(contact_field("referrer", FieldType::Reference { to: EntityKind::Contact }))
        .await
        .unwrap();
    let jane = cx.contacts().create(NewContact::new("Jane", "Doe")).await.unwrap();
    let foreign = env.cx_of(tenant_b()).contacts().create(NewContact::new("Their", "Contact")).await.unwrap();
    let new = || NewContact::new("John", "Roe");

    let err = env.refused(cx.contacts().create(new().custom("nope", 1))).await;
    assert_only_field(&err, "custom.nope", FieldErrorCode::UnknownField);
    let err = env.refused(cx.contacts().create(new().custom("budget", "lots"))).await;
    assert_only_field(&err, "custom.budget", FieldErrorCode::TypeMismatch);
    let err = env.refused(cx.contacts().create(new().custom("budget", Decimal::new(15, 1)))).await;
    assert_only_field(&err, "custom.budget", FieldErrorCode::TypeMismatch);
    let err = env.refused(cx.contacts().create(new().custom("tier", "platinum"))).await;
    assert_only_field(&err, "custom.tier", FieldErrorCode::NotAnOption);
    let missing = Uuid::from_u128(424242);
    let err = env.refused(cx.contacts().create(new().custom("referrer", missing))).await;
    assert_only_field(&err, "custom.referrer", FieldErrorCode::NotFound);
    let err = env.refused(cx.contacts().create(new().custom("referrer", foreign.id))).await;
    assert_only_field(&err, "custom.referrer", FieldErrorCode::NotFound);
    // Several problems are reported together.
    let err = env.refused(cx.contacts().create(new().custom("tier", "bronze").custom("budget", true))).await;
    assert_field(&err, "custom.tier", FieldErrorCode::NotAnOption);
    assert_field(&err, "custom.budget", FieldErrorCode::TypeMismatch);

    let john = cx
        .contacts()
        .create(
            new()
                .custom("budget", 500)
                .custom("tier", "gold")
                .custom("referrer", jane.id)
                .custom("nothing", Value::Null),
        )
        .await
        .unwrap();
    assert_eq!(john.custom.get("budget"), Some(&Value::Int(500)));
    assert_eq!(john.custom.get("referrer"), Some(&Value::Id(jane.id.as_uuid())));
    assert!(!john.custom.contains_key("nothing"), "nulls are dropped, even for unknown keys");

    for (key, value, code) in [
        ("budget", Value::Text("x".into()), FieldErrorCode::TypeMismatch),
        ("tier", Value::Text("bronze".into()), FieldErrorCode::NotAnOption),
        ("referrer", Value::Id(foreign.id.as_uuid()), FieldErrorCode::NotFound),
        ("unknown", Value::Int(1), FieldErrorCode::UnknownField),
    ] {
        let mut u = john.clone();
        u.custom.insert(key.into(), value);
        let err = env.refused(cx.contacts().update(u)).await;
        assert_only_field(&err, &format!("custom.{key}"), code);
    }

    // Required fields: every record of the kind needs a value.
    cx.custom_fields()
        .define(FieldDefinition::new(EntityKind::Company, "vat_id", "VAT id", FieldType::Text).required())
        .await
        .unwrap();
    let err = env.refused(cx.companies().create(NewCompany::new("Acme"))).await;
    assert_only_field(&err, "custom.vat_id", FieldErrorCode::Required);
    let err = env.refused(cx.companies().create(NewCompany::new("Acme").custom("vat_id", Value::Null))).await;
    assert_only_field(&err, "custom.vat_id", FieldErrorCode::Required);
    let acme = cx.companies().create(NewCompany::new("Acme").custom("vat_id", "DE123")).await.unwrap();
    let mut u = acme.clone();
    u.custom.remove("vat_id");
    let err = env.refused(cx.companies().update(u)).await;
    assert_only_field(&err, "custom.vat_id", FieldErrorCode::Required);
}

#[tokio::test]
async fn removed_definitions_keep_stored_values_but_refuse_new_ones() {
    let env = env();
    let cx = env.cx();
    let budget = cx.custom_fields().define(contact_field("budget", FieldType::Number)).await.unwrap();
    let c = cx.contacts().create(NewContact::new("Jane", "Doe").custom("budget", 500)).await.unwrap();

    let err = env.refused(cx.custom_fields().remove(budget.id, 7)).await;
    assert!(err.is_conflict(), "{err:?}");
    cx.custom_fields().remove(budget.id, budget.version).await.unwrap();
    assert!(cx.custom_fields().list(EntityKind::Contact).await.unwrap().is_empty());

    // An unrelated update keeps the value.
    let mut u = c.clone();
    u.given_name = "Janet".into();
    let u = cx.contacts().update(u).await.unwrap();
    assert_eq!(u.custom.get("budget"), Some(&Value::Int(500)));
    assert_eq!(cx.contacts().get(c.id).await.unwrap().custom.get("budget"), Some(&Value::Int(500)));

    // A new value for the key is refused, on update and on create.
    let mut changed = u.clone();
    changed.custom.insert("budget".into(), Value::Int(600));
    let err = env.refused(cx.contacts().update(changed)).await;
    assert_only_field(&err, "custom.budget", FieldErrorCode::UnknownField);
    let err = env.refused(cx.contacts().create(NewContact::new("John", "Roe").custom("budget", 500))).await;
    assert_only_field(&err, "custom.budget", FieldErrorCode::UnknownField);

    // The stale value may be dropped.
    let mut dropped = u.clone();
    dropped.custom.remove("budget");
    let dropped = cx.contacts().update(dropped).await.unwrap();
    assert!(dropped.custom.is_empty());
    // …and once gone it cannot come back.
    let mut back = dropped.clone();
    back.custom.insert("budget".into(), Value::Int(500));
    let err = env.refused(cx.contacts().update(back)).await;
    assert_only_field(&err, "custom.budget", FieldErrorCode::UnknownField);
}

#[tokio::test]
async fn stored_references_to_deleted_records_do_not_block_updates() {
    let env = env();
    let cx = env.cx();
    cx.custom_fields()
        .define(contact_field("referrer", FieldType::Reference { to: EntityKind::Contact }))
        .await
        .unwrap();
    let jane = cx.contacts().create(NewContact::new("Jane", "Doe")).await.unwrap();
    let john = cx.contacts().create(NewContact::new("John", "Roe").custom("referrer", jane.id)).await.unwrap();
    cx.contacts().delete(jane.id, jane.version).await.unwrap();

    // Like `company_id` and a deal's `contact_ids`, only new references are checked: an
    // unrelated change to John is not refused because Jane is gone.
    let mut u = john.clone();
    u.job_title = Some("CFO".into());
    let u = cx.contacts().update(u).await.unwrap();
    assert_eq!(u.custom.get("referrer"), Some(&Value::Id(jane.id.as_uuid())));

    // Pointing it at another missing record is still refused.
    let mut bad = u.clone();
    bad.custom.insert("referrer".into(), Value::Id(Uuid::from_u128(31337)));
    let err = env.refused(cx.contacts().update(bad)).await;
    assert_only_field(&err, "custom.referrer", FieldErrorCode::NotFound);
}

#[tokio::test]
async fn filter_and_sort_by_custom_field() {
    let env = env();
    let cx = env.cx();
    cx.custom_fields().define(contact_field("budget", FieldType::Number)).await.unwrap();
    for (name, budget) in [("a", Some(50)), ("b", Some(150)), ("c", None), ("d", Some(300)), ("e", Some(100))] {
        let mut n = NewContact::new(name, "X");
        if let Some(b) = budget {
            n = n.custom("budget", b);
        }
        cx.contacts().create(n).await.unwrap();
    }
    let names = |p: Page<Contact>| p.items.into_iter().map(|c| c.given_name).collect::<Vec<_>>();
    let page =
        cx.contacts().list(&Query::new(Filter::gte("custom.budget", 100)).sort_desc("custom.budget")).await.unwrap();
    assert_eq!(names(page), vec!["d", "b", "e"]);
    let page = cx.contacts().list(&Query::new(Filter::All).sort_asc("custom.budget")).await.unwrap();
    assert_eq!(names(page), vec!["c", "a", "e", "b", "d"], "nulls first ascending");
    let page = cx.contacts().list(&Query::new(Filter::All).sort_desc("custom.budget")).await.unwrap();
    assert_eq!(names(page), vec!["d", "b", "e", "a", "c"], "nulls last descending");
    let page = cx.contacts().list(&Query::new(Filter::is_null("custom.budget"))).await.unwrap();
    assert_eq!(names(page), vec!["c"]);
    assert_eq!(cx.contacts().count(&Filter::lt("custom.budget", Decimal::new(1005, 1))).await.unwrap(), 2);

    let err = cx.contacts().list(&Query::new(Filter::eq("custom.nope", 1))).await.unwrap_err();
    assert_only_field(&err, "filter.custom.nope", FieldErrorCode::UnknownField);
    let err = cx.contacts().list(&Query::new(Filter::gte("custom.budget", "x"))).await.unwrap_err();
    assert_only_field(&err, "filter.custom.budget", FieldErrorCode::TypeMismatch);
    let err = cx.contacts().list(&Query::new(Filter::All).sort_asc("custom.nope")).await.unwrap_err();
    assert_only_field(&err, "sort[0]", FieldErrorCode::UnknownField);
}

// ---------------------------------------------------------------------------------------------
// Pipelines
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn default_pipeline_has_the_eight_classic_stages() {
    let env = env();
    let cx = env.cx();
    let p = cx.pipelines().default_pipeline().await.unwrap();
    let stages: Vec<_> = p.stages.iter().map(|s| (s.name.as_str(), s.probability, s.kind)).collect();
    assert_eq!(
        stages,
        vec![
            ("Lead generation", 5, StageKind::Open),
            ("Qualification", 10, StageKind::Open),
            ("Needs identification", 25, StageKind::Open),
            ("Proposal", 50, StageKind::Open),
            ("Presentation", 65, StageKind::Open),
            ("Handling objections", 80, StageKind::Open),
            ("Closed won", 100, StageKind::Won),
            ("Closed lost", 0, StageKind::Lost),
        ]
    );
    assert!(p.is_default);
    assert_eq!(p.stage_named("proposal").unwrap().required_fields, vec!["amount"]);
    assert!(p.stage_named("Needs identification").unwrap().required_fields.is_empty());
    assert_eq!(p.first_open_stage().unwrap().name, "Lead generation");
    assert_eq!(changes(&env.events().await), vec![(EntityKind::Pipeline, Change::Created)]);

    // Asking again returns the same pipeline and writes nothing.
    let before = env.state_of(tenant_a()).await;
    assert_eq!(cx.pipelines().default_pipeline().await.unwrap(), p);
    assert_eq!(env.state_of(tenant_a()).await, before);
}

#[tokio::test]
async fn invalid_pipelines_are_refused() {
    let env = env();
    let cx = env.cx();
    let create = |stages: Vec<NewStage>| {
        let cx = cx.clone();
        async move { cx.pipelines().create(NewPipeline::new("P", stages)).await }
    };

    let err = env.refused(create(vec![NewStage::open("A", 10), NewStage::lost("Lost")])).await;
    assert_only_field(&err, "stages", FieldErrorCode::Rule);
    let err = env
        .refused(create(vec![NewStage::open("A", 10), NewStage::won("W1"), NewStage::won("W2"), NewStage::lost("L")]))
        .await;
    assert_only_field(&err, "stages", FieldErrorCode::Rule);
    let err = env.refused(create(vec![NewStage::open("A", 10), NewStage::won("Won")])).await;
    assert_only_field(&err, "stages", FieldErrorCode::Rule);
    let err = env.refused(create(vec![NewStage::won("Won"), NewStage::lost("Lost")])).await;
    assert_only_field(&err, "stages", FieldErrorCode::Rule);
    let err = env.refused(create(vec![])).await;
    assert_field(&err, "stages", FieldErrorCode::Required);

    let err = env
        .refused(create(vec![
            NewStage::open("Demo", 10),
            NewStage::open(" demo ", 20),
            NewStage::won("Won"),
            NewStage::lost("Lost"),
        ]))
        .await;
    assert_only_field(&err, "stages[1].name", FieldErrorCode::Duplicate);
    let err = env.refused(create(vec![NewStage::open("A", 101), NewStage::won("Won"), NewStage::lost("Lost")])).await;
    assert_only_field(&err, "stages[0].probability", FieldErrorCode::OutOfRange);
    let err = env
        .refused(create(vec![
            NewStage::open("A", 10).requires("amount").requires("budget_approved"),
            NewStage::won("Won"),
            NewStage::lost("Lost"),
        ]))
        .await;
    assert_only_field(&err, "stages[0].required_fields[1]", FieldErrorCode::UnknownField);
    let err = env
        .refused(
            cx.pipelines()
                .create(NewPipeline::new(" ", vec![NewStage::open("A", 1), NewStage::won("W"), NewStage::lost("L")])),
        )
        .await;
    assert_only_field(&err, "name", FieldErrorCode::Required);

    let p = create(vec![
        NewStage::open("A", 10).requires("custom.budget").requires("owner_id").rotting_after(3),
        NewStage::won("Won"),
        NewStage::lost("Lost"),
    ])
    .await
    .unwrap();
    assert_eq!(p.stages[0].required_fields, vec!["custom.budget", "owner_id"]);
    assert_eq!(p.stages[0].rotting_days, Some(3));
    assert!(!p.is_default);

    // Updates are checked the same way.
    let mut u = p.clone();
    u.stages[0].probability = 150;
    let err = env.refused(cx.pipelines().update(u)).await;
    assert_only_field(&err, "stages[0].probability", FieldErrorCode::OutOfRange);
}

#[tokio::test]
async fn stage_required_fields_apply_when_a_deal_enters() {
    let env = env();
    let cx = env.cx();
    cx.custom_fields()
        .define(FieldDefinition::new(EntityKind::Deal, "budget", "Budget", FieldType::Number))
        .await
        .unwrap();
    let p = cx
        .pipelines()
        .create(NewPipeline::new(
            "Strict",
            vec![
                NewStage::open("Intro", 10),
                NewStage::open("Scoped", 40)
                    .requires("custom.budget")
                    .requires("contact_ids")
                    .requires("expected_close_date"),
                NewStage::won("Won").requires("company_id"),
                NewStage::lost("Lost"),
            ],
        ))
        .await
        .unwrap();
    let (intro, scoped) = (p.stages[0].id, p.stages[1].id);
    let err = env.refused(cx.deals().create(NewDeal::new("D").pipeline(p.id).stage(scoped))).await;
    assert_field(&err, "custom.budget", FieldErrorCode::Required);
    assert_field(&err, "contact_ids", FieldErrorCode::Required);
    assert_field(&err, "expected_close_date", FieldErrorCode::Required);
    assert_eq!(err.field_errors().len(), 3);

    let jane = cx.contacts().create(NewContact::new("Jane", "Doe")).await.unwrap();
    let d = cx.deals().create(NewDeal::new("D").pipeline(p.id).stage(intro).contact(jane.id)).await.unwrap();
    let err = env.refused(cx.deals().move_to_stage(d.id, scoped)).await;
    assert_field(&err, "custom.budget", FieldErrorCode::Required);
    assert_field(&err, "expected_close_date", FieldErrorCode::Required);
    assert!(!err.names_field("contact_ids"));

    let mut u = d.clone();
    u.custom.insert("budget".into(), Value::Int(10));
    u.expected_close_date = Some(date(2026, 9, 1));
    cx.deals().update(u).await.unwrap();
    assert_eq!(cx.deals().move_to_stage(d.id, scoped).await.unwrap().stage_id, scoped);
    let err = env.refused(cx.deals().win(d.id)).await;
    assert_only_field(&err, "company_id", FieldErrorCode::Required);
}

#[tokio::test]
async fn one_default_pipeline_at_a_time() {
    let env = env();
    let cx = env.cx();
    let sales = cx.pipelines().default_pipeline().await.unwrap();
    let renewals = cx.pipelines().create(small_pipeline("Renewals").default_pipeline()).await.unwrap();
    assert!(renewals.is_default);
    assert!(!cx.pipelines().get(sales.id).await.unwrap().is_default);
    let defaults = cx.pipelines().list(&Query::new(Filter::eq("is_default", true))).await.unwrap();
    assert_eq!(defaults.items.iter().map(|p| p.id).collect::<Vec<_>>(), vec![renewals.id]);
    assert_eq!(cx.pipelines().default_pipeline().await.unwrap().id, renewals.id);

    // New deals go to the default pipeline's first open stage.
    let d = cx.deals().create(NewDeal::new("Renewal")).await.unwrap();
    assert_eq!((d.pipeline_id, d.stage_id), (renewals.id, renewals.stages[0].id));

    // Making another pipeline the default through an update moves the flag.
    let mut s = cx.pipelines().get(sales.id).await.unwrap();
    s.is_default = true;
    cx.pipelines().update(s).await.unwrap();
    let defaults = cx.pipelines().list(&Query::new(Filter::eq("is_default", true))).await.unwrap();
    assert_eq!(defaults.items.iter().map(|p| p.id).collect::<Vec<_>>(), vec![sales.id]);
    assert!(!cx.pipelines().get(renewals.id).await.unwrap().is_default);
}

#[tokio::test]
async fn stages_holding_deals_cannot_be_removed() {
    let env = env();
    let cx = env.cx();
    let p = cx.pipelines().create(small_pipeline("P")).await.unwrap();
    let (first, second) = (p.stages[0].id, p.stages[1].id);
    cx.deals().create(NewDeal::new("D").pipeline(p.id).stage(first)).await.unwrap();

    let mut u = p.clone();
    u.stages.retain(|s| s.id != first);
    let err = env.refused(cx.pipelines().update(u)).await;
    assert_only_field(&err, "stages", FieldErrorCode::Rule);
    assert!(err.to_string().contains("First"), "the message names the stage: {err}");

    // An empty stage may go, and new stages may be added.
    let mut u = p.clone();
    u.stages.retain(|s| s.id != second);
    let added = cx.pipelines().new_stage_id();
    u.stages.insert(1, Stage::new(added, "Negotiation", 70, StageKind::Open));
    let saved = cx.pipelines().update(u).await.unwrap();
    assert_eq!(
        saved.stages.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
        vec!["First", "Negotiation", "Won", "Lost"]
    );
    assert_eq!(saved.version, 2);

    // A pipeline with deals cannot be deleted either.
    let err = env.refused(cx.pipelines().delete(p.id, saved.version)).await;
    assert_only_field(&err, "pipeline_id", FieldErrorCode::Rule);
}

#[tokio::test]
async fn stages_holding_deals_keep_their_kind() {
    let env = env();
    let cx = env.cx();
    let p = cx.pipelines().create(small_pipeline("P")).await.unwrap();
    let d = cx.deals().create(NewDeal::new("D").pipeline(p.id).stage(p.stages[1].id)).await.unwrap();

    // Turning the deal's open stage into the lost stage would leave an open deal in a lost stage.
    let mut u = p.clone();
    u.stages[1].kind = StageKind::Lost;
    u.stages[3].kind = StageKind::Open;
    let err = env.refused(cx.pipelines().update(u)).await;
    assert_only_field(&err, "stages[1].kind", FieldErrorCode::Rule);
    let d = cx.deals().get(d.id).await.unwrap();
    let stage = cx.pipelines().get(p.id).await.unwrap().stage(d.stage_id).unwrap().kind;
    assert_eq!((d.status, stage), (DealStatus::Open, StageKind::Open));

    // A won deal's stage cannot become open either.
    cx.deals().win(d.id).await.unwrap();
    let mut u = p.clone();
    u.stages[2].kind = StageKind::Open;
    u.stages[0].kind = StageKind::Won;
    let err = env.refused(cx.pipelines().update(u)).await;
    assert_only_field(&err, "stages[2].kind", FieldErrorCode::Rule);

    // Empty stages may change kind.
    let mut u = p.clone();
    u.stages[0].kind = StageKind::Lost;
    u.stages[3].kind = StageKind::Open;
    let saved = cx.pipelines().update(u).await.unwrap();
    assert_eq!(
        saved.stages.iter().map(|s| s.kind).collect::<Vec<_>>(),
        vec![StageKind::Lost, StageKind::Open, StageKind::Won, StageKind::Open]
    );
}

// ---------------------------------------------------------------------------------------------
// Deals
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn deal_stage_must_belong_to_the_deals_pipeline() {
    let env = env();
    let cx = env.cx();
    let sales = Sales::of(&cx).await;
    let other = cx.pipelines().create(small_pipeline("Other")).await.unwrap();
    let foreign_stage = other.stages[0].id;

    let err = env.refused(cx.deals().create(NewDeal::new("D").stage(foreign_stage))).await;
    assert_only_field(&err, "stage_id", FieldErrorCode::NotFound);
    let err = env.refused(cx.deals().create(NewDeal::new("D").pipeline(other.id).stage(sales.lead()))).await;
    assert_only_field(&err, "stage_id", FieldErrorCode::NotFound);
    let missing = PipelineId::from_uuid(Uuid::from_u128(77));
    let err = env.refused(cx.deals().create(NewDeal::new("D").pipeline(missing))).await;
    assert_only_field(&err, "pipeline_id", FieldErrorCode::NotFound);
    let err = env.refused(cx.deals().create(NewDeal::new("D").stage(sales.won()).amount(usd("1.00")))).await;
    assert_transition(&err, "stage_id");
    let err = env.refused(cx.deals().create(NewDeal::new("  "))).await;
    assert_only_field(&err, "name", FieldErrorCode::Required);
    let err = env.refused(cx.deals().create(NewDeal::new("D").amount(usd("-0.01")))).await;
    assert_only_field(&err, "amount", FieldErrorCode::OutOfRange);

    let d = cx.deals().create(NewDeal::new("D")).await.unwrap();
    assert_eq!((d.pipeline_id, d.stage_id, d.status), (sales.pipeline.id, sales.lead(), DealStatus::Open));
    let err = env.refused(cx.deals().move_to_stage(d.id, foreign_stage)).await;
    assert_only_field(&err, "stage_id", FieldErrorCode::NotFound);

    let in_other = cx.deals().create(NewDeal::new("O").pipeline(other.id).stage(other.stages[1].id)).await.unwrap();
    assert_eq!((in_other.pipeline_id, in_other.stage_id), (other.id, other.stages[1].id));
    let err = env.refused(cx.deals().move_to_stage(in_other.id, sales.qualification())).await;
    assert_only_field(&err, "stage_id", FieldErrorCode::NotFound);

    let missing = DealId::from_uuid(Uuid::from_u128(5));
    let err = env.refused(cx.deals().move_to_stage(missing, sales.qualification())).await;
    assert_not_found(&err, EntityKind::Deal, missing);
}

#[tokio::test]
async fn amount_is_required_from_proposal_on() {
    let env = env();
    let cx = env.cx();
    let sales = Sales::of(&cx).await;
    let d = cx.deals().create(NewDeal::new("D")).await.unwrap();
    let d = cx.deals().move_to_stage(d.id, sales.needs()).await.unwrap();
    assert_eq!(d.stage_id, sales.needs());

    let err = env.refused(cx.deals().move_to_stage(d.id, sales.proposal())).await;
    assert_only_field(&err, "amount", FieldErrorCode::Required);
    let err = env.refused(cx.deals().move_to_stage(d.id, sales.stage("Presentation"))).await;
    assert_only_field(&err, "amount", FieldErrorCode::Required);
    let err = env.refused(cx.deals().win(d.id)).await;
    assert_only_field(&err, "amount", FieldErrorCode::Required);
    let err = env.refused(cx.deals().create(NewDeal::new("D2").stage(sales.proposal()))).await;
    assert_only_field(&err, "amount", FieldErrorCode::Required);

    // Losing needs no amount.
    let other = cx.deals().create(NewDeal::new("D3")).await.unwrap();
    assert_eq!(cx.deals().lose(other.id, "No budget").await.unwrap().status, DealStatus::Lost);

    let mut u = d.clone();
    u.amount = Some(usd("1000.00"));
    let d = cx.deals().update(u).await.unwrap();
    let d = cx.deals().move_to_stage(d.id, sales.proposal()).await.unwrap();
    assert_eq!(d.stage_id, sales.proposal());

    // In Proposal the amount cannot be removed.
    let mut u = d.clone();
    u.amount = None;
    let err = env.refused(cx.deals().update(u)).await;
    assert_only_field(&err, "amount", FieldErrorCode::Required);
}

#[tokio::test]
async fn apply_edits_and_moves_a_deal_in_one_unit_or_not_at_all() {
    let env = env();
    let cx = env.cx();
    let sales = Sales::of(&cx).await;
    let d = cx.deals().create(NewDeal::new("D")).await.unwrap();
    // Proposal needs an amount: the new tag and the move are refused together.
    let err = env.refused(cx.deals().apply(d.id, NewDeal::default().tag("vip").stage(sales.proposal()))).await;
    assert_only_field(&err, "amount", FieldErrorCode::Required);
    // Given the amount, all of it lands.
    let input = NewDeal::default().tag("vip").amount(usd("10.00")).stage(sales.proposal());
    let d = cx.deals().apply(d.id, input).await.unwrap();
    assert_eq!((d.name.as_str(), d.stage_id, d.tags.clone()), ("D", sales.proposal(), vec!["vip".to_owned()]));
    assert_eq!(d.amount, Some(usd("10.00")));
    // A deal stays in its pipeline.
    let stages = vec![NewStage::open("A", 10), NewStage::won("W"), NewStage::lost("L")];
    let other = cx.pipelines().create(NewPipeline::new("Other", stages)).await.unwrap();
    let err = env.refused(cx.deals().apply(d.id, NewDeal::default().pipeline(other.id))).await;
    assert!(matches!(err, Error::InvalidTransition { .. }), "{err:?}");
}

#[tokio::test]
async fn losing_needs_a_reason_and_the_lost_stage_needs_lose() {
    let env = env();
    let cx = env.cx();
    let sales = Sales::of(&cx).await;
    let d = cx.deals().create(NewDeal::new("D")).await.unwrap();
    for reason in ["", "   "] {
        let err = env.refused(cx.deals().lose(d.id, reason)).await;
        assert_only_field(&err, "lost_reason", FieldErrorCode::Required);
    }
    let err = env.refused(cx.deals().move_to_stage(d.id, sales.lost())).await;
    assert_only_field(&err, "lost_reason", FieldErrorCode::Required);

    env.advance(Duration::hours(5));
    let seq = env.last_seq().await;
    let lost = cx.deals().lose(d.id, "  Chose a competitor ").await.unwrap();
    assert_eq!(lost.status, DealStatus::Lost);
    assert_eq!(lost.stage_id, sales.lost());
    assert_eq!(lost.lost_reason.as_deref(), Some("Chose a competitor"));
    assert_eq!(lost.closed_at, Some(env.now()));
    assert_eq!(
        changes(&env.events_since(seq).await),
        vec![
            (
                EntityKind::Deal,
                Change::StageChanged { pipeline_id: sales.pipeline.id, from: sales.lead(), to: sales.lost() }
            ),
            (EntityKind::Deal, Change::DealLost { reason: "Chose a competitor".into() }),
        ]
    );

    // A lost deal keeps its reason; it may be reworded.
    let mut u = lost.clone();
    u.lost_reason = None;
    let err = env.refused(cx.deals().update(u)).await;
    assert_only_field(&err, "lost_reason", FieldErrorCode::Required);
    let mut u = lost.clone();
    u.lost_reason = Some("Chose a cheaper competitor".into());
    assert_eq!(cx.deals().update(u).await.unwrap().lost_reason.as_deref(), Some("Chose a cheaper competitor"));
}

#[tokio::test]
async fn won_and_lost_are_terminal_until_reopened() {
    let env = env();
    let cx = env.cx();
    let sales = Sales::of(&cx).await;
    let other = cx.pipelines().create(small_pipeline("Other")).await.unwrap();
    let d = cx.deals().create(NewDeal::new("D").amount(usd("500.00"))).await.unwrap();

    // Reopen only from won or lost.
    let err = env.refused(cx.deals().reopen(d.id, sales.qualification())).await;
    assert_transition(&err, "stage_id");

    let won = cx.deals().win(d.id).await.unwrap();
    assert_eq!((won.status, won.stage_id, won.closed_at), (DealStatus::Won, sales.won(), Some(env.now())));
    let err = env.refused(cx.deals().move_to_stage(d.id, sales.qualification())).await;
    assert_transition(&err, "stage_id");
    let err = env.refused(cx.deals().move_to_stage(d.id, sales.won())).await;
    assert_transition(&err, "stage_id");
    let err = env.refused(cx.deals().win(d.id)).await;
    assert_transition(&err, "stage_id");
    let err = env.refused(cx.deals().lose(d.id, "Changed their mind")).await;
    assert_transition(&err, "stage_id");

    // Reopen only into an open stage of the deal's own pipeline.
    let err = env.refused(cx.deals().reopen(d.id, sales.lost())).await;
    assert_transition(&err, "stage_id");
    let err = env.refused(cx.deals().reopen(d.id, sales.won())).await;
    assert_transition(&err, "stage_id");
    let err = env.refused(cx.deals().reopen(d.id, other.stages[0].id)).await;
    assert_only_field(&err, "stage_id", FieldErrorCode::NotFound);

    env.advance(Duration::days(1));
    let seq = env.last_seq().await;
    let reopened = cx.deals().reopen(d.id, sales.qualification()).await.unwrap();
    assert_eq!(
        (reopened.status, reopened.stage_id, reopened.closed_at),
        (DealStatus::Open, sales.qualification(), None)
    );
    assert_eq!(
        changes(&env.events_since(seq).await),
        vec![
            (
                EntityKind::Deal,
                Change::StageChanged { pipeline_id: sales.pipeline.id, from: sales.won(), to: sales.qualification() }
            ),
            (EntityKind::Deal, Change::DealReopened { to: sales.qualification() }),
        ]
    );

    // Once open again it moves freely; a lost then reopened deal forgets its reason.
    cx.deals().move_to_stage(d.id, sales.proposal()).await.unwrap();
    cx.deals().lose(d.id, "Timing").await.unwrap();
    let err = env.refused(cx.deals().move_to_stage(d.id, sales.needs())).await;
    assert_transition(&err, "stage_id");
    let reopened = cx.deals().reopen(d.id, sales.needs()).await.unwrap();
    assert_eq!((reopened.status, reopened.lost_reason.clone(), reopened.closed_at), (DealStatus::Open, None, None));

    // Moving to the won stage wins the deal.
    let seq = env.last_seq().await;
    let won = cx.deals().move_to_stage(d.id, sales.won()).await.unwrap();
    assert_eq!(won.status, DealStatus::Won);
    assert_eq!(
        changes(&env.events_since(seq).await),
        vec![
            (
                EntityKind::Deal,
                Change::StageChanged { pipeline_id: sales.pipeline.id, from: sales.needs(), to: sales.won() }
            ),
            (EntityKind::Deal, Change::DealWon),
        ]
    );
}

#[tokio::test]
async fn stage_history_records_entered_and_left_times() {
    let env = env();
    let cx = env.cx();
    let sales = Sales::of(&cx).await;
    let t = t0();
    let d = cx.deals().create(NewDeal::new("D").amount(usd("10.00"))).await.unwrap();
    assert_eq!(d.stage_history, vec![StageVisit { stage_id: sales.lead(), entered_at: t, left_at: None }]);
    assert_eq!(d.stage_entered_at(), t);

    env.advance(Duration::days(2));
    let t1 = t + Duration::days(2);
    let d = cx.deals().move_to_stage(d.id, sales.qualification()).await.unwrap();
    assert_eq!(d.updated_at, t1);
    env.advance(Duration::hours(3));
    let t2 = t1 + Duration::hours(3);
    cx.deals().win(d.id).await.unwrap();
    env.advance(Duration::days(1));
    let t3 = t2 + Duration::days(1);
    cx.deals().reopen(d.id, sales.proposal()).await.unwrap();

    let d = cx.deals().get(d.id).await.unwrap();
    assert_eq!(
        d.stage_history,
        vec![
            StageVisit { stage_id: sales.lead(), entered_at: t, left_at: Some(t1) },
            StageVisit { stage_id: sales.qualification(), entered_at: t1, left_at: Some(t2) },
            StageVisit { stage_id: sales.won(), entered_at: t2, left_at: Some(t3) },
            StageVisit { stage_id: sales.proposal(), entered_at: t3, left_at: None },
        ]
    );
    assert_eq!(d.stage_entered_at(), t3);
    assert_eq!(d.version, 4);

    // Moving to the current stage changes nothing.
    let before = env.state_of(tenant_a()).await;
    assert_eq!(cx.deals().move_to_stage(d.id, sales.proposal()).await.unwrap(), d);
    assert_eq!(env.state_of(tenant_a()).await, before);

    // Filters see the time the deal entered its stage.
    assert_eq!(cx.deals().count(&Filter::eq("stage_entered_at", t3)).await.unwrap(), 1);
}

#[tokio::test]
async fn deal_update_cannot_change_stage_pipeline_or_status() {
    let env = env();
    let cx = env.cx();
    let sales = Sales::of(&cx).await;
    let other = cx.pipelines().create(small_pipeline("Other")).await.unwrap();
    let d = cx.deals().create(NewDeal::new("D").amount(usd("10.00"))).await.unwrap();

    let mut u = d.clone();
    u.stage_id = sales.qualification();
    assert_transition(&env.refused(cx.deals().update(u)).await, "stage_id");
    let mut u = d.clone();
    u.pipeline_id = other.id;
    u.stage_id = other.stages[0].id;
    assert_transition(&env.refused(cx.deals().update(u)).await, "pipeline_id");
    let mut u = d.clone();
    u.status = DealStatus::Won;
    assert_transition(&env.refused(cx.deals().update(u)).await, "status");
    let mut u = d.clone();
    u.closed_at = Some(env.now());
    assert_transition(&env.refused(cx.deals().update(u)).await, "closed_at");
    let mut u = d.clone();
    u.stage_history.clear();
    assert_transition(&env.refused(cx.deals().update(u)).await, "stage_history");
    let mut u = d.clone();
    u.lost_reason = Some("sneaky".into());
    assert_transition(&env.refused(cx.deals().update(u)).await, "lost_reason");

    // Ordinary fields change, with an `Updated` event naming them.
    let seq = env.last_seq().await;
    let mut u = d.clone();
    u.name = "Bigger deal".into();
    u.amount = Some(usd("20.00"));
    u.expected_close_date = Some(date(2026, 6, 30));
    let saved = cx.deals().update(u).await.unwrap();
    assert_eq!((saved.name.as_str(), saved.amount, saved.version), ("Bigger deal", Some(usd("20.00")), 2));
    assert_eq!(
        changes(&env.events_since(seq).await),
        vec![(
            EntityKind::Deal,
            Change::Updated { fields: vec!["amount".into(), "expected_close_date".into(), "name".into()] }
        )]
    );

    // A stale copy conflicts.
    let mut stale = d.clone();
    stale.name = "Stale".into();
    assert!(env.refused(cx.deals().update(stale)).await.is_conflict());
}

#[tokio::test]
async fn line_items_set_the_amount_and_must_share_its_currency() {
    let env = env();
    let cx = env.cx();
    let err = env
        .refused(cx.deals().create(NewDeal::new("D").amount(usd("100.00")).line_item(LineItem::new(
            "Seat",
            dec("1"),
            eur("10.00"),
        ))))
        .await;
    assert_only_field(&err, "line_items[0].unit_price", FieldErrorCode::CurrencyMismatch);
    let err = env
        .refused(cx.deals().create(
            NewDeal::new("D").line_item(LineItem::new("Seat", dec("1"), usd("10.00"))).line_item(LineItem::new(
                "Setup",
                dec("1"),
                eur("10.00"),
            )),
        ))
        .await;
    assert_only_field(&err, "line_items", FieldErrorCode::CurrencyMismatch);
    let err = env
        .refused(
            cx.deals().create(NewDeal::new("D").line_item(LineItem {
                discount_percent: dec("120"),
                ..LineItem::new("Seat", dec("-1"), usd("10.00"))
            })),
        )
        .await;
    assert_field(&err, "line_items[0].quantity", FieldErrorCode::OutOfRange);
    assert_field(&err, "line_items[0].discount_percent", FieldErrorCode::OutOfRange);
    let err =
        env.refused(cx.deals().create(NewDeal::new("D").line_item(LineItem::new(" ", dec("1"), usd("0.01"))))).await;
    assert_only_field(&err, "line_items[0].name", FieldErrorCode::Required);

    // 1.5 h × 80.33 = 120.495 → 120.50 (half away from zero);
    // 3 × 19.99 − 15 % = 50.9745 → 50.97. Total 171.47.
    let d =
        cx.deals()
            .create(NewDeal::new("Consulting").line_item(LineItem::new("Hours", dec("1.5"), usd("80.33"))).line_item(
                LineItem { discount_percent: dec("15"), ..LineItem::new("Licences", dec("3"), usd("19.99")) },
            ))
            .await
            .unwrap();
    let amount = d.amount.expect("amount defaults to the line items' total");
    assert_eq!(amount.currency, Currency::USD);
    assert_eq!(amount.amount.to_string(), "171.47");
    assert_eq!(d.line_items[0].total().amount.to_string(), "120.50");
    assert_eq!(d.line_items[1].total().amount.to_string(), "50.97");

    // Currencies without minor units round to whole amounts: 3 × 333.5 JPY = 1000.5 → 1001.
    let yen = Money::new(dec("333.5"), Currency::JPY);
    let d = cx.deals().create(NewDeal::new("Yen").line_item(LineItem::new("Widget", dec("3"), yen))).await.unwrap();
    assert_eq!(d.amount.unwrap().amount.to_string(), "1001");

    // An explicit amount wins over the line items.
    let d = cx
        .deals()
        .create(NewDeal::new("Fixed").amount(usd("500.00")).line_item(LineItem::new("Seat", dec("1"), usd("10.00"))))
        .await
        .unwrap();
    assert_eq!(d.amount, Some(usd("500.00")));

    // An explicit amount stays when the line items change…
    let mut fixed = d;
    fixed.line_items.push(LineItem::new("Seat 2", dec("1"), usd("10.00")));
    let fixed = cx.deals().update(fixed).await.unwrap();
    assert_eq!(fixed.amount, Some(usd("500.00")));
    // …while an amount derived from the line items follows them.
    let mut derived = cx
        .deals()
        .create(NewDeal::new("Derived").line_item(LineItem::new("Seat", dec("2"), usd("10.00"))))
        .await
        .unwrap();
    assert_eq!(derived.amount, Some(usd("20.00")));
    derived.line_items[0].quantity = dec("5");
    let derived = cx.deals().update(derived).await.unwrap();
    assert_eq!(derived.amount, Some(usd("50.00")));
}

#[tokio::test]
async fn deal_contacts_move_up_the_lifecycle_but_are_never_demoted() {
    let env = env();
    let cx = env.cx();
    Sales::of(&cx).await;
    let lead = cx.contacts().create(NewContact::new("Lee", "Lead")).await.unwrap();
    let fan =
        cx.contacts().create(NewContact::new("Eve", "Fan").lifecycle_stage(LifecycleStage::Evangelist)).await.unwrap();
    let cust =
        cx.contacts().create(NewContact::new("Cus", "Tomer").lifecycle_stage(LifecycleStage::Customer)).await.unwrap();
    let stage = |id: ContactId| {
        let cx = cx.clone();
        async move { cx.contacts().get(id).await.unwrap().lifecycle_stage }
    };

    let seq = env.last_seq().await;
    let d = cx
        .deals()
        .create(NewDeal::new("D").amount(usd("100.00")).contact(lead.id).contact(fan.id).contact(cust.id))
        .await
        .unwrap();
    assert_eq!(stage(lead.id).await, LifecycleStage::Opportunity);
    assert_eq!(stage(fan.id).await, LifecycleStage::Evangelist);
    assert_eq!(stage(cust.id).await, LifecycleStage::Customer, "a customer is not demoted to opportunity");
    let evs = env.events_since(seq).await;
    assert_eq!(
        changes(&evs),
        vec![
            (EntityKind::Deal, Change::Created),
            (
                EntityKind::Contact,
                Change::LifecycleChanged { from: LifecycleStage::Lead, to: LifecycleStage::Opportunity, reset: false }
            ),
        ]
    );
    assert_eq!(evs[1].event.subject, contact_ref(lead.id));

    let err = env.refused(cx.deals().create(NewDeal::new("Dup").contact(lead.id).contact(lead.id))).await;
    assert_only_field(&err, "contact_ids[1]", FieldErrorCode::Duplicate);
    let missing = ContactId::from_uuid(Uuid::from_u128(404));
    let err = env.refused(cx.deals().create(NewDeal::new("Missing").contact(lead.id).contact(missing))).await;
    assert_only_field(&err, "contact_ids[1]", FieldErrorCode::NotFound);

    cx.deals().win(d.id).await.unwrap();
    assert_eq!(stage(lead.id).await, LifecycleStage::Customer);
    assert_eq!(stage(fan.id).await, LifecycleStage::Evangelist);
    assert_eq!(stage(cust.id).await, LifecycleStage::Customer);

    // Someone added to a won deal becomes a customer; to an open deal, an opportunity.
    let late = cx
        .contacts()
        .create(NewContact::new("Late", "Comer").lifecycle_stage(LifecycleStage::Subscriber))
        .await
        .unwrap();
    let mut u = cx.deals().get(d.id).await.unwrap();
    u.contact_ids.push(late.id);
    cx.deals().update(u).await.unwrap();
    assert_eq!(stage(late.id).await, LifecycleStage::Customer);

    let other = cx.contacts().create(NewContact::new("Oth", "Er")).await.unwrap();
    let open = cx.deals().create(NewDeal::new("Open")).await.unwrap();
    let mut u = open.clone();
    u.contact_ids.push(other.id);
    cx.deals().update(u).await.unwrap();
    assert_eq!(stage(other.id).await, LifecycleStage::Opportunity);

    // A lost deal promotes nobody further.
    let lost = cx.deals().lose(open.id, "No fit").await.unwrap();
    assert_eq!(lost.status, DealStatus::Lost);
    assert_eq!(stage(other.id).await, LifecycleStage::Opportunity);
    cx.contacts().reset_lifecycle(other.id, LifecycleStage::Lead).await.unwrap();
    cx.deals().lose(d.id, "x").await.unwrap_err();
    assert_eq!(stage(other.id).await, LifecycleStage::Lead);
    // Reopening makes its contacts opportunities again.
    let sales = Sales::of(&cx).await;
    cx.deals().reopen(open.id, sales.qualification()).await.unwrap();
    assert_eq!(stage(other.id).await, LifecycleStage::Opportunity);
}

#[tokio::test]
async fn pipeline_report_counts_totals_forecast_and_rotting() {
    let env = env();
    let cx = env.cx();
    let sales = Sales::of(&cx).await;
    let deal = |name: &str, stage: StageId, amount: Option<Money>| {
        let mut n = NewDeal::new(name).stage(stage);
        n.amount = amount;
        let cx = cx.clone();
        async move { cx.deals().create(n).await }
    };
    let d1 = deal("d1", sales.lead(), Some(usd("1000.00"))).await.unwrap();
    deal("d2", sales.qualification(), Some(usd("2500.50"))).await.unwrap();
    deal("d3", sales.proposal(), Some(usd("3333.33"))).await.unwrap();
    deal("d4", sales.qualification(), Some(eur("400.00"))).await.unwrap();
    let d5 = deal("d5", sales.proposal(), Some(usd("5000.00"))).await.unwrap();
    cx.deals().win(d5.id).await.unwrap();
    let d6 = deal("d6", sales.lead(), Some(usd("700.00"))).await.unwrap();
    cx.deals().lose(d6.id, "Too small").await.unwrap();
    deal("d7", sales.lead(), None).await.unwrap();
    // A deal in another pipeline is not counted.
    let other = cx.pipelines().create(small_pipeline("Other")).await.unwrap();
    cx.deals().create(NewDeal::new("elsewhere").pipeline(other.id).amount(usd("99999.00"))).await.unwrap();

    let m = |pairs: &[(Currency, Decimal)]| pairs.iter().copied().collect::<BTreeMap<_, _>>();
    let r = cx.deals().pipeline_report(sales.pipeline.id).await.unwrap();
    assert_eq!(r.pipeline.id, sales.pipeline.id);
    let names: Vec<_> = r.stages.iter().map(|s| s.stage.name.as_str()).collect();
    assert_eq!(names, sales.pipeline.stages.iter().map(|s| s.name.as_str()).collect::<Vec<_>>());
    let counts: Vec<u64> = r.stages.iter().map(|s| s.count).collect();
    assert_eq!(counts, vec![2, 2, 0, 1, 0, 0, 1, 1]);

    let by = |name: &str| r.stages.iter().find(|s| s.stage.name == name).unwrap();
    // Lead generation (5 %): d1 1000.00 USD; d7 has no amount.
    assert_eq!(by("Lead generation").total, m(&[(Currency::USD, dec("1000.00"))]));
    assert_eq!(by("Lead generation").weighted, m(&[(Currency::USD, dec("50.00"))]));
    // Qualification (10 %): 2500.50 USD → 250.05; 400 EUR → 40.00.
    assert_eq!(by("Qualification").total, m(&[(Currency::EUR, dec("400.00")), (Currency::USD, dec("2500.50"))]));
    assert_eq!(by("Qualification").weighted, m(&[(Currency::EUR, dec("40.00")), (Currency::USD, dec("250.05"))]));
    // Proposal (50 %): 3333.33 → 1666.665 → 1666.67.
    assert_eq!(by("Proposal").weighted, m(&[(Currency::USD, dec("1666.67"))]));
    assert!(by("Needs identification").total.is_empty());
    assert_eq!(by("Closed won").total, m(&[(Currency::USD, dec("5000.00"))]));
    assert_eq!(by("Closed won").weighted, m(&[(Currency::USD, dec("5000.00"))]));
    assert_eq!(by("Closed lost").total, m(&[(Currency::USD, dec("700.00"))]));
    assert_eq!(by("Closed lost").weighted, m(&[(Currency::USD, Decimal::ZERO)]));
    // Forecast: open deals only. 50.00 + 250.05 + 1666.67 = 1966.72 USD; 40.00 EUR.
    assert_eq!(r.forecast, m(&[(Currency::EUR, dec("40.00")), (Currency::USD, dec("1966.72"))]));
    assert!(r.stages.iter().all(|s| s.rotting == 0));

    // Exactly 14 days in a 14-day stage is not rotting yet; one more day is.
    env.advance(Duration::days(14));
    let r = cx.deals().pipeline_report(sales.pipeline.id).await.unwrap();
    assert!(r.stages.iter().all(|s| s.rotting == 0), "{:?}", r.stages.iter().map(|s| s.rotting).collect::<Vec<_>>());
    env.advance(Duration::days(1));
    let r = cx.deals().pipeline_report(sales.pipeline.id).await.unwrap();
    let rotting: Vec<u64> = r.stages.iter().map(|s| s.rotting).collect();
    assert_eq!(rotting, vec![2, 2, 0, 0, 0, 0, 0, 0], "proposal rots after 21 days; closed deals never");

    // Moving a deal restarts its clock.
    cx.deals().move_to_stage(d1.id, sales.qualification()).await.unwrap();
    let r = cx.deals().pipeline_report(sales.pipeline.id).await.unwrap();
    assert_eq!(r.stages.iter().map(|s| s.rotting).collect::<Vec<_>>(), vec![1, 2, 0, 0, 0, 0, 0, 0]);
    assert_eq!(r.stages.iter().map(|s| s.count).collect::<Vec<_>>(), vec![1, 3, 0, 1, 0, 0, 1, 1]);
    env.advance(Duration::days(7));
    let r = cx.deals().pipeline_report(sales.pipeline.id).await.unwrap();
    assert_eq!(r.stages.iter().map(|s| s.rotting).collect::<Vec<_>>(), vec![1, 2, 0, 1, 0, 0, 0, 0]);

    let missing = PipelineId::from_uuid(Uuid::from_u128(1));
    assert_not_found(&cx.deals().pipeline_report(missing).await.unwrap_err(), EntityKind::Pipeline, missing);
}

// ---------------------------------------------------------------------------------------------
// Activities
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn activities_of_every_kind_are_logged() {
    let env = env();
    let cx = env.cx();
    let jane = cx.contacts().create(NewContact::new("Jane", "Doe").email("jane@acme.com")).await.unwrap();
    let seq = env.last_seq().await;
    let due = t0() + Duration::days(2);

    let call = cx
        .activities()
        .log(
            NewActivity::call("Discovery")
                .contact(jane.id)
                .direction(Direction::Outbound)
                .duration_secs(1500)
                .outcome(Outcome::Connected),
        )
        .await
        .unwrap();
    assert_eq!((call.kind, call.channel, call.occurred_at), (ActivityKind::Call, Some(Channel::Phone), t0()));
    assert_eq!(
        (call.duration_secs, call.outcome, call.contact_ids.clone()),
        (Some(1500), Some(Outcome::Connected), vec![jane.id])
    );

    let email = cx
        .activities()
        .log(
            NewActivity::email(" Re: pricing ")
                .contact(jane.id)
                .message_id(" <abc.123@mail.acme.com> ")
                .in_reply_to("<x@y.z>"),
        )
        .await
        .unwrap();
    assert_eq!((email.kind, email.channel), (ActivityKind::Email, Some(Channel::Email)));
    assert_eq!(email.subject, "Re: pricing");
    assert_eq!(email.message_id.as_deref(), Some("abc.123@mail.acme.com"), "angle brackets are stripped");
    assert_eq!(email.in_reply_to.as_deref(), Some("x@y.z"));

    let meeting = cx.activities().log(NewActivity::meeting("Demo").due(due).duration_secs(3600)).await.unwrap();
    assert_eq!((meeting.kind, meeting.due_at), (ActivityKind::Meeting, Some(due)));
    let note = cx.activities().log(NewActivity::note("Notes").body("Wants SSO").contact(jane.id)).await.unwrap();
    assert_eq!((note.kind, note.body.as_deref()), (ActivityKind::Note, Some("Wants SSO")));
    let task = cx.activities().log(NewActivity::task("Send quote", due).contact(jane.id)).await.unwrap();
    assert_eq!((task.kind, task.due_at, task.completed_at), (ActivityKind::Task, Some(due), None));
    let past = t0() - Duration::days(3);
    let backdated = cx.activities().log(NewActivity::call("Earlier call").at(past)).await.unwrap();
    assert_eq!(backdated.occurred_at, past);

    let evs = env.events_since(seq).await;
    let kinds: Vec<_> = evs
        .iter()
        .map(|e| match &e.event.change {
            Change::ActivityLogged { activity_kind } => *activity_kind,
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    use ActivityKind as K;
    assert_eq!(kinds, vec![K::Call, K::Email, K::Meeting, K::Note, K::Task, K::Call]);
    assert!(evs[0].event.related.contains(&contact_ref(jane.id)), "the event touches the linked contact");
    assert_eq!(cx.activities().count(&Filter::eq("kind", ActivityKind::Call)).await.unwrap(), 2);
    assert_eq!(cx.activities().count(&Filter::contains("contact_ids", jane.id)).await.unwrap(), 4);
}

#[tokio::test]
async fn activity_rules_are_enforced() {
    let env = env();
    let cx = env.cx();
    let jane = cx.contacts().create(NewContact::new("Jane", "Doe")).await.unwrap();
    let log = |a: NewActivity| {
        let cx = cx.clone();
        async move { cx.activities().log(a).await }
    };

    let err = env.refused(log(NewActivity::email("Hi").message_id("not-a-message-id"))).await;
    assert_only_field(&err, "message_id", FieldErrorCode::InvalidFormat);
    let err = env.refused(log(NewActivity::email("Hi").message_id("<a b@c>"))).await;
    assert_only_field(&err, "message_id", FieldErrorCode::InvalidFormat);
    let err = env.refused(log(NewActivity::email("Hi").in_reply_to("@nowhere"))).await;
    assert_only_field(&err, "in_reply_to", FieldErrorCode::InvalidFormat);
    let err = env.refused(log(NewActivity::call("Hi").message_id("a@b"))).await;
    assert_only_field(&err, "message_id", FieldErrorCode::Rule);
    let err = env.refused(log(NewActivity::note("Hi").due(t0()))).await;
    assert_only_field(&err, "due_at", FieldErrorCode::Rule);
    let err = env.refused(log(NewActivity::call("Hi").due(t0()))).await;
    assert_only_field(&err, "due_at", FieldErrorCode::Rule);
    let err = env.refused(log(NewActivity::note("Hi").duration_secs(60))).await;
    assert_only_field(&err, "duration_secs", FieldErrorCode::Rule);
    let err = env.refused(log(NewActivity::note("   "))).await;
    assert_only_field(&err, "subject", FieldErrorCode::Required);
    let err = env.refused(log(NewActivity::note("Hi").participant(ParticipantRole::To, None, Some("nope@")))).await;
    assert_only_field(&err, "participants[0].email", FieldErrorCode::InvalidFormat);

    let missing_contact = ContactId::from_uuid(Uuid::from_u128(1001));
    let err = env.refused(log(NewActivity::note("Hi").contact(missing_contact))).await;
    assert_only_field(&err, "contact_ids[0]", FieldErrorCode::NotFound);
    let err = env.refused(log(NewActivity::note("Hi").contact(jane.id).contact(missing_contact))).await;
    assert_only_field(&err, "contact_ids[1]", FieldErrorCode::NotFound);
    let err = env.refused(log(NewActivity::note("Hi").company(CompanyId::from_uuid(Uuid::from_u128(1002))))).await;
    assert_only_field(&err, "company_ids[0]", FieldErrorCode::NotFound);
    let err = env.refused(log(NewActivity::note("Hi").deal(DealId::from_uuid(Uuid::from_u128(1003))))).await;
    assert_only_field(&err, "deal_ids[0]", FieldErrorCode::NotFound);
    let foreign = env.cx_of(tenant_b()).contacts().create(NewContact::new("Their", "Contact")).await.unwrap();
    let err = env.refused(log(NewActivity::note("Hi").contact(foreign.id))).await;
    assert_only_field(&err, "contact_ids[0]", FieldErrorCode::NotFound);

    // Updates keep the kind and the same rules.
    let note = log(NewActivity::note("Hi").contact(jane.id)).await.unwrap();
    let mut u = note.clone();
    u.kind = ActivityKind::Call;
    assert_transition(&env.refused(cx.activities().update(u)).await, "kind");
    let mut u = note.clone();
    u.due_at = Some(t0());
    assert_only_field(&env.refused(cx.activities().update(u)).await, "due_at", FieldErrorCode::Rule);
    let mut u = note.clone();
    u.contact_ids.push(missing_contact);
    assert_only_field(&env.refused(cx.activities().update(u)).await, "contact_ids[1]", FieldErrorCode::NotFound);
}

#[tokio::test]
async fn participants_are_matched_to_contacts_by_email() {
    let env = env();
    let cx = env.cx();
    let jane =
        cx.contacts().create(NewContact::new("Jane", "Doe").email("jane@acme.com").email("jd@home.org")).await.unwrap();
    let john = cx.contacts().create(NewContact::new("John", "Roe").email("john@acme.com")).await.unwrap();
    let a = cx
        .activities()
        .log(
            NewActivity::email("Proposal")
                .contact(john.id)
                .participant(ParticipantRole::From, Some("Jane Doe"), Some(" JD@Home.org "))
                .participant(ParticipantRole::To, Some("Stranger"), Some("stranger@else.org"))
                .participant(ParticipantRole::Cc, None, Some("john@acme.com")),
        )
        .await
        .unwrap();
    assert_eq!(a.participants[0].contact_id, Some(jane.id));
    assert_eq!(a.participants[0].email.as_ref().unwrap().as_str(), "jd@home.org");
    assert_eq!(a.participants[1].contact_id, None);
    assert_eq!(a.participants[2].contact_id, Some(john.id));
    assert_eq!(a.contact_ids, vec![john.id, jane.id], "matched contacts are linked once");
    let evs = env.events().await;
    assert!(evs.last().unwrap().event.touches(&contact_ref(jane.id)));
    assert_eq!(cx.activities().count(&Filter::contains("contact_ids", jane.id)).await.unwrap(), 1);
}

#[tokio::test]
async fn a_participant_given_in_full_keeps_its_contact_and_a_normalised_phone() {
    let env = env();
    let cx = env.cx();
    let jane = cx.contacts().create(NewContact::new("Jane", "Doe")).await.unwrap();
    let who = NewParticipant::new(ParticipantRole::Attendee).name("Jane Doe").phone("(415) 555-2671").contact(jane.id);
    let a = cx.activities().log(NewActivity::call("Check-in").with_participant(who)).await.unwrap();
    let p = &a.participants[0];
    assert_eq!((p.role, p.name.as_deref(), p.contact_id), (ParticipantRole::Attendee, Some("Jane Doe"), Some(jane.id)));
    assert_eq!(p.phone.as_ref().map(|n| n.as_str()), Some("+14155552671"));
    assert_eq!(a.contact_ids, vec![jane.id], "the participant's contact is linked");
    let bad = NewParticipant::new(ParticipantRole::Attendee).phone("not a number");
    let err = env.refused(cx.activities().log(NewActivity::call("Oops").with_participant(bad))).await;
    assert_only_field(&err, "participants[0].phone", FieldErrorCode::InvalidFormat);
}

#[tokio::test]
async fn applying_an_input_to_a_contact_adds_what_is_new_and_refuses_what_is_bad() {
    let env = env();
    let cx = env.cx();
    let jane = cx
        .contacts()
        .create(NewContact::new("Jane", "Doe").email("jane@acme.com").phone("(415) 555-2671"))
        .await
        .unwrap();
    let seq = env.last_seq().await;
    let more = NewContact::default().email("JANE@acme.com").phone("+1 415 555 2671").phone("(415) 555-0100").tag("vip");
    let jane2 = cx.contacts().apply(jane.id, more).await.unwrap();
    assert_eq!(jane2.emails.len(), 1, "an address already there is not added again");
    assert_eq!(jane2.phones.iter().map(|p| p.number.as_str()).collect::<Vec<_>>(), ["+14155552671", "+14155550100"]);
    assert_eq!((jane2.version, jane2.tags.clone()), (jane.version + 1, vec!["vip".to_owned()]));
    let new = env.events_since(seq).await;
    assert_eq!(new.len(), 1);
    assert_eq!(new[0].event.change, Change::Updated { fields: vec!["phones".into(), "tags".into()] });

    let err = env.refused(cx.contacts().apply(jane.id, NewContact::default().email("jane@").tag("x"))).await;
    assert_only_field(&err, "emails[0]", FieldErrorCode::InvalidFormat);
    assert_eq!(cx.contacts().get(jane.id).await.unwrap(), jane2, "nothing written");
    let missing = cx.contacts().apply(ContactId::new(), NewContact::default().tag("x")).await;
    assert!(matches!(missing, Err(Error::NotFound { .. })));
}

#[tokio::test]
async fn only_open_tasks_can_be_completed() {
    let env = env();
    let cx = env.cx();
    let task = cx.activities().log(NewActivity::task("Send quote", t0() + Duration::days(1))).await.unwrap();
    let call = cx.activities().log(NewActivity::call("Hello")).await.unwrap();

    env.advance(Duration::hours(4));
    let seq = env.last_seq().await;
    let done = cx.activities().complete(task.id).await.unwrap();
    assert_eq!(done.completed_at, Some(env.now()));
    assert_eq!(done.version, 2);
    assert_eq!(changes(&env.events_since(seq).await), vec![(EntityKind::Activity, Change::TaskCompleted)]);

    let err = env.refused(cx.activities().complete(task.id)).await;
    assert_transition(&err, "completed_at");
    let err = env.refused(cx.activities().complete(call.id)).await;
    assert_transition(&err, "completed_at");
    let missing = ActivityId::from_uuid(Uuid::from_u128(3));
    assert_not_found(&env.refused(cx.activities().complete(missing)).await, EntityKind::Activity, missing);
    assert_eq!(cx.activities().count(&Filter::is_null("completed_at").not()).await.unwrap(), 1);
}

// ---------------------------------------------------------------------------------------------
// Relations
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn relations_link_records_and_are_read_from_both_ends() {
    let env = env();
    let cx = env.cx();
    let acme = cx.companies().create(NewCompany::new("Acme")).await.unwrap();
    let jane = cx.contacts().create(NewContact::new("Jane", "Doe")).await.unwrap();
    let bob = cx.contacts().create(NewContact::new("Bob", "Roe")).await.unwrap();
    let (j, b, a) = (contact_ref(jane.id), contact_ref(bob.id), company_ref(acme.id));

    let works = cx.relations().link(j, a, RelationLabel::WorksAt, Some("  CTO ")).await.unwrap();
    assert_eq!((works.from, works.to, works.label, works.role.as_deref()), (j, a, RelationLabel::WorksAt, Some("CTO")));
    assert_eq!(cx.relations().of(j).await.unwrap(), vec![works.clone()]);
    assert_eq!(cx.relations().of(a).await.unwrap(), vec![works.clone()]);
    assert_eq!(works.other_end(a), Some(j));
    assert_eq!(cx.relations().get(works.id).await.unwrap(), works);

    let err = env.refused(cx.relations().link(a, j, RelationLabel::WorksAt, None)).await;
    assert_only_field(&err, "label", FieldErrorCode::Rule);
    let err = env.refused(cx.relations().link(j, b, RelationLabel::Partner, None)).await;
    assert_only_field(&err, "label", FieldErrorCode::Rule);
    let err = env.refused(cx.relations().link(j, a, RelationLabel::WorksAt, Some("CEO"))).await;
    assert_only_field(&err, "label", FieldErrorCode::Duplicate);
    let err = env.refused(cx.relations().link(j, j, RelationLabel::Knows, None)).await;
    assert_only_field(&err, "to", FieldErrorCode::Rule);
    let ghost = contact_ref(ContactId::from_uuid(Uuid::from_u128(55)));
    let err = env.refused(cx.relations().link(j, ghost, RelationLabel::Knows, None)).await;
    assert_only_field(&err, "to", FieldErrorCode::NotFound);
    let err = env.refused(cx.relations().link(ghost, a, RelationLabel::WorksAt, None)).await;
    assert_only_field(&err, "from", FieldErrorCode::NotFound);

    let knows = cx.relations().link(j, b, RelationLabel::Knows, Some("spouse")).await.unwrap();
    assert_eq!(cx.relations().of(j).await.unwrap(), vec![works.clone(), knows.clone()]);
    assert_eq!(cx.relations().of(b).await.unwrap(), vec![knows.clone()]);

    // Deleting a contact deletes its relations, with an event for each.
    let seq = env.last_seq().await;
    cx.contacts().delete(jane.id, jane.version).await.unwrap();
    assert!(cx.relations().of(a).await.unwrap().is_empty());
    assert!(cx.relations().of(b).await.unwrap().is_empty());
    assert_not_found(&cx.relations().get(works.id).await.unwrap_err(), EntityKind::Relation, works.id);
    let evs = env.events_since(seq).await;
    let mut deleted: Vec<_> = evs.iter().map(|e| (e.event.subject, e.event.change.clone())).collect();
    deleted.sort_by_key(|(subject, _)| *subject);
    let mut expected =
        vec![(works.entity_ref(), Change::Deleted), (knows.entity_ref(), Change::Deleted), (j, Change::Deleted)];
    expected.sort_by_key(|(subject, _)| *subject);
    assert_eq!(deleted, expected);

    // Unlink removes one link.
    let partner = cx.companies().create(NewCompany::new("Partner Co")).await.unwrap();
    let p = cx.relations().link(a, company_ref(partner.id), RelationLabel::Partner, None).await.unwrap();
    assert!(env.refused(cx.relations().unlink(p.id, 9)).await.is_conflict());
    cx.relations().unlink(p.id, p.version).await.unwrap();
    assert!(cx.relations().of(a).await.unwrap().is_empty());
    // A symmetric link exists once, whichever way round it is given; a directed one may go both ways.
    let other = cx.companies().create(NewCompany::new("Other")).await.unwrap().entity_ref();
    cx.relations().link(a, other, RelationLabel::Partner, None).await.unwrap();
    let err = env.refused(cx.relations().link(other, a, RelationLabel::Partner, None)).await;
    assert_only_field(&err, "label", FieldErrorCode::Duplicate);
    cx.relations().link(a, other, RelationLabel::Supplier, None).await.unwrap();
    cx.relations().link(other, a, RelationLabel::Supplier, None).await.unwrap();
}

#[tokio::test]
async fn deleting_a_company_or_deal_deletes_its_relations() {
    let env = env();
    let cx = env.cx();
    let acme = cx.companies().create(NewCompany::new("Acme")).await.unwrap();
    let jane = cx.contacts().create(NewContact::new("Jane", "Doe")).await.unwrap();
    let deal = cx.deals().create(NewDeal::new("D")).await.unwrap();
    let j = contact_ref(jane.id);
    cx.relations().link(j, company_ref(acme.id), RelationLabel::WorksAt, None).await.unwrap();
    cx.relations().link(j, deal.entity_ref(), RelationLabel::Champion, None).await.unwrap();
    assert_eq!(cx.relations().of(j).await.unwrap().len(), 2);
    cx.companies().delete(acme.id, acme.version).await.unwrap();
    assert_eq!(cx.relations().of(j).await.unwrap().len(), 1);
    cx.deals().delete(deal.id, deal.version).await.unwrap();
    assert!(cx.relations().of(j).await.unwrap().is_empty());
}

// ---------------------------------------------------------------------------------------------
// Tenant isolation
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn tenants_cannot_see_or_touch_each_others_records() {
    let env = env();
    let a = env.cx();
    let b = env.cx_of(tenant_b());
    let acme = a.companies().create(NewCompany::new("Acme")).await.unwrap();
    let jane = a
        .contacts()
        .create(NewContact::new("Jane", "Doe").email("jane@acme.com").works_at(acme.id, None, None))
        .await
        .unwrap();
    let deal = a.deals().create(NewDeal::new("D").contact(jane.id).amount(usd("1.00"))).await.unwrap();
    let call = a.activities().log(NewActivity::call("Call").contact(jane.id)).await.unwrap();
    let pipeline = a.pipelines().default_pipeline().await.unwrap();
    let state_a = env.state_of(tenant_a()).await;

    assert_not_found(&b.contacts().get(jane.id).await.unwrap_err(), EntityKind::Contact, jane.id);
    assert_not_found(&b.companies().get(acme.id).await.unwrap_err(), EntityKind::Company, acme.id);
    assert_not_found(&b.deals().get(deal.id).await.unwrap_err(), EntityKind::Deal, deal.id);
    assert_not_found(&b.activities().get(call.id).await.unwrap_err(), EntityKind::Activity, call.id);
    assert_not_found(&b.pipelines().get(pipeline.id).await.unwrap_err(), EntityKind::Pipeline, pipeline.id);
    assert_not_found(&b.timeline(jane.id).await.unwrap_err(), EntityKind::Contact, jane.id);
    assert!(b.contacts().list(&Query::default()).await.unwrap().items.is_empty());
    assert!(b.companies().list(&Query::default()).await.unwrap().items.is_empty());
    assert!(b.deals().list(&Query::default()).await.unwrap().items.is_empty());
    assert!(b.activities().list(&Query::default()).await.unwrap().items.is_empty());
    assert_eq!(b.contacts().count(&Filter::All).await.unwrap(), 0);
    assert!(b.contacts().find_by_email("jane@acme.com").await.unwrap().is_none());
    assert!(b.relations().of(contact_ref(jane.id)).await.unwrap().is_empty());
    assert!(b.events(&EventQuery::after(0, 1000)).await.unwrap().is_empty());

    let mut hijack = jane.clone();
    hijack.given_name = "Mallory".into();
    assert_not_found(&env.refused(b.contacts().update(hijack)).await, EntityKind::Contact, jane.id);
    let mut hijack = acme.clone();
    hijack.tenant_id = tenant_b();
    assert_not_found(&env.refused(b.companies().update(hijack)).await, EntityKind::Company, acme.id);
    assert_not_found(&env.refused(b.contacts().delete(jane.id, jane.version)).await, EntityKind::Contact, jane.id);
    assert_not_found(&env.refused(b.deals().win(deal.id)).await, EntityKind::Deal, deal.id);
    assert_not_found(&env.refused(b.activities().complete(call.id)).await, EntityKind::Activity, call.id);
    assert_not_found(
        &env.refused(b.contacts().reset_lifecycle(jane.id, LifecycleStage::Subscriber)).await,
        EntityKind::Contact,
        jane.id,
    );
    let err = env.refused(b.deals().create(NewDeal::new("Steal").contact(jane.id).company(acme.id))).await;
    assert_field(&err, "contact_ids[0]", FieldErrorCode::NotFound);
    assert_field(&err, "company_id", FieldErrorCode::NotFound);
    let err = env.refused(b.deals().create(NewDeal::new("Steal").pipeline(pipeline.id))).await;
    assert_only_field(&err, "pipeline_id", FieldErrorCode::NotFound);
    let own = b.contacts().create(NewContact::new("Bea", "B")).await.unwrap();
    let err =
        env.refused(b.relations().link(contact_ref(own.id), company_ref(acme.id), RelationLabel::WorksAt, None)).await;
    assert_only_field(&err, "to", FieldErrorCode::NotFound);

    // Tenant A is untouched, and B's outbox holds only B's event, numbered from 1.
    assert_eq!(env.state_of(tenant_a()).await, state_a);
    let evs = b.events(&EventQuery::after(0, 1000)).await.unwrap();
    assert_eq!(evs.len(), 1);
    assert_eq!((evs[0].seq, evs[0].event.tenant_id, evs[0].event.subject), (1, tenant_b(), contact_ref(own.id)));
    assert!(a.events(&EventQuery::after(0, 1000)).await.unwrap().iter().all(|e| e.event.tenant_id == tenant_a()));
    // Both tenants may use the same email.
    b.contacts().create(NewContact::new("Other", "Jane").email("jane@acme.com")).await.unwrap();
    assert_eq!(a.contacts().find_by_email("jane@acme.com").await.unwrap().unwrap().id, jane.id);
}

// ---------------------------------------------------------------------------------------------
// Extensions
// ---------------------------------------------------------------------------------------------

type Seen = Arc<Mutex<Vec<(TenantId, StoredEvent)>>>;

/// Scores contacts: 10 points per email, +1 once it has been updated. Refuses contacts tagged
/// `blocked`. Records every committed event it is shown.
struct Scoring {
    seen: Seen,
}

#[async_trait::async_trait]
impl Extension for Scoring {
    fn id(&self) -> &str {
        "scoring"
    }

    fn fields(&self) -> Vec<FieldDefinition> {
        vec![FieldDefinition::new(EntityKind::Contact, "score", "Lead score", FieldType::Number)]
    }

    fn validate(&self, _cx: &HookContext<'_>, record: &Record) -> Result<()> {
        if let Record::Contact(c) = record
            && c.tags.iter().any(|t| t == "blocked")
        {
            return Err(Error::invalid("tags", FieldErrorCode::Rule, "blocked contacts are not allowed"));
        }
        Ok(())
    }

    fn compute(&self, cx: &HookContext<'_>, record: &Record) -> Result<Vec<(String, Value)>> {
        match record {
            Record::Contact(c) => {
                let updated = cx.op == WriteOp::Update && cx.before.is_some();
                Ok(vec![("score".into(), Value::Int(10 * c.emails.len() as i64 + i64::from(updated)))])
            }
            _ => Ok(vec![]),
        }
    }

    async fn on_events(&self, cx: &EventContext<'_>, events: &[StoredEvent]) -> Result<()> {
        let tenant = cx.tenant();
        self.seen.lock().unwrap().extend(events.iter().map(|e| (tenant, e.clone())));
        Ok(())
    }
}

#[derive(Clone, Copy)]
enum Fault {
    WrongType,
    ForeignKey(&'static str),
    ValidateFails,
    OnEventsFails,
}

struct Faulty {
    id: &'static str,
    fault: Fault,
}

#[async_trait::async_trait]
impl Extension for Faulty {
    fn id(&self) -> &str {
        self.id
    }

    fn fields(&self) -> Vec<FieldDefinition> {
        vec![FieldDefinition::new(EntityKind::Contact, "level", "Level", FieldType::Number)]
    }

    fn validate(&self, _cx: &HookContext<'_>, _record: &Record) -> Result<()> {
        match self.fault {
            Fault::ValidateFails => Err(Error::storage("the rules service is down")),
            _ => Ok(()),
        }
    }

    fn compute(&self, _cx: &HookContext<'_>, _record: &Record) -> Result<Vec<(String, Value)>> {
        match self.fault {
            Fault::WrongType => Ok(vec![("level".into(), Value::Text("high".into()))]),
            Fault::ForeignKey(k) => Ok(vec![(k.into(), Value::Int(1))]),
            _ => Ok(vec![("level".into(), Value::Int(3))]),
        }
    }

    async fn on_events(&self, _cx: &EventContext<'_>, _events: &[StoredEvent]) -> Result<()> {
        match self.fault {
            Fault::OnEventsFails => Err(Error::Integration { system: "webhook".into(), message: "timeout".into() }),
            _ => Ok(()),
        }
    }
}

fn scoring_env() -> (Env, Seen) {
    let seen: Seen = Arc::default();
    let env = env_with(|b| b.extension(Scoring { seen: seen.clone() }));
    (env, seen)
}

#[tokio::test]
async fn extension_registers_namespaced_fields_and_computes_values() {
    let (env, _) = scoring_env();
    let cx = env.cx();
    for tenant in [tenant_a(), tenant_b()] {
        let fields = env.cx_of(tenant).custom_fields().registered(EntityKind::Contact).await.unwrap();
        assert_eq!(fields.len(), 1);
        assert_eq!(fields[0].definition.key, "scoring.score");
        assert_eq!(fields[0].source, FieldSource::Extension("scoring".into()));
    }
    assert!(cx.custom_fields().list(EntityKind::Contact).await.unwrap().is_empty(), "not a tenant definition");

    let c = cx.contacts().create(NewContact::new("Jane", "Doe").email("a@acme.com").email("b@acme.com")).await.unwrap();
    assert_eq!(c.custom.get("scoring.score"), Some(&Value::Int(20)));
    assert_eq!(cx.contacts().get(c.id).await.unwrap().custom.get("scoring.score"), Some(&Value::Int(20)));

    let mut u = c.clone();
    u.emails.push(EmailEntry { address: Email::parse("c@acme.com").unwrap(), label: EmailLabel::Other });
    let u = cx.contacts().update(u).await.unwrap();
    assert_eq!(u.custom.get("scoring.score"), Some(&Value::Int(31)), "recomputed on update, with `before`");
    assert_eq!(cx.contacts().get(c.id).await.unwrap().custom.get("scoring.score"), Some(&Value::Int(31)));
    let last = env.events().await.pop().unwrap();
    assert_eq!(last.event.change, Change::Updated { fields: vec!["custom.scoring.score".into(), "emails".into()] });

    // A user-supplied value is overwritten by the computed one; a badly typed one is refused.
    let c2 = cx.contacts().create(NewContact::new("John", "Roe").custom("scoring.score", 999)).await.unwrap();
    assert_eq!(c2.custom.get("scoring.score"), Some(&Value::Int(0)));
    let err = env.refused(cx.contacts().create(NewContact::new("John", "Roe").custom("scoring.score", "high"))).await;
    assert_only_field(&err, "custom.scoring.score", FieldErrorCode::TypeMismatch);

    // The computed field can be filtered and sorted on.
    let page = cx
        .contacts()
        .list(&Query::new(Filter::gte("custom.scoring.score", 10)).sort_desc("custom.scoring.score"))
        .await
        .unwrap();
    assert_eq!(page.items.iter().map(|c| c.id).collect::<Vec<_>>(), vec![c.id]);

    // Tenants cannot define fields in an extension's namespace.
    let err = env.refused(cx.custom_fields().define(contact_field("scoring.score", FieldType::Number))).await;
    assert_only_field(&err, "key", FieldErrorCode::InvalidFormat);
}

#[tokio::test]
async fn extension_validate_refuses_writes() {
    let (env, seen) = scoring_env();
    let cx = env.cx();
    let err = env.refused(cx.contacts().create(NewContact::new("Jane", "Doe").tag("blocked"))).await;
    assert_only_field(&err, "tags", FieldErrorCode::Rule);
    assert!(seen.lock().unwrap().is_empty(), "no events for a refused write");

    let c = cx.contacts().create(NewContact::new("Jane", "Doe").tag("vip")).await.unwrap();
    let mut u = c.clone();
    u.tags.push("blocked".into());
    let err = env.refused(cx.contacts().update(u)).await;
    assert_only_field(&err, "tags", FieldErrorCode::Rule);

    // Other failures of an extension's validate are reported as plugin errors.
    let env = env_with(|b| b.extension(Faulty { id: "rules", fault: Fault::ValidateFails }));
    let err = env.refused(env.cx().contacts().create(NewContact::new("Jane", "Doe"))).await;
    match err {
        Error::Plugin { plugin, .. } => assert_eq!(plugin, "rules"),
        other => panic!("expected a plugin error, got {other:?}"),
    }
}

#[tokio::test]
async fn extension_compute_must_return_its_own_fields_with_the_right_type() {
    for (fault, why) in [
        (Fault::WrongType, "text for a number field"),
        (Fault::ForeignKey("nope"), "a key it does not register"),
        (Fault::ForeignKey("scoring.score"), "another extension's key"),
    ] {
        let seen: Seen = Arc::default();
        let env = env_with(|b| b.extension(Scoring { seen: seen.clone() }).extension(Faulty { id: "faulty", fault }));
        let cx = env.cx();
        let err = env.refused(cx.contacts().create(NewContact::new("Jane", "Doe"))).await;
        match &err {
            Error::Plugin { plugin, .. } => assert_eq!(plugin, "faulty", "{why}"),
            other => panic!("{why}: expected a plugin error, got {other:?}"),
        }
        assert!(seen.lock().unwrap().is_empty());
    }

    // A well-behaved extension next to the scoring one.
    let env = env_with(|b| b.extension(Faulty { id: "fine", fault: Fault::OnEventsFails }));
    let c = env.cx().contacts().create(NewContact::new("Jane", "Doe")).await.unwrap();
    assert_eq!(c.custom.get("fine.level"), Some(&Value::Int(3)));
}

#[tokio::test]
async fn extension_sees_committed_events_and_its_failures_do_not_undo_writes() {
    let (env, seen) = scoring_env();
    let cx = env.cx();
    let c = cx.contacts().create(NewContact::new("Jane", "Doe")).await.unwrap();
    let d = cx.deals().create(NewDeal::new("D").contact(c.id)).await.unwrap();
    env.cx_of(tenant_b()).companies().create(NewCompany::new("B Corp")).await.unwrap();

    let seen = seen.lock().unwrap().clone();
    let committed_a = env.events().await;
    let seen_a: Vec<StoredEvent> = seen.iter().filter(|(t, _)| *t == tenant_a()).map(|(_, e)| e.clone()).collect();
    assert_eq!(seen_a, committed_a, "the extension sees exactly the committed events, numbered");
    assert_eq!(
        changes(&seen_a),
        vec![
            (EntityKind::Contact, Change::Created),
            (EntityKind::Pipeline, Change::Created),
            (EntityKind::Deal, Change::Created),
            (
                EntityKind::Contact,
                Change::LifecycleChanged { from: LifecycleStage::Lead, to: LifecycleStage::Opportunity, reset: false }
            ),
        ]
    );
    assert_eq!(seen_a[2].event.subject, d.entity_ref());
    let seen_b: Vec<_> = seen.iter().filter(|(t, _)| *t == tenant_b()).collect();
    assert_eq!(seen_b.len(), 1);
    assert_eq!((seen_b[0].1.seq, seen_b[0].1.event.subject.kind), (1, EntityKind::Company));

    // An extension failing in on_events does not undo the committed write.
    let env = env_with(|b| b.extension(Faulty { id: "hook", fault: Fault::OnEventsFails }));
    let c = env.cx().contacts().create(NewContact::new("Jane", "Doe")).await.unwrap();
    assert_eq!(env.cx().contacts().get(c.id).await.unwrap(), c);
    assert_eq!(env.events().await.len(), 1);
}

/// Stamps every contact with `<id>.x = 7`.
struct Stamp(&'static str);

impl Extension for Stamp {
    fn id(&self) -> &str {
        self.0
    }
    fn fields(&self) -> Vec<FieldDefinition> {
        vec![FieldDefinition::new(EntityKind::Contact, "x", "X", FieldType::Number)]
    }
    fn compute(&self, _cx: &HookContext<'_>, _record: &Record) -> Result<Vec<(String, Value)>> {
        Ok(vec![("x".into(), Value::Int(7))])
    }
}

#[tokio::test]
async fn values_of_an_uninstalled_extension_survive_updates() {
    // `custom` is a valid extension id; its keys read `custom.x`, filters `custom.custom.x`.
    for id in ["stamp", "custom"] {
        let store = MemoryStore::new();
        let with = Crm::builder(store.clone()).extension(Stamp(id)).build().unwrap();
        let c =
            with.as_actor(&Actor::system(tenant_a())).contacts().create(NewContact::new("Jane", "Doe")).await.unwrap();
        let key = format!("{id}.x");
        assert_eq!(c.custom.get(&key), Some(&Value::Int(7)));

        // The same data, opened without the extension: the stored value stays through updates…
        let cx = Crm::new(store.clone()).as_actor(&Actor::system(tenant_a()));
        let mut u = c.clone();
        u.given_name = "Janet".into();
        let u = cx.contacts().update(u).await.unwrap_or_else(|e| panic!("extension `{id}`: {e}"));
        assert_eq!(u.custom.get(&key), Some(&Value::Int(7)));
        // …but it cannot be changed any more.
        let mut v = u.clone();
        v.custom.insert(key.clone(), Value::Int(8));
        let err = cx.contacts().update(v).await.unwrap_err();
        assert_only_field(&err, &format!("custom.{key}"), FieldErrorCode::UnknownField);
    }
}

struct Named {
    id: String,
    fields: Vec<FieldDefinition>,
}

impl Named {
    fn new(id: &str) -> Self {
        Named { id: id.into(), fields: vec![] }
    }
}

impl Extension for Named {
    fn id(&self) -> &str {
        &self.id
    }
    fn fields(&self) -> Vec<FieldDefinition> {
        self.fields.clone()
    }
}

#[tokio::test]
async fn builder_refuses_bad_configuration() {
    let build = |f: &dyn Fn(CrmBuilder) -> CrmBuilder| f(Crm::builder(MemoryStore::new())).build();

    let err = build(&|b| b.extension(Named::new("Bad-Id"))).unwrap_err();
    assert_only_field(&err, "extensions.Bad-Id", FieldErrorCode::InvalidFormat);
    let err = build(&|b| b.extension(Named::new("a.b"))).unwrap_err();
    assert_only_field(&err, "extensions.a.b", FieldErrorCode::InvalidFormat);
    let err = build(&|b| b.extension(Named::new(""))).unwrap_err();
    assert_only_field(&err, "extensions.", FieldErrorCode::InvalidFormat);
    let err = build(&|b| b.extension(Named::new("dup")).extension(Named::new("ok")).extension(Named::new("dup")))
        .unwrap_err();
    assert_only_field(&err, "extensions.dup", FieldErrorCode::Duplicate);
    let err = build(&|b| {
        b.extension(Named {
            id: "ns".into(),
            fields: vec![FieldDefinition::new(EntityKind::Contact, "x.y", "XY", FieldType::Text)],
        })
    })
    .unwrap_err();
    assert_only_field(&err, "extensions.ns.fields[0].key", FieldErrorCode::InvalidFormat);
    let err = build(&|b| {
        b.extension(Named {
            id: "ns".into(),
            fields: vec![FieldDefinition::new(EntityKind::Relation, "x", "X", FieldType::Text)],
        })
    })
    .unwrap_err();
    assert_only_field(&err, "extensions.ns.fields[0].entity_kind", FieldErrorCode::Rule);
    let err = build(&|b| {
        b.extension(Named {
            id: "ns".into(),
            fields: vec![
                FieldDefinition::new(EntityKind::Contact, "x", "X", FieldType::Text),
                FieldDefinition::new(EntityKind::Deal, "x", "X on deals", FieldType::Text),
                FieldDefinition::new(EntityKind::Contact, "x", "X again", FieldType::Bool),
            ],
        })
    })
    .unwrap_err();
    assert_only_field(&err, "extensions.ns.fields[2].key", FieldErrorCode::Duplicate);
    let err = build(&|b| b.default_region("XX")).unwrap_err();
    assert_only_field(&err, "default_region", FieldErrorCode::InvalidFormat);

    assert!(build(&|b| b.extension(Named::new("a1_b")).extension(Named::new("c")).default_region("gb")).is_ok());
}

// ---------------------------------------------------------------------------------------------
// Timeline
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn timeline_shows_everything_about_a_contact_newest_first() {
    let env = env();
    let cx = env.cx();
    let sales = Sales::of(&cx).await;
    let jane = cx.contacts().create(NewContact::new("Jane", "Doe").email("jane@acme.com")).await.unwrap();
    let bob = cx.contacts().create(NewContact::new("Bob", "Roe")).await.unwrap();
    let hour = Duration::hours(1);

    env.advance(hour);
    let call = cx.activities().log(NewActivity::call("Call").contact(jane.id)).await.unwrap();
    env.advance(hour);
    let email = cx
        .activities()
        .log(NewActivity::email("Mail").contact(bob.id).participant(ParticipantRole::To, None, Some("jane@acme.com")))
        .await
        .unwrap();
    env.advance(hour);
    let deal = cx.deals().create(NewDeal::new("D").contact(jane.id).amount(usd("10.00"))).await.unwrap();
    env.advance(hour);
    cx.deals().move_to_stage(deal.id, sales.qualification()).await.unwrap();
    env.advance(hour);
    let bobs = cx.activities().log(NewActivity::note("About Bob").contact(bob.id)).await.unwrap();
    let task =
        cx.activities().log(NewActivity::task("Follow up", t0() + Duration::days(1)).contact(jane.id)).await.unwrap();
    env.advance(hour);
    cx.activities().complete(task.id).await.unwrap();
    cx.deals().win(deal.id).await.unwrap();
    let old = cx
        .activities()
        .log(NewActivity::meeting("Old meeting").contact(jane.id).at(t0() - Duration::days(30)))
        .await
        .unwrap();

    let items = cx.timeline(jane.id).await.unwrap();
    for w in items.windows(2) {
        assert!(w[0].at() >= w[1].at(), "not newest first: {:?} before {:?}", w[0].at(), w[1].at());
    }
    let activities: Vec<ActivityId> = items
        .iter()
        .filter_map(|i| match i {
            TimelineItem::Activity(a) => Some(a.id),
            _ => None,
        })
        .collect();
    let mut expected_activities = vec![call.id, email.id, task.id, old.id];
    let mut got = activities.clone();
    got.sort();
    expected_activities.sort();
    assert_eq!(got, expected_activities, "each activity about Jane exactly once; none about Bob only");
    assert!(!activities.contains(&bobs.id));
    assert!(
        matches!(items.last(), Some(TimelineItem::Activity(a)) if a.id == old.id),
        "the backdated meeting is oldest"
    );

    let events: Vec<&StoredEvent> = items
        .iter()
        .filter_map(|i| match i {
            TimelineItem::Event(e) => Some(e),
            _ => None,
        })
        .collect();
    assert!(
        events.iter().all(|e| e.event.subject.kind != EntityKind::Activity),
        "activities are not repeated as events"
    );
    assert!(!events.iter().any(|e| matches!(e.event.change, Change::ActivityLogged { .. } | Change::TaskCompleted)));
    assert!(events.iter().all(|e| e.event.touches(&contact_ref(jane.id))));
    let got: Vec<(EntityKind, Change)> =
        events.iter().map(|e| (e.event.subject.kind, e.event.change.clone())).collect();
    let lc = |from, to| (EntityKind::Contact, Change::LifecycleChanged { from, to, reset: false });
    let stage = |from, to| (EntityKind::Deal, Change::StageChanged { pipeline_id: sales.pipeline.id, from, to });
    assert_eq!(
        got,
        vec![
            // t0+6h, in reverse commit order
            lc(LifecycleStage::Opportunity, LifecycleStage::Customer),
            (EntityKind::Deal, Change::DealWon),
            stage(sales.qualification(), sales.won()),
            // t0+4h
            stage(sales.lead(), sales.qualification()),
            // t0+3h
            lc(LifecycleStage::Lead, LifecycleStage::Opportunity),
            (EntityKind::Deal, Change::Created),
            // t0
            (EntityKind::Contact, Change::Created),
        ]
    );
    // The first item is the newest thing that happened.
    assert_eq!(items[0].at(), t0() + Duration::hours(6));

    let missing = ContactId::from_uuid(Uuid::from_u128(8));
    assert_not_found(&cx.timeline(missing).await.unwrap_err(), EntityKind::Contact, missing);
}

// ---------------------------------------------------------------------------------------------
// Events
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn every_mutation_emits_the_right_event() {
    let env = env();
    // An administrator (whose creation is event 1, by the system).
    let admin = NewUser::new("Ada Admin", "ada@acme.example").role("administrator");
    let user = env.cx().users().create(admin).await.unwrap().id;
    let cx = env.crm.as_actor(&Actor::user(tenant_a(), user));
    let mut expected: Vec<(EntityRef, Change)> = Vec::new();
    let t = |e: &mut Vec<(EntityRef, Change)>, r: EntityRef, c: Change| e.push((r, c));

    let budget = cx.custom_fields().define(contact_field("budget", FieldType::Number)).await.unwrap();
    t(&mut expected, budget.entity_ref(), Change::Created);
    let acme = cx.companies().create(NewCompany::new("Acme")).await.unwrap();
    t(&mut expected, acme.entity_ref(), Change::Created);
    let jane = cx.contacts().create(NewContact::new("Jane", "Doe").works_at(acme.id, None, None)).await.unwrap();
    t(&mut expected, jane.entity_ref(), Change::Created);

    let mut u = jane.clone();
    u.given_name = "Janet".into();
    u.custom.insert("budget".into(), Value::Int(5));
    let jane = cx.contacts().update(u).await.unwrap();
    t(&mut expected, jane.entity_ref(), Change::Updated { fields: vec!["custom.budget".into(), "given_name".into()] });

    // A no-op update writes nothing.
    let same = cx.contacts().update(jane.clone()).await.unwrap();
    assert_eq!(same.version, jane.version);

    let mut u = jane.clone();
    u.lifecycle_stage = LifecycleStage::SalesQualifiedLead;
    u.job_title = Some("CTO".into());
    let jane = cx.contacts().update(u).await.unwrap();
    t(&mut expected, jane.entity_ref(), Change::Updated { fields: vec!["job_title".into()] });
    t(
        &mut expected,
        jane.entity_ref(),
        Change::LifecycleChanged { from: LifecycleStage::Lead, to: LifecycleStage::SalesQualifiedLead, reset: false },
    );

    let mut u = acme.clone();
    u.name = "Acme Inc".into();
    let acme = cx.companies().update(u).await.unwrap();
    t(&mut expected, acme.entity_ref(), Change::Updated { fields: vec!["name".into()] });

    let rel = cx.relations().link(jane.entity_ref(), acme.entity_ref(), RelationLabel::WorksAt, None).await.unwrap();
    t(&mut expected, rel.entity_ref(), Change::Created);

    let deal = cx.deals().create(NewDeal::new("D").contact(jane.id).company(acme.id)).await.unwrap();
    let pipeline = cx.pipelines().get(deal.pipeline_id).await.unwrap();
    t(&mut expected, pipeline.entity_ref(), Change::Created);
    t(&mut expected, deal.entity_ref(), Change::Created);
    t(
        &mut expected,
        jane.entity_ref(),
        Change::LifecycleChanged {
            from: LifecycleStage::SalesQualifiedLead,
            to: LifecycleStage::Opportunity,
            reset: false,
        },
    );
    let mut u = deal.clone();
    u.name = "Deal".into();
    let deal = cx.deals().update(u).await.unwrap();
    t(&mut expected, deal.entity_ref(), Change::Updated { fields: vec!["name".into()] });
    let to = pipeline.stages[1].id;
    let deal = cx.deals().move_to_stage(deal.id, to).await.unwrap();
    t(
        &mut expected,
        deal.entity_ref(),
        Change::StageChanged { pipeline_id: pipeline.id, from: pipeline.stages[0].id, to },
    );

    let task = cx.activities().log(NewActivity::task("Todo", t0()).contact(jane.id)).await.unwrap();
    t(&mut expected, task.entity_ref(), Change::ActivityLogged { activity_kind: ActivityKind::Task });
    let task = cx.activities().complete(task.id).await.unwrap();
    t(&mut expected, task.entity_ref(), Change::TaskCompleted);
    let mut u = task.clone();
    u.subject = "Done".into();
    let task = cx.activities().update(u).await.unwrap();
    t(&mut expected, task.entity_ref(), Change::Updated { fields: vec!["subject".into()] });

    let jane = cx.contacts().reset_lifecycle(jane.id, LifecycleStage::Lead).await.unwrap();
    t(
        &mut expected,
        jane.entity_ref(),
        Change::LifecycleChanged { from: LifecycleStage::Opportunity, to: LifecycleStage::Lead, reset: true },
    );

    let p2 = cx.pipelines().create(small_pipeline("Second")).await.unwrap();
    t(&mut expected, p2.entity_ref(), Change::Created);
    let mut u = p2.clone();
    u.name = "Renamed".into();
    let p2 = cx.pipelines().update(u).await.unwrap();
    t(&mut expected, p2.entity_ref(), Change::Updated { fields: vec!["name".into()] });

    cx.relations().unlink(rel.id, rel.version).await.unwrap();
    t(&mut expected, rel.entity_ref(), Change::Deleted);
    cx.activities().delete(task.id, task.version).await.unwrap();
    t(&mut expected, task.entity_ref(), Change::Deleted);
    cx.deals().delete(deal.id, deal.version).await.unwrap();
    t(&mut expected, deal.entity_ref(), Change::Deleted);
    cx.pipelines().delete(p2.id, p2.version).await.unwrap();
    t(&mut expected, p2.entity_ref(), Change::Deleted);
    cx.contacts().delete(jane.id, jane.version).await.unwrap();
    t(&mut expected, jane.entity_ref(), Change::Deleted);
    cx.companies().delete(acme.id, acme.version).await.unwrap();
    t(&mut expected, acme.entity_ref(), Change::Deleted);
    cx.custom_fields().remove(budget.id, budget.version).await.unwrap();
    t(&mut expected, budget.entity_ref(), Change::Deleted);

    let events = cx.events(&EventQuery::after(1, 1000)).await.unwrap();
    let got: Vec<(EntityRef, Change)> = events.iter().map(|e| (e.event.subject, e.event.change.clone())).collect();
    assert_eq!(got, expected);
    let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (2..=events.len() as u64 + 1).collect::<Vec<_>>(), "numbered 2, 3, 4… in commit order");
    assert!(events.iter().all(|e| e.event.actor == Some(user) && e.event.tenant_id == tenant_a()));
    assert!(events.iter().all(|e| e.event.occurred_at == t0()));
    let ids: std::collections::HashSet<_> = events.iter().map(|e| e.event.id).collect();
    assert_eq!(ids.len(), events.len(), "event ids are unique");

    // Events name the records they touch.
    let deal_created = &events.iter().find(|e| e.event.subject == deal.entity_ref()).unwrap().event;
    assert!(deal_created.related.contains(&jane.entity_ref()) && deal_created.related.contains(&acme.entity_ref()));
    let rel_created = &events.iter().find(|e| e.event.subject == rel.entity_ref()).unwrap().event;
    assert_eq!(rel_created.related, vec![jane.entity_ref(), acme.entity_ref()]);
}

#[tokio::test]
async fn event_queries_page_and_filter() {
    let env = env();
    let cx = env.cx();
    let acme = cx.companies().create(NewCompany::new("Acme")).await.unwrap(); // 1
    let jane = cx.contacts().create(NewContact::new("Jane", "Doe").works_at(acme.id, None, None)).await.unwrap(); // 2
    let bob = cx.contacts().create(NewContact::new("Bob", "Roe")).await.unwrap(); // 3
    cx.activities().log(NewActivity::note("n").contact(bob.id)).await.unwrap(); // 4
    let mut u = jane.clone();
    u.family_name = "Smith".into();
    cx.contacts().update(u).await.unwrap(); // 5
    cx.activities().log(NewActivity::note("n").company(acme.id)).await.unwrap(); // 6
    env.cx_of(tenant_b()).contacts().create(NewContact::new("Other", "Tenant")).await.unwrap();

    let seqs = |evs: Vec<StoredEvent>| evs.into_iter().map(|e| e.seq).collect::<Vec<_>>();
    assert_eq!(seqs(cx.events(&EventQuery::after(0, 1000)).await.unwrap()), vec![1, 2, 3, 4, 5, 6]);
    assert_eq!(seqs(cx.events(&EventQuery::after(2, 2)).await.unwrap()), vec![3, 4]);
    assert_eq!(seqs(cx.events(&EventQuery::after(4, 1000)).await.unwrap()), vec![5, 6]);
    assert!(cx.events(&EventQuery::after(6, 1000)).await.unwrap().is_empty());
    assert!(cx.events(&EventQuery::after(0, 0)).await.unwrap().is_empty());

    let touching = |r: EntityRef, after: u64, limit: usize| EventQuery { after, limit, touching: Some(r) };
    // The company: created (1), Jane works there (2, 5), the note about it (6).
    assert_eq!(seqs(cx.events(&touching(acme.entity_ref(), 0, 1000)).await.unwrap()), vec![1, 2, 5, 6]);
    assert_eq!(seqs(cx.events(&touching(acme.entity_ref(), 1, 2)).await.unwrap()), vec![2, 5]);
    assert_eq!(seqs(cx.events(&touching(acme.entity_ref(), 5, 10)).await.unwrap()), vec![6]);
    assert_eq!(seqs(cx.events(&touching(bob.entity_ref(), 0, 1000)).await.unwrap()), vec![3, 4]);
    let nobody = contact_ref(ContactId::from_uuid(Uuid::from_u128(1)));
    assert!(cx.events(&touching(nobody, 0, 1000)).await.unwrap().is_empty());
}
