//! The behaviour suite for accounting connectors, as the stores have their conformance kit:
//! vendor-neutral scenarios — a first sync, an idempotent rerun, a sync killed half-way and
//! resumed, a create whose answer is lost, conflicts, throttling, token refresh with rotation,
//! tenant isolation — written once against a [`Ledger`] and run unchanged against Xero and
//! QuickBooks (each served over HTTP on loopback in its own wire format) and an in-memory
//! connector. A new connector joins by implementing [`Backend`] and one line at the end.

mod ledger;
mod memory;
mod quickbooks_server;
mod wire;
mod xero_server;

use std::sync::Arc;
use std::time::{Duration, Instant};

use crm_core::model::ExternalRef;
use crm_core::prelude::*;
use crm_core::profile::Email;
use crm_core::query::{Filter, Query};
use crm_core::service::Resolution;
use crm_integrations::IntegrationError;
use crm_integrations::accounting::quickbooks::{QuickBooks, QuickBooksConfig};
use crm_integrations::accounting::sync::{SyncOptions, SyncReport, sync};
use crm_integrations::accounting::xero::{Xero, XeroConfig};
use crm_integrations::accounting::{AccountingConnector, ApiPolicy, MemoryTokenStore, OAuthConfig, Secret, TokenStore};
use rust_decimal::Decimal;
use secrecy::ExposeSecret;
use wiremock::{Mock, MockServer};

use crate::common::{event_count, sqlite_session};
use ledger::{Fault, Ledger, Op};

/// An accounting system the suite can run against.
trait Backend: Sized {
    /// The home currency its sample books are kept in.
    const CURRENCY: Currency;
    /// Starts serving `ledger` as one organisation.
    async fn serve(ledger: Ledger) -> Self;
    /// A connector to that organisation, authorised by `tokens`.
    fn connector(&self, tokens: Arc<dyn TokenStore>) -> Box<dyn AccountingConnector>;
}

/// Retries fast: the suite waits only where a scenario asks it to.
fn fast() -> ApiPolicy {
    ApiPolicy { first_retry: Duration::from_millis(10), requests_per_minute: 6000, ..ApiPolicy::default() }
}

fn oauth(token_url: String) -> OAuthConfig {
    OAuthConfig {
        client_id: "crm-app".into(),
        client_secret: Secret::from("app-secret".to_owned()),
        token_url: url::Url::parse(&token_url).unwrap(),
    }
}

async fn serve_http(responder: impl wiremock::Respond + 'static) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(wiremock::matchers::any()).respond_with(responder).mount(&server).await;
    server
}

struct XeroBackend {
    server: MockServer,
    tenant: String,
}

impl Backend for XeroBackend {
    const CURRENCY: Currency = Currency::GBP;

    async fn serve(ledger: Ledger) -> Self {
        let tenant = uuid::Uuid::now_v7().to_string();
        let server =
            serve_http(xero_server::XeroServer { ledger: ledger.clone(), tenant: tenant.clone(), page_size: 2 }).await;
        XeroBackend { server, tenant }
    }

    fn connector(&self, tokens: Arc<dyn TokenStore>) -> Box<dyn AccountingConnector> {
        let config = XeroConfig::new(&self.tenant)
            .base_url(&format!("{}/api.xro/2.0", self.server.uri()))
            .unwrap()
            .page_size(2)
            .policy(fast());
        Box::new(Xero::new(config, &oauth(format!("{}/connect/token", self.server.uri())), tokens).unwrap())
    }
}

struct QuickBooksBackend {
    server: MockServer,
    realm: String,
}

impl Backend for QuickBooksBackend {
    const CURRENCY: Currency = Currency::USD;

    async fn serve(ledger: Ledger) -> Self {
        let realm = format!("9130{}", uuid::Uuid::now_v7().as_u128() % 1_000_000_000_000);
        let server = serve_http(quickbooks_server::QuickBooksServer { ledger, realm: realm.clone() }).await;
        QuickBooksBackend { server, realm }
    }

    fn connector(&self, tokens: Arc<dyn TokenStore>) -> Box<dyn AccountingConnector> {
        let config = QuickBooksConfig::new(&self.realm, Currency::USD)
            .base_url(&self.server.uri())
            .unwrap()
            .page_size(2)
            .policy(fast());
        let token_url = format!("{}/oauth2/v1/tokens/bearer", self.server.uri());
        Box::new(QuickBooks::new(config, &oauth(token_url), tokens).unwrap())
    }
}

