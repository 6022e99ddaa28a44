//! `/v1/{kind}/batch/{op}`: many records in one request, each input with its own outcome.

use crm::prelude::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{api, problem};

fn statuses(res: &Value) -> Vec<u64> {
    res["results"].as_array().unwrap().iter().map(|r| r["status"].as_u64().unwrap()).collect()
}

#[tokio::test]
async fn a_batch_creates_upserts_updates_and_deletes_each_input_on_its_own() {
    let a = api().await;
    let k = a.admin.clone();
    let sys = a.crm.as_actor(&Actor::system(a.tenant));
    let made = a
        .post(
            "/v1/contacts/batch/create",
            &k,
            json!({"inputs": [
                {"given_name": "Ada", "family_name": "Lovelace", "email": "ada@example.org"},
                {"given_name": "Bob", "email": "bob@example.org", "phone": "+44 20 7946 0958"},
                {"given_name": "Cy", "email": "not an address"},
            ]}),
        )
        .await;
    assert_eq!((made.0, statuses(&made.2)), (StatusCode::MULTI_STATUS, vec![201, 201, 422]), "{}", made.2);
    assert_eq!(made.2["results"][2]["problem"]["status"], 422);
    assert_eq!(sys.contacts().count(&Filter::All).await.unwrap(), 2, "the refused input wrote nothing");
    let ada = made.2["results"][0]["record"].clone();
    let bob = made.2["results"][1]["record"].clone();
    assert_eq!(bob["phones"][0]["number"], "+442079460958");

    // Upsert by email: Ada changed, Di made.
    let up = a
        .post(
            "/v1/contacts/batch/upsert",
            &k,
            json!({"match": "email", "inputs": [
                {"email": "ADA@example.org", "job_title": "Analyst"},
                {"given_name": "Di", "email": "di@example.org"},
            ]}),
        )
        .await;
    assert_eq!((up.0, statuses(&up.2)), (StatusCode::OK, vec![200, 201]), "{}", up.2);
    assert_eq!(up.2["results"][0]["record"]["id"], ada["id"]);
    assert_eq!(up.2["results"][0]["record"]["job_title"], "Analyst");
    assert_eq!(sys.contacts().count(&Filter::All).await.unwrap(), 3);

    // Updates at the versions read: a stale one is a 412, an unreadable one names its field.
    let version = up.2["results"][0]["record"]["version"].as_u64().unwrap();
    let changed = a
        .post(
            "/v1/contacts/batch/update",
            &k,
            json!({"inputs": [
                {"id": ada["id"], "version": version, "fields": {"job_title": "Chief Analyst"}},
                {"id": bob["id"], "version": 9, "fields": {"job_title": "Stale"}},
                {"id": "not-an-id", "version": 1, "fields": {}},
            ]}),
        )
        .await;
    assert_eq!(statuses(&changed.2), [200, 412, 422], "{}", changed.2);
    assert_eq!(changed.2["results"][2]["problem"]["errors"][0]["field"], "inputs[2].id");
    assert_eq!(changed.2["results"][0]["record"]["job_title"], "Chief Analyst");
    let bob_now = sys.contacts().get(ContactId::from_uuid(bob["id"].as_str().unwrap().parse().unwrap())).await;
    assert_eq!(bob_now.unwrap().job_title, None, "the stale update wrote nothing");

    let read = a
        .post(
            "/v1/contacts/batch/read",
            &k,
            json!({"inputs": [{"id": ada["id"]}, {"id": crm::uuid::Uuid::nil()}, {"id": ada["id"], "version": 1}]}),
        )
        .await;
    assert_eq!(statuses(&read.2), [200, 404, 422], "{}", read.2);
    assert_eq!(read.2["results"][0]["record"]["job_title"], "Chief Analyst");
    let gone = a
        .post(
            "/v1/contacts/batch/delete",
            &k,
            json!({"inputs": [{"id": bob["id"], "version": bob["version"]}, {"id": ada["id"]}]}),
        )
        .await;
    assert_eq!(statuses(&gone.2), [204, 422], "{}", gone.2);
    assert_eq!(gone.2["results"][1]["problem"]["errors"][0]["field"], "inputs[1].version");
    assert_eq!(sys.contacts().count(&Filter::All).await.unwrap(), 2);
}

