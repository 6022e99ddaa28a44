//! Custom field constraints and typed fields, computed fields, and extensions reacting to
//! committed events (`EventContext::act_as`, snapshots, the reaction depth limit), proved
//! through the public API on a [`MemoryStore`].

use std::future::Future;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, TimeZone, Utc};
use crm_core::ids::{ManualClock, SequentialIds};
use crm_core::model::{Constraints, FieldDefinition, FieldSource, FieldType, MAX_PATTERN_LEN};
use crm_core::prelude::*;
use crm_core::profile::{Email, EmailEntry, EmailLabel};
use crm_core::query::{Filter, Query};
use crm_core::service::CrmBuilder;
use crm_core::service::extension::{EventContext, Extension, HookContext, MAX_EXTENSION_DEPTH};
use crm_core::store::TxMode;
use rust_decimal::Decimal;
use uuid::Uuid;

// ---------------------------------------------------------------------------------------------
// Harness (after tests/rules.rs)
// ---------------------------------------------------------------------------------------------

/// 2026-03-02T09:00:00Z, a Monday.
fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap()
}

fn tenant_a() -> TenantId {
    TenantId::from_uuid(Uuid::from_u128(0xA))
}

struct Env {
    crm: Crm,
}

/// Everything tenant A has stored: every record of every kind, and every event.
#[derive(Debug, PartialEq)]
struct State {
    records: Vec<Record>,
    events: Vec<StoredEvent>,
}

fn env() -> Env {
    env_with(|b| b)
}

fn env_with(f: impl FnOnce(CrmBuilder) -> CrmBuilder) -> Env {
    let builder = Crm::builder(MemoryStore::new())
        .clock(ManualClock::new(t0()))
        .ids(SequentialIds::default())
        .default_region("US");
    Env { crm: f(builder).build().expect("valid configuration") }
}

impl Env {
    /// The system actor of tenant A.
    fn cx(&self) -> Session {
        self.crm.as_actor(&Actor::system(tenant_a()))
    }

    async fn state(&self) -> State {
        let mut tx = self.crm.store().begin(tenant_a(), TxMode::ReadOnly).await.unwrap();
        let mut records = Vec::new();
        for kind in EntityKind::ALL {
            let page = tx.query(*kind, &Query::new(Filter::All).limit(1000)).await.unwrap();
            assert!(page.next.is_none(), "test data sets stay below one page");
            records.extend(page.items);
        }
        State { records, events: self.events().await }
    }

    async fn events(&self) -> Vec<StoredEvent> {
        self.cx().events(&EventQuery::after(0, 1000)).await.unwrap()
    }

    /// Runs a call that must fail, and checks that it wrote nothing.
    async fn refused<T: std::fmt::Debug>(&self, call: impl Future<Output = Result<T>>) -> Error {
        let before = self.state().await;
        let err = match call.await {
            Ok(v) => panic!("expected the call to be refused, got {v:?}"),
            Err(e) => e,
        };
        assert_eq!(self.state().await, before, "a refused call changed the store: {err}");
        err
    }
}

/// The error is a validation error whose only error is `code` about `field`.
#[track_caller]
fn assert_only_field(err: &Error, field: &str, code: FieldErrorCode) {
    assert!(matches!(err, Error::Validation(_)), "expected a validation error, got {err:?}");
    assert!(
        err.field_errors().iter().any(|e| e.field == field && e.code == code),
        "expected `{field}` to be refused with {code:?}, got {err}"
    );
    assert_eq!(err.field_errors().len(), 1, "expected only `{field}` to be refused, got {err}");
}

fn contact_field(key: &str, ty: FieldType) -> FieldDefinition {
    FieldDefinition::new(EntityKind::Contact, key, "A label", ty)
}

fn contact_ref(id: ContactId) -> EntityRef {
    EntityRef::new(EntityKind::Contact, id)
}

fn changes(events: &[StoredEvent]) -> Vec<(EntityKind, Change)> {
    events.iter().map(|e| (e.event.subject.kind, e.event.change.clone())).collect()
}

fn updated(fields: &[&str]) -> Change {
    Change::Updated { fields: fields.iter().map(|f| (*f).to_owned()).collect() }
}

fn text(s: &str) -> Value {
    Value::Text(s.to_owned())
}

fn dec(mantissa: i64, scale: u32) -> Decimal {
    Decimal::new(mantissa, scale)
}

fn eur(mantissa: i64, scale: u32) -> Money {
    Money::new(dec(mantissa, scale), Currency::EUR)
}

