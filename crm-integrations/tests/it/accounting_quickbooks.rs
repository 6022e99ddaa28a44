//! The QuickBooks Online connector and the sync engine against a QuickBooks-shaped HTTP server
//! on loopback (wiremock; payloads shaped from Intuit's XSDs: `Customer`, `Invoice` with
//! `Line`/`TxnTaxDetail`/`Balance`, `Payment` with `Line[].LinkedTxn`, `Fault`), into a CRM on
//! a real SQLite file: `minorversion=75` on every call, query paging on the first pull, CDC on
//! the next, `requestid` on writes, a stale `SyncToken` answered by re-reading and retrying,
//! faults as typed errors.

use std::sync::Arc;
use std::time::Duration;

use chrono::{NaiveDate, Utc};
use crm_core::prelude::*;
use crm_core::query::{Filter, Query};
use crm_integrations::IntegrationError;
use crm_integrations::accounting::quickbooks::{QuickBooks, QuickBooksConfig};
use crm_integrations::accounting::sync::{SyncOptions, sync};
use crm_integrations::accounting::*;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use wiremock::matchers::{body_string_contains, header, method, path, query_param, query_param_contains};
use wiremock::{Mock, MockBuilder, MockServer, ResponseTemplate};

use crate::common::{event_count, sqlite_session};
use crm_core::model::ExternalRef;
use crm_core::profile::Email;

const REALM: &str = "9130357766123456";

fn dec(s: &str) -> Decimal {
    s.parse().unwrap()
}

fn usd(s: &str) -> Money {
    Money::new(dec(s), Currency::USD)
}

fn customer(id: &str, token: &str, name: &str, email: &str, updated: &str) -> Value {
    json!({
        "Id": id, "SyncToken": token, "domain": "QBO", "sparse": false,
        "MetaData": {"CreateTime": "2026-08-01T09:00:00-07:00", "LastUpdatedTime": updated},
        "DisplayName": name, "CompanyName": format!("{name} LLC"), "FullyQualifiedName": name,
        "PrimaryEmailAddr": {"Address": email},
        "PrimaryPhone": {"FreeFormNumber": "(415) 555-0132"},
        "BillAddr": {"Id": "9", "Line1": "1 Market St", "City": "San Francisco", "CountrySubDivisionCode": "CA", "PostalCode": "94105", "Country": "US"},
        "Balance": 250.00, "OverDueBalance": 250.00, "SalesTermRef": {"value": "3", "name": "Net 30"},
        "CurrencyRef": {"value": "USD", "name": "United States Dollar"}, "Active": true, "Job": false, "Taxable": true
    })
}

/// An invoice dated `(issued, due)` for `(total, tax, balance)`.
fn invoice(
    id: &str,
    customer: &str,
    number: &str,
    (date, due): (&str, &str),
    (total, tax, balance): (&str, &str, &str),
) -> Value {
    let net: Decimal = dec(total) - dec(tax);
    json!({
        "Id": id, "SyncToken": "0", "domain": "QBO",
        "MetaData": {"CreateTime": format!("{date}T10:00:00-07:00"), "LastUpdatedTime": recent(30)},
        "DocNumber": number, "TxnDate": date, "DueDate": due,
        "CurrencyRef": {"value": "USD"}, "CustomerRef": {"value": customer},
        "Line": [
            {"Id": "1", "LineNum": 1, "Description": "Sourdough, wholesale", "Amount": net, "DetailType": "SalesItemLineDetail",
             "SalesItemLineDetail": {"ItemRef": {"value": "5", "name": "Bread"}, "UnitPrice": net / Decimal::TWO, "Qty": 2, "TaxCodeRef": {"value": "TAX"}}},
            {"Amount": net, "DetailType": "SubTotalLineDetail", "SubTotalLineDetail": {}}
        ],
        "TxnTaxDetail": {"TotalTax": dec(tax)},
        "TotalAmt": dec(total), "Balance": dec(balance)
    })
}

/// A time `hours` ago: what the CDC endpoint (30 days back at most) can still be asked about.
fn recent(hours: i64) -> String {
    (Utc::now() - chrono::Duration::hours(hours)).to_rfc3339()
}

fn page(entity: &str, items: Vec<Value>) -> Value {
    json!({"QueryResponse": {entity: items, "startPosition": 1, "maxResults": 2}, "time": "2026-11-20T08:00:00.000-08:00"})
}

/// A GET the connector must make with `minorversion=75` and the bearer token.
fn get(p: &str) -> MockBuilder {
    Mock::given(method("GET"))
        .and(path(format!("/v3/company/{REALM}/{p}")))
        .and(query_param("minorversion", "75"))
        .and(header("authorization", "Bearer qb-access"))
}

