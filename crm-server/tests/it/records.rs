//! `/v1/{kind}`: records of every kind created, read, listed, changed and deleted; keys, roles
//! and tenants; bad input refused as problem documents.

use crm::prelude::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{api, problem};

#[tokio::test]
async fn requests_without_a_valid_key_are_refused() {
    let a = api().await;
    let res = a.http.get(a.url("/v1/contacts")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(res.headers()["www-authenticate"], "Bearer");
    for key in ["nope", "crm_00000000000000000000000000000000_00", &a.admin[..a.admin.len() - 2]] {
        problem(&a.get("/v1/contacts", key).await, StatusCode::UNAUTHORIZED, None);
    }
    let sys = a.crm.as_actor(&Actor::system(a.tenant));
    let keys = sys.api_keys().list(&Query::new(Filter::eq("name", "rep"))).await.unwrap().items;
    sys.api_keys().revoke(keys[0].id).await.unwrap();
    problem(&a.get("/v1/contacts", &a.rep).await, StatusCode::UNAUTHORIZED, None);
    assert_eq!(a.get("/v1/contacts", &a.admin).await.0, StatusCode::OK);
}

#[tokio::test]
async fn records_are_created_read_listed_in_pages_changed_and_deleted_with_etags() {
    let a = api().await;
    let k = a.admin.clone();
    let made = a
        .post("/v1/contacts", &k, json!({"given_name": "Ada", "family_name": "Lovelace", "email": "ada@example.org"}))
        .await;
    assert_eq!(made.0, StatusCode::CREATED, "{}", made.2);
    let id = made.2["id"].as_str().unwrap().to_owned();
    assert_eq!(made.1["location"], format!("/v1/contacts/{id}").as_str());
    assert_eq!(made.1["etag"], "\"1\"");
    for (g, f) in [("Bob", "Byte"), ("Cy", "Clay"), ("Di", "Dee"), ("Ed", "Eel")] {
        assert_eq!(a.post("/v1/contacts", &k, json!({"given_name": g, "family_name": f})).await.0, StatusCode::CREATED);
    }
    let (status, headers, one) = a.get(&format!("/v1/contacts/{id}"), &k).await;
    assert_eq!((status, headers["etag"].to_str().unwrap()), (StatusCode::OK, "\"1\""));
    let held = a.http.get(a.url(&format!("/v1/contacts/{id}"))).header("if-none-match", "\"1\"");
    let (status, headers, body) = a.send(held, &k).await;
    assert_eq!((status, headers["etag"].to_str().unwrap(), body), (StatusCode::NOT_MODIFIED, "\"1\"", Value::Null));
    assert_eq!(one["emails"][0]["address"], "ada@example.org");

    // Pages of 2, sorted by family name descending, walked with the cursor.
    let mut names = Vec::new();
    let mut path = "/v1/contacts?sort=-family_name&limit=2".to_owned();
    loop {
        let (status, _, page) = a.get(&path, &k).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        names.extend(page["items"].as_array().unwrap().iter().map(|c| c["family_name"].as_str().unwrap().to_owned()));
        match page["next"].as_str() {
            Some(c) => {
                path = format!(
                    "/v1/contacts?sort=-family_name&limit=2&cursor={}",
                    url::form_urlencoded::byte_serialize(c.as_bytes()).collect::<String>()
                )
            }
            None => break,
        }
    }
    assert_eq!(names, ["Lovelace", "Eel", "Dee", "Clay", "Byte"]);
    let found = a.get("/v1/contacts?filter=family_name%5E%3DL&filter=given_name%3DAda", &k).await;
    assert_eq!(found.2["items"].as_array().unwrap().len(), 1, "{}", found.2);

    // Changes need the version read.
    let path = format!("/v1/contacts/{id}");
    let patch = json!({"job_title": "Analyst", "custom": {}});
    problem(&a.send(a.http.patch(a.url(&path)).json(&patch), &k).await, StatusCode::PRECONDITION_REQUIRED, None);
    let stale = a.http.patch(a.url(&path)).header("if-match", "\"7\"").json(&patch);
    problem(&a.send(stale, &k).await, StatusCode::PRECONDITION_FAILED, None);
    let ok = a.send(a.http.patch(a.url(&path)).header("if-match", "\"1\"").json(&patch), &k).await;
    assert_eq!(
        (ok.0, ok.1["etag"].to_str().unwrap(), ok.2["job_title"].as_str()),
        (StatusCode::OK, "\"2\"", Some("Analyst"))
    );
    let unknown = a.http.patch(a.url(&path)).header("if-match", "\"2\"").json(&json!({"shoe_size": 9}));
    problem(&a.send(unknown, &k).await, StatusCode::UNPROCESSABLE_ENTITY, Some("shoe_size"));
    let backwards =
        a.http.patch(a.url(&path)).header("if-match", "\"2\"").json(&json!({"lifecycle_stage": "subscriber"}));
    problem(&a.send(backwards, &k).await, StatusCode::UNPROCESSABLE_ENTITY, Some("lifecycle_stage"));
    let garbage = a.http.patch(a.url(&path)).header("if-match", "\"2\"").body("{not json");
    problem(&a.send(garbage, &k).await, StatusCode::BAD_REQUEST, None);
    assert_eq!(a.get(&path, &k).await.1["etag"], "\"2\"", "refused changes wrote nothing");
    let stale = a.send(a.http.get(a.url(&path)).header("if-none-match", "\"1\""), &k).await;
    assert_eq!((stale.0, stale.2["job_title"].as_str()), (StatusCode::OK, Some("Analyst")), "changed since");

    let gone = a.send(a.http.delete(a.url(&path)).header("if-match", "\"1\""), &k).await;
    problem(&gone, StatusCode::PRECONDITION_FAILED, None);
    assert_eq!(a.send(a.http.delete(a.url(&path)).header("if-match", "\"2\""), &k).await.0, StatusCode::NO_CONTENT);
    problem(&a.get(&path, &k).await, StatusCode::NOT_FOUND, None);

    // Other kinds, and what is not there.
    let acme = a.post("/v1/companies", &k, json!({"name": "Acme", "domain": "acme.example"})).await;
    assert_eq!(acme.0, StatusCode::CREATED, "{}", acme.2);
    assert_eq!(a.get("/v1/companies", &k).await.2["items"][0]["domain"], "acme.example");
    problem(&a.get("/v1/widgets", &k).await, StatusCode::NOT_FOUND, None);
    problem(&a.get("/v1/contacts/not-an-id", &k).await, StatusCode::NOT_FOUND, None);
    problem(&a.get("/v1/contacts?filter=shoe_size%3D9", &k).await, StatusCode::UNPROCESSABLE_ENTITY, Some("filter[0]"));
    problem(&a.get("/v1/contacts?limit=0", &k).await, StatusCode::BAD_REQUEST, None);
    let invoice = a.post("/v1/invoices", &k, json!({"number": "1"})).await;
    problem(&invoice, StatusCode::UNPROCESSABLE_ENTITY, Some("lines"));
    problem(&a.send(a.http.put(a.url("/v1/contacts")), &k).await, StatusCode::METHOD_NOT_ALLOWED, None);
    problem(&a.post("/v1/contacts", &k, json!(["not", "an", "object"])).await, StatusCode::BAD_REQUEST, None);
    let hits = a.get("/v1/search?q=acme", &k).await;
    assert_eq!(hits.2["items"][0]["kind"], "company", "{}", hits.2);
}

#[tokio::test]
async fn each_key_sees_what_its_user_may_and_nothing_of_other_tenants() {
    let a = api().await;
    let mine = a.post("/v1/contacts", &a.rep, json!({"given_name": "Mo", "family_name": "Mine"})).await;
    assert_eq!(mine.0, StatusCode::CREATED, "{}", mine.2);
    assert_eq!(mine.2["owner_id"], a.rep_id.to_string().as_str(), "owned by the key's user");
    let theirs = a.post("/v1/contacts", &a.admin, json!({"given_name": "Tia", "family_name": "Theirs"})).await;
    let theirs_id = theirs.2["id"].as_str().unwrap();
    let listed = a.get("/v1/contacts", &a.rep).await.2;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1, "the rep's own: {listed}");
    problem(&a.get(&format!("/v1/contacts/{theirs_id}"), &a.rep).await, StatusCode::NOT_FOUND, None);
    problem(&a.get(&format!("/v1/contacts/{theirs_id}"), &a.other_tenant).await, StatusCode::NOT_FOUND, None);
    assert!(a.get("/v1/contacts", &a.other_tenant).await.2["items"].as_array().unwrap().is_empty());
    let stages = json!([{"name": "New"}, {"name": "Won", "kind": "won"}, {"name": "Lost", "kind": "lost"}]);
    let pipeline = a.post("/v1/pipelines", &a.rep, json!({"name": "Mine", "stages": stages})).await;
    problem(&pipeline, StatusCode::FORBIDDEN, None);
}