struct MemoryBackend {
    ledger: Ledger,
    org: String,
}

impl Backend for MemoryBackend {
    const CURRENCY: Currency = Currency::EUR;

    async fn serve(ledger: Ledger) -> Self {
        MemoryBackend { ledger, org: uuid::Uuid::now_v7().to_string() }
    }

    fn connector(&self, tokens: Arc<dyn TokenStore>) -> Box<dyn AccountingConnector> {
        Box::new(memory::MemoryConnector { ledger: self.ledger.clone(), org: self.org.clone(), tokens, page_size: 2 })
    }
}

/// One CRM tenant connected to one organisation.
struct Fixture<B> {
    _dir: tempfile::TempDir,
    cx: Session,
    ledger: Ledger,
    backend: B,
    tokens: Arc<MemoryTokenStore>,
    harbour: Company,
    kestrel: Company,
}

impl<B: Backend> Fixture<B> {
    /// The sample books there; here, Harbour Foods (known by its billing email, written in
    /// another case) and Kestrel Cycles (not there at all).
    async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let cx = sqlite_session(dir.path()).await;
        let harbour = cx
            .companies()
            .create(NewCompany::new("Harbour Foods").billing_email("Accounts@HarbourFoods.co.uk").tag("key-account"))
            .await
            .unwrap();
        let kestrel = cx
            .companies()
            .create(NewCompany::new("Kestrel Cycles").billing_email("orders@kestrelcycles.example"))
            .await
            .unwrap();
        let ledger = Ledger::sample(B::CURRENCY);
        let backend = B::serve(ledger.clone()).await;
        let tokens = Arc::new(MemoryTokenStore::new(ledger.tokens(chrono::Duration::hours(1))));
        Fixture { _dir: dir, cx, ledger, backend, tokens, harbour, kestrel }
    }

    fn connector(&self) -> Box<dyn AccountingConnector> {
        self.backend.connector(self.tokens.clone())
    }

    async fn sync(&self) -> Result<SyncReport, IntegrationError> {
        sync(&self.cx, self.connector().as_ref(), &options()).await
    }

    fn connection(&self) -> String {
        self.connector().connection()
    }

    /// The remote id a company is linked to.
    async fn remote_id(&self, company: &Company) -> Option<String> {
        let link = self.cx.sync().link_for_local(&self.connection(), company.entity_ref()).await.unwrap()?;
        Some(link.remote_id)
    }

    async fn named(&self, name: &str) -> Vec<Company> {
        self.cx.companies().list(&Query::new(Filter::eq("name", name))).await.unwrap().items
    }

    async fn invoice(&self, number: &str) -> Invoice {
        self.cx.invoices().list(&Query::new(Filter::eq("number", number))).await.unwrap().items.remove(0)
    }
}

fn options() -> SyncOptions {
    SyncOptions {
        today: chrono::NaiveDate::from_ymd_opt(2026, 11, 20),
        default_region: Some("GB".into()),
        ..SyncOptions::default()
    }
}

fn money(s: &str, currency: Currency) -> Money {
    Money::new(s.parse::<Decimal>().unwrap(), currency)
}