// ---------------------------------------------------------------------------------------------
// 1. Constraints on values
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn constrained_custom_values_are_refused_outside_their_limits() {
    let env = env();
    let cx = env.cx();
    let fields = cx.custom_fields();
    let range = |lo, hi| Constraints::default().range(lo, hi);
    fields
        .define(contact_field("visits", FieldType::Number).constraints(range(Decimal::ZERO, Decimal::from(100))))
        .await
        .unwrap();
    fields.define(contact_field("ratio", FieldType::Decimal).constraints(range(dec(5, 1), dec(25, 1)))).await.unwrap();
    fields
        .define(contact_field("budget", FieldType::Money).constraints(range(Decimal::from(100), Decimal::from(10_000))))
        .await
        .unwrap();
    fields
        .define(contact_field("nickname", FieldType::Text).constraints(Constraints::default().length(2, 5)))
        .await
        .unwrap();
    let sku = fields
        .define(contact_field("sku", FieldType::Text).constraints(Constraints::default().pattern("[A-Z]{3}-[0-9]{4}")))
        .await
        .unwrap();
    assert_eq!(sku.definition.constraints.pattern.as_deref(), Some("[A-Z]{3}-[0-9]{4}"));
    fields
        .define(contact_field("colour", FieldType::Text).constraints(Constraints::default().pattern("red|green")))
        .await
        .unwrap();
    // Constraints of an email field apply to the normalised (lower-cased) address.
    fields
        .define(
            contact_field("work_email", FieldType::Email)
                .constraints(Constraints::default().pattern(r"[a-z.]+@acme\.com")),
        )
        .await
        .unwrap();
    let defined = cx.custom_fields().list(EntityKind::Contact).await.unwrap();
    assert_eq!(defined.len(), 7);

    let anchor = cx.contacts().create(NewContact::new("Anchor", "Record")).await.unwrap();
    let count = || async { cx.contacts().count(&Filter::All).await.unwrap() };
    assert_eq!(count().await, 1);

    let refusals: Vec<(&str, Value, FieldErrorCode)> = vec![
        ("visits", Value::Int(-1), FieldErrorCode::OutOfRange),
        ("visits", Value::Int(101), FieldErrorCode::OutOfRange),
        ("ratio", Value::Decimal(dec(49, 2)), FieldErrorCode::OutOfRange),
        ("ratio", Value::Decimal(dec(251, 2)), FieldErrorCode::OutOfRange),
        // A whole number is converted to a decimal, then checked.
        ("ratio", Value::Int(3), FieldErrorCode::OutOfRange),
        ("budget", Value::Money(eur(9_999, 2)), FieldErrorCode::OutOfRange),
        ("budget", Value::Money(eur(1_000_001, 2)), FieldErrorCode::OutOfRange),
        ("nickname", text("a"), FieldErrorCode::OutOfRange),
        ("nickname", text("abcdef"), FieldErrorCode::OutOfRange),
        ("sku", text("abc-1234"), FieldErrorCode::InvalidFormat),
        ("sku", text("ABC-123"), FieldErrorCode::InvalidFormat),
        // The pattern is anchored at both ends…
        ("sku", text("ABC-12345"), FieldErrorCode::InvalidFormat),
        ("sku", text("XABC-1234"), FieldErrorCode::InvalidFormat),
        // …around the whole alternation.
        ("colour", text("reddish"), FieldErrorCode::InvalidFormat),
        ("colour", text("dark green"), FieldErrorCode::InvalidFormat),
        ("work_email", text("jane@other.com"), FieldErrorCode::InvalidFormat),
    ];
    for (key, value, code) in refusals {
        let field = format!("custom.{key}");
        let why = format!("{key} = {value:?}");
        // On create…
        let err = env.refused(cx.contacts().create(NewContact::new("John", "Roe").custom(key, value.clone()))).await;
        assert_only_field(&err, &field, code);
        // …on update…
        let mut u = anchor.clone();
        u.custom.insert(key.to_owned(), value.clone());
        let err = env.refused(cx.contacts().update(u)).await;
        assert_only_field(&err, &field, code);
        // …and through set_custom_value.
        let err = env.refused(cx.set_custom_value(contact_ref(anchor.id), key, value)).await;
        assert_only_field(&err, &field, code);
        assert_eq!(count().await, 1, "{why}: nothing was written");
    }

    // The limits are inclusive, and valid values are stored.
    let low = cx
        .contacts()
        .create(
            NewContact::new("Low", "Bounds")
                .custom("visits", 0)
                .custom("ratio", dec(5, 1))
                .custom("budget", eur(100, 0))
                .custom("nickname", "ab")
                .custom("sku", "ABC-1234")
                .custom("colour", "red")
                .custom("work_email", "Jane.Doe@ACME.com"),
        )
        .await
        .unwrap();
    let high = cx
        .contacts()
        .create(
            NewContact::new("High", "Bounds")
                .custom("visits", 100)
                .custom("ratio", 2)
                .custom("budget", eur(10_000, 0))
                // Five characters, ten bytes: lengths count characters.
                .custom("nickname", "äöüßé")
                .custom("sku", "ZZZ-0000")
                .custom("colour", "green"),
        )
        .await
        .unwrap();
    assert_eq!(count().await, 3);
    let stored_low = cx.contacts().get(low.id).await.unwrap();
    assert_eq!(stored_low.custom.get("visits"), Some(&Value::Int(0)));
    assert_eq!(stored_low.custom.get("ratio"), Some(&Value::Decimal(dec(5, 1))));
    assert_eq!(stored_low.custom.get("budget"), Some(&Value::Money(eur(100, 0))));
    assert_eq!(stored_low.custom.get("nickname"), Some(&text("ab")));
    assert_eq!(stored_low.custom.get("sku"), Some(&text("ABC-1234")));
    assert_eq!(stored_low.custom.get("colour"), Some(&text("red")));
    assert_eq!(stored_low.custom.get("work_email"), Some(&text("jane.doe@acme.com")));
    let stored_high = cx.contacts().get(high.id).await.unwrap();
    assert_eq!(stored_high.custom.get("ratio"), Some(&Value::Decimal(Decimal::from(2))));
    assert_eq!(stored_high.custom.get("budget"), Some(&Value::Money(eur(10_000, 0))));
    assert_eq!(stored_high.custom.get("nickname"), Some(&text("äöüßé")));

    // set_custom_value stores a valid value and clears with Null.
    let r = cx.set_custom_value(contact_ref(anchor.id), "visits", Value::Int(42)).await.unwrap();
    assert_eq!(r.custom().and_then(|c| c.get("visits")), Some(&Value::Int(42)));
    assert_eq!(cx.contacts().get(anchor.id).await.unwrap().custom.get("visits"), Some(&Value::Int(42)));
    cx.set_custom_value(contact_ref(anchor.id), "visits", Value::Null).await.unwrap();
    assert!(!cx.contacts().get(anchor.id).await.unwrap().custom.contains_key("visits"));
}

