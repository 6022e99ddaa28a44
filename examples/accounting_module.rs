//! An accounting application that embeds the CRM (on SQLite) as its CRM module.
//!
//! It connects to Xero — here a local Xero-shaped server answering with fixtures shaped from
//! Xero's published OpenAPI spec — syncs customers, invoices and payments into the CRM, and
//! prints a customer 360: open invoices, balance due, average days to pay, and the last
//! emails exchanged. A second sync shows the engine is idempotent.
//!
//! ```text
//! cargo run --example accounting_module --features xero,email
//! ```

use std::sync::Arc;

use chrono::{NaiveDate, Utc};
use crm::integrations::accounting::sync::{SyncOptions, sync};
use crm::integrations::accounting::xero::{Xero, XeroConfig};
use crm::integrations::accounting::{CrmTokenStore, OAuthConfig, OAuthTokens, Secret};
use crm::integrations::email::Inbox;
use crm::query::{Filter, Query};
use crm::{
    actor::Actor, ids::TenantId, model::InvoiceStatus, money::Currency, service::NewCompany, service::NewContact,
    service::TimelineItem,
};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const XERO_TENANT: &str = "4e3b2a10-5c6d-4e7f-8a9b-0c1d2e3f4a5b";

fn fixture(name: &str) -> serde_json::Value {
    let p = format!("{}/crm-integrations/tests/fixtures/xero/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("fixture {p}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("fixture {p}: {e}"))
}

/// A Xero-shaped API on 127.0.0.1: Contacts (two pages), Invoices, Payments.
async fn local_xero() -> MockServer {
    let server = MockServer::start().await;
    let list = |p: &str, page: &str, file: &str| {
        Mock::given(method("GET"))
            .and(path(format!("/api.xro/2.0/{p}")))
            .and(query_param("page", page))
            .respond_with(ResponseTemplate::new(200).set_body_json(fixture(file)))
    };
    list("Contacts", "1", "contacts_page1.json").mount(&server).await;
    list("Contacts", "2", "contacts_page2.json").mount(&server).await;
    list("Contacts", "3", "contacts_page3_empty.json").mount(&server).await;
    list("Invoices", "1", "invoices_page1.json").mount(&server).await;
    list("Payments", "1", "payments_page1.json").mount(&server).await;
    server
}

