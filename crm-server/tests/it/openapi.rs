//! The served OpenAPI document: well formed, complete, and strict enough to catch a drift.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{api, problem};

/// Every `$ref` in `v`.
fn refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::Object(o) => {
            if let Some(Value::String(r)) = o.get("$ref") {
                out.push(r);
            }
            o.values().for_each(|v| refs(v, out));
        }
        Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

#[tokio::test]
async fn the_document_is_openapi_3_1_complete_and_every_reference_resolves() {
    let a = api().await;
    let doc = a.doc();
    assert_eq!(doc["openapi"], "3.1.0");
    // It reads as OpenAPI 3.1 (the oas3 crate's model of the specification).
    let spec = oas3::from_json(doc.to_string()).unwrap();
    assert!(spec.paths.as_ref().unwrap().len() > 30);
    assert_eq!(spec.info.title, "crm");

    let mut all = Vec::new();
    refs(doc, &mut all);
    assert!(all.len() > 100);
    for r in all {
        assert!(doc.pointer(r.trim_start_matches('#')).is_some(), "{r} resolves");
    }
    // Every kind the API serves is listed, made, read, changed and deleted; those an import reads
    // are made in batches too.
    let mut ids = std::collections::HashSet::new();
    for (name, kind) in crm::io::any::KINDS {
        let one = &doc["paths"][format!("/v1/{name}/{{id}}")];
        for m in ["get", "patch", "delete"] {
            assert!(one[m]["operationId"].is_string(), "{m} /v1/{name}/{{id}}");
        }
        let many = &doc["paths"][format!("/v1/{name}")];
        assert!(many["get"].is_object(), "list {name}");
        assert!(many["post"].is_object(), "create {name}: every kind is made over HTTP");
        let batched = doc["paths"].get(format!("/v1/{name}/batch/create")).is_some();
        assert_eq!(batched, crm::io::any::CREATABLE.contains(kind), "batch create {name} (through an import)");
    }
    for item in doc["paths"].as_object().unwrap().values() {
        for (m, op) in item.as_object().unwrap() {
            if m != "parameters" {
                assert!(ids.insert(op["operationId"].as_str().unwrap().to_owned()), "unique operationId");
            }
        }
    }
    // Every schema is a JSON Schema the validator accepts.
    for (name, _) in doc["components"]["schemas"].as_object().unwrap() {
        a.contract_validates(&json!({ "$ref": format!("#/components/schemas/{name}") }));
    }
}

#[tokio::test]
async fn the_contract_refuses_a_body_that_drifts_from_the_document() {
    let a = api().await;
    let made = a.post("/v1/contacts", &a.admin, json!({"given_name": "Ada", "family_name": "Lovelace"})).await;
    assert_eq!(made.0, StatusCode::CREATED);
    let contact = json!({ "$ref": "#/components/schemas/Contact" });
    let mut wrong = made.2.clone();
    wrong["lifecycle_stage"] = json!("nope");
    for bad in [wrong, json!({"id": made.2["id"]}), json!({"given_name": 7})] {
        assert!(!a.contract_errors(&contact, &bad).is_empty(), "refused: {bad}");
    }
    assert_eq!(a.contract_errors(&contact, &made.2), Vec::<String>::new());
}