/// Customers are paired (by email, never by name), the rest become companies; invoices and
/// payments are mirrored with the system's totals; the CRM-only company is created there once,
/// carrying the CRM id.
async fn a_first_sync_pairs_mirrors_and_pushes<B: Backend>() {
    let f = Fixture::<B>::new().await;
    let report = f.sync().await.unwrap();
    assert_eq!((report.customers.created, report.pushed.created), (2, 1), "{report:#?}");
    assert_eq!(f.cx.companies().count(&Filter::All).await.unwrap(), 4);
    let remote_harbour = f.ledger.customer_named("Harbour Foods").remove(0);
    assert_eq!(f.remote_id(&f.harbour).await, Some(remote_harbour.id.clone()), "paired by billing email");
    let h = f.cx.companies().get(f.harbour.id).await.unwrap();
    assert_eq!(h.tags, vec!["key-account".to_owned()], "the CRM's own fields stay");
    assert!(h.external_refs.contains(&ExternalRef::new(f.connector().system(), &remote_harbour.id)));
    assert_eq!(h.phones.first().map(|p| p.number.as_str()), Some("+442079460321"), "filled from accounting");

    let pushed = f.ledger.customer_named("Kestrel Cycles");
    assert_eq!(pushed.len(), 1);
    assert_eq!(pushed[0].reference.as_deref(), Some(f.kestrel.id.to_string().as_str()));
    assert_eq!(pushed[0].email.as_deref(), Some("orders@kestrelcycles.example"));
    assert_eq!(f.remote_id(&f.kestrel).await, Some(pushed[0].id.clone()));

    assert_eq!((report.invoices.created, report.payments.created), (3, 2));
    let c = B::CURRENCY;
    let (i1, i2, i3) = (f.invoice("INV-1001").await, f.invoice("INV-1002").await, f.invoice("INV-1003").await);
    assert_eq!(
        (i1.status, i2.status, i3.status),
        (InvoiceStatus::Paid, InvoiceStatus::PartiallyPaid, InvoiceStatus::Sent)
    );
    assert_eq!((i2.total, i2.amount_paid), (money("990.00", c), money("400.00", c)));
    assert_eq!((i1.company_id, i2.company_id), (Some(f.harbour.id), Some(f.harbour.id)));
    let bluefin = f.named("Blue Fin Studio").await.remove(0);
    assert_eq!(i3.company_id, Some(bluefin.id));
    assert_eq!(i1.payments.len(), 1, "the payment is in the invoice's history");
    assert_eq!(i1.managed_by.as_deref(), Some(f.connector().system()));
}

/// A second sync writes nothing on either side and asks only for what changed.
async fn running_the_sync_again_changes_nothing<B: Backend>() {
    let f = Fixture::<B>::new().await;
    f.sync().await.unwrap();
    let events = event_count(&f.cx).await;
    let calls = f.ledger.books().calls.len();
    let report = f.sync().await.unwrap();
    for (kind, counts) in
        [("customers", report.customers), ("invoices", report.invoices), ("payments", report.payments)]
    {
        assert_eq!((counts.created, counts.updated), (0, 0), "{kind}: {report:#?}");
    }
    assert_eq!((report.pushed.created, report.pushed.updated), (0, 0));
    assert_eq!(event_count(&f.cx).await, events, "no record changed");
    let again = f.ledger.books().calls[calls..].to_vec();
    assert!(!again.iter().any(|c| c.op.is_write()), "nothing sent: {again:?}");
    for op in [Op::Customers, Op::Invoices, Op::Payments] {
        assert!(
            again.iter().filter(|c| c.op == op).all(|c| c.since.is_some()),
            "{op:?} asked for changes only: {again:?}"
        );
    }
}

