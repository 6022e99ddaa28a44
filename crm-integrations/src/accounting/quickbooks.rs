//! QuickBooks Online's Accounting API (v3): Customer, Invoice, Payment.
//!
//! Every request carries `minorversion=75`; the first pull of a kind pages through the query
//! endpoint (`STARTPOSITION`/`MAXRESULTS`), later pulls ask the change-data-capture endpoint
//! (`/cdc?changedSince=`) what changed; creates and updates carry `requestid` (Intuit's
//! idempotency key) and updates the record's current `SyncToken` — a stale one is
//! [`IntegrationError::Stale`], which the sync answers by reading the record again.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Duration, NaiveDate, SecondsFormat, Utc};
use crm_core::money::Currency;
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::json;
use tokio::sync::Mutex;
use url::Url;

use super::http::{Api, ApiPolicy, Response};
use super::oauth::{OAuthConfig, TokenManager, TokenStore};
use super::wire::{decimal, text};
use super::{
    AccountingConnector, CustomerDraft, RemoteCustomer, RemoteInvoice, RemoteInvoiceStatus, RemoteLine, RemotePage,
    RemotePayment, RemoteStatus,
};
use crate::error::{IntegrationError, Result};

const SYSTEM: &str = "quickbooks";
/// The API version every request asks for (lower ones are ignored since August 2025).
pub const MINOR_VERSION: &str = "75";
/// How far back the change-data-capture endpoint reaches.
const CDC_WINDOW: Duration = Duration::days(30);
/// The most objects one CDC answer holds; a full answer continues through the query endpoint.
const CDC_MAX: usize = 1000;

/// Where and how to reach one QuickBooks company.
#[derive(Clone, Debug)]
pub struct QuickBooksConfig {
    /// The API host (default `https://quickbooks.api.intuit.com/`; the sandbox is
    /// `https://sandbox-quickbooks.api.intuit.com/`; a local server in tests).
    pub base_url: Url,
    /// The company (`realmId`, from the OAuth callback).
    pub realm_id: String,
    /// The company's home currency, for records without a `CurrencyRef`.
    pub home_currency: Currency,
    /// Records per query page (1–1000, default 100).
    pub page_size: u32,
    /// Rate limits and retries (default: 500 requests a minute, 10 at once, Intuit's limits).
    pub policy: ApiPolicy,
}

impl QuickBooksConfig {
    /// The production API for company `realm_id`, whose home currency is `home_currency`.
    pub fn new(realm_id: impl Into<String>, home_currency: Currency) -> Self {
        QuickBooksConfig {
            base_url: Url::parse("https://quickbooks.api.intuit.com/").expect("a valid constant URL"),
            realm_id: realm_id.into(),
            home_currency,
            page_size: 100,
            policy: ApiPolicy { requests_per_minute: 500, max_concurrent: 10, ..ApiPolicy::default() },
        }
    }

    /// Another API host.
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
}

/// A connection to one QuickBooks Online company.
pub struct QuickBooks {
    api: Api,
    config: QuickBooksConfig,
    terms: Mutex<Option<HashMap<String, u32>>>,
}

impl std::fmt::Debug for QuickBooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QuickBooks").field("realm_id", &self.config.realm_id).finish_non_exhaustive()
    }
}

fn malformed(what: impl Into<String>) -> IntegrationError {
    IntegrationError::Malformed { system: SYSTEM, what: what.into() }
}

#[derive(Deserialize)]
struct FaultBody {
    #[serde(rename = "Fault")]
    fault: Option<Fault>,
}

#[derive(Deserialize)]
struct Fault {
    #[serde(rename = "Error", default)]
    errors: Vec<FaultError>,
}

#[derive(Deserialize)]
struct FaultError {
    #[serde(rename = "Message")]
    message: Option<String>,
    #[serde(rename = "Detail")]
    detail: Option<String>,
    code: Option<String>,
}