#[tokio::test]
async fn a_batch_that_cannot_be_read_is_refused_whole_and_writes_nothing() {
    let a = api().await;
    let k = a.admin.clone();
    let sys = a.crm.as_actor(&Actor::system(a.tenant));
    let many: Vec<Value> = (0..101).map(|i| json!({"given_name": format!("N{i}")})).collect();
    problem(
        &a.post("/v1/contacts/batch/create", &k, json!({"inputs": many})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        Some("inputs"),
    );
    problem(
        &a.post("/v1/contacts/batch/create", &k, json!({"inputs": []})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        Some("inputs"),
    );
    let unknown = json!({"inputs": [{"given_name": "Ok"}, {"given_name": "X", "shoe_size": 9}]});
    problem(
        &a.post("/v1/contacts/batch/create", &k, unknown).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        Some("shoe_size"),
    );
    let no_match = json!({"inputs": [{"email": "a@example.org"}]});
    problem(&a.post("/v1/contacts/batch/upsert", &k, no_match).await, StatusCode::UNPROCESSABLE_ENTITY, Some("match"));
    let bad_match = json!({"match": "shoe_size", "inputs": [{"email": "a@example.org"}]});
    problem(&a.post("/v1/contacts/batch/upsert", &k, bad_match).await, StatusCode::UNPROCESSABLE_ENTITY, Some("match"));
    let extra = json!({"inputs": [{"given_name": "Ok"}], "atomic": true});
    problem(&a.post("/v1/contacts/batch/create", &k, extra).await, StatusCode::UNPROCESSABLE_ENTITY, Some("atomic"));
    problem(&a.post("/v1/contacts/batch/merge", &k, json!({"inputs": [{}]})).await, StatusCode::NOT_FOUND, None);
    problem(&a.post("/v1/invoices/batch/create", &k, json!({"inputs": [{}]})).await, StatusCode::NOT_FOUND, None);
    assert_eq!(sys.contacts().count(&Filter::All).await.unwrap(), 0);
    let nested = json!({"inputs": [{"given_name": "Ok"}, {"given_name": {"$ne": ""}}]});
    let half = a.post("/v1/contacts/batch/create", &k, nested).await;
    assert_eq!(statuses(&half.2), [201, 422], "{}", half.2);
    assert_eq!(half.2["results"][1]["problem"]["errors"][0]["field"], "inputs[1].given_name");
    assert_eq!(sys.contacts().count(&Filter::All).await.unwrap(), 1);
    // The rep may not create what the roles do not allow: each input refused, nothing written.
    let pipelines = a
        .post("/v1/pipelines/batch/delete", &a.rep, json!({"inputs": [{"id": crm::uuid::Uuid::nil(), "version": 1}]}))
        .await;
    assert_eq!(pipelines.0, StatusCode::MULTI_STATUS, "{}", pipelines.2);
    assert!(statuses(&pipelines.2)[0] >= 400);
}

#[tokio::test]
async fn a_batch_retried_with_its_idempotency_key_writes_once() {
    let a = api().await;
    let k = a.admin.clone();
    let body = json!({"inputs": [{"given_name": "Ida"}, {"given_name": "Ivo"}]});
    let post = || a.http.post(a.url("/v1/contacts/batch/create")).header("idempotency-key", "import-9").json(&body);
    let first = a.send(post(), &k).await;
    assert_eq!(first.0, StatusCode::OK, "{}", first.2);
    let again = a.send(post(), &k).await;
    assert_eq!((again.0, &again.2), (StatusCode::OK, &first.2));
    assert_eq!(again.1["idempotent-replayed"], "true");
    let sys = a.crm.as_actor(&Actor::system(a.tenant));
    assert_eq!(sys.contacts().count(&Filter::All).await.unwrap(), 2);
}