// ---------------------------------------------------------------------------------------------
// 2. Constraints on definitions
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn definitions_with_inconsistent_constraints_are_refused() {
    let env = env();
    let cx = env.cx();
    let c = Constraints::default;
    let cases: Vec<(FieldDefinition, &str, FieldErrorCode)> = vec![
        (
            contact_field("n", FieldType::Number).constraints(c().range(Decimal::from(10), Decimal::from(1))),
            "constraints.max",
            FieldErrorCode::OutOfRange,
        ),
        (
            contact_field("t", FieldType::Text).constraints(c().range(Decimal::ZERO, Decimal::ONE)),
            "constraints.min",
            FieldErrorCode::Rule,
        ),
        (
            contact_field("b", FieldType::Bool).constraints(c().range(Decimal::ZERO, Decimal::ONE)),
            "constraints.min",
            FieldErrorCode::Rule,
        ),
        (contact_field("n", FieldType::Number).constraints(c().pattern("[0-9]+")), "constraints", FieldErrorCode::Rule),
        (contact_field("m", FieldType::Money).constraints(c().length(1, 2)), "constraints", FieldErrorCode::Rule),
        (
            contact_field("t", FieldType::Text).constraints(c().length(5, 2)),
            "constraints.max_length",
            FieldErrorCode::OutOfRange,
        ),
        (
            contact_field("t", FieldType::Text).constraints(c().length(0, 10_001)),
            "constraints.max_length",
            FieldErrorCode::OutOfRange,
        ),
        (
            contact_field("t", FieldType::Text).constraints(c().pattern("(")),
            "constraints.pattern",
            FieldErrorCode::InvalidFormat,
        ),
        // Look-around is not supported by the linear-time engine.
        (
            contact_field("t", FieldType::Text).constraints(c().pattern("(?=a)a")),
            "constraints.pattern",
            FieldErrorCode::InvalidFormat,
        ),
        // Back-references neither.
        (
            contact_field("t", FieldType::Text).constraints(c().pattern(r"(a)\1")),
            "constraints.pattern",
            FieldErrorCode::InvalidFormat,
        ),
        (
            contact_field("t", FieldType::Text).constraints(c().pattern("a".repeat(MAX_PATTERN_LEN + 1))),
            "constraints.pattern",
            FieldErrorCode::InvalidFormat,
        ),
        // A pattern cannot close the anchoring group and match part of the text.
        (
            contact_field("t", FieldType::Text).constraints(c().pattern("a)|(?:b")),
            "constraints.pattern",
            FieldErrorCode::InvalidFormat,
        ),
        // Tenant fields cannot be computed: only an extension's compute sets such values.
        (contact_field("t", FieldType::Number).computed(), "computed", FieldErrorCode::Rule),
    ];
    let both = contact_field("t", FieldType::Number).computed().required().validate("");
    assert_eq!(both.len(), 1, "{both:?}");
    assert_eq!((both[0].field.as_str(), both[0].code), ("required", FieldErrorCode::Rule));
    for (definition, field, code) in cases {
        let why = format!("{definition:?}");
        let err = env.refused(cx.custom_fields().define(definition)).await;
        assert!(err.names_field(field), "{why}: {err}");
        assert_only_field(&err, field, code);
    }
    assert!(cx.custom_fields().list(EntityKind::Contact).await.unwrap().is_empty());

    // Consistent ones are accepted and kept as given.
    let ok = Constraints::default().length(1, 12).pattern("[A-Z]{3}-[0-9]{4}");
    let f = cx.custom_fields().define(contact_field("sku", FieldType::Text).constraints(ok.clone())).await.unwrap();
    assert_eq!(f.definition.constraints, ok);
    let email = Constraints::default().length(3, 50);
    cx.custom_fields().define(contact_field("mail", FieldType::Email).constraints(email)).await.unwrap();
    let eq = Constraints::default().range(Decimal::ONE, Decimal::ONE);
    cx.custom_fields().define(contact_field("one", FieldType::Decimal).constraints(eq)).await.unwrap();
    assert_eq!(cx.custom_fields().list(EntityKind::Contact).await.unwrap().len(), 3);

    // Extension fields are checked the same way when the CRM is built.
    struct Bad(FieldDefinition);
    impl Extension for Bad {
        fn id(&self) -> &str {
            "bad"
        }
        fn fields(&self) -> Vec<FieldDefinition> {
            vec![self.0.clone()]
        }
    }
    for (definition, field) in [
        (
            contact_field("n", FieldType::Number).constraints(Constraints::default().range(Decimal::TEN, Decimal::ONE)),
            "extensions.bad.fields[0].constraints.max",
        ),
        (
            contact_field("t", FieldType::Text).constraints(Constraints::default().pattern("(?<=a)b")),
            "extensions.bad.fields[0].constraints.pattern",
        ),
        (contact_field("c", FieldType::Number).computed().required(), "extensions.bad.fields[0].required"),
    ] {
        let err = Crm::builder(MemoryStore::new()).extension(Bad(definition)).build().unwrap_err();
        assert!(err.names_field(field), "expected an error about `{field}`, got {err}");
        assert_eq!(err.field_errors().len(), 1, "{err}");
    }
}