/// A 2xx body as `T`; a `Fault` (in a 4xx, or in a 200) as a typed error.
fn parse<T: for<'de> Deserialize<'de>>(resp: Response, what: &str) -> Result<T> {
    let fault = serde_json::from_slice::<FaultBody>(&resp.body).ok().and_then(|f| f.fault);
    if let Some(fault) = fault {
        if fault.errors.iter().any(|e| e.code.as_deref() == Some("5010")) {
            return Err(IntegrationError::Stale { system: SYSTEM, record: what.to_owned() });
        }
        let reasons = fault
            .errors
            .into_iter()
            .map(|e| match (e.message, e.detail) {
                (Some(m), Some(d)) => format!("{m}: {d}"),
                (m, d) => m.or(d).unwrap_or_else(|| "unspecified fault".into()),
            })
            .collect();
        return Err(IntegrationError::Rejected { system: SYSTEM, status: resp.status.as_u16(), reasons });
    }
    if !resp.status.is_success() {
        let body: String = String::from_utf8_lossy(&resp.body).chars().take(300).collect();
        return Err(IntegrationError::Rejected { system: SYSTEM, status: resp.status.as_u16(), reasons: vec![body] });
    }
    serde_json::from_slice(&resp.body).map_err(|e| malformed(format!("{what}: {e}")))
}

// --- Wire format -------------------------------------------------------------------------------

#[derive(Deserialize, Default, Clone)]
#[serde(default)]
struct Ref {
    value: Option<String>,
}

#[derive(Deserialize, Default, Clone)]
#[serde(rename_all = "PascalCase", default)]
struct Meta {
    last_updated_time: Option<String>,
}

fn instant(s: &Option<String>, at: &str) -> Result<Option<DateTime<Utc>>> {
    match s.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(t) => DateTime::parse_from_rfc3339(t)
            .map(|d| Some(d.with_timezone(&Utc)))
            .map_err(|_| malformed(format!("{at}: `{t}` is not an ISO 8601 date-time"))),
    }
}