fn post_customer() -> MockBuilder {
    Mock::given(method("POST"))
        .and(path(format!("/v3/company/{REALM}/customer")))
        .and(query_param("minorversion", "75"))
        .and(query_param_contains("requestid", ""))
}

async fn mount_first_pull(server: &MockServer) {
    get("query")
        .and(query_param_contains("query", "FROM Term"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"QueryResponse": {"Term": [{"Id": "3", "Name": "Net 30", "DueDays": 30}]}})),
        )
        .mount(server)
        .await;
    let q = |entity: &str, start: &str, items: Vec<Value>| {
        get("query")
            .and(query_param_contains("query", format!("FROM {entity} ").as_str()))
            .and(query_param_contains("query", format!("STARTPOSITION {start} ").as_str()))
            .respond_with(ResponseTemplate::new(200).set_body_json(page(entity, items)))
    };
    q(
        "Customer",
        "1",
        vec![
            customer("1", "0", "Acme Bakery", "ap@acmebakery.example", &recent(50)),
            customer("2", "0", "Birch & Co", "books@birch.example", &recent(49)),
        ],
    )
    .mount(server)
    .await;
    q("Customer", "3", vec![customer("3", "0", "Cedar Studio", "hi@cedar.example", &recent(48))]).mount(server).await;
    q(
        "Invoice",
        "1",
        vec![
            invoice("130", "1", "1001", ("2026-09-01", "2026-10-01"), ("540.00", "40.00", "0")),
            invoice("131", "1", "1002", ("2026-10-15", "2026-11-14"), ("300.00", "0", "250.00")),
        ],
    )
    .mount(server)
    .await;
    q("Invoice", "3", vec![invoice("132", "2", "1003", ("2026-11-10", "2026-12-10"), ("100.00", "0", "100.00"))])
        .mount(server)
        .await;
    q(
        "Payment",
        "1",
        vec![json!({
            "Id": "200", "SyncToken": "0", "MetaData": {"LastUpdatedTime": recent(40)},
            "TxnDate": "2026-09-20", "TotalAmt": 590.00, "UnappliedAmt": 0, "CurrencyRef": {"value": "USD"},
            "CustomerRef": {"value": "1"}, "PaymentRefNum": "CHK-4471",
            "Line": [
                {"Amount": 540.00, "LinkedTxn": [{"TxnId": "130", "TxnType": "Invoice"}]},
                {"Amount": 50.00, "LinkedTxn": [{"TxnId": "131", "TxnType": "Invoice"}]}
            ]
        })],
    )
    .mount(server)
    .await;
}

fn connector(server: &MockServer, tokens: Arc<dyn TokenStore>) -> QuickBooks {
    let config =
        QuickBooksConfig::new(REALM, Currency::USD).base_url(&server.uri()).unwrap().page_size(2).policy(ApiPolicy {
            first_retry: Duration::from_millis(20),
            requests_per_minute: 6000,
            ..ApiPolicy::default()
        });
    let oauth = OAuthConfig {
        client_id: "crm-app".into(),
        client_secret: Secret::from("qb-secret".to_owned()),
        token_url: url::Url::parse(&format!("{}/oauth2/v1/tokens/bearer", server.uri())).unwrap(),
    };
    QuickBooks::new(config, &oauth, tokens).unwrap()
}

fn tokens() -> Arc<dyn TokenStore> {
    Arc::new(MemoryTokenStore::new(OAuthTokens {
        access_token: Secret::from("qb-access".to_owned()),
        refresh_token: Secret::from("qb-refresh".to_owned()),
        expires_at: Utc::now() + chrono::Duration::hours(1),
    }))
}

fn options() -> SyncOptions {
    SyncOptions {
        today: NaiveDate::from_ymd_opt(2026, 11, 20),
        default_region: Some("US".into()),
        ..SyncOptions::default()
    }
}

async fn invoice_numbered(cx: &Session, n: &str) -> Invoice {
    cx.invoices().list(&Query::new(Filter::eq("number", n))).await.unwrap().items.remove(0)
}

