//! Xero's Accounting API (`api.xro/2.0`): Contacts, Invoices and Payments.
//!
//! Every request carries `xero-tenant-id`; lists are read with `If-Modified-Since` and
//! `page`/`pageSize`; creates and updates carry an `Idempotency-Key`. Money arrives as JSON
//! numbers and is read exactly (never through `f64`); dates arrive as `/Date(ms+0000)/`.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use crm_core::money::Currency;
use rust_decimal::Decimal;
use serde::Deserialize;
use serde::de::{Deserializer, Error as _};
use serde_json::json;
use url::Url;

use super::http::{Api, ApiPolicy, Response};
use super::oauth::{OAuthConfig, TokenManager, TokenStore};
use super::wire::{decimal, text};
use super::{
    AccountingConnector, CustomerDraft, RemoteCustomer, RemoteInvoice, RemoteInvoiceStatus, RemoteLine, RemotePage,
    RemotePayment, RemoteStatus,
};
use crate::error::{IntegrationError, Result};

const SYSTEM: &str = "xero";

/// Where and how to reach one Xero organisation.
#[derive(Clone, Debug)]
pub struct XeroConfig {
    /// The API base (default `https://api.xero.com/api.xro/2.0/`; a local server in tests).
    pub base_url: Url,
    /// The organisation (`xero-tenant-id`, from `GET /connections`).
    pub tenant_id: String,
    /// Records per page (1–1000, default 100).
    pub page_size: u32,
    /// Rate limits and retries.
    pub policy: ApiPolicy,
    /// The organisation's base currency, for contacts without a `DefaultCurrency` (an optional
    /// field). None: read once from `GET /Organisation` when a contact needs it.
    pub base_currency: Option<Currency>,
}

impl XeroConfig {
    /// The production API for organisation `tenant_id`.
    pub fn new(tenant_id: impl Into<String>) -> Self {
        XeroConfig {
            base_url: Url::parse("https://api.xero.com/api.xro/2.0/").expect("a valid constant URL"),
            tenant_id: tenant_id.into(),
            page_size: 100,
            policy: ApiPolicy::default(),
            base_currency: None,
        }
    }

    /// Another API base (it must end in `/`; one is added if missing).
    pub fn base_url(mut self, url: &str) -> Result<Self> {
        self.base_url = super::wire::base_url(url)?;
        Ok(self)
    }

    /// Another page size.
    pub fn page_size(mut self, n: u32) -> Self {
        self.page_size = n;
        self
    }

    /// Another policy.
    pub fn policy(mut self, policy: ApiPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// The organisation's base currency, known beforehand (saves reading it from Xero).
    pub fn base_currency(mut self, currency: Currency) -> Self {
        self.base_currency = Some(currency);
        self
    }
}

/// A connection to one Xero organisation.
pub struct Xero {
    api: Api,
    config: XeroConfig,
    /// The base currency, once read.
    base: tokio::sync::OnceCell<Currency>,
}

impl std::fmt::Debug for Xero {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Xero").field("tenant_id", &self.config.tenant_id).finish_non_exhaustive()
    }
}

impl Xero {
    /// A connection using the app's OAuth2 client and the tokens in `tokens`.
    pub fn new(config: XeroConfig, oauth: &OAuthConfig, tokens: Arc<dyn TokenStore>) -> Result<Self> {
        if config.tenant_id.trim().is_empty() || config.tenant_id.len() > 64 {
            return Err(IntegrationError::invalid("tenant_id", "give the Xero organisation's tenant id"));
        }
        if !(1..=1000).contains(&config.page_size) {
            return Err(IntegrationError::invalid("page_size", "must be 1–1000"));
        }
        let tokens = Arc::new(TokenManager::new(SYSTEM, oauth, tokens)?);
        Ok(Xero { api: Api::new(SYSTEM, config.policy.clone(), tokens)?, config, base: tokio::sync::OnceCell::new() })
    }

    fn url(&self, path: &str) -> Result<Url> {
        self.config.base_url.join(path).map_err(|e| IntegrationError::invalid("base_url", e.to_string()))
    }

