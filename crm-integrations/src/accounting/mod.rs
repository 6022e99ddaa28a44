//! Accounting connectors and the sync engine on top of them.
//!
//! An [`AccountingConnector`] speaks one accounting system's API: Xero (`xero::Xero`, feature
//! `xero`) or QuickBooks Online (`quickbooks::QuickBooks`, feature `quickbooks`). [`sync`](sync::sync) pairs the CRM's companies
//! with the system's customers and mirrors invoices and payments into the CRM, read-only there:
//!
//! - customers are matched by the stored link, then the external reference on the company, then
//!   the CRM id the CRM wrote into the remote record, then email, then phone — **never by name
//!   alone**; unmatched customers become companies;
//! - accounting owns the legal name, billing address, tax id, terms and balances (the sync
//!   overwrites them); the CRM owns name, owner, stage, tags and consent (the sync never
//!   touches them); billing email and phone are shared: merged three ways against what both sides had at
//!   the last sync, with real conflicts queued on the link instead of last-writer-wins;
//! - CRM companies without a customer are pushed (with an idempotency key, so a retried push
//!   cannot create two customers), and local edits of shared fields are sent back;
//! - per-entity cursors advance only after a complete pass, so a sync killed half-way resumes
//!   from where the last complete pass ended; what it re-reads changes nothing.
//!
//! HTTP is shared ([`ApiPolicy`]): per-connection rate limits, `429` with `Retry-After`,
//! retries of `5xx` and timeouts with exponential backoff, and OAuth2 access tokens refreshed
//! on expiry or on `401`, the rotating refresh token saved through a [`TokenStore`] (encrypted
//! at rest by [`CrmTokenStore`]) before it is used.
//!
//! ```no_run
//! # #[cfg(feature = "xero")]
//! # async fn demo(cx: crm_core::service::Session, key: [u8; 32]) -> Result<(), crm_integrations::IntegrationError> {
//! use std::sync::Arc;
//! use crm_integrations::accounting::sync::{SyncOptions, sync};
//! use crm_integrations::accounting::xero::{Xero, XeroConfig};
//! use crm_integrations::accounting::{CrmTokenStore, OAuthConfig, Secret};
//!
//! let tenant = "4e3b2a10-5c6d-4e7f-8a9b-0c1d2e3f4a5b"; // from GET https://api.xero.com/connections
//! let oauth = OAuthConfig {
//!     client_id: "your-app".into(),
//!     client_secret: Secret::from(std::env::var("XERO_CLIENT_SECRET").unwrap_or_default()),
//!     token_url: url::Url::parse("https://identity.xero.com/connect/token").unwrap(),
//! };
//! // Tokens saved by `CrmTokenStore::connect` when the user authorised the app.
//! let tokens = Arc::new(CrmTokenStore::new(cx.clone(), &format!("xero:{tenant}"), &key));
//! let xero = Xero::new(XeroConfig::new(tenant), &oauth, tokens)?;
//! let report = sync(&cx, &xero, &SyncOptions::default()).await?; // run it on a schedule
//! println!("{} invoices new, {} conflicts to resolve", report.invoices.created, report.conflicts.len());
//! # Ok(()) }
//! ```

mod http;
mod oauth;
mod party;
#[cfg(feature = "quickbooks")]
pub mod quickbooks;
pub mod sync;
mod wire;
#[cfg(feature = "xero")]
pub mod xero;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use crm_core::{money::Currency, profile::Address};
use rust_decimal::Decimal;

pub use http::ApiPolicy;
pub use oauth::{CrmTokenStore, MemoryTokenStore, OAuthConfig, OAuthTokens, Secret, TokenStore};

use crate::error::Result;

/// A page of records from an accounting system, and where the next one starts.
#[derive(Clone, Debug, PartialEq)]
pub struct RemotePage<T> {
    /// The records.
    pub items: Vec<T>,
    /// The next page's token (None: this was the last).
    pub next: Option<String>,
}

/// Whether a remote customer is in use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RemoteStatus {
    /// In use.
    Active,
    /// Archived (kept, no longer used).
    Archived,
    /// The person asked to be erased (Xero `GDPRREQUEST`): the sync imports nothing of it.
    ErasureRequested,
}

/// A customer as an accounting system has it.
#[derive(Clone, Debug, PartialEq)]
pub struct RemoteCustomer {
    /// Its id there.
    pub id: String,
    /// Its version there (Xero `UpdatedDateUTC`, QuickBooks `SyncToken`).
    pub version: Option<String>,
    /// When it last changed there.
    pub updated_at: Option<DateTime<Utc>>,
    /// Display name.
    pub name: String,
    /// Registered name, when the system keeps one apart.
    pub legal_name: Option<String>,
    /// Billing email.
    pub email: Option<String>,
    /// Main phone, as written there.
    pub phone: Option<String>,
    /// Tax or VAT number.
    pub tax_id: Option<String>,
    /// Billing address.
    pub billing_address: Option<Address>,
    /// Net days of its sales terms.
    pub net_days: Option<u32>,
    /// Accounts receivable: outstanding and overdue, in `currency`.
    pub balance: Option<(Decimal, Decimal)>,
    /// Its default currency.
    pub currency: Option<Currency>,
    /// The reference the CRM wrote into it when pushing (Xero `ContactNumber`): the CRM id.
    pub reference: Option<String>,
    /// In use, archived or to be erased.
    pub status: RemoteStatus,
    /// Only a supplier (the sync leaves suppliers alone).
    pub supplier_only: bool,
}