#[tokio::test]
async fn quickbooks_customers_invoices_and_payments_sync_then_changes_come_from_cdc() {
    let dir = tempfile::tempdir().unwrap();
    let cx = sqlite_session(dir.path()).await;
    let acme =
        cx.companies().create(NewCompany::new("Acme Bakery").billing_email("ap@acmebakery.example")).await.unwrap();
    let dune =
        cx.companies().create(NewCompany::new("Dune Outfitters").billing_email("hello@dune.example")).await.unwrap();
    let ember = cx.companies().create(NewCompany::new("Ember Cafe")).await.unwrap();
    let server = MockServer::start().await;
    mount_first_pull(&server).await;
    post_customer()
        .and(body_string_contains("Dune Outfitters"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"Customer": customer("58", "0", "Dune Outfitters", "hello@dune.example", "2026-11-20T09:00:00-08:00"), "time": "2026-11-20T09:00:00-08:00"})))
        .expect(1)
        .mount(&server)
        .await;
    post_customer()
        .and(body_string_contains("Ember Cafe"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"Fault": {"Error": [{"Message": "Duplicate Name Exists Error", "Detail": "The name supplied already exists. : Another customer is already using this name.", "code": "6240", "element": ""}], "type": "ValidationFault"}, "time": "2026-11-20T09:00:00-08:00"})))
        .mount(&server)
        .await;
    let qb = connector(&server, tokens());

    let report = match sync(&cx, &qb, &options()).await {
        Ok(r) => r,
        Err(e) => {
            for r in server.received_requests().await.unwrap() {
                eprintln!("{} {}", r.method, r.url);
            }
            panic!("{e:?}");
        }
    };
    assert_eq!((report.customers.created, report.customers.updated), (2, 1), "{report:#?}");
    let a = cx.companies().get(acme.id).await.unwrap();
    assert_eq!(a.legal_name.as_deref(), Some("Acme Bakery LLC"));
    assert_eq!(a.credit_terms.map(|t| t.net_days), Some(30), "from SalesTermRef → Term.DueDays");
    assert_eq!(a.phones.first().map(|p| p.number.as_str()), Some("+14155550132"));
    assert_eq!(a.account_balance.map(|b| (b.outstanding, b.overdue)), Some((usd("250"), usd("250"))));
    // Pushed with requestid and the CRM id in AcctNum; Ember refused (fault 6240), reported.
    let d = cx.companies().get(dune.id).await.unwrap();
    assert!(d.external_refs.contains(&ExternalRef::new("quickbooks", "58")));
    let post = server
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.method.as_str() == "POST" && String::from_utf8_lossy(&r.body).contains("Dune"))
        .unwrap();
    let body: Value = serde_json::from_slice(&post.body).unwrap();
    assert_eq!(body["AcctNum"], dune.id.to_string());
    assert!(post.url.query_pairs().any(|(k, v)| k == "requestid" && !v.is_empty() && v.len() <= 50));
    assert!(
        report
            .skipped
            .iter()
            .any(|s| s.remote_id == format!("crm:{}", ember.id) && s.reason.contains("Duplicate Name"))
    );

    // Invoices: paid (balance 0), partially paid and past due, sent; the payment applied to two.
    let (i1, i2, i3) =
        (invoice_numbered(&cx, "1001").await, invoice_numbered(&cx, "1002").await, invoice_numbered(&cx, "1003").await);
    assert_eq!((i1.status, i2.status, i3.status), (InvoiceStatus::Paid, InvoiceStatus::Overdue, InvoiceStatus::Sent));
    assert_eq!((i1.subtotal, i1.tax, i1.total), (usd("500"), usd("40"), usd("540")));
    assert_eq!(i2.balance_due(), usd("250"));
    assert_eq!(i1.paid_on, NaiveDate::from_ymd_opt(2026, 9, 20), "dated by its last payment");
    assert_eq!(i1.days_to_pay(), Some(19));
    assert_eq!((i1.payments.len(), i2.payments.len()), (1, 1));
    let pay = cx.payments().list(&Query::new(Filter::All)).await.unwrap().items.remove(0);
    assert_eq!((pay.amount, pay.applications.len(), pay.unapplied()), (usd("590"), 2, usd("0")));
    assert!(
        server
            .received_requests()
            .await
            .unwrap()
            .iter()
            .all(|r| r.url.query_pairs().any(|(k, v)| k == "minorversion" && v == "75"))
    );

    // The next pull asks CDC what changed since, not the query endpoint.
    server.reset().await;
    let mut birch = customer("2", "1", "Birch & Co", "accounts@birch.example", &recent(2));
    birch["Balance"] = json!(0);
    let cdc = |entity: &str, items: Vec<Value>| {
        get("cdc")
            .and(query_param("entities", entity))
            .and(query_param_contains("changedSince", "T"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"CDCResponse": [{"QueryResponse": [{entity: items, "startPosition": 1, "maxResults": 1}]}], "time": "2026-11-20T08:00:00-08:00"})))
    };
    cdc("Customer", vec![birch]).mount(&server).await;
    cdc("Invoice", vec![]).mount(&server).await;
    cdc("Payment", vec![]).mount(&server).await;
    get("query")
        .and(query_param_contains("query", "FROM Term"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"QueryResponse": {"Term": []}})))
        .mount(&server)
        .await;
    let events = event_count(&cx).await;
    let report = sync(&cx, &connector(&server, tokens()), &options()).await.unwrap();
    assert_eq!(report.customers.updated, 1, "{report:#?}");
    let b = cx
        .companies()
        .list(&Query::new(Filter::contains("external_refs", "quickbooks:2")))
        .await
        .unwrap()
        .items
        .remove(0);
    assert_eq!(b.billing_email.unwrap().as_str(), "accounts@birch.example");
    assert!(event_count(&cx).await > events);
    let reqs = server.received_requests().await.unwrap();
    assert!(!reqs.iter().any(|r| r.url.path().ends_with("/query") && r.url.query().unwrap_or("").contains("Customer")));
}

