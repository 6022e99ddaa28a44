//! Automation over HTTP: a rule created from JSON (refused naming the part when wrong, and
//! refused to those who do not manage automations), listed, switched off and on, its run log
//! after the runner ran, removed; and the caller's notifications read and marked read.

use crm::actor::Actor;
use crm::automation::Automation;
use crm::prelude::*;
use reqwest::StatusCode;
use serde_json::json;

use crate::api;

#[tokio::test]
async fn rules_are_managed_over_http_and_notifications_read() {
    let api = api().await;
    let url = api.url("/v1/workflows");
    let rule = json!({
        "name": "Tell Ria about new contacts",
        "entity_kind": "contact",
        "trigger": {"on": "created"},
        "steps": [{"action": "notify", "message": "A new contact", "users": [api.rep_id], "owner": false}]
    });
    let (status, _, body) = api.send(api.http.post(&url).json(&rule), &api.rep).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let mut bad = rule.clone();
    bad["condition"] = json!({"cmp": {"field": "shoe_size", "op": "eq", "value": {"int": 9}}});
    let (status, _, body) = api.send(api.http.post(&url).json(&bad), &api.admin).await;
    assert_eq!(
        (status, body["errors"][0]["field"].clone()),
        (StatusCode::UNPROCESSABLE_ENTITY, json!("condition.shoe_size"))
    );
    let mut typo = rule.clone();
    typo["stepz"] = json!([]);
    assert_eq!(api.send(api.http.post(&url).json(&typo), &api.admin).await.0, StatusCode::BAD_REQUEST);

    let (status, headers, made) = api.send(api.http.post(&url).json(&rule), &api.admin).await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    let id = made["id"].as_str().unwrap().to_owned();
    assert_eq!(headers["location"], format!("/v1/workflows/{id}").as_str());
    let (_, _, listed) = api.send(api.http.get(&url), &api.admin).await;
    assert_eq!(listed["items"][0]["name"], "Tell Ria about new contacts");

    // A contact is created; the embedder's runner runs the rule; Ria reads her notification.
    let cx = api.crm.as_actor(&Actor::system(api.tenant));
    let ada = cx.contacts().create(NewContact::new("Ada", "Lovelace")).await.unwrap();
    assert_eq!(Automation::new(api.crm.clone()).run(api.tenant).await.unwrap().steps_done(), 1);
    let (_, _, runs) = api.send(api.http.get(api.url(&format!("/v1/workflows/{id}/runs"))), &api.admin).await;
    assert_eq!(
        (runs["items"][0]["outcome"].clone(), runs["items"][0]["action"].clone()),
        (json!("done"), json!("notify"))
    );
    let inbox = api.url("/v1/notifications?unread=true");
    let (_, _, mine) = api.send(api.http.get(&inbox), &api.rep).await;
    assert_eq!((mine["unread"].clone(), mine["items"][0]["message"].clone()), (json!(1), json!("A new contact")));
    assert_eq!(mine["items"][0]["link"]["id"], ada.id.to_string());
    let (_, _, theirs) = api.send(api.http.get(&inbox), &api.admin).await;
    assert_eq!(theirs["items"], json!([]), "the admin's own inbox is empty");
    let note = mine["items"][0]["id"].as_str().unwrap().to_owned();
    let read = api.url(&format!("/v1/notifications/{note}/read"));
    assert_eq!(api.send(api.http.post(&read), &api.admin).await.0, StatusCode::NOT_FOUND, "not the admin's");
    let (status, _, done) = api.send(api.http.post(&read), &api.rep).await;
    assert!(status.is_success() && done["read_at"].is_string(), "{done}");
    assert_eq!(api.send(api.http.get(&inbox), &api.rep).await.2["unread"], 0);

    // Off: a new contact sets nothing off. Removed: gone.
    let (_, _, off) = api.send(api.http.post(api.url(&format!("/v1/workflows/{id}/disable"))), &api.admin).await;
    assert_eq!(off["enabled"], false);
    cx.contacts().create(NewContact::new("Bob", "Babbage")).await.unwrap();
    assert_eq!(Automation::new(api.crm.clone()).run(api.tenant).await.unwrap().steps_done(), 0);
    let one = api.url(&format!("/v1/workflows/{id}"));
    assert_eq!(api.send(api.http.get(&one), &api.other_tenant).await.0, StatusCode::NOT_FOUND, "another tenant's");
    assert_eq!(api.send(api.http.delete(&one), &api.admin).await.0, StatusCode::NO_CONTENT);
    assert_eq!(api.send(api.http.get(&one), &api.admin).await.0, StatusCode::NOT_FOUND);
}
