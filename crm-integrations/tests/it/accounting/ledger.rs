//! One accounting organisation, vendor-neutral: its customers, invoices and payments (in the
//! connector's own `Remote*` types), the idempotency keys it has seen, the OAuth tokens it
//! accepts, the faults armed for its next answers, and a log of every call it answered.
//!
//! The Xero and QuickBooks servers of this suite render it in their wire formats; the
//! in-memory connector reads it directly. A scenario arranges and inspects it the same way
//! whichever backend serves it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use crm_core::money::Currency;
use crm_core::profile::{Address, AddressLabel};
use crm_integrations::accounting::{
    CustomerDraft, OAuthTokens, RemoteCustomer, RemoteInvoice, RemoteInvoiceStatus, RemoteLine, RemotePayment,
    RemoteStatus, Secret,
};
use rust_decimal::Decimal;

/// What a call to the organisation asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    Customers,
    Customer,
    Invoices,
    Payments,
    CreateCustomer,
    UpdateCustomer,
}

impl Op {
    pub fn is_write(self) -> bool {
        matches!(self, Op::CreateCustomer | Op::UpdateCustomer)
    }
}

/// How the organisation misbehaves on an armed call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Never answers (the client is killed while it waits).
    Hang,
    /// Too many requests: try again after this many seconds.
    Throttle(u64),
    /// The write is applied, then the answer is lost (a server error instead).
    LoseReply,
}

struct Armed {
    op: Op,
    page: Option<u32>,
    fault: Fault,
    times: u32,
}

/// One call the organisation answered.
#[derive(Clone, Debug)]
pub struct Call {
    pub op: Op,
    /// The "changed since" a read asked for.
    pub since: Option<DateTime<Utc>>,
    /// The fault it answered with, if any.
    pub fault: Option<Fault>,
}

/// The organisation's books and behaviour.
pub struct Books {
    pub customers: Vec<RemoteCustomer>,
    pub invoices: Vec<RemoteInvoice>,
    pub payments: Vec<RemotePayment>,
    pub calls: Vec<Call>,
    /// Successful token refreshes.
    pub refreshes: u32,
    keys: HashMap<String, String>,
    armed: Vec<Armed>,
    access: Option<String>,
    refresh: Option<String>,
    issued: u32,
    clock: DateTime<Utc>,
    next_id: u32,
}

/// A shared handle on one organisation.
#[derive(Clone)]
pub struct Ledger(Arc<Mutex<Books>>);

impl Ledger {
    /// An empty organisation; its clock starts three hours ago, so seeded records are recent
    /// (QuickBooks' change feed looks 30 days back at most).
    pub fn empty() -> Ledger {
        let clock = Utc::now() - Duration::hours(3);
        Ledger(Arc::new(Mutex::new(Books {
            customers: Vec::new(),
            invoices: Vec::new(),
            payments: Vec::new(),
            calls: Vec::new(),
            refreshes: 0,
            keys: HashMap::new(),
            armed: Vec::new(),
            access: Some("access-0".into()),
            refresh: Some("refresh-0".into()),
            issued: 0,
            clock: DateTime::from_timestamp_millis(clock.timestamp_millis()).unwrap(),
            next_id: 1,
        })))
    }

    pub fn books(&self) -> MutexGuard<'_, Books> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Tokens as the organisation issued them when the app was connected, valid for `valid_for`.
    pub fn tokens(&self, valid_for: Duration) -> OAuthTokens {
        let b = self.books();
        OAuthTokens {
            access_token: Secret::from(b.access.clone().unwrap_or_default()),
            refresh_token: Secret::from(b.refresh.clone().unwrap_or_default()),
            expires_at: Utc::now() + valid_for,
        }
    }

    /// Arms `fault` for the next `times` calls of `op` (on page `page` only, when given).
    pub fn arm(&self, op: Op, page: Option<u32>, fault: Fault, times: u32) {
        self.books().armed.push(Armed { op, page, fault, times });
    }

    /// The fault for this call, if one is armed (and counts it down).
    pub fn take_fault(&self, op: Op, page: u32) -> Option<Fault> {
        let mut b = self.books();
        let i = b.armed.iter().position(|a| a.op == op && a.page.is_none_or(|p| p == page) && a.times > 0)?;
        b.armed[i].times -= 1;
        Some(b.armed[i].fault)
    }

    pub fn log(&self, op: Op, since: Option<DateTime<Utc>>, fault: Option<Fault>) {
        self.books().calls.push(Call { op, since, fault });
    }