    /// The organisation's base currency: configured, or read once from `GET /Organisation`.
    async fn base_currency(&self) -> Result<Currency> {
        if let Some(c) = self.config.base_currency {
            return Ok(c);
        }
        let read = || async {
            let url = self.url("Organisation")?;
            let resp = self
                .api
                .send(|c| {
                    c.get(url.clone())
                        .header("xero-tenant-id", &self.config.tenant_id)
                        .header("Accept", "application/json")
                })
                .await?;
            let orgs: OrganisationList = parse_ok(resp, "Organisation")?;
            let code = orgs.organisations.into_iter().next().and_then(|o| o.base_currency);
            currency(code.as_deref(), "Organisations[0].BaseCurrency")?
                .ok_or_else(|| malformed("Organisations[0].BaseCurrency: missing"))
        };
        self.base.get_or_try_init(read).await.copied()
    }

    /// A contact's balances are in its default currency, else in the organisation's.
    async fn with_currency(&self, mut c: RemoteCustomer) -> Result<RemoteCustomer> {
        if c.currency.is_none() && c.balance.is_some() {
            c.currency = Some(self.base_currency().await?);
        }
        Ok(c)
    }

    async fn list<T: for<'de> Deserialize<'de>>(
        &self,
        path: &str,
        since: Option<DateTime<Utc>>,
        page: Option<&str>,
        extra: &[(&str, &str)],
    ) -> Result<(T, u32)> {
        let page: u32 = match page {
            None => 1,
            Some(p) => p
                .parse()
                .ok()
                .filter(|n| *n >= 1)
                .ok_or_else(|| IntegrationError::invalid("page", format!("`{p}` is not a page number")))?,
        };
        let url = self.url(path)?;
        let page_text = page.to_string();
        let size = self.config.page_size.to_string();
        let resp = self
            .api
            .send(|c| {
                let mut q: Vec<(&str, &str)> =
                    vec![("page", &page_text), ("pageSize", &size), ("order", "UpdatedDateUTC ASC")];
                q.extend_from_slice(extra);
                let mut r = c
                    .get(url.clone())
                    .query(&q)
                    .header("xero-tenant-id", &self.config.tenant_id)
                    .header("Accept", "application/json");
                if let Some(s) = since {
                    r = r.header("If-Modified-Since", s.to_rfc3339_opts(SecondsFormat::Millis, true));
                }
                r
            })
            .await?;
        Ok((parse_ok(resp, path)?, page))
    }

    /// The next page: by the response's `pagination` when it has one, else while pages are full.
    fn next_page(&self, got: usize, page: u32, pagination: Option<&Pagination>) -> Option<String> {
        let more = match pagination.and_then(|p| p.page_count) {
            Some(count) => page < count,
            None => got >= self.config.page_size as usize,
        };
        (got > 0 && more).then(|| (page + 1).to_string())
    }

    async fn write_contact(
        &self,
        method: reqwest::Method,
        path: &str,
        body: serde_json::Value,
        key: &str,
    ) -> Result<RemoteCustomer> {
        if key.is_empty() || key.len() > 128 {
            return Err(IntegrationError::invalid("idempotency_key", "must be 1–128 characters (Xero's limit)"));
        }
        let url = self.url(path)?;
        let resp = self
            .api
            .send(|c| {
                c.request(method.clone(), url.clone())
                    .query(&[("summarizeErrors", "true")])
                    .header("xero-tenant-id", &self.config.tenant_id)
                    .header("Idempotency-Key", key)
                    .header("Accept", "application/json")
                    .json(&body)
            })
            .await?;
        let list: ContactList = parse_ok(resp, path)?;
        let contact =
            list.contacts.into_iter().next().ok_or_else(|| malformed("Contacts: empty in a write's response"))?;
        self.with_currency(contact.into_remote(0)?).await
    }
}

fn malformed(what: impl Into<String>) -> IntegrationError {
    IntegrationError::Malformed { system: SYSTEM, what: what.into() }
}