#[tokio::test]
async fn a_stale_sync_token_is_re_read_merged_and_retried() {
    let dir = tempfile::tempdir().unwrap();
    let cx = sqlite_session(dir.path()).await;
    let acme =
        cx.companies().create(NewCompany::new("Acme Bakery").billing_email("ap@acmebakery.example")).await.unwrap();
    let server = MockServer::start().await;
    mount_first_pull(&server).await;
    let qb = connector(&server, tokens());
    sync(&cx, &qb, &SyncOptions { push: None, ..options() }).await.unwrap();

    // The CRM changes Acme's billing email; meanwhile QuickBooks saved the customer again
    // (SyncToken 0 → 2) without touching the email.
    let mut a = cx.companies().get(acme.id).await.unwrap();
    a.billing_email = Some(Email::parse("payables@acmebakery.example").unwrap());
    cx.companies().update(a).await.unwrap();
    server.reset().await;
    for e in ["Customer", "Invoice", "Payment"] {
        get("cdc")
            .and(query_param("entities", e))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"CDCResponse": [{"QueryResponse": [{}]}]})))
            .mount(&server)
            .await;
    }
    get("query")
        .and(query_param_contains("query", "FROM Term"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"QueryResponse": {"Term": [{"Id": "3", "DueDays": 30}]}})),
        )
        .mount(&server)
        .await;
    get("customer/1")
        .respond_with(
            ResponseTemplate::new(200).set_body_json(
                json!({"Customer": customer("1", "2", "Acme Bakery", "ap@acmebakery.example", &recent(2))}),
            ),
        )
        .expect(1)
        .mount(&server)
        .await;
    post_customer()
        .and(body_string_contains(r#""SyncToken":"0""#))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"Fault": {"Error": [{"Message": "Stale Object Error", "Detail": "Stale Object Error : You and qb-user were working on this at the same time.", "code": "5010"}], "type": "ValidationFault"}})))
        .expect(1)
        .mount(&server)
        .await;
    let mut saved = customer("1", "3", "Acme Bakery", "payables@acmebakery.example", &recent(1));
    saved["Balance"] = json!(250.00);
    post_customer()
        .and(body_string_contains(r#""SyncToken":"2""#))
        .and(body_string_contains("payables@acmebakery.example"))
        .and(body_string_contains(r#""sparse":true"#))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"Customer": saved})))
        .expect(1)
        .mount(&server)
        .await;

    let report = sync(&cx, &qb, &options()).await.unwrap();
    assert_eq!(report.pushed.updated, 1, "{report:#?}");
    assert!(report.conflicts.is_empty());
    let link = cx.sync().link_for_local(&format!("quickbooks:{REALM}"), acme.entity_ref()).await.unwrap().unwrap();
    assert_eq!(link.remote_version.as_deref(), Some("3"));
    assert_eq!(link.snapshot["billing_email"].as_deref(), Some("payables@acmebakery.example"));
}

#[tokio::test]
async fn malformed_answers_and_bad_settings_are_typed_errors_that_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let cx = sqlite_session(dir.path()).await;
    let server = MockServer::start().await;
    get("query")
        .and(query_param_contains("query", "FROM Term"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"QueryResponse": {}})))
        .mount(&server)
        .await;
    get("query")
        .and(query_param_contains("query", "FROM Customer"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(
            "Customer",
            vec![json!({"Id": "1", "MetaData": {"LastUpdatedTime": "yesterday"}, "DisplayName": "X"})],
        )))
        .mount(&server)
        .await;
    let err = sync(&cx, &connector(&server, tokens()), &options()).await.unwrap_err();
    assert!(
        matches!(err, IntegrationError::Malformed { system: "quickbooks", ref what } if what.contains("LastUpdatedTime")),
        "{err:?}"
    );
    assert_eq!(event_count(&cx).await, 0);
    let oauth = OAuthConfig {
        client_id: "a".into(),
        client_secret: Secret::from("b".to_owned()),
        token_url: url::Url::parse("http://127.0.0.1:9/t").unwrap(),
    };
    for bad in ["", "12a", "../1"] {
        let err = QuickBooks::new(QuickBooksConfig::new(bad, Currency::USD), &oauth, tokens()).unwrap_err();
        assert!(matches!(err, IntegrationError::Invalid { ref field, .. } if field == "realm_id"), "{bad}: {err:?}");
    }
}
