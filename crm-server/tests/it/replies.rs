//! A case's conversation over HTTP: replies to the customer and internal notes, the status
//! they move, the customer's own replies beside them, and refusals naming the field.

use crm::ids::{CaseId, ContactId};
use crm::prelude::*;
use crm::service::NewReply;
use reqwest::StatusCode;
use serde_json::json;

use crate::{api, problem};

#[tokio::test]
async fn replies_are_posted_and_listed_and_move_the_case() {
    let a = api().await;
    let k = a.admin.clone();
    let ann = a.post("/v1/contacts", &k, json!({"given_name": "Ann", "family_name": "Lee"})).await.2;
    let case = json!({"subject": "Kettle leaks", "type": "problem", "contact_id": ann["id"]});
    let (status, _, case) = a.post("/v1/cases", &k, case).await;
    assert_eq!(status, StatusCode::CREATED, "{case}");
    let id = case["id"].as_str().unwrap().to_owned();
    let replies = format!("/v1/cases/{id}/replies");

    let (status, headers, asked) =
        a.post(&replies, &k, json!({"body": "Which model is it?", "awaiting_customer": true})).await;
    assert_eq!(status, StatusCode::CREATED, "{asked}");
    assert_eq!(headers["location"], format!("/v1/activities/{}", asked["id"].as_str().unwrap()).as_str());
    assert_eq!((asked["direction"].as_str(), asked["case_id"].as_str()), (Some("outbound"), Some(id.as_str())));
    assert_eq!(a.get(&format!("/v1/cases/{id}"), &k).await.2["status"], "pending_customer");
    let (status, _, note) = a.post(&replies, &k, json!({"body": "Batch 7", "internal": true})).await;
    assert_eq!((status, note["direction"].as_str()), (StatusCode::CREATED, Some("internal")));

    // The customer answers (through the portal, here the library): the case is open again.
    let customer = ContactId::from_uuid(ann["id"].as_str().unwrap().parse().unwrap());
    let ann_cx = a.crm.as_actor(&Actor::customer(a.tenant, customer));
    ann_cx.cases().reply(CaseId::from_uuid(id.parse().unwrap()), NewReply::new("The KX-200")).await.unwrap();
    let (_, _, listed) = a.get(&replies, &k).await;
    let bodies: Vec<&str> = listed["items"].as_array().unwrap().iter().map(|r| r["body"].as_str().unwrap()).collect();
    assert_eq!(bodies, ["Which model is it?", "Batch 7", "The KX-200"], "oldest first");
    assert_eq!(a.get(&format!("/v1/cases/{id}"), &k).await.2["status"], "open");

    // Refusals name the field and write nothing.
    for (body, field) in [
        (json!({"body": "  "}), "body"),
        (json!({"body": 7}), "body"),
        (json!({"body": "x", "internal": "yes"}), "internal"),
        (json!({"body": "x", "colour": "red"}), "colour"),
    ] {
        problem(&a.post(&replies, &k, body).await, StatusCode::UNPROCESSABLE_ENTITY, Some(field));
    }
    let nobody = format!("/v1/cases/{}/replies", crm::uuid::Uuid::now_v7());
    problem(&a.post(&nobody, &k, json!({"body": "hi"})).await, StatusCode::NOT_FOUND, None);
    let refused = a.post(&replies, &a.other_tenant, json!({"body": "hi"})).await;
    problem(&refused, StatusCode::NOT_FOUND, None);
    assert_eq!(a.get(&replies, &k).await.2["items"].as_array().unwrap().len(), 3, "nothing written");
}
