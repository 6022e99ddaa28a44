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