/// A sync killed while it waits for the second page of customers leaves what it wrote, keeps
/// its cursor, and the next sync finishes the pass without duplicates.
async fn a_sync_killed_half_way_resumes_without_duplicates<B: Backend>() {
    let f = Fixture::<B>::new().await;
    f.ledger.arm(Op::Customers, Some(2), Fault::Hang, 1);
    let hung = async {
        while !f.ledger.calls_of(Op::Customers).iter().any(|c| c.fault == Some(Fault::Hang)) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::select! {
        r = f.sync() => panic!("the sync should hang on page 2, it ended: {r:?}"),
        () = hung => {} // the sync is dropped here: killed mid-pass.
    }
    let cursor = format!("{}/cursor/customers", f.connection());
    assert!(f.cx.sync().state(&cursor).await.unwrap().is_none(), "cursor not advanced");
    assert!(f.cx.companies().count(&Filter::All).await.unwrap() > 2, "page 1 was written");

    let report = f.sync().await.unwrap();
    assert_eq!(f.cx.companies().count(&Filter::All).await.unwrap(), 4, "no duplicates");
    assert_eq!(f.named("Blue Fin Studio").await.len(), 1);
    assert_eq!(f.ledger.customer_named("Kestrel Cycles").len(), 1);
    assert_eq!(report.invoices.created, 3);
    assert!(f.cx.sync().state(&cursor).await.unwrap().is_some(), "the complete pass moved the cursor");
}

/// A create applied there whose answer never came back is not made twice.
async fn a_create_whose_answer_was_lost_makes_one_customer<B: Backend>() {
    let f = Fixture::<B>::new().await;
    f.ledger.arm(Op::CreateCustomer, None, Fault::LoseReply, 1);
    if f.sync().await.is_err() {
        f.sync().await.unwrap();
    }
    let kestrels = f.ledger.customer_named("Kestrel Cycles");
    assert_eq!(kestrels.len(), 1, "one customer there");
    assert_eq!(f.remote_id(&f.kestrel).await, Some(kestrels[0].id.clone()), "and it is the CRM's Kestrel");
    assert!(f.ledger.calls_of(Op::CreateCustomer).iter().any(|c| c.fault == Some(Fault::LoseReply)));
}

/// A shared field both sides changed is queued as a conflict, changed on neither side, until
/// someone resolves it; the resolution is then sent.
async fn fields_both_sides_changed_wait_as_a_conflict<B: Backend>() {
    let f = Fixture::<B>::new().await;
    f.sync().await.unwrap();
    let mut h = f.cx.companies().get(f.harbour.id).await.unwrap();
    h.billing_email = Some(Email::parse("ap@harbourfoods.co.uk").unwrap());
    f.cx.companies().update(h).await.unwrap();
    let remote = f.remote_id(&f.harbour).await.unwrap();
    f.ledger.edit_customer(&remote, |c| c.email = Some("finance@harbourfoods.co.uk".into()));

    let report = f.sync().await.unwrap();
    assert_eq!(report.conflicts, vec![(f.harbour.entity_ref(), "billing_email".to_owned())]);
    let email = |c: Company| c.billing_email.map(|e| e.as_str().to_owned());
    assert_eq!(email(f.cx.companies().get(f.harbour.id).await.unwrap()).as_deref(), Some("ap@harbourfoods.co.uk"));
    assert!(f.ledger.calls_of(Op::UpdateCustomer).is_empty(), "not sent either");

    let link = f.cx.sync().link_for_local(&f.connection(), f.harbour.entity_ref()).await.unwrap().unwrap();
    f.cx.sync().resolve(link.id, "billing_email", Resolution::KeepLocal).await.unwrap();
    let report = f.sync().await.unwrap();
    assert!(report.conflicts.is_empty(), "{report:#?}");
    assert_eq!(report.pushed.updated, 1);
    assert_eq!(f.ledger.customer_named("Harbour Foods")[0].email.as_deref(), Some("ap@harbourfoods.co.uk"));
    assert_eq!(email(f.cx.companies().get(f.harbour.id).await.unwrap()).as_deref(), Some("ap@harbourfoods.co.uk"));
}

/// A throttled answer is waited out as the system asks, then the sync carries on.
async fn throttled_reads_are_waited_out<B: Backend>() {
    let f = Fixture::<B>::new().await;
    f.ledger.arm(Op::Invoices, None, Fault::Throttle(1), 1);
    let started = Instant::now();
    let report = f.sync().await.unwrap();
    assert!(started.elapsed() >= Duration::from_secs(1), "the wait asked for was kept");
    assert_eq!(report.invoices.created, 3);
    let reads = f.ledger.calls_of(Op::Invoices);
    assert_eq!(reads.first().and_then(|c| c.fault), Some(Fault::Throttle(1)));
    assert!(reads.len() >= 2, "asked again after the wait");
}

/// Expired tokens are refreshed before the first call, refused ones on refusal; each refresh
/// spends the refresh token and the rotated one is kept; a revoked grant is an authorisation
/// error that writes nothing.
async fn tokens_are_refreshed_and_rotations_kept<B: Backend>() {
    let f = Fixture::<B>::new().await;
    f.tokens
        .save(&f.ledger.tokens(chrono::Duration::minutes(-5)), Some(f.tokens.load().await.unwrap().unwrap().1))
        .await
        .unwrap();
    f.sync().await.unwrap();
    let refresh = |f: &Fixture<B>| {
        let t = f.tokens.clone();
        async move { t.load().await.unwrap().unwrap().0.refresh_token.expose_secret().to_owned() }
    };
    assert_eq!((f.ledger.refreshes(), refresh(&f).await), (1, "refresh-1".to_owned()));

    f.ledger.revoke_access();
    f.sync().await.unwrap();
    assert_eq!((f.ledger.refreshes(), refresh(&f).await), (2, "refresh-2".to_owned()));

    f.ledger.revoke_refresh();
    let mut h = f.cx.companies().get(f.harbour.id).await.unwrap();
    h.billing_email = Some(Email::parse("ap@harbourfoods.co.uk").unwrap());
    f.cx.companies().update(h).await.unwrap();
    let events = event_count(&f.cx).await;
    let err = f.sync().await.unwrap_err();
    assert!(matches!(err, IntegrationError::Auth { .. }), "{err:?}");
    assert!(!err.to_string().contains("refresh-2"), "no token in the message: {err}");
    assert_eq!(event_count(&f.cx).await, events, "nothing written");
}

/// Two tenants of one CRM store, each connected to its own organisation with the same numbers
/// and emails: each sync reads and writes only its own side.
async fn each_tenant_syncs_only_its_own_organisation<B: Backend>() {
    let a = Fixture::<B>::new().await;
    let store = crm_storage::SqlStore::sqlite(a._dir.path().join("crm.db").to_str().unwrap()).await.unwrap();
    let other =
        Crm::builder(store).build().unwrap().as_actor(&Actor::system(TenantId::from_uuid(uuid::Uuid::now_v7())));
    let ledger_b = Ledger::sample(B::CURRENCY);
    let backend_b = B::serve(ledger_b.clone()).await;
    let tokens_b: Arc<dyn TokenStore> = Arc::new(MemoryTokenStore::new(ledger_b.tokens(chrono::Duration::hours(1))));
    let connector_b = backend_b.connector(tokens_b);
    assert_ne!(connector_b.connection(), a.connection());

    a.sync().await.unwrap();
    let report_b = sync(&other, connector_b.as_ref(), &SyncOptions { push: None, ..options() }).await.unwrap();
    assert_eq!(
        (report_b.customers.created, report_b.invoices.created),
        (3, 3),
        "no match across tenants, no clash of numbers"
    );
    assert_eq!(a.cx.companies().count(&Filter::All).await.unwrap(), 4);
    assert_eq!(other.companies().count(&Filter::All).await.unwrap(), 3);
    assert!(ledger_b.customer_named("Kestrel Cycles").is_empty(), "A's company never reached B's books");

    let events_a = event_count(&a.cx).await;
    let remote = ledger_b.customer_named("Harbour Foods").remove(0).id;
    ledger_b.edit_customer(&remote, |c| c.email = Some("new@harbourfoods.co.uk".into()));
    let report_b = sync(&other, connector_b.as_ref(), &SyncOptions { push: None, ..options() }).await.unwrap();
    assert_eq!(report_b.customers.updated, 1);
    assert_eq!(event_count(&a.cx).await, events_a, "tenant A untouched");
    let email = |c: Company| c.billing_email.map(|e| e.as_str().to_lowercase());
    assert_eq!(
        email(a.cx.companies().get(a.harbour.id).await.unwrap()).as_deref(),
        Some("accounts@harbourfoods.co.uk")
    );
}

/// Generates one test per scenario for a backend; the list is written once.
macro_rules! accounting_behaviour_suite {
    ($backend:ty) => {
        accounting_behaviour_suite!(@cases $backend;
            a_first_sync_pairs_mirrors_and_pushes,
            running_the_sync_again_changes_nothing,
            a_sync_killed_half_way_resumes_without_duplicates,
            a_create_whose_answer_was_lost_makes_one_customer,
            fields_both_sides_changed_wait_as_a_conflict,
            throttled_reads_are_waited_out,
            tokens_are_refreshed_and_rotations_kept,
            each_tenant_syncs_only_its_own_organisation
        );
    };
    (@cases $backend:ty; $($case:ident),+ $(,)?) => {
        $(
            #[tokio::test]
            async fn $case() {
                super::$case::<$backend>().await
            }
        )+
    };
}

mod xero {
    accounting_behaviour_suite!(super::XeroBackend);
}

mod quickbooks {
    accounting_behaviour_suite!(super::QuickBooksBackend);
}

mod memory_connector {
    accounting_behaviour_suite!(super::MemoryBackend);
}