#[tokio::test]
async fn oversized_bodies_and_custom_values_are_read_or_refused_as_problems() {
    let a = api().await;
    let k = a.admin.clone();
    let sys = a.crm.as_actor(&Actor::system(a.tenant));
    sys.custom_fields()
        .define(crm::model::FieldDefinition::new(
            EntityKind::Contact,
            "renewal",
            "Renewal",
            crm::model::FieldType::Date,
        ))
        .await
        .unwrap();
    let made = a.post("/v1/contacts", &k, json!({"given_name": "Ada"})).await;
    let path = format!("/v1/contacts/{}", made.2["id"].as_str().unwrap());
    let dated =
        a.http.patch(a.url(&path)).header("if-match", "\"1\"").json(&json!({"custom": {"renewal": "2027-03-31"}}));
    let got = a.send(dated, &k).await;
    assert_eq!(got.0, StatusCode::OK, "{}", got.2);
    let stored =
        sys.contacts().get(ContactId::from_uuid(made.2["id"].as_str().unwrap().parse().unwrap())).await.unwrap();
    assert_eq!(
        stored.custom.get("renewal"),
        Some(&crm::value::Value::Date(crm::chrono::NaiveDate::from_ymd_opt(2027, 3, 31).unwrap()))
    );
    let wrong = a.http.patch(a.url(&path)).header("if-match", "\"2\"").json(&json!({"custom.renewal": "next spring"}));
    problem(&a.send(wrong, &k).await, StatusCode::UNPROCESSABLE_ENTITY, Some("custom.renewal"));

    let huge = format!("{{\"given_name\": \"{}\"}}", "x".repeat(10 << 20));
    let res = a.http.post(a.url("/v1/contacts")).bearer_auth(&k).body(huge).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    assert_eq!(a.get("/v1/contacts", &k).await.2["items"].as_array().unwrap().len(), 1, "nothing written");
}