fn email(from: &str, to: &str, subject: &str, date: &str, id: &str, body: &str) -> String {
    format!(
        "From: {from}\r\nTo: {to}\r\nSubject: {subject}\r\nDate: {date}\r\nMessage-ID: <{id}>\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    )
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let crm = crm::sqlite(dir.path().join("crm.db")).await?;
    let cx = crm.as_actor(&Actor::system(TenantId::new()));

    // The CRM already knows Harbour Foods (by its billing email) and Maria, who works there;
    // the sales mailbox has exchanged mail with her.
    let harbour = cx
        .companies()
        .create(NewCompany::new("Harbour Foods").billing_email("accounts@harbourfoods.co.uk").tag("key-account"))
        .await?;
    cx.contacts()
        .create(
            NewContact::new("Maria", "Okafor")
                .email("maria.okafor@harbourfoods.co.uk")
                .works_at(harbour.id, None, None),
        )
        .await?;
    let inbox = Inbox::new(["sales@ledgerline.example"])?;
    for raw in [
        email(
            "sales@ledgerline.example",
            "maria.okafor@harbourfoods.co.uk",
            "Cold storage renewal for 2027",
            "Tue, 10 Nov 2026 09:12:00 +0000",
            "renewal-1@ledgerline.example",
            "Hi Maria, attached is the renewal quote.",
        ),
        email(
            "Maria Okafor <maria.okafor@harbourfoods.co.uk>",
            "sales@ledgerline.example",
            "Re: Cold storage renewal for 2027",
            "Wed, 11 Nov 2026 14:40:00 +0000",
            "reply-1@harbourfoods.co.uk",
            "Thanks, we'll pay the open balance on INV-1002 this month.",
        ),
    ] {
        inbox.file(&cx, raw.as_bytes()).await?;
    }

    // Connect Xero: the tokens are sealed in the CRM under a key the application keeps.
    let server = local_xero().await;
    let connection = format!("xero:{XERO_TENANT}");
    let key = [42u8; 32]; // in production: 32 random bytes from your secret manager
    let tokens = Arc::new(CrmTokenStore::new(cx.clone(), &connection, &key));
    tokens
        .connect(&OAuthTokens {
            access_token: Secret::from("demo-access-token".to_owned()),
            refresh_token: Secret::from("demo-refresh-token".to_owned()),
            expires_at: Utc::now() + chrono::Duration::minutes(30),
        })
        .await?;
    let oauth = OAuthConfig {
        client_id: "ledgerline-app".into(),
        client_secret: Secret::from("demo-client-secret".to_owned()),
        token_url: url::Url::parse(&format!("{}/connect/token", server.uri()))?,
    };
    let xero =
        Xero::new(XeroConfig::new(XERO_TENANT).base_url(&format!("{}/api.xro/2.0", server.uri()))?, &oauth, tokens)?;
    let options = SyncOptions {
        push: None,
        default_region: Some("GB".into()),
        today: NaiveDate::from_ymd_opt(2026, 11, 20),
        ..SyncOptions::default()
    };

    let report = sync(&cx, &xero, &options).await?;
    println!("Synced with Xero ({connection})");
    println!(
        "  customers: {} new, {} updated; invoices: {} mirrored; payments: {} mirrored",
        report.customers.created, report.customers.updated, report.invoices.created, report.payments.created
    );

    for s in &report.skipped {
        println!("  left alone: {} {}: {}", s.remote_kind, s.remote_id, s.reason);
    }

    let c360 = cx.customer_360(harbour.id).await?;
    let company = c360.company.as_ref().expect("a company view has its company");
    println!();
    println!("Customer 360 — {} (legal name {})", company.name, company.legal_name.as_deref().unwrap_or("-"));
    if let Some(t) = company.credit_terms {
        println!("  terms: net {} days; tax id {}", t.net_days, company.tax_id.as_deref().unwrap_or("-"));
    }
    println!("  open invoices:");
    for inv in c360.invoices.iter().filter(|i| i.status.is_open()) {
        let overdue = if inv.status == InvoiceStatus::Overdue { " (overdue)" } else { "" };
        println!("    {}  due {}  {} of {}{}", inv.number, inv.due_date, inv.balance_due(), inv.total, overdue);
    }
    let gbp = |m: &std::collections::BTreeMap<Currency, crm::prelude::Decimal>| {
        m.get(&Currency::GBP).copied().unwrap_or_default()
    };
    println!("  balance due: {} GBP (overdue {} GBP)", gbp(&c360.summary.balance_due), gbp(&c360.summary.overdue));
    match c360.summary.average_days_to_pay {
        Some(days) => println!("  average days to pay: {}", days.round_dp(1)),
        None => println!("  average days to pay: no paid invoices yet"),
    }
    println!("  last emails:");
    let mut emails: Vec<&crm::model::Activity> = c360
        .timeline
        .iter()
        .filter_map(|t| match t {
            TimelineItem::Activity(a) if a.kind == crm::model::ActivityKind::Email => Some(a),
            _ => None,
        })
        .collect();
    emails.sort_by_key(|a| std::cmp::Reverse(a.occurred_at));
    for a in emails.iter().take(3) {
        let dir = a.direction.map(|d| d.to_string()).unwrap_or_default();
        println!("    {}  {:<8} {}", a.occurred_at.format("%Y-%m-%d %H:%M"), dir, a.subject);
    }

    let again = sync(&cx, &xero, &options).await?;
    let unchanged = again.customers.unchanged + again.invoices.unchanged + again.payments.unchanged;
    let written = again.customers.created + again.customers.updated + again.invoices.created + again.invoices.updated;
    println!();
    println!("Second sync: {written} records written, {unchanged} already up to date");
    let mirrored = cx.invoices().count(&Filter::eq("managed_by", "xero")).await?;
    let total = cx.invoices().list(&Query::new(Filter::All)).await?.items.len();
    println!("Invoices in the CRM: {total} ({mirrored} kept in Xero, read-only here)");
    Ok(())
}