    /// Whether the API accepts this access token.
    pub fn accepts(&self, access: &str) -> bool {
        self.books().access.as_deref() == Some(access)
    }

    /// The token endpoint: a valid refresh token buys a new pair and is spent (rotation).
    pub fn refresh(&self, refresh: &str) -> Option<(String, String)> {
        let mut b = self.books();
        if b.refresh.as_deref() != Some(refresh) {
            return None;
        }
        b.issued += 1;
        let pair = (format!("access-{}", b.issued), format!("refresh-{}", b.issued));
        b.access = Some(pair.0.clone());
        b.refresh = Some(pair.1.clone());
        b.refreshes += 1;
        Some(pair)
    }

    /// Successful refreshes so far.
    pub fn refreshes(&self) -> u32 {
        self.books().refreshes
    }

    /// The access token in use is revoked: the API refuses it until the app refreshes.
    pub fn revoke_access(&self) {
        self.books().access = None;
    }

    /// The refresh token is revoked too: the app must be connected again.
    pub fn revoke_refresh(&self) {
        let mut b = self.books();
        b.access = None;
        b.refresh = None;
    }

    /// Calls of `op` answered so far.
    pub fn calls_of(&self, op: Op) -> Vec<Call> {
        self.books().calls.iter().filter(|c| c.op == op).cloned().collect()
    }

    pub fn customer_named(&self, name: &str) -> Vec<RemoteCustomer> {
        self.books().customers.iter().filter(|c| c.name == name).cloned().collect()
    }

    /// Changes a customer there (a user of the accounting system editing it).
    pub fn edit_customer(&self, id: &str, edit: impl FnOnce(&mut RemoteCustomer)) {
        let mut b = self.books();
        let now = b.tick();
        let c = b.customers.iter_mut().find(|c| c.id == id).expect("a customer of this ledger");
        edit(c);
        c.updated_at = Some(now);
        c.version = Some(bump(c.version.as_deref()));
    }

    /// Records changed at or after `since`, oldest change first.
    pub fn changed<T: Clone>(
        &self,
        since: Option<DateTime<Utc>>,
        pick: impl Fn(&Books) -> Vec<T>,
        at: impl Fn(&T) -> Option<DateTime<Utc>>,
    ) -> Vec<T> {
        let b = self.books();
        let mut out: Vec<T> =
            pick(&b).into_iter().filter(|r| since.is_none_or(|s| at(r).is_none_or(|t| t >= s))).collect();
        out.sort_by_key(|r| at(r));
        out
    }

    /// Creates a customer, once per idempotency key; answers the one made the first time.
    pub fn create_customer(&self, draft: &CustomerDraft, key: &str) -> RemoteCustomer {
        let mut b = self.books();
        if let Some(id) = b.keys.get(key).cloned() {
            return b.customers.iter().find(|c| c.id == id).cloned().expect("a created customer");
        }
        let id = b.new_id("C");
        let now = b.tick();
        let c = RemoteCustomer {
            id: id.clone(),
            version: Some("0".into()),
            updated_at: Some(now),
            name: draft.name.clone().unwrap_or_default(),
            legal_name: None,
            email: draft.email.clone().flatten(),
            phone: draft.phone.clone().flatten(),
            tax_id: None,
            billing_address: None,
            net_days: None,
            balance: None,
            currency: None,
            reference: Some(draft.reference.clone()),
            status: RemoteStatus::Active,
            supplier_only: false,
        };
        b.keys.insert(key.to_owned(), id);
        b.customers.push(c.clone());
        c
    }

    /// Whether a write with this idempotency key was applied already.
    pub fn seen(&self, key: &str) -> bool {
        self.books().keys.contains_key(key)
    }

    /// Applies an update of shared fields; None when there is no such customer. A repeated key
    /// answers the customer as it is, without a second change.
    pub fn update_customer(&self, id: &str, draft: &CustomerDraft, key: &str) -> Option<RemoteCustomer> {
        let mut b = self.books();
        if b.keys.get(key).is_some_and(|k| k == id) {
            return b.customers.iter().find(|c| c.id == id).cloned();
        }
        let now = b.tick();
        b.keys.insert(key.to_owned(), id.to_owned());
        let c = b.customers.iter_mut().find(|c| c.id == id)?;
        if let Some(email) = &draft.email {
            c.email = email.clone();
        }
        if let Some(phone) = &draft.phone {
            c.phone = phone.clone();
        }
        c.updated_at = Some(now);
        c.version = Some(bump(c.version.as_deref()));
        Some(c.clone())
    }