// ---------------------------------------------------------------------------------------------
// 3. Email, Url and Phone fields
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn email_url_and_phone_fields_are_checked_and_normalised() {
    let env = env();
    let cx = env.cx();
    cx.custom_fields().define(contact_field("work_email", FieldType::Email)).await.unwrap();
    cx.custom_fields().define(contact_field("homepage", FieldType::Url)).await.unwrap();
    cx.custom_fields().define(contact_field("mobile", FieldType::Phone)).await.unwrap();

    let jane = cx
        .contacts()
        .create(
            NewContact::new("Jane", "Doe")
                .custom("work_email", " Jane.Doe@ACME.com ")
                .custom("homepage", "https://Acme.COM")
                .custom("mobile", "(415) 555-2671"),
        )
        .await
        .unwrap();
    assert_eq!(jane.custom.get("work_email"), Some(&text("jane.doe@acme.com")));
    assert_eq!(jane.custom.get("homepage"), Some(&text("https://acme.com/")));
    assert_eq!(jane.custom.get("mobile"), Some(&text("+14155552671")), "national numbers use the default region");
    assert_eq!(cx.contacts().get(jane.id).await.unwrap().custom, jane.custom, "stored normalised");
    // Filters match the normalised value.
    assert_eq!(cx.contacts().count(&Filter::eq("custom.work_email", "jane.doe@acme.com")).await.unwrap(), 1);

    let r = cx.set_custom_value(contact_ref(jane.id), "mobile", text("+44 20 7946 0958")).await.unwrap();
    assert_eq!(r.custom().and_then(|c| c.get("mobile")), Some(&text("+442079460958")));
    let r = cx.set_custom_value(contact_ref(jane.id), "homepage", text("http://www.acme.com/about")).await.unwrap();
    assert_eq!(r.custom().and_then(|c| c.get("homepage")), Some(&text("http://www.acme.com/about")));
    // The scheme is case-insensitive, as for a contact's website.
    let r = cx.set_custom_value(contact_ref(jane.id), "homepage", text("HTTPS://Acme.COM")).await.unwrap();
    assert_eq!(r.custom().and_then(|c| c.get("homepage")), Some(&text("https://acme.com/")));

    for (key, value, code) in [
        ("work_email", text("jane@@acme"), FieldErrorCode::InvalidFormat),
        ("work_email", text("jane"), FieldErrorCode::InvalidFormat),
        ("work_email", text("jane@localhost"), FieldErrorCode::InvalidFormat),
        ("work_email", Value::Int(1), FieldErrorCode::TypeMismatch),
        // A web address needs its http(s) scheme…
        ("homepage", text("acme.com"), FieldErrorCode::InvalidFormat),
        ("homepage", text("www.acme.com/about"), FieldErrorCode::InvalidFormat),
        ("homepage", text("ftp://acme.com"), FieldErrorCode::InvalidFormat),
        ("homepage", text("mailto:jane@acme.com"), FieldErrorCode::InvalidFormat),
        // …and a host name.
        ("homepage", text("https://localhost"), FieldErrorCode::InvalidFormat),
        ("homepage", text("https://"), FieldErrorCode::InvalidFormat),
        ("mobile", text("12"), FieldErrorCode::InvalidFormat),
        ("mobile", text("call me"), FieldErrorCode::InvalidFormat),
        ("mobile", Value::Bool(true), FieldErrorCode::TypeMismatch),
    ] {
        let err = env.refused(cx.contacts().create(NewContact::new("John", "Roe").custom(key, value.clone()))).await;
        assert_only_field(&err, &format!("custom.{key}"), code);
        let err = env.refused(cx.set_custom_value(contact_ref(jane.id), key, value)).await;
        assert_only_field(&err, &format!("custom.{key}"), code);
    }
    assert_eq!(cx.contacts().count(&Filter::All).await.unwrap(), 1);

    // Without a default region, only numbers with `+country` are accepted.
    let plain = Env { crm: Crm::builder(MemoryStore::new()).build().unwrap() };
    let pcx = plain.cx();
    pcx.custom_fields().define(contact_field("mobile", FieldType::Phone)).await.unwrap();
    let err = plain.refused(pcx.contacts().create(NewContact::new("J", "R").custom("mobile", "(415) 555-2671"))).await;
    assert_only_field(&err, "custom.mobile", FieldErrorCode::InvalidFormat);
    let c = pcx.contacts().create(NewContact::new("J", "R").custom("mobile", "+1 415-555-2671")).await.unwrap();
    assert_eq!(c.custom.get("mobile"), Some(&text("+14155552671")));

    // Another default region reads national numbers in that region.
    let de = Env { crm: Crm::builder(MemoryStore::new()).default_region("de").build().unwrap() };
    let dcx = de.cx();
    dcx.custom_fields().define(contact_field("mobile", FieldType::Phone)).await.unwrap();
    let c = dcx.contacts().create(NewContact::new("J", "R").custom("mobile", "030 123456")).await.unwrap();
    assert_eq!(c.custom.get("mobile"), Some(&text("+4930123456")));
}

// ---------------------------------------------------------------------------------------------
// 4. Computed fields
// ---------------------------------------------------------------------------------------------

/// Counts a contact's email addresses into the computed field `calc.email_count`.
struct Calc;

impl Extension for Calc {
    fn id(&self) -> &str {
        "calc"
    }
    fn fields(&self) -> Vec<FieldDefinition> {
        vec![FieldDefinition::new(EntityKind::Contact, "email_count", "Emails", FieldType::Number).computed()]
    }
    fn compute(&self, _cx: &HookContext<'_>, record: &Record) -> Result<Vec<(String, Value)>> {
        match record {
            Record::Contact(c) => Ok(vec![("email_count".into(), Value::Int(c.emails.len() as i64))]),
            _ => Ok(vec![]),
        }
    }
}