fn day(s: &Option<String>, at: &str) -> Result<Option<NaiveDate>> {
    match s.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(t) => NaiveDate::parse_from_str(t, "%Y-%m-%d")
            .map(Some)
            .map_err(|_| malformed(format!("{at}: `{t}` is not a date"))),
    }
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct Customer {
    id: Option<String>,
    sync_token: Option<String>,
    #[serde(rename = "MetaData")]
    meta: Meta,
    display_name: Option<String>,
    company_name: Option<String>,
    primary_email_addr: Option<EmailAddr>,
    primary_phone: Option<Phone>,
    bill_addr: Option<PhysicalAddress>,
    #[serde(deserialize_with = "decimal")]
    balance: Option<Decimal>,
    #[serde(deserialize_with = "decimal")]
    over_due_balance: Option<Decimal>,
    sales_term_ref: Option<Ref>,
    currency_ref: Option<Ref>,
    active: Option<bool>,
    acct_num: Option<String>,
    #[serde(rename = "PrimaryTaxIdentifier")]
    tax_id: Option<String>,
    #[serde(rename = "status")]
    status: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct EmailAddr {
    address: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct Phone {
    free_form_number: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct PhysicalAddress {
    line1: Option<String>,
    line2: Option<String>,
    line3: Option<String>,
    city: Option<String>,
    country_sub_division_code: Option<String>,
    postal_code: Option<String>,
    country: Option<String>,
}

fn currency(r: &Option<Ref>, home: Currency, at: &str) -> Result<Currency> {
    let code = r.as_ref().and_then(|r| r.value.as_deref());
    Ok(super::wire::currency_code(code, at, SYSTEM)?.unwrap_or(home))
}

impl Customer {
    fn into_remote(self, at: &str, home: Currency, terms: &HashMap<String, u32>) -> Result<RemoteCustomer> {
        let id = text(self.id).ok_or_else(|| malformed(format!("{at}.Id: missing")))?;
        let updated_at = instant(&self.meta.last_updated_time, &format!("{at}.MetaData.LastUpdatedTime"))?;
        let name = text(self.display_name).ok_or_else(|| malformed(format!("{at}.DisplayName: missing")))?;
        let billing_address = self.bill_addr.and_then(|a| {
            super::wire::billing_address(
                [a.line1, a.line2, a.line3],
                a.city,
                a.country_sub_division_code,
                a.postal_code,
                a.country,
            )
        });
        let currency = currency(&self.currency_ref, home, &format!("{at}.CurrencyRef"))?;
        Ok(RemoteCustomer {
            id,
            version: text(self.sync_token),
            updated_at,
            legal_name: text(self.company_name).or_else(|| Some(name.clone())),
            name,
            email: self.primary_email_addr.and_then(|e| text(e.address)),
            phone: self.primary_phone.and_then(|p| text(p.free_form_number)),
            // QuickBooks masks the tax id in responses (all but the last digits): keep only real ones.
            tax_id: text(self.tax_id).filter(|t| !t.contains('X')),
            billing_address,
            net_days: self.sales_term_ref.and_then(|r| text(r.value)).and_then(|id| terms.get(&id).copied()),
            balance: self.balance.map(|b| (b, self.over_due_balance.unwrap_or_default())),
            currency: Some(currency),
            reference: text(self.acct_num),
            status: if self.active == Some(false) { RemoteStatus::Archived } else { RemoteStatus::Active },
            supplier_only: false,
        })
    }
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct Invoice {
    id: Option<String>,
    sync_token: Option<String>,
    #[serde(rename = "MetaData")]
    meta: Meta,
    doc_number: Option<String>,
    txn_date: Option<String>,
    due_date: Option<String>,
    currency_ref: Option<Ref>,
    customer_ref: Option<Ref>,
    line: Vec<InvoiceLine>,
    txn_tax_detail: Option<TaxDetail>,
    #[serde(deserialize_with = "decimal")]
    total_amt: Option<Decimal>,
    #[serde(deserialize_with = "decimal")]
    balance: Option<Decimal>,
    private_note: Option<String>,
    #[serde(rename = "status")]
    status: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct InvoiceLine {
    description: Option<String>,
    #[serde(deserialize_with = "decimal")]
    amount: Option<Decimal>,
    detail_type: Option<String>,
    sales_item_line_detail: Option<SalesItem>,
    linked_txn: Vec<LinkedTxn>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct SalesItem {
    #[serde(deserialize_with = "decimal")]
    unit_price: Option<Decimal>,
    #[serde(deserialize_with = "decimal")]
    qty: Option<Decimal>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct TaxDetail {
    #[serde(deserialize_with = "decimal")]
    total_tax: Option<Decimal>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct LinkedTxn {
    txn_id: Option<String>,
    txn_type: Option<String>,
}

impl Invoice {
    /// The invoice; None for an entry the CDC reports as deleted.
    fn into_remote(self, at: &str, home: Currency) -> Result<Option<RemoteInvoice>> {
        if self.status.as_deref() == Some("Deleted") {
            tracing::info!(system = SYSTEM, id = ?self.id, "a deleted invoice is left as it is in the CRM");
            return Ok(None);
        }
        let need = |v: Option<Decimal>, f: &str| v.ok_or_else(|| malformed(format!("{at}.{f}: missing")));
        let id = text(self.id).ok_or_else(|| malformed(format!("{at}.Id: missing")))?;
        let total = need(self.total_amt, "TotalAmt")?;
        let balance = need(self.balance, "Balance")?;
        let tax = self.txn_tax_detail.and_then(|t| t.total_tax).unwrap_or_default();
        let voided = total.is_zero() && self.private_note.as_deref().is_some_and(|n| n.contains("Voided"));
        let status = if voided {
            RemoteInvoiceStatus::Void
        } else if balance.is_zero() && !total.is_zero() {
            RemoteInvoiceStatus::Paid
        } else {
            RemoteInvoiceStatus::Issued
        };
        let lines = self
            .line
            .into_iter()
            .filter(|l| l.detail_type.as_deref() == Some("SalesItemLineDetail"))
            .map(|l| {
                let amount = l.amount.unwrap_or_default();
                let detail = l.sales_item_line_detail.unwrap_or_default();
                let qty = detail.qty.filter(|q| !q.is_zero()).unwrap_or(Decimal::ONE);
                let unit = match detail.unit_price {
                    Some(u) if u.checked_mul(qty) == Some(amount) => u,
                    _ => amount.checked_div(qty).map(|u| u.round_dp(4)).unwrap_or(amount),
                };
                RemoteLine {
                    description: text(l.description).unwrap_or_else(|| "(no description)".into()),
                    quantity: qty,
                    unit_amount: unit,
                    tax_amount: Decimal::ZERO,
                    line_amount: amount,
                }
            })
            .collect();
        let issue_date = day(&self.txn_date, &format!("{at}.TxnDate"))?
            .ok_or_else(|| malformed(format!("{at}.TxnDate: missing")))?;
        Ok(Some(RemoteInvoice {
            id,
            version: text(self.sync_token),
            updated_at: instant(&self.meta.last_updated_time, &format!("{at}.MetaData.LastUpdatedTime"))?,
            customer_id: self
                .customer_ref
                .and_then(|r| text(r.value))
                .ok_or_else(|| malformed(format!("{at}.CustomerRef: missing")))?,
            number: text(self.doc_number).unwrap_or_else(|| format!("QBO-{}", issue_date.format("%Y%m%d"))),
            status,
            currency: currency(&self.currency_ref, home, &format!("{at}.CurrencyRef"))?,
            lines,
            subtotal: total.checked_sub(tax).ok_or_else(|| malformed(format!("{at}.TxnTaxDetail: out of range")))?,
            tax,
            total,
            amount_paid: total.checked_sub(balance).ok_or_else(|| malformed(format!("{at}.Balance: out of range")))?,
            issue_date,
            due_date: day(&self.due_date, &format!("{at}.DueDate"))?.unwrap_or(issue_date),
            paid_on: None,
            reference: text(self.private_note),
        }))
    }
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct Payment {
    id: Option<String>,
    sync_token: Option<String>,
    #[serde(rename = "MetaData")]
    meta: Meta,
    txn_date: Option<String>,
    #[serde(deserialize_with = "decimal")]
    total_amt: Option<Decimal>,
    currency_ref: Option<Ref>,
    payment_ref_num: Option<String>,
    line: Vec<InvoiceLine>,
    #[serde(rename = "status")]
    status: Option<String>,
}

impl Payment {
    fn into_remote(self, at: &str, home: Currency) -> Result<RemotePayment> {
        let id = text(self.id).ok_or_else(|| malformed(format!("{at}.Id: missing")))?;
        let deleted = self.status.as_deref() == Some("Deleted");
        let mut applications = Vec::new();
        for (i, l) in self.line.iter().enumerate() {
            for t in l.linked_txn.iter().filter(|t| t.txn_type.as_deref() == Some("Invoice")) {
                let txn = text(t.txn_id.clone())
                    .ok_or_else(|| malformed(format!("{at}.Line[{i}].LinkedTxn.TxnId: missing")))?;
                let amount = l.amount.ok_or_else(|| malformed(format!("{at}.Line[{i}].Amount: missing")))?;
                applications.push((txn, amount));
            }
        }
        Ok(RemotePayment {
            id,
            version: text(self.sync_token),
            updated_at: instant(&self.meta.last_updated_time, &format!("{at}.MetaData.LastUpdatedTime"))?,
            applications,
            amount: if deleted {
                Decimal::ZERO
            } else {
                self.total_amt.ok_or_else(|| malformed(format!("{at}.TotalAmt: missing")))?
            },
            currency: Some(currency(&self.currency_ref, home, &format!("{at}.CurrencyRef"))?),
            received_on: if deleted {
                NaiveDate::default()
            } else {
                day(&self.txn_date, &format!("{at}.TxnDate"))?
                    .ok_or_else(|| malformed(format!("{at}.TxnDate: missing")))?
            },
            reference: text(self.payment_ref_num),
            deleted,
        })
    }
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct Term {
    id: Option<String>,
    due_days: Option<u32>,
}

/// Where a pull is: the CDC answer, or a page of the query endpoint.
enum Position {
    Cdc(DateTime<Utc>),
    Query(u32),
}

impl QuickBooks {
    /// A connection using the app's OAuth2 client and the tokens in `tokens`.
    pub fn new(config: QuickBooksConfig, oauth: &OAuthConfig, tokens: Arc<dyn TokenStore>) -> Result<Self> {
        let realm = config.realm_id.trim();
        if realm.is_empty() || realm.len() > 32 || !realm.chars().all(|c| c.is_ascii_digit()) {
            return Err(IntegrationError::invalid("realm_id", "give the company's realm id (digits)"));
        }
        if !(1..=1000).contains(&config.page_size) {
            return Err(IntegrationError::invalid("page_size", "must be 1–1000"));
        }
        let tokens = Arc::new(TokenManager::new(SYSTEM, oauth, tokens)?);
        Ok(QuickBooks { api: Api::new(SYSTEM, config.policy.clone(), tokens)?, config, terms: Mutex::new(None) })
    }

    fn url(&self, path: &str) -> Result<Url> {
        self.config
            .base_url
            .join(&format!("v3/company/{}/{path}", self.config.realm_id))
            .map_err(|e| IntegrationError::invalid("base_url", e.to_string()))
    }

    async fn get(&self, path: &str, query: &[(&str, String)]) -> Result<Response> {
        let url = self.url(path)?;
        self.api
            .send(|c| {
                c.get(url.clone())
                    .query(query)
                    .query(&[("minorversion", MINOR_VERSION)])
                    .header("Accept", "application/json")
            })
            .await
    }

    async fn post(&self, path: &str, body: &serde_json::Value, request_id: &str) -> Result<Response> {
        if request_id.is_empty() {
            return Err(IntegrationError::invalid("idempotency_key", "must not be empty"));
        }
        // Intuit's requestid holds at most 50 characters.
        let request_id: String = request_id.chars().take(50).collect();
        let url = self.url(path)?;
        self.api
            .send(|c| {
                c.post(url.clone())
                    .query(&[("minorversion", MINOR_VERSION), ("requestid", request_id.as_str())])
                    .header("Accept", "application/json")
                    .json(body)
            })
            .await
    }

    /// The `QueryResponse` of one page of `SELECT * FROM entity`.
    async fn query(&self, entity: &str, since: Option<DateTime<Utc>>, start: u32) -> Result<serde_json::Value> {
        let filter = since
            .map(|s| format!(" WHERE MetaData.LastUpdatedTime > '{}'", s.to_rfc3339_opts(SecondsFormat::Secs, true)))
            .unwrap_or_default();
        let q = format!(
            "SELECT * FROM {entity}{filter} ORDERBY MetaData.LastUpdatedTime STARTPOSITION {start} MAXRESULTS {}",
            self.config.page_size
        );
        let body: serde_json::Value = parse(self.get("query", &[("query", q)]).await?, entity)?;
        body.get("QueryResponse").cloned().ok_or_else(|| malformed(format!("{entity} query: no QueryResponse")))
    }

    /// The objects of `entity` that changed since `since` per the CDC endpoint.
    async fn cdc(&self, entity: &str, since: DateTime<Utc>) -> Result<Vec<serde_json::Value>> {
        let body: serde_json::Value = parse(
            self.get(
                "cdc",
                &[("entities", entity.to_owned()), ("changedSince", since.to_rfc3339_opts(SecondsFormat::Secs, true))],
            )
            .await?,
            "cdc",
        )?;
        let responses = body
            .pointer("/CDCResponse/0/QueryResponse")
            .and_then(|v| v.as_array())
            .ok_or_else(|| malformed("cdc: no CDCResponse[0].QueryResponse"))?;
        Ok(responses
            .iter()
            .filter_map(|r| r.get(entity).and_then(|v| v.as_array()))
            .flat_map(|a| a.iter().cloned())
            .collect())
    }

    /// One page of changed `entity` objects: from CDC when `since` is recent, else the query endpoint.
    async fn changed(
        &self,
        entity: &str,
        since: Option<DateTime<Utc>>,
        page: Option<&str>,
    ) -> Result<(Vec<serde_json::Value>, Option<String>)> {
        let position = match page {
            None => match since {
                Some(s) if Utc::now() - s < CDC_WINDOW => Position::Cdc(s),
                _ => Position::Query(1),
            },
            Some(p) => Position::Query(
                p.parse()
                    .ok()
                    .filter(|n| *n >= 1)
                    .ok_or_else(|| IntegrationError::invalid("page", format!("`{p}` is not a position")))?,
            ),
        };
        match position {
            Position::Cdc(s) => {
                let items = self.cdc(entity, s).await?;
                // A full answer may have left changes out: read on through the query endpoint.
                let next = (items.len() >= CDC_MAX).then(|| "1".to_owned());
                Ok((items, next))
            }
            Position::Query(start) => {
                let resp = self.query(entity, since, start).await?;
                let items: Vec<serde_json::Value> =
                    resp.get(entity).and_then(|v| v.as_array()).cloned().unwrap_or_default();
                let next =
                    (items.len() >= self.config.page_size as usize).then(|| (start + items.len() as u32).to_string());
                Ok((items, next))
            }
        }
    }

    async fn terms(&self) -> Result<HashMap<String, u32>> {
        let mut cached = self.terms.lock().await;
        if let Some(t) = cached.as_ref() {
            return Ok(t.clone());
        }
        let resp = self.query("Term", None, 1).await?;
        let list: Vec<Term> = serde_json::from_value(resp.get("Term").cloned().unwrap_or(json!([])))
            .map_err(|e| malformed(format!("Term: {e}")))?;
        let map: HashMap<String, u32> = list.into_iter().filter_map(|t| Some((text(t.id)?, t.due_days?))).collect();
        *cached = Some(map.clone());
        Ok(map)
    }

    fn customer_body(draft: &CustomerDraft) -> serde_json::Map<String, serde_json::Value> {
        let mut c = serde_json::Map::new();
        if let Some(name) = &draft.name {
            c.insert("DisplayName".into(), json!(name));
            c.insert("CompanyName".into(), json!(name));
            c.insert("AcctNum".into(), json!(draft.reference));
        }
        if let Some(email) = &draft.email {
            c.insert("PrimaryEmailAddr".into(), json!({"Address": email.clone().unwrap_or_default()}));
        }
        if let Some(phone) = &draft.phone {
            c.insert("PrimaryPhone".into(), json!({"FreeFormNumber": phone.clone().unwrap_or_default()}));
        }
        c
    }

    async fn one_customer(&self, resp: Response, what: &str) -> Result<RemoteCustomer> {
        let body: serde_json::Value = parse(resp, what)?;
        let c: Customer = serde_json::from_value(
            body.get("Customer").cloned().ok_or_else(|| malformed(format!("{what}: no Customer")))?,
        )
        .map_err(|e| malformed(format!("{what}: {e}")))?;
        let terms = self.terms().await?;
        c.into_remote("Customer", self.config.home_currency, &terms)
    }
}

fn objects<T: for<'de> Deserialize<'de>>(items: Vec<serde_json::Value>, entity: &str) -> Result<Vec<(String, T)>> {
    items
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            let at = format!("{entity}[{i}]");
            serde_json::from_value(v).map(|t| (at.clone(), t)).map_err(|e| malformed(format!("{at}: {e}")))
        })
        .collect()
}

#[async_trait]
impl AccountingConnector for QuickBooks {
    fn system(&self) -> &'static str {
        SYSTEM
    }

    fn connection(&self) -> String {
        format!("{SYSTEM}:{}", self.config.realm_id)
    }

    async fn customers(&self, since: Option<DateTime<Utc>>, page: Option<&str>) -> Result<RemotePage<RemoteCustomer>> {
        let (items, next) = self.changed("Customer", since, page).await?;
        let terms = self.terms().await?;
        let items = objects::<Customer>(items, "Customer")?
            .into_iter()
            // Customers are made inactive, not deleted; a deleted entry carries no data.
            .filter(|(_, c)| c.status.as_deref() != Some("Deleted"))
            .map(|(at, c)| c.into_remote(&at, self.config.home_currency, &terms))
            .collect::<Result<_>>()?;
        Ok(RemotePage { items, next })
    }

    async fn customer(&self, id: &str) -> Result<Option<RemoteCustomer>> {
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(IntegrationError::invalid("id", format!("`{id}` is not a QuickBooks id")));
        }
        let resp = self.get(&format!("customer/{id}"), &[]).await?;
        if resp.status == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        self.one_customer(resp, &format!("customer {id}")).await.map(Some)
    }

    async fn invoices(&self, since: Option<DateTime<Utc>>, page: Option<&str>) -> Result<RemotePage<RemoteInvoice>> {
        let (items, next) = self.changed("Invoice", since, page).await?;
        let mut out = Vec::new();
        for (at, inv) in objects::<Invoice>(items, "Invoice")? {
            out.extend(inv.into_remote(&at, self.config.home_currency)?);
        }
        Ok(RemotePage { items: out, next })
    }

    async fn payments(&self, since: Option<DateTime<Utc>>, page: Option<&str>) -> Result<RemotePage<RemotePayment>> {
        let (items, next) = self.changed("Payment", since, page).await?;
        let items = objects::<Payment>(items, "Payment")?
            .into_iter()
            .map(|(at, p)| p.into_remote(&at, self.config.home_currency))
            .collect::<Result<_>>()?;
        Ok(RemotePage { items, next })
    }

    async fn create_customer(&self, draft: &CustomerDraft, idempotency_key: &str) -> Result<RemoteCustomer> {
        if draft.name.as_deref().is_none_or(|n| n.trim().is_empty()) {
            return Err(IntegrationError::invalid("name", "a QuickBooks customer needs a display name"));
        }
        let body = serde_json::Value::Object(Self::customer_body(draft));
        let resp = self.post("customer", &body, idempotency_key).await?;
        self.one_customer(resp, "new customer").await
    }

    async fn update_customer(
        &self,
        id: &str,
        version: Option<&str>,
        draft: &CustomerDraft,
        idempotency_key: &str,
    ) -> Result<RemoteCustomer> {
        let Some(token) = version else {
            return Err(IntegrationError::invalid("version", "a QuickBooks update needs the customer's SyncToken"));
        };
        let mut body = Self::customer_body(draft);
        body.insert("Id".into(), json!(id));
        body.insert("SyncToken".into(), json!(token));
        body.insert("sparse".into(), json!(true));
        let resp = self.post("customer", &serde_json::Value::Object(body), idempotency_key).await?;
        self.one_customer(resp, &format!("customer {id}")).await
    }
}
