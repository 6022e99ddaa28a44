//! `Idempotency-Key` on POST.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{api, problem};

#[tokio::test]
async fn a_create_retried_with_its_idempotency_key_makes_one_record() {
    let a = api().await;
    let k = a.admin.clone();
    let body = json!({"given_name": "Ida", "family_name": "Empotent"});
    let post = |key: &str, body: &Value| a.http.post(a.url("/v1/contacts")).header("idempotency-key", key).json(body);
    let first = a.send(post("order-7", &body), &k).await;
    assert_eq!(first.0, StatusCode::CREATED, "{}", first.2);
    let again = a.send(post("order-7", &body), &k).await;
    assert_eq!((again.0, &again.2), (StatusCode::CREATED, &first.2), "the first answer again");
    assert_eq!(again.1["idempotent-replayed"], "true");
    assert_eq!(again.1["location"], first.1["location"]);
    assert_eq!(a.get("/v1/contacts", &k).await.2["items"].as_array().unwrap().len(), 1, "one record");
    let other = a.send(post("order-7", &json!({"given_name": "Someone else"})), &k).await;
    problem(&other, StatusCode::UNPROCESSABLE_ENTITY, None);
    // Keys are the caller's own: another user's same key is another request.
    let theirs = a.send(post("order-7", &json!({"given_name": "Rep's"})), &a.rep).await;
    assert_eq!(theirs.0, StatusCode::CREATED, "{}", theirs.2);
    // A refused create is kept too; a bad key is refused.
    let refused = a.send(post("bad-1", &json!({"email": "nope"})), &k).await;
    problem(&refused, StatusCode::UNPROCESSABLE_ENTITY, None);
    assert_eq!(a.send(post("bad-1", &json!({"email": "nope"})), &k).await.2, refused.2);
    problem(&a.send(post("", &body), &k).await, StatusCode::BAD_REQUEST, None);
}

#[tokio::test]
async fn a_retry_reaching_another_server_over_the_same_database_gets_the_first_answer() {
    let a = api().await;
    let body = json!({"given_name": "Ida", "family_name": "Elsewhere"});
    let first =
        a.send(a.http.post(a.url("/v1/contacts")).header("idempotency-key", "sync-42").json(&body), &a.admin).await;
    assert_eq!(first.0, StatusCode::CREATED, "{}", first.2);

    // A second server process over the same database: its memory holds no answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let other = format!("http://{}", listener.local_addr().unwrap());
    let served = a.crm.clone();
    tokio::spawn(async move { crm_server::serve(served, listener, std::future::pending()).await });
    let retry = |b: &serde_json::Value| {
        a.http.post(format!("{other}/v1/contacts")).bearer_auth(&a.admin).header("idempotency-key", "sync-42").json(b)
    };
    let again = retry(&body).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::CREATED);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.headers()["location"], first.1["location"]);
    assert_eq!(again.json::<serde_json::Value>().await.unwrap(), first.2, "the first answer again");
    let reused = retry(&json!({"given_name": "Someone else"})).send().await.unwrap();
    assert_eq!(reused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let sys = a.crm.as_actor(&crm::actor::Actor::system(a.tenant));
    assert_eq!(sys.contacts().count(&crm::query::Filter::All).await.unwrap(), 1, "one record");
}