/// What the CRM sends to create or update a customer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CustomerDraft {
    /// Name (sent when creating; None on updates, which never rename: accounting owns it).
    pub name: Option<String>,
    /// Billing email: None leaves it as it is there, `Some(None)` clears it.
    pub email: Option<Option<String>>,
    /// Main phone (E.164): None leaves it as it is there, `Some(None)` clears it.
    pub phone: Option<Option<String>>,
    /// The CRM's id, written where the system keeps an external reference (on create only:
    /// the accounting user's own numbering is never overwritten).
    pub reference: String,
}

/// One line of a remote invoice.
#[derive(Clone, Debug, PartialEq)]
pub struct RemoteLine {
    /// What was billed.
    pub description: String,
    /// How many.
    pub quantity: Decimal,
    /// Price of one, net.
    pub unit_amount: Decimal,
    /// Tax on the line.
    pub tax_amount: Decimal,
    /// Net amount of the line.
    pub line_amount: Decimal,
}

/// Where a remote invoice is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RemoteInvoiceStatus {
    /// Not issued yet.
    Draft,
    /// Issued and not settled (the sync tells partially paid and overdue apart).
    Issued,
    /// Paid in full.
    Paid,
    /// Voided or deleted.
    Void,
}

/// A sales invoice as an accounting system has it.
#[derive(Clone, Debug, PartialEq)]
pub struct RemoteInvoice {
    /// Its id there.
    pub id: String,
    /// Its version there.
    pub version: Option<String>,
    /// When it last changed there.
    pub updated_at: Option<DateTime<Utc>>,
    /// The customer's id there.
    pub customer_id: String,
    /// Invoice number.
    pub number: String,
    /// Where it is in its life there.
    pub status: RemoteInvoiceStatus,
    /// Currency.
    pub currency: Currency,
    /// Lines.
    pub lines: Vec<RemoteLine>,
    /// Net total.
    pub subtotal: Decimal,
    /// Tax.
    pub tax: Decimal,
    /// Total.
    pub total: Decimal,
    /// Paid so far.
    pub amount_paid: Decimal,
    /// Issue date.
    pub issue_date: NaiveDate,
    /// Due date.
    pub due_date: NaiveDate,
    /// When it was paid in full.
    pub paid_on: Option<NaiveDate>,
    /// Its reference there.
    pub reference: Option<String>,
}

/// A customer payment as an accounting system has it.
#[derive(Clone, Debug, PartialEq)]
pub struct RemotePayment {
    /// Its id there.
    pub id: String,
    /// Its version there.
    pub version: Option<String>,
    /// When it last changed there.
    pub updated_at: Option<DateTime<Utc>>,
    /// The invoices it paid (their ids there) and how much of it went to each.
    pub applications: Vec<(String, Decimal)>,
    /// How much was received.
    pub amount: Decimal,
    /// Currency (None: the invoice's).
    pub currency: Option<Currency>,
    /// When it was received.
    pub received_on: NaiveDate,
    /// Its reference.
    pub reference: Option<String>,
    /// Deleted there (the CRM keeps it out of the invoice's history).
    pub deleted: bool,
}

/// One accounting system's API, for one connected organisation.
#[async_trait]
pub trait AccountingConnector: Send + Sync {
    /// The system's name, lower case (`xero`, `quickbooks`): what mirrored records are
    /// `managed_by`.
    fn system(&self) -> &'static str;

    /// The connection: the system and the organisation, e.g. `xero:<tenant id>`. Links and
    /// cursors are kept per connection.
    fn connection(&self) -> String;

    /// Customers changed since `since` (all when None), one page at a time.
    async fn customers(&self, since: Option<DateTime<Utc>>, page: Option<&str>) -> Result<RemotePage<RemoteCustomer>>;

    /// One customer as it is now (None: no such customer).
    async fn customer(&self, id: &str) -> Result<Option<RemoteCustomer>>;

    /// Sales invoices changed since `since`.
    async fn invoices(&self, since: Option<DateTime<Utc>>, page: Option<&str>) -> Result<RemotePage<RemoteInvoice>>;

    /// Customer payments changed since `since`.
    async fn payments(&self, since: Option<DateTime<Utc>>, page: Option<&str>) -> Result<RemotePage<RemotePayment>>;

    /// Creates a customer. A repeated call with the same `idempotency_key` must not create a
    /// second one.
    async fn create_customer(&self, draft: &CustomerDraft, idempotency_key: &str) -> Result<RemoteCustomer>;

    /// Updates a customer's shared fields; `version` is the one the CRM last saw. Systems
    /// that check versions refuse a stale one with [`IntegrationError::Stale`](crate::IntegrationError::Stale).
    async fn update_customer(
        &self,
        id: &str,
        version: Option<&str>,
        draft: &CustomerDraft,
        idempotency_key: &str,
    ) -> Result<RemoteCustomer>;
}
