//! The harness shared by the commerce and service/marketing test suites: a CRM on a manual
//! clock with sequential ids, two tenants, and [`Env::refused`], which checks that a refused
//! call wrote nothing in either tenant.
#![allow(dead_code)] // each suite uses its own subset

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use crm_core::ids::{Clock, ManualClock, SequentialIds};
use crm_core::prelude::*;
use crm_core::query::{Filter, Query};
use crm_core::service::CrmBuilder;
use crm_core::store::TxMode;
use rust_decimal::Decimal;
use uuid::Uuid;

/// 2026-03-02T09:00:00Z, a Monday.
pub(crate) fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap()
}

pub(crate) fn tenant_a() -> TenantId {
    TenantId::from_uuid(Uuid::from_u128(0xA))
}

pub(crate) fn tenant_b() -> TenantId {
    TenantId::from_uuid(Uuid::from_u128(0xB))
}

pub(crate) struct Env {
    pub(crate) crm: Crm,
    pub(crate) clock: Arc<ManualClock>,
}

/// Everything one tenant has stored: every record of every kind, and every event.
#[derive(Debug, PartialEq)]
pub(crate) struct State {
    pub(crate) records: Vec<Record>,
    pub(crate) events: Vec<StoredEvent>,
}

pub(crate) fn env() -> Env {
    env_with(|b| b)
}

pub(crate) fn env_with(f: impl FnOnce(CrmBuilder) -> CrmBuilder) -> Env {
    let clock = Arc::new(ManualClock::new(t0()));
    let builder =
        Crm::builder(MemoryStore::new()).clock(clock.clone()).ids(SequentialIds::default()).default_region("US");
    let crm = f(builder).build().expect("valid configuration");
    Env { crm, clock }
}

impl Env {
    /// The system actor of tenant A.
    pub(crate) fn cx(&self) -> Session {
        self.crm.as_actor(&Actor::system(tenant_a()))
    }

    pub(crate) fn cx_of(&self, tenant: TenantId) -> Session {
        self.crm.as_actor(&Actor::system(tenant))
    }

    pub(crate) fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    pub(crate) fn today(&self) -> NaiveDate {
        self.now().date_naive()
    }

    pub(crate) fn advance(&self, by: Duration) {
        self.clock.advance(by);
    }

    pub(crate) async fn state_of(&self, tenant: TenantId) -> State {
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

    /// Runs a call that must fail, and checks that it wrote nothing in tenant A nor in tenant B.
    pub(crate) async fn refused<T: std::fmt::Debug>(&self, call: impl Future<Output = Result<T>>) -> Error {
        let (a, b) = (self.state_of(tenant_a()).await, self.state_of(tenant_b()).await);
        let err = match call.await {
            Ok(v) => panic!("expected the call to be refused, got {v:?}"),
            Err(e) => e,
        };
        assert_eq!(self.state_of(tenant_a()).await, a, "a refused call changed tenant A: {err}");
        assert_eq!(self.state_of(tenant_b()).await, b, "a refused call changed tenant B: {err}");
        err
    }

    /// Runs a call that must succeed without writing anything.
    pub(crate) async fn unchanged<T>(&self, call: impl Future<Output = Result<T>>) -> T {
        let before = self.state_of(tenant_a()).await;
        let v = call.await.expect("the call succeeds");
        assert_eq!(self.state_of(tenant_a()).await, before, "the call was expected to write nothing");
        v
    }

    /// Events appended since `seq`.
    pub(crate) async fn events_since(&self, seq: u64) -> Vec<StoredEvent> {
        self.cx().events(&EventQuery::after(seq, 1000)).await.unwrap()
    }

    pub(crate) async fn last_seq(&self) -> u64 {
        self.cx().events(&EventQuery::after(0, 1000)).await.unwrap().last().map(|e| e.seq).unwrap_or(0)
    }
}

/// The error is a validation error with an error of `code` about `field`.
#[track_caller]
pub(crate) fn assert_field(err: &Error, field: &str, code: FieldErrorCode) {
    assert!(matches!(err, Error::Validation(_)), "expected a validation error, got {err:?}");
    assert!(err.names_field(field), "expected an error about `{field}`, got {err}");
    assert!(
        err.field_errors().iter().any(|e| e.field == field && e.code == code),
        "expected `{field}` to be refused with {code:?}, got {err}"
    );
}

/// The error is a validation error with exactly one error: `code` about `field`.
#[track_caller]
pub(crate) fn assert_only_field(err: &Error, field: &str, code: FieldErrorCode) {
    assert_field(err, field, code);
    assert_eq!(err.field_errors().len(), 1, "expected only `{field}` to be refused, got {err}");
}

/// The error is an invalid transition of `field` from `from` to `to`.
#[track_caller]
pub(crate) fn assert_transition(err: &Error, field: &str, from: &str, to: &str) {
    match err {
        Error::InvalidTransition { field: f, from: a, to: b, .. } => {
            assert_eq!((f.as_str(), a.as_str(), b.as_str()), (field, from, to), "wrong transition in {err}")
        }
        other => panic!("expected an invalid transition of `{field}`, got {other:?}"),
    }
    assert!(err.names_field(field));
}

#[track_caller]
pub(crate) fn assert_not_found(err: &Error, kind: EntityKind, id: impl Into<Uuid>) {
    let id = id.into();
    match err {
        Error::NotFound { kind: k, id: i } => assert_eq!((*k, *i), (kind, id)),
        other => panic!("expected {kind} {id} not found, got {other:?}"),
    }
}

pub(crate) fn dec(s: &str) -> Decimal {
    s.parse().unwrap()
}

pub(crate) fn usd(amount: &str) -> Money {
    Money::new(dec(amount), Currency::USD)
}

pub(crate) fn eur(amount: &str) -> Money {
    Money::new(dec(amount), Currency::EUR)
}

pub(crate) fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

pub(crate) fn changes(events: &[StoredEvent]) -> Vec<(EntityKind, Change)> {
    events.iter().map(|e| (e.event.subject.kind, e.event.change.clone())).collect()
}

pub(crate) fn status_changed(from: &str, to: &str) -> Change {
    Change::StatusChanged { from: from.into(), to: to.into() }
}

pub(crate) fn contact_ref(id: ContactId) -> EntityRef {
    EntityRef::new(EntityKind::Contact, id)
}

pub(crate) fn company_ref(id: CompanyId) -> EntityRef {
    EntityRef::new(EntityKind::Company, id)
}

pub(crate) fn line(name: &str, qty: &str, price: Money) -> LineItem {
    LineItem::new(name, dec(qty), price)
}

pub(crate) fn money_map(entries: &[(Currency, &str)]) -> BTreeMap<Currency, Decimal> {
    entries.iter().map(|(c, a)| (*c, dec(a))).collect()
}

pub(crate) async fn contact(cx: &Session, given: &str) -> Contact {
    cx.contacts().create(NewContact::new(given, "Customer")).await.unwrap()
}