#[tokio::test]
async fn the_docs_page_carries_the_document_and_needs_no_key() {
    let a = api().await;
    let res = a.http.get(a.url("/docs")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let page = res.text().await.unwrap();
    assert!(page.contains("<title>crm API</title>"), "{page}");
    assert!(page.contains(r#""openapi":"3.1.0""#) && page.contains("/v1/contacts/{id}/timeline"));
    problem(&a.get("/v2/contacts", &a.admin).await, StatusCode::NOT_FOUND, None);
}

#[tokio::test]
async fn every_kind_is_listed_and_every_creatable_kind_made_and_read_as_documented() {
    let a = api().await;
    let k = a.admin.clone();
    let bodies = [
        (
            "contacts",
            json!({"given_name": "Ada", "family_name": "Lovelace", "email": "ada@example.org", "phone": "+44 20 7946 0958"}),
        ),
        ("companies", json!({"name": "Acme", "domain": "acme.example", "industry": "Logistics"})),
        ("deals", json!({"name": "Fleet renewal", "amount": "12000.50", "currency": "EUR"})),
        ("activities", json!({"subject": "Intro call", "type": "call"})),
        ("products", json!({"sku": "SKU-1", "name": "Widget", "price": "9.99", "currency": "EUR"})),
        ("users", json!({"name": "Uma User", "email": "uma@acme.example", "roles": "sales_rep"})),
        ("cases", json!({"subject": "Broken widget", "type": "problem", "priority": "high", "tags": "rma, urgent"})),
        (
            "campaigns",
            json!({"name": "Spring", "channel": "email", "budget": "500", "currency": "EUR",
                             "start_date": "2027-03-01", "end_date": "2027-03-31"}),
        ),
        ("payments", json!({"amount": "120.50", "currency": "EUR", "method": "bank_transfer", "reference": "INV-7"})),
        ("feedback", json!({"kind": "survey", "rating": 4, "text": "Quick and kind"})),
        ("teams", json!({"name": "North", "description": "The northern accounts"})),
        ("consents", json!({"purpose": "marketing_email", "status": "granted", "method": "web_form"})),
        ("shares", json!({"record_kind": "contact", "access": "read", "note": "covering"})),
    ];
    let (mut contact, mut user) = (Value::Null, Value::Null);
    for (name, mut body) in bodies {
        match name {
            "cases" | "feedback" | "payments" | "consents" => body["contact_id"] = contact.clone(),
            "teams" => body["members"] = user.clone(),
            "shares" => {
                body["record_id"] = contact.clone();
                body["user_id"] = user.clone();
            }
            _ => {}
        }
        let made = a.post(&format!("/v1/{name}"), &k, body).await;
        match name {
            "contacts" => contact = made.2["id"].clone(),
            "users" => user = made.2["id"].clone(),
            _ => {}
        }
        assert_eq!(made.0, StatusCode::CREATED, "{name}: {}", made.2);
        let read = a.get(&format!("/v1/{name}/{}", made.2["id"].as_str().unwrap()), &k).await;
        assert_eq!((read.0, &read.2), (StatusCode::OK, &made.2), "{name}");
    }
    // Each refused naming the field, and nothing written.
    let sys = a.crm.as_actor(&crm::actor::Actor::system(a.tenant));
    let payments = sys.payments().count(&crm::query::Filter::All).await.unwrap();
    for (name, body, field) in [
        ("payments", json!({"amount": "5", "method": "cash"}), "currency"),
        ("payments", json!({"amount": "5", "currency": "EUR", "method": "barter"}), "method"),
        ("feedback", json!({"kind": "survey", "rating": "lots"}), "rating"),
        (
            "consents",
            json!({"contact_id": contact, "purpose": "spam", "status": "granted", "method": "web_form"}),
            "purpose",
        ),
        ("shares", json!({"record_kind": "contact", "record_id": contact, "access": "read"}), "user_id"),
        ("teams", json!({"name": "South", "members": "not-an-id"}), "members"),
        ("campaigns", json!({"name": "Autumn", "channel": "email", "start_date": "next week"}), "start_date"),
    ] {
        problem(&a.post(&format!("/v1/{name}"), &k, body).await, StatusCode::UNPROCESSABLE_ENTITY, Some(field));
    }
    assert_eq!(sys.payments().count(&crm::query::Filter::All).await.unwrap(), payments);
    for (name, _) in crm::io::any::KINDS {
        let (status, _, page) = a.get(&format!("/v1/{name}"), &k).await;
        assert_eq!(status, StatusCode::OK, "{name}: {page}");
    }
    let hits = a.get("/v1/search?q=acme", &k).await;
    assert!(!hits.2["items"].as_array().unwrap().is_empty());
}
