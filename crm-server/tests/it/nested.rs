//! Invoices, segments and pipelines made over HTTP from JSON bodies shaped like the records:
//! their lines, conditions and stages; what cannot be read refused naming the field, nothing
//! written.

use reqwest::StatusCode;
use serde_json::json;

use crate::{api, problem};

#[tokio::test]
async fn invoices_segments_and_pipelines_are_made_from_nested_bodies() {
    let a = api().await;
    let k = a.admin.clone();
    let ann = a.post("/v1/contacts", &k, json!({"given_name": "Ann", "lifecycle_stage": "customer"})).await.2;
    let ann_id = ann["id"].as_str().unwrap();
    let line = |qty: &str, price: &str| {
        json!({"name": "Kettle", "quantity": qty, "unit_price": {"amount": price, "currency": "EUR"},
               "discount_percent": "0", "tax_rate": "20"})
    };

    let body =
        json!({"contact_id": ann_id, "lines": [line("2", "40.00")], "due_date": "2027-01-31", "notes": "Thanks"});
    let (status, headers, invoice) = a.post("/v1/invoices", &k, body).await;
    assert_eq!(status, StatusCode::CREATED, "{invoice}");
    assert_eq!(headers["location"], format!("/v1/invoices/{}", invoice["id"].as_str().unwrap()).as_str());
    assert_eq!((invoice["status"].as_str(), invoice["total"]["amount"].as_str()), (Some("draft"), Some("96.00")));
    assert_eq!(invoice["due_date"], "2027-01-31");

    // Refused, naming the field; nothing written.
    for (body, field) in [
        (json!({"contact_id": ann_id, "lines": [line("two", "40")]}), "lines[0].quantity"),
        (json!({"contact_id": ann_id, "lines": [line("1", "40")], "colour": "red"}), "colour"),
        (json!({"contact_id": ann_id}), "lines"),
        (json!({"contact_id": ann_id, "lines": [line("1", "40")], "due_date": "soon"}), "due_date"),
        (json!({"contact_id": crm::uuid::Uuid::nil(), "lines": [line("1", "40")]}), "contact_id"),
    ] {
        problem(&a.post("/v1/invoices", &k, body.clone()).await, StatusCode::UNPROCESSABLE_ENTITY, Some(field));
    }
    let a = &a;
    let code = |body: serde_json::Value| async move {
        a.post("/v1/invoices", &a.admin, body).await.2["errors"][0]["code"].clone()
    };
    assert_eq!(code(json!({"contact_id": ann_id})).await, "required");
    assert_eq!(code(json!({"lines": [], "colour": "red"})).await, "unknown_field");
    assert_eq!(code(json!({"lines": [line("two", "1")]})).await, "type_mismatch");
    problem(
        &a.send(a.http.post(a.url("/v1/invoices")).header("content-type", "application/json").body("{"), &k).await,
        StatusCode::BAD_REQUEST,
        None,
    );
    assert_eq!(a.get("/v1/invoices", &k).await.2["items"].as_array().unwrap().len(), 1);

    let body = json!({"name": "Customers", "description": "Who bought", "filter": ["lifecycle_stage=customer"]});
    let (status, _, segment) = a.post("/v1/segments", &k, body).await;
    assert_eq!(status, StatusCode::CREATED, "{segment}");
    let bad = json!({"name": "Tall", "filter": ["shoe_size=9"]});
    problem(&a.post("/v1/segments", &k, bad).await, StatusCode::UNPROCESSABLE_ENTITY, Some("filter[0]"));
    let read = a.get(&format!("/v1/segments/{}", segment["id"].as_str().unwrap()), &k).await;
    assert_eq!(read.2["name"], "Customers");

    let body = json!({"name": "Renewals", "stages": [
        {"name": "Due", "probability": 40, "rotting_days": 14},
        {"name": "Renewed", "kind": "won", "probability": 100},
        {"name": "Churned", "kind": "lost"}
    ]});
    let (status, _, pipeline) = a.post("/v1/pipelines", &k, body).await;
    assert_eq!(status, StatusCode::CREATED, "{pipeline}");
    let stages = pipeline["stages"].as_array().unwrap();
    assert_eq!(stages.iter().map(|s| s["name"].as_str().unwrap()).collect::<Vec<_>>(), ["Due", "Renewed", "Churned"]);
    let bad = json!({"name": "X", "stages": [{"name": "A", "kind": "maybe"}]});
    problem(&a.post("/v1/pipelines", &k, bad).await, StatusCode::UNPROCESSABLE_ENTITY, Some("stages[0].kind"));
}