/// A 2xx body parsed as `T`; a 4xx as Xero's error with its validation messages.
fn parse_ok<T: for<'de> Deserialize<'de>>(resp: Response, what: &str) -> Result<T> {
    if resp.status.is_success() {
        return serde_json::from_slice(&resp.body).map_err(|e| malformed(format!("{what}: {e}")));
    }
    let reasons = match serde_json::from_slice::<XeroError>(&resp.body) {
        Ok(e) => {
            let mut r: Vec<String> = e
                .elements
                .iter()
                .flat_map(|el| el.validation_errors.iter().filter_map(|v| v.message.clone()))
                .collect();
            if r.is_empty() {
                r.extend(e.message.or(e.detail));
            }
            r
        }
        Err(_) => vec![String::from_utf8_lossy(&resp.body).chars().take(300).collect()],
    };
    Err(IntegrationError::Rejected { system: SYSTEM, status: resp.status.as_u16(), reasons })
}

// --- Wire format -------------------------------------------------------------------------------

/// A Xero date: `/Date(1539993600000+0000)/` (milliseconds since the epoch, UTC; the offset is
/// informational) or an ISO date-time without zone.
pub fn parse_xero_date(s: &str) -> std::result::Result<DateTime<Utc>, String> {
    let s = s.trim();
    if let Some(inner) = s.strip_prefix("/Date(").and_then(|r| r.strip_suffix(")/")) {
        let digits_end =
            inner.char_indices().skip(1).find(|(_, c)| *c == '+' || *c == '-').map_or(inner.len(), |(i, _)| i);
        let (ms, offset) = inner.split_at(digits_end);
        if !(offset.is_empty() || (offset.len() == 5 && offset[1..].bytes().all(|b| b.is_ascii_digit()))) {
            return Err(format!("`{s}`: bad offset"));
        }
        let ms: i64 = ms.parse().map_err(|_| format!("`{s}` is not a /Date(ms)/ value"))?;
        return DateTime::from_timestamp_millis(ms).ok_or_else(|| format!("`{s}` is out of range"));
    }
    if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
        return Ok(dt.with_timezone(&Utc));
    }
    chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S")
        .map(|n| n.and_utc())
        .or_else(|_| {
            NaiveDate::parse_from_str(s, "%Y-%m-%d").map(|d| d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc())
        })
        .map_err(|_| format!("`{s}` is not a Xero date"))
}

fn date<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<DateTime<Utc>>, D::Error> {
    let s: Option<String> = Option::deserialize(d)?;
    s.filter(|s| !s.trim().is_empty()).map(|s| parse_xero_date(&s).map_err(D::Error::custom)).transpose()
}