    /// The standard books of the suite, in `currency`: three customers (Harbour Foods with a
    /// billing email, Northwind Traders, Blue Fin Studio), three invoices (one paid, one part
    /// paid, one open) and two payments.
    pub fn sample(currency: Currency) -> Ledger {
        let ledger = Ledger::empty();
        {
            let mut b = ledger.books();
            let harbour =
                b.add_customer("Harbour Foods", Some("accounts@harbourfoods.co.uk"), Some("+44 20 7946 0321"));
            let northwind = b.add_customer("Northwind Traders", Some("billing@northwind.example"), None);
            let bluefin = b.add_customer("Blue Fin Studio", Some("hello@bluefin.example"), None);
            let _ = northwind;
            let d = |m: u32, day: u32| NaiveDate::from_ymd_opt(2026, m, day).unwrap();
            let i1 = b.add_invoice(&harbour, "INV-1001", currency, ("400.00", "80.00"), "480.00", (d(9, 1), d(10, 1)));
            let i2 =
                b.add_invoice(&harbour, "INV-1002", currency, ("825.00", "165.00"), "400.00", (d(10, 20), d(12, 1)));
            b.add_invoice(&bluefin, "INV-1003", currency, ("100.00", "20.00"), "0", (d(11, 10), d(12, 10)));
            b.add_payment(&i1, "480.00", currency, d(9, 25));
            b.add_payment(&i2, "400.00", currency, d(11, 2));
        }
        ledger
    }
}

fn bump(version: Option<&str>) -> String {
    (version.and_then(|v| v.parse::<u64>().ok()).unwrap_or(0) + 1).to_string()
}

fn dec(s: &str) -> Decimal {
    s.parse().unwrap()
}

impl Books {
    /// The organisation's clock: a minute per change while seeding, never going back.
    fn tick(&mut self) -> DateTime<Utc> {
        let now = DateTime::from_timestamp_millis(Utc::now().timestamp_millis()).unwrap();
        self.clock = (self.clock + Duration::minutes(1)).min(now).max(self.clock + Duration::milliseconds(1));
        self.clock
    }

    fn new_id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}{}", self.next_id)
    }

    fn add_customer(&mut self, name: &str, email: Option<&str>, phone: Option<&str>) -> String {
        let id = self.new_id("C");
        let now = self.tick();
        self.customers.push(RemoteCustomer {
            id: id.clone(),
            version: Some("0".into()),
            updated_at: Some(now),
            name: name.into(),
            legal_name: Some(format!("{name} Ltd")),
            email: email.map(Into::into),
            phone: phone.map(Into::into),
            tax_id: None,
            billing_address: Some(Address {
                label: Some(AddressLabel::Billing),
                lines: vec!["1 Quay Street".into()],
                city: Some("Bristol".into()),
                postal_code: Some("BS1 4DJ".into()),
                country: Some("GB".into()),
                ..Address::default()
            }),
            net_days: None,
            balance: None,
            currency: None,
            reference: None,
            status: RemoteStatus::Active,
            supplier_only: false,
        });
        id
    }

    fn add_invoice(
        &mut self,
        customer: &str,
        number: &str,
        currency: Currency,
        (net, tax): (&str, &str),
        paid: &str,
        (issue_date, due_date): (NaiveDate, NaiveDate),
    ) -> String {
        let id = self.new_id("I");
        let now = self.tick();
        let total = dec(net) + dec(tax);
        let amount_paid = dec(paid);
        self.invoices.push(RemoteInvoice {
            id: id.clone(),
            version: Some("0".into()),
            updated_at: Some(now),
            customer_id: customer.into(),
            number: number.into(),
            status: if amount_paid == total { RemoteInvoiceStatus::Paid } else { RemoteInvoiceStatus::Issued },
            currency,
            lines: vec![RemoteLine {
                description: "Consulting".into(),
                quantity: Decimal::ONE,
                unit_amount: dec(net),
                tax_amount: dec(tax),
                line_amount: dec(net),
            }],
            subtotal: dec(net),
            tax: dec(tax),
            total,
            amount_paid,
            issue_date,
            due_date,
            paid_on: None,
            reference: None,
        });
        id
    }

    fn add_payment(&mut self, invoice: &str, amount: &str, currency: Currency, received_on: NaiveDate) {
        let id = self.new_id("P");
        let now = self.tick();
        self.payments.push(RemotePayment {
            id,
            version: Some("0".into()),
            updated_at: Some(now),
            applications: vec![(invoice.into(), dec(amount))],
            amount: dec(amount),
            currency: Some(currency),
            received_on,
            reference: None,
            deleted: false,
        });
    }
}