#[tokio::test]
async fn computed_fields_are_set_by_their_extension_only() {
    let env = env_with(|b| b.extension(Calc));
    let cx = env.cx();
    let key = "calc.email_count";
    let field = "custom.calc.email_count";

    let registered = cx.custom_fields().registered(EntityKind::Contact).await.unwrap();
    assert_eq!(registered.len(), 1);
    assert!(registered[0].definition.computed);
    assert_eq!(registered[0].definition.key, key);
    assert_eq!(registered[0].source, FieldSource::Extension("calc".into()));

    // A user cannot set it on create, not even to the value compute would give.
    for v in [5, 1] {
        let err =
            env.refused(cx.contacts().create(NewContact::new("John", "Roe").email("j@acme.com").custom(key, v))).await;
        assert_only_field(&err, field, FieldErrorCode::ReadOnly);
    }

    // compute() sets it.
    let c = cx.contacts().create(NewContact::new("Jane", "Doe").email("jane@acme.com")).await.unwrap();
    assert_eq!(c.custom.get(key), Some(&Value::Int(1)));
    assert_eq!(cx.contacts().get(c.id).await.unwrap().custom.get(key), Some(&Value::Int(1)));

    // An update passing the stored value back unchanged is accepted…
    let mut u = c.clone();
    u.job_title = Some("CTO".into());
    let u = cx.contacts().update(u).await.unwrap();
    assert_eq!((u.job_title.as_deref(), u.custom.get(key)), (Some("CTO"), Some(&Value::Int(1))));
    // …and recomputed from the new state.
    let mut u2 = u.clone();
    u2.emails.push(EmailEntry { address: Email::parse("jd@acme.com").unwrap(), label: EmailLabel::Other });
    assert_eq!(u2.custom.get(key), Some(&Value::Int(1)), "the user passes the old value back");
    let u2 = cx.contacts().update(u2).await.unwrap();
    assert_eq!(u2.custom.get(key), Some(&Value::Int(2)));
    assert_eq!(env.events().await.last().unwrap().event.change, updated(&["custom.calc.email_count", "emails"]));

    // A changed value is refused, on update and through set_custom_value.
    let mut bad = u2.clone();
    bad.custom.insert(key.into(), Value::Int(99));
    let err = env.refused(cx.contacts().update(bad)).await;
    assert_only_field(&err, field, FieldErrorCode::ReadOnly);
    let err = env.refused(cx.set_custom_value(contact_ref(c.id), key, Value::Int(99))).await;
    assert_only_field(&err, field, FieldErrorCode::ReadOnly);
    // Setting the stored value again is a no-op.
    let events = env.events().await.len();
    let same = cx.set_custom_value(contact_ref(c.id), key, Value::Int(2)).await.unwrap();
    assert_eq!(same, Record::Contact(u2.clone()));
    assert_eq!(env.events().await.len(), events, "nothing changed, nothing written");

    // Leaving it out of an update is not setting it: compute restores it.
    let mut dropped = u2.clone();
    dropped.custom.remove(key);
    dropped.given_name = "Janet".into();
    let dropped = cx.contacts().update(dropped).await.unwrap();
    assert_eq!(dropped.custom.get(key), Some(&Value::Int(2)));
}

// ---------------------------------------------------------------------------------------------
// 5. Reactions
// ---------------------------------------------------------------------------------------------

/// One `on_events` call, as an extension saw it.
#[derive(Clone, Debug)]
struct Call {
    origin: Option<String>,
    depth: u8,
    events: Vec<(EntityRef, Change)>,
    before: Vec<Option<Record>>,
    after: Vec<Option<Record>>,
}