#[derive(Deserialize, Default)]
struct Pagination {
    #[serde(rename = "pageCount")]
    page_count: Option<u32>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct XeroError {
    message: Option<String>,
    detail: Option<String>,
    #[serde(default)]
    elements: Vec<ErrorElement>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ErrorElement {
    #[serde(default)]
    validation_errors: Vec<ValidationError>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ValidationError {
    message: Option<String>,
}

#[derive(Deserialize)]
struct OrganisationList {
    #[serde(rename = "Organisations", default)]
    organisations: Vec<Organisation>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Organisation {
    base_currency: Option<String>,
}

#[derive(Deserialize)]
struct ContactList {
    #[serde(rename = "Contacts", default)]
    contacts: Vec<Contact>,
    pagination: Option<Pagination>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct Contact {
    #[serde(rename = "ContactID")]
    contact_id: Option<String>,
    contact_number: Option<String>,
    contact_status: Option<String>,
    name: Option<String>,
    email_address: Option<String>,
    tax_number: Option<String>,
    addresses: Vec<XAddress>,
    phones: Vec<XPhone>,
    #[serde(deserialize_with = "date")]
    #[serde(rename = "UpdatedDateUTC")]
    updated_date_utc: Option<DateTime<Utc>>,
    is_supplier: Option<bool>,
    is_customer: Option<bool>,
    default_currency: Option<String>,
    payment_terms: Option<PaymentTerms>,
    balances: Option<Balances>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct XAddress {
    address_type: Option<String>,
    address_line1: Option<String>,
    address_line2: Option<String>,
    address_line3: Option<String>,
    address_line4: Option<String>,
    city: Option<String>,
    region: Option<String>,
    postal_code: Option<String>,
    country: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct XPhone {
    phone_type: Option<String>,
    phone_number: Option<String>,
    phone_area_code: Option<String>,
    phone_country_code: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct PaymentTerms {
    sales: Option<Term>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct Term {
    day: Option<u32>,
    #[serde(rename = "Type")]
    kind: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct Balances {
    accounts_receivable: Option<Balance>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct Balance {
    #[serde(deserialize_with = "decimal")]
    outstanding: Option<Decimal>,
    #[serde(deserialize_with = "decimal")]
    overdue: Option<Decimal>,
}

fn currency(code: Option<&str>, field: &str) -> Result<Option<Currency>> {
    super::wire::currency_code(code, field, SYSTEM)
}

impl Contact {
    fn into_remote(self, i: usize) -> Result<RemoteCustomer> {
        let at = |f: &str| format!("Contacts[{i}].{f}");
        let id = text(self.contact_id).ok_or_else(|| malformed(at("ContactID: missing")))?;
        let name = text(self.name).ok_or_else(|| malformed(at("Name: missing")))?;
        let phone = self.phones.into_iter().find(|p| p.phone_type.as_deref() == Some("DEFAULT")).and_then(|p| {
            let number = text(p.phone_number)?;
            let area = text(p.phone_area_code).unwrap_or_default();
            Some(match text(p.phone_country_code) {
                Some(cc) => format!("+{} {area} {number}", cc.trim_start_matches('+')),
                None => format!("{area} {number}"),
            })
            .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
        });
        let billing_address =
            self.addresses.into_iter().find(|a| a.address_type.as_deref() == Some("POBOX")).and_then(|a| {
                super::wire::billing_address(
                    [a.address_line1, a.address_line2, a.address_line3, a.address_line4],
                    a.city,
                    a.region,
                    a.postal_code,
                    a.country,
                )
            });
        let net_days = self
            .payment_terms
            .and_then(|t| t.sales)
            .filter(|t| t.kind.as_deref() == Some("DAYSAFTERBILLDATE"))
            .and_then(|t| t.day);
        let balance = self
            .balances
            .and_then(|b| b.accounts_receivable)
            .map(|b| (b.outstanding.unwrap_or_default(), b.overdue.unwrap_or_default()));
        let status = match self.contact_status.as_deref() {
            Some("ARCHIVED") => RemoteStatus::Archived,
            Some("GDPRREQUEST") => RemoteStatus::ErasureRequested,
            Some("ACTIVE") | None => RemoteStatus::Active,
            Some(other) => {
                return Err(malformed(at(&format!("ContactStatus: `{other}` is not a Xero contact status"))));
            }
        };
        Ok(RemoteCustomer {
            id,
            version: self.updated_date_utc.map(|d| d.to_rfc3339_opts(SecondsFormat::Millis, true)),
            updated_at: self.updated_date_utc,
            legal_name: Some(name.clone()),
            name,
            email: text(self.email_address),
            phone,
            tax_id: text(self.tax_number),
            billing_address,
            net_days,
            balance,
            currency: currency(self.default_currency.as_deref(), &at("DefaultCurrency"))?,
            reference: text(self.contact_number),
            status,
            supplier_only: self.is_supplier == Some(true) && self.is_customer != Some(true),
        })
    }
}

#[derive(Deserialize)]
struct InvoiceList {
    #[serde(rename = "Invoices", default)]
    invoices: Vec<Invoice>,
    pagination: Option<Pagination>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct Invoice {
    #[serde(rename = "Type")]
    kind: Option<String>,
    #[serde(rename = "InvoiceID")]
    invoice_id: Option<String>,
    invoice_number: Option<String>,
    reference: Option<String>,
    contact: Option<ContactRef>,
    #[serde(deserialize_with = "date")]
    date: Option<DateTime<Utc>>,
    #[serde(deserialize_with = "date")]
    due_date: Option<DateTime<Utc>>,
    #[serde(deserialize_with = "date")]
    fully_paid_on_date: Option<DateTime<Utc>>,
    status: Option<String>,
    line_amount_types: Option<String>,
    line_items: Vec<XLine>,
    #[serde(deserialize_with = "decimal")]
    sub_total: Option<Decimal>,
    #[serde(deserialize_with = "decimal")]
    total_tax: Option<Decimal>,
    #[serde(deserialize_with = "decimal")]
    total: Option<Decimal>,
    #[serde(deserialize_with = "decimal")]
    amount_paid: Option<Decimal>,
    #[serde(deserialize_with = "decimal")]
    amount_due: Option<Decimal>,
    currency_code: Option<String>,
    #[serde(deserialize_with = "date")]
    #[serde(rename = "UpdatedDateUTC")]
    updated_date_utc: Option<DateTime<Utc>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct ContactRef {
    #[serde(rename = "ContactID")]
    contact_id: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct XLine {
    description: Option<String>,
    #[serde(deserialize_with = "decimal")]
    quantity: Option<Decimal>,
    #[serde(deserialize_with = "decimal")]
    unit_amount: Option<Decimal>,
    #[serde(deserialize_with = "decimal")]
    tax_amount: Option<Decimal>,
    #[serde(deserialize_with = "decimal")]
    line_amount: Option<Decimal>,
}

impl Invoice {
    /// The invoice, or None for one that is not a sales invoice.
    fn into_remote(self, i: usize) -> Result<Option<RemoteInvoice>> {
        if self.kind.as_deref() != Some("ACCREC") {
            return Ok(None);
        }
        let at = |f: &str| format!("Invoices[{i}].{f}");
        let need = |v: Option<Decimal>, f: &str| v.ok_or_else(|| malformed(at(&format!("{f}: missing"))));
        let id = text(self.invoice_id).ok_or_else(|| malformed(at("InvoiceID: missing")))?;
        let customer_id =
            self.contact.and_then(|c| text(c.contact_id)).ok_or_else(|| malformed(at("Contact.ContactID: missing")))?;
        let total = need(self.total, "Total")?;
        let status = match self.status.as_deref() {
            Some("DRAFT" | "SUBMITTED") => RemoteInvoiceStatus::Draft,
            Some("AUTHORISED") => RemoteInvoiceStatus::Issued,
            Some("PAID") => RemoteInvoiceStatus::Paid,
            Some("VOIDED" | "DELETED") => RemoteInvoiceStatus::Void,
            other => return Err(malformed(at(&format!("Status: {other:?} is not a Xero invoice status")))),
        };
        let inclusive = self.line_amount_types.as_deref() == Some("Inclusive");
        let lines = self
            .line_items
            .into_iter()
            .map(|l| {
                let qty = l.quantity.unwrap_or(Decimal::ONE);
                let tax = l.tax_amount.unwrap_or_default();
                let amount = l.line_amount.unwrap_or_default();
                let net = if inclusive { amount.checked_sub(tax).unwrap_or(amount) } else { amount };
                let unit = match l.unit_amount {
                    Some(u) if !inclusive && u.checked_mul(qty) == Some(net) => u,
                    _ if !qty.is_zero() => net.checked_div(qty).map(|u| u.round_dp(4)).unwrap_or(net),
                    _ => net,
                };
                RemoteLine {
                    description: text(l.description).unwrap_or_else(|| "(no description)".into()),
                    quantity: qty,
                    unit_amount: unit,
                    tax_amount: tax,
                    line_amount: net,
                }
            })
            .collect();
        Ok(Some(RemoteInvoice {
            id,
            version: self.updated_date_utc.map(|d| d.to_rfc3339_opts(SecondsFormat::Millis, true)),
            updated_at: self.updated_date_utc,
            customer_id,
            number: text(self.invoice_number).ok_or_else(|| malformed(at("InvoiceNumber: missing")))?,
            status,
            currency: currency(self.currency_code.as_deref(), &at("CurrencyCode"))?
                .ok_or_else(|| malformed(at("CurrencyCode: missing")))?,
            lines,
            subtotal: need(self.sub_total, "SubTotal")?,
            tax: need(self.total_tax, "TotalTax")?,
            total,
            // Settled is what is no longer due: payments and credit notes alike.
            // A voided invoice is due nothing and was paid only what AmountPaid says.
            amount_paid: match self.amount_due {
                _ if status == RemoteInvoiceStatus::Void => self.amount_paid.unwrap_or_default(),
                Some(due) => total.checked_sub(due).ok_or_else(|| malformed(at("AmountDue: out of range")))?,
                None => self.amount_paid.unwrap_or_default(),
            },
            issue_date: self.date.ok_or_else(|| malformed(at("Date: missing")))?.date_naive(),
            due_date: self
                .due_date
                .or(self.date)
                .map(|d| d.date_naive())
                .ok_or_else(|| malformed(at("DueDate: missing")))?,
            paid_on: self.fully_paid_on_date.map(|d| d.date_naive()),
            reference: text(self.reference),
        }))
    }
}

#[derive(Deserialize)]
struct PaymentList {
    #[serde(rename = "Payments", default)]
    payments: Vec<Payment>,
    pagination: Option<Pagination>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct Payment {
    #[serde(rename = "PaymentID")]
    payment_id: Option<String>,
    #[serde(deserialize_with = "date")]
    date: Option<DateTime<Utc>>,
    #[serde(deserialize_with = "decimal")]
    amount: Option<Decimal>,
    reference: Option<String>,
    payment_type: Option<String>,
    status: Option<String>,
    #[serde(deserialize_with = "date")]
    #[serde(rename = "UpdatedDateUTC")]
    updated_date_utc: Option<DateTime<Utc>>,
    invoice: Option<PaymentInvoice>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct PaymentInvoice {
    #[serde(rename = "InvoiceID")]
    invoice_id: Option<String>,
    currency_code: Option<String>,
}

impl Payment {
    fn into_remote(self, i: usize) -> Result<Option<RemotePayment>> {
        if self.payment_type.as_deref() != Some("ACCRECPAYMENT") {
            return Ok(None);
        }
        let at = |f: &str| format!("Payments[{i}].{f}");
        let invoice = self.invoice.ok_or_else(|| malformed(at("Invoice: missing")))?;
        let amount = self.amount.ok_or_else(|| malformed(at("Amount: missing")))?;
        Ok(Some(RemotePayment {
            id: text(self.payment_id).ok_or_else(|| malformed(at("PaymentID: missing")))?,
            version: self.updated_date_utc.map(|d| d.to_rfc3339_opts(SecondsFormat::Millis, true)),
            updated_at: self.updated_date_utc,
            applications: vec![(
                text(invoice.invoice_id).ok_or_else(|| malformed(at("Invoice.InvoiceID: missing")))?,
                amount,
            )],
            amount,
            currency: currency(invoice.currency_code.as_deref(), &at("Invoice.CurrencyCode"))?,
            received_on: self.date.ok_or_else(|| malformed(at("Date: missing")))?.date_naive(),
            reference: text(self.reference),
            deleted: self.status.as_deref() == Some("DELETED"),
        }))
    }
}

fn contact_body(draft: &CustomerDraft, id: Option<&str>) -> serde_json::Value {
    let mut c = serde_json::Map::new();
    if let Some(id) = id {
        c.insert("ContactID".into(), json!(id));
    }
    if let Some(name) = &draft.name {
        c.insert("Name".into(), json!(name));
    }
    if id.is_none() {
        c.insert("ContactNumber".into(), json!(draft.reference));
    }
    if let Some(email) = &draft.email {
        c.insert("EmailAddress".into(), json!(email.clone().unwrap_or_default()));
    }
    if let Some(phone) = &draft.phone {
        c.insert("Phones".into(), json!([{"PhoneType": "DEFAULT", "PhoneNumber": phone.clone().unwrap_or_default()}]));
    }
    json!({ "Contacts": [serde_json::Value::Object(c)] })
}

#[async_trait]
impl AccountingConnector for Xero {
    fn system(&self) -> &'static str {
        SYSTEM
    }

    fn connection(&self) -> String {
        format!("{SYSTEM}:{}", self.config.tenant_id)
    }

    async fn customers(&self, since: Option<DateTime<Utc>>, page: Option<&str>) -> Result<RemotePage<RemoteCustomer>> {
        let (list, n): (ContactList, u32) = self.list("Contacts", since, page, &[("includeArchived", "true")]).await?;
        let next = self.next_page(list.contacts.len(), n, list.pagination.as_ref());
        let mut items = Vec::with_capacity(list.contacts.len());
        for (i, c) in list.contacts.into_iter().enumerate() {
            items.push(self.with_currency(c.into_remote(i)?).await?);
        }
        Ok(RemotePage { items, next })
    }

    async fn customer(&self, id: &str) -> Result<Option<RemoteCustomer>> {
        if id.is_empty() || id.contains(['/', '?', '#']) {
            return Err(IntegrationError::invalid("id", format!("`{id}` is not a Xero contact id")));
        }
        let path = format!("Contacts/{id}");
        let url = self.url(&path)?;
        let resp = self
            .api
            .send(|c| {
                c.get(url.clone()).header("xero-tenant-id", &self.config.tenant_id).header("Accept", "application/json")
            })
            .await?;
        if resp.status == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let list: ContactList = parse_ok(resp, &path)?;
        match list.contacts.into_iter().next() {
            Some(c) => Ok(Some(self.with_currency(c.into_remote(0)?).await?)),
            None => Ok(None),
        }
    }

    async fn invoices(&self, since: Option<DateTime<Utc>>, page: Option<&str>) -> Result<RemotePage<RemoteInvoice>> {
        let (list, n): (InvoiceList, u32) = self.list("Invoices", since, page, &[]).await?;
        let next = self.next_page(list.invoices.len(), n, list.pagination.as_ref());
        let mut items = Vec::new();
        for (i, inv) in list.invoices.into_iter().enumerate() {
            items.extend(inv.into_remote(i)?);
        }
        Ok(RemotePage { items, next })
    }

    async fn payments(&self, since: Option<DateTime<Utc>>, page: Option<&str>) -> Result<RemotePage<RemotePayment>> {
        let (list, n): (PaymentList, u32) = self.list("Payments", since, page, &[]).await?;
        let next = self.next_page(list.payments.len(), n, list.pagination.as_ref());
        let mut items = Vec::new();
        for (i, p) in list.payments.into_iter().enumerate() {
            items.extend(p.into_remote(i)?);
        }
        Ok(RemotePage { items, next })
    }

    async fn create_customer(&self, draft: &CustomerDraft, idempotency_key: &str) -> Result<RemoteCustomer> {
        if draft.name.as_deref().is_none_or(|n| n.trim().is_empty()) {
            return Err(IntegrationError::invalid("name", "a Xero contact needs a name"));
        }
        self.write_contact(reqwest::Method::PUT, "Contacts", contact_body(draft, None), idempotency_key).await
    }

    async fn update_customer(
        &self,
        id: &str,
        _version: Option<&str>,
        draft: &CustomerDraft,
        idempotency_key: &str,
    ) -> Result<RemoteCustomer> {
        if id.is_empty() || id.contains(['/', '?', '#']) {
            return Err(IntegrationError::invalid("id", format!("`{id}` is not a Xero contact id")));
        }
        let path = format!("Contacts/{id}");
        let rc =
            self.write_contact(reqwest::Method::POST, &path, contact_body(draft, Some(id)), idempotency_key).await?;
        if rc.id != id {
            return Err(malformed(format!("Contacts[0].ContactID: the update of {id} was answered for {}", rc.id)));
        }
        Ok(rc)
    }
}