type Calls = Arc<Mutex<Vec<Call>>>;
type Errors = Arc<Mutex<Vec<String>>>;
/// Origin and depth of `act_as` sessions.
type Sessions = Arc<Mutex<Vec<(Option<String>, u8)>>>;
/// Value written, writer, depth.
type Writes = Arc<Mutex<Vec<(i64, &'static str, u8)>>>;

fn record_call(calls: &Calls, cx: &EventContext<'_>, events: &[StoredEvent]) {
    calls.lock().unwrap().push(Call {
        origin: cx.actor().origin().map(str::to_owned),
        depth: cx.actor().depth(),
        events: events.iter().map(|e| (e.event.subject, e.event.change.clone())).collect(),
        before: events.iter().map(|e| cx.before(e).cloned()).collect(),
        after: events.iter().map(|e| cx.after(e).cloned()).collect(),
    });
}

/// On a created contact: sets `tagger.source` from the name it was written with, then tags it
/// `new`. On a created deal: tags it `hot`, twice.
struct Tagger {
    calls: Calls,
    /// Origin and depth of every `act_as` session it opened.
    sessions: Sessions,
    errors: Errors,
}

impl Tagger {
    async fn react(&self, cx: &EventContext<'_>, e: &StoredEvent) -> Result<()> {
        if e.event.change != Change::Created {
            return Ok(());
        }
        let s = cx.act_as(self.id());
        self.sessions.lock().unwrap().push((s.actor().origin().map(str::to_owned), s.actor().depth()));
        assert_eq!(s.tenant(), cx.tenant());
        match cx.after(e) {
            Some(Record::Contact(c)) => {
                s.set_custom_value(e.event.subject, "tagger.source", text(&format!("auto:{}", c.given_name))).await?;
                s.add_tag(e.event.subject, "  new  ").await?;
            }
            Some(Record::Deal(_)) => {
                s.add_tag(e.event.subject, " hot ").await?;
                s.add_tag(e.event.subject, "hot").await?;
            }
            _ => {}
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl Extension for Tagger {
    fn id(&self) -> &str {
        "tagger"
    }
    fn fields(&self) -> Vec<FieldDefinition> {
        vec![FieldDefinition::new(EntityKind::Contact, "source", "Source", FieldType::Text)]
    }
    async fn on_events(&self, cx: &EventContext<'_>, events: &[StoredEvent]) -> Result<()> {
        record_call(&self.calls, cx, events);
        for e in events {
            if let Err(err) = self.react(cx, e).await {
                self.errors.lock().unwrap().push(err.to_string());
            }
        }
        Ok(())
    }
}

/// Records every call.
struct Observer {
    calls: Calls,
}

#[async_trait::async_trait]
impl Extension for Observer {
    fn id(&self) -> &str {
        "observer"
    }
    async fn on_events(&self, cx: &EventContext<'_>, events: &[StoredEvent]) -> Result<()> {
        record_call(&self.calls, cx, events);
        Ok(())
    }
}

#[tokio::test]
async fn extensions_react_to_committed_events_without_seeing_their_own_changes() {
    let tagger_calls = Calls::default();
    let observed = Calls::default();
    let sessions = Sessions::default();
    let errors = Errors::default();
    let env = env_with(|b| {
        // The observer comes first, so it sees the user's commit before the tagger's
        // reactions (which are dispatched while the tagger handles that commit).
        b.extensions([
            Arc::new(Observer { calls: observed.clone() }) as Arc<dyn Extension>,
            Arc::new(Tagger { calls: tagger_calls.clone(), sessions: sessions.clone(), errors: errors.clone() })
                as Arc<dyn Extension>,
        ])
    });
    let cx = env.cx();

    // A user creates a contact; the reaction lands before `create` returns.
    let jane = cx.contacts().create(NewContact::new("Jane", "Doe")).await.unwrap();
    assert_eq!((jane.version, jane.tags.len(), jane.custom.len()), (1, 0, 0), "returned as the user wrote it");
    let stored = cx.contacts().get(jane.id).await.unwrap();
    assert_eq!(stored.custom.get("tagger.source"), Some(&text("auto:Jane")));
    assert_eq!(stored.tags, vec!["new".to_owned()], "trimmed");
    assert_eq!(stored.version, 3);
    assert!(errors.lock().unwrap().is_empty(), "{:?}", errors.lock().unwrap());

    let jref = contact_ref(jane.id);
    assert_eq!(
        changes(&env.events().await),
        vec![
            (EntityKind::Contact, Change::Created),
            (EntityKind::Contact, updated(&["custom.tagger.source"])),
            (EntityKind::Contact, updated(&["tags"])),
        ]
    );

    // The tagger saw the user's commit only, not the two `Updated` events it caused itself.
    {
        let calls = tagger_calls.lock().unwrap();
        assert_eq!(calls.len(), 1, "{calls:?}");
        assert_eq!(calls[0].events, vec![(jref, Change::Created)]);
        assert_eq!((calls[0].origin.as_deref(), calls[0].depth), (None, 0));
    }
    // Its act_as session is the extension, one level deep.
    assert_eq!(*sessions.lock().unwrap(), vec![(Some("tagger".to_owned()), 1)]);

    // Another extension does see them, attributed to the tagger at depth 1, with snapshots.
    {
        let seen = observed.lock().unwrap();
        assert_eq!(seen.len(), 3, "{seen:?}");
        // Created: `after` is the record as written, no `before`.
        assert_eq!((seen[0].origin.as_deref(), seen[0].depth), (None, 0));
        assert_eq!(seen[0].events, vec![(jref, Change::Created)]);
        assert_eq!(seen[0].before, vec![None]);
        assert_eq!(seen[0].after, vec![Some(Record::Contact(jane.clone()))]);
        // First reaction: before is the created version, after carries the value.
        assert_eq!((seen[1].origin.as_deref(), seen[1].depth), (Some("tagger"), 1));
        assert_eq!(seen[1].events, vec![(jref, updated(&["custom.tagger.source"]))]);
        assert_eq!(seen[1].before, vec![Some(Record::Contact(jane.clone()))]);
        let Some(Some(Record::Contact(v2))) = seen[1].after.first() else { panic!("no after: {seen:?}") };
        assert_eq!((v2.version, v2.custom.get("tagger.source")), (2, Some(&text("auto:Jane"))));
        assert!(v2.tags.is_empty());
        // Second reaction: before is the first reaction's result, after is what is stored now.
        assert_eq!((seen[2].origin.as_deref(), seen[2].depth), (Some("tagger"), 1));
        assert_eq!(seen[2].events, vec![(jref, updated(&["tags"]))]);
        assert_eq!(seen[2].before, vec![Some(Record::Contact(v2.clone()))]);
        assert_eq!(seen[2].after, vec![Some(Record::Contact(stored.clone()))]);
    }

    // A deal: tagged once (the second, identical tag writes nothing).
    let deal = cx.deals().create(NewDeal::new("Acme rollout")).await.unwrap();
    assert!(deal.tags.is_empty());
    let stored_deal = cx.deals().get(deal.id).await.unwrap();
    assert_eq!((stored_deal.tags.clone(), stored_deal.version), (vec!["hot".to_owned()], 2));
    let events = env.events().await;
    assert_eq!(
        changes(&events[3..]),
        vec![
            (EntityKind::Pipeline, Change::Created),
            (EntityKind::Deal, Change::Created),
            (EntityKind::Deal, updated(&["tags"])),
        ]
    );
    {
        let calls = tagger_calls.lock().unwrap();
        assert_eq!(calls.len(), 2, "{calls:?}");
        let kinds: Vec<_> = calls[1].events.iter().map(|(r, c)| (r.kind, c.clone())).collect();
        assert_eq!(kinds, vec![(EntityKind::Pipeline, Change::Created), (EntityKind::Deal, Change::Created)]);
        assert_eq!(calls[1].after[1], Some(Record::Deal(deal.clone())));
        let seen = observed.lock().unwrap();
        assert_eq!(seen.len(), 5);
        assert_eq!(seen[4].events, vec![(deal.entity_ref(), updated(&["tags"]))]);
        assert_eq!(seen[4].before, vec![Some(Record::Deal(deal.clone()))]);
        assert_eq!(seen[4].after, vec![Some(Record::Deal(stored_deal.clone()))]);
    }

    // A user's update is dispatched to the tagger (only its own changes are held back), with
    // `before` as stored before the update.
    let mut u = stored.clone();
    u.job_title = Some("CTO".into());
    let u = cx.contacts().update(u).await.unwrap();
    {
        let calls = tagger_calls.lock().unwrap();
        assert_eq!(calls.len(), 3);
        assert_eq!(calls[2].events, vec![(jref, updated(&["job_title"]))]);
        assert_eq!(calls[2].before, vec![Some(Record::Contact(stored.clone()))]);
        assert_eq!(calls[2].after, vec![Some(Record::Contact(u.clone()))]);
        assert_eq!((calls[2].origin.as_deref(), calls[2].depth), (None, 0));
    }
    assert_eq!(sessions.lock().unwrap().len(), 3, "one act_as session per created record");
    assert_eq!(cx.contacts().get(jane.id).await.unwrap(), u, "the tagger does not react to updates");
    assert!(errors.lock().unwrap().is_empty(), "{:?}", errors.lock().unwrap());
}

// ---------------------------------------------------------------------------------------------
// 6. Depth limit
// ---------------------------------------------------------------------------------------------

/// Reacts to any updated contact by writing its own field `<id>.n` (a value shared with its
/// partner, so every write changes something).
struct PingPong {
    id: &'static str,
    counter: Arc<Mutex<i64>>,
    /// Successful writes: the value written (the order in which the writes started), the
    /// writer and its depth. Pushed after the write returns, i.e. after the reactions it caused.
    writes: Writes,
    calls: Arc<Mutex<Vec<(&'static str, u8)>>>,
    errors: Errors,
}

#[async_trait::async_trait]
impl Extension for PingPong {
    fn id(&self) -> &str {
        self.id
    }
    fn fields(&self) -> Vec<FieldDefinition> {
        vec![FieldDefinition::new(EntityKind::Contact, "n", "N", FieldType::Number)]
    }
    async fn on_events(&self, cx: &EventContext<'_>, events: &[StoredEvent]) -> Result<()> {
        self.calls.lock().unwrap().push((self.id, cx.actor().depth()));
        let Some(e) = events
            .iter()
            .find(|e| e.event.subject.kind == EntityKind::Contact && matches!(e.event.change, Change::Updated { .. }))
        else {
            return Ok(());
        };
        let s = cx.act_as(self.id);
        let n = {
            let mut c = self.counter.lock().unwrap();
            *c += 1;
            *c
        };
        match s.set_custom_value(e.event.subject, &format!("{}.n", self.id), Value::Int(n)).await {
            Ok(_) => self.writes.lock().unwrap().push((n, self.id, s.actor().depth())),
            Err(err) => self.errors.lock().unwrap().push(err.to_string()),
        }
        Ok(())
    }
}

#[tokio::test]
async fn reaction_chains_stop_at_the_depth_limit() {
    let counter = Arc::new(Mutex::new(0));
    let writes = Writes::default();
    let calls = Arc::new(Mutex::new(Vec::new()));
    let errors = Errors::default();
    let ext = |id| PingPong {
        id,
        counter: counter.clone(),
        writes: writes.clone(),
        calls: calls.clone(),
        errors: errors.clone(),
    };
    let env = env_with(|b| b.extension(ext("ping")).extension(ext("pong")));
    let cx = env.cx();

    // A created contact starts nothing.
    let c = cx.contacts().create(NewContact::new("Jane", "Doe")).await.unwrap();
    assert!(writes.lock().unwrap().is_empty());
    assert_eq!(*calls.lock().unwrap(), vec![("ping", 0), ("pong", 0)]);
    calls.lock().unwrap().clear();

    // A user's update starts two chains (ping reacts first, then pong), each alternating
    // between the two extensions from depth 1 to MAX_EXTENSION_DEPTH, where dispatch stops.
    let mut u = c.clone();
    u.job_title = Some("CTO".into());
    let result = cx.contacts().update(u).await;
    assert!(result.is_ok(), "the user's call succeeds: {result:?}");
    assert!(errors.lock().unwrap().is_empty(), "{:?}", errors.lock().unwrap());

    let chain = |first: &'static str, second: &'static str| {
        (1..=MAX_EXTENSION_DEPTH).map(move |d| (if d % 2 == 1 { first } else { second }, d))
    };
    let expected: Vec<(&str, u8)> = chain("ping", "pong").chain(chain("pong", "ping")).collect();
    assert_eq!(expected.len(), 2 * usize::from(MAX_EXTENSION_DEPTH));
    assert_eq!(MAX_EXTENSION_DEPTH, 3);
    assert_eq!(expected, vec![("ping", 1), ("pong", 2), ("ping", 3), ("pong", 1), ("ping", 2), ("pong", 3)]);
    let mut started = writes.lock().unwrap().clone();
    started.sort();
    assert_eq!(started.iter().map(|w| w.0).collect::<Vec<_>>(), (1..=expected.len() as i64).collect::<Vec<_>>());
    assert_eq!(started.into_iter().map(|(_, who, depth)| (who, depth)).collect::<Vec<_>>(), expected);

    // Each extension was called once by the user's commit, then once per write of the other
    // below the limit; the writes at the limit were not dispatched.
    let mut expected_calls = vec![("ping", 0)];
    for (who, depth) in &expected {
        if *depth < MAX_EXTENSION_DEPTH {
            expected_calls.push((if *who == "ping" { "pong" } else { "ping" }, *depth));
        }
    }
    let mut got = calls.lock().unwrap().clone();
    let mut want = expected_calls;
    want.push(("pong", 0));
    got.sort();
    want.sort();
    assert_eq!(got, want);

    // Every write landed: one `Updated` for the user, one per reaction.
    let events = env.events().await;
    let updates = events.iter().filter(|e| matches!(e.event.change, Change::Updated { .. })).count();
    assert_eq!(updates, 1 + expected.len());
    let stored = cx.contacts().get(c.id).await.unwrap();
    assert_eq!(stored.version, 2 + expected.len() as u64);
    let last =
        |who: &str| expected.iter().enumerate().filter(|(_, (w, _))| *w == who).map(|(i, _)| i as i64 + 1).next_back();
    assert_eq!(stored.custom.get("ping.n"), last("ping").map(Value::Int).as_ref());
    assert_eq!(stored.custom.get("pong.n"), last("pong").map(Value::Int).as_ref());
    assert_eq!(stored.custom.get("pong.n"), Some(&Value::Int(6)));
}

// ---------------------------------------------------------------------------------------------
// 7. Session::record / add_tag / set_custom_value
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn records_by_reference_tags_and_custom_values() {
    let env = env();
    let cx = env.cx();
    let jane = cx.contacts().create(NewContact::new("Jane", "Doe").tag("lead")).await.unwrap();
    let jref = contact_ref(jane.id);

    // record(): the current version, or None.
    assert_eq!(cx.record(jref).await.unwrap(), Some(Record::Contact(jane.clone())));
    let missing = EntityRef::new(EntityKind::Contact, Uuid::from_u128(0xDEAD));
    assert_eq!(cx.record(missing).await.unwrap(), None);
    assert_eq!(cx.record(EntityRef::new(EntityKind::Deal, jane.id)).await.unwrap(), None, "wrong kind");
    let other = env.crm.as_actor(&Actor::system(TenantId::from_uuid(Uuid::from_u128(0xB))));
    assert_eq!(other.record(jref).await.unwrap(), None, "other tenant");

    // add_tag trims, and a tag the record has changes nothing.
    let r = cx.add_tag(jref, "  vip ").await.unwrap();
    let Record::Contact(c) = &r else { panic!("{r:?}") };
    assert_eq!(c.tags, vec!["lead".to_owned(), "vip".to_owned()]);
    assert_eq!(c.version, 2);
    assert_eq!(cx.contacts().get(jane.id).await.unwrap().tags, c.tags);
    let events = env.events().await.len();
    for again in ["vip", " vip", "lead "] {
        let r2 = cx.add_tag(jref, again).await.unwrap();
        assert_eq!(r2, r, "adding `{again}` again changes nothing");
    }
    assert_eq!(env.events().await.len(), events);
    assert_eq!(env.events().await.last().unwrap().event.change, updated(&["tags"]));

    // Bad tags are refused.
    let err = env.refused(cx.add_tag(jref, "   ")).await;
    assert_only_field(&err, "tags[2]", FieldErrorCode::Required);
    let err = env.refused(cx.add_tag(jref, &"x".repeat(101))).await;
    assert_only_field(&err, "tags[2]", FieldErrorCode::OutOfRange);
    cx.add_tag(jref, &"x".repeat(100)).await.unwrap();

    // Kinds without tags.
    let call = cx.activities().log(NewActivity::call("Intro call").contact(jane.id)).await.unwrap();
    let err = env.refused(cx.add_tag(call.entity_ref(), "x")).await;
    assert_only_field(&err, "tags", FieldErrorCode::Rule);
    let pipeline = cx.pipelines().default_pipeline().await.unwrap();
    let err = env.refused(cx.add_tag(pipeline.entity_ref(), "x")).await;
    assert_only_field(&err, "tags", FieldErrorCode::Rule);
    // Missing records.
    let err = env.refused(cx.add_tag(missing, "x")).await;
    assert!(matches!(err, Error::NotFound { kind: EntityKind::Contact, .. }), "{err:?}");
    let err = env.refused(cx.set_custom_value(missing, "x", Value::Int(1))).await;
    assert!(matches!(err, Error::NotFound { kind: EntityKind::Contact, .. }), "{err:?}");

    // set_custom_value: unknown keys are refused, kinds without custom fields too.
    let err = env.refused(cx.set_custom_value(jref, "nope", Value::Int(1))).await;
    assert_only_field(&err, "custom.nope", FieldErrorCode::UnknownField);
    let err = env.refused(cx.set_custom_value(pipeline.entity_ref(), "x", Value::Int(1))).await;
    assert_only_field(&err, "custom.x", FieldErrorCode::Rule);
    // Known keys work, on activities too, and are type-checked.
    cx.custom_fields()
        .define(FieldDefinition::new(EntityKind::Activity, "minutes", "Minutes", FieldType::Number))
        .await
        .unwrap();
    let r = cx.set_custom_value(call.entity_ref(), "minutes", Value::Int(15)).await.unwrap();
    assert_eq!(r.custom().and_then(|c| c.get("minutes")), Some(&Value::Int(15)));
    assert_eq!(cx.record(call.entity_ref()).await.unwrap(), Some(r));
    let err = env.refused(cx.set_custom_value(call.entity_ref(), "minutes", text("ten"))).await;
    assert_only_field(&err, "custom.minutes", FieldErrorCode::TypeMismatch);
}
