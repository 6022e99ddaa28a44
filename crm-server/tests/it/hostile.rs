//! Hostile input: injection attempts, control characters, huge and malformed values in every
//! place a request carries text. The answer is a documented 4xx problem (or, where the text is
//! harmless, a page within the caller's reach); never a server error, never a leak, nothing
//! written.

use crm::prelude::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{api, api_with};

/// Texts meant to break a parser, a query or a page.
fn hostile() -> Vec<String> {
    let mut v: Vec<String> = [
        "' OR 1=1 --",
        "\"; DROP TABLE contacts; --",
        "given_name=' OR '1'='1",
        "owner_id=00000000-0000-0000-0000-000000000000' OR 'x'='x",
        "given_name=\u{0}",
        "given_name=\u{202e}evil",
        "custom.x'); DELETE FROM contacts; --=1",
        "custom.=1",
        "custom..a=1",
        "tags~=%",
        "given_name^=%",
        "given_name=_%",
        "=",
        "==",
        "a=b=c",
        "!=x",
        "given_name!=",
        "created_at>not-a-date",
        "created_at>=9999999999-01-01",
        "version>99999999999999999999999999",
        "lifecycle_stage=lead,customer,",
        "../../etc/passwd",
        "%00%27",
        "😀=😀",
        "id=not-a-uuid",
        "{\"and\": []}",
        "-",
        "--updated_at",
        "+given_name",
        "given_name desc; drop",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.push("x".repeat(10_000));
    v.push(format!("given_name={}", "ü".repeat(5_000)));
    v
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn hostile_text_anywhere_in_a_request_gets_a_problem_or_a_page_within_reach() {
    // Hundreds of requests from one key: no rate limit here.
    let a = api_with(crm_server::Options::default().rate_limit(None)).await;
    let sys = a.crm.as_actor(&Actor::system(a.tenant));
    for (g, f) in [("Tia", "Theirs"), ("Ula", "Theirs")] {
        a.post("/v1/contacts", &a.admin, json!({"given_name": g, "family_name": f})).await;
    }
    let mine = a.post("/v1/contacts", &a.rep, json!({"given_name": "Mo", "family_name": "Mine"})).await.2;
    let before = sys.contacts().count(&Filter::All).await.unwrap();
    let acceptable = [StatusCode::OK, StatusCode::BAD_REQUEST, StatusCode::NOT_FOUND, StatusCode::UNPROCESSABLE_ENTITY];
    let mut refused = 0;
    for text in hostile() {
        let e = enc(&text);
        for path in [
            format!("/v1/contacts?filter={e}"),
            format!("/v1/contacts?sort={e}"),
            format!("/v1/contacts?cursor={e}"),
            format!("/v1/contacts?limit={e}"),
            format!("/v1/search?q={e}"),
            format!("/v1/contacts/{e}"),
            format!("/v1/contacts/{e}/timeline"),
            format!("/v1/events?after={e}"),
            format!("/v1/{e}"),
        ] {
            // The rep's key: whatever is answered stays within what the rep may read.
            let (status, _, body) = a.get(&path, &a.rep).await;
            assert!(acceptable.contains(&status), "{path}: {status} {body}");
            if status == StatusCode::OK
                && let Some(items) = body["items"].as_array()
            {
                assert!(items.iter().all(|c| c["id"] == mine["id"]), "{path}: a leak {body}");
            }
            refused += usize::from(status != StatusCode::OK);
        }
        let path = format!("/v1/contacts/{}", mine["id"].as_str().unwrap());
        for body in
            [json!({ "given_name": text }), json!({ text.clone(): "x" }), json!({ "custom": { text.clone(): text } })]
        {
            let mut patch = a.http.patch(a.url(&path)).json(&body);
            if reqwest::header::HeaderValue::from_str(&text).is_ok() {
                patch = patch.header("if-match", text.as_str());
            }
            let (status, _, answer) = a.send(patch, &a.rep).await;
            assert!(status.is_client_error(), "PATCH {body}: {status} {answer}");
        }
        let made = a.post("/v1/contacts", &a.rep, json!({ text.clone(): text })).await;
        assert!(made.0.is_client_error(), "POST: {} {}", made.0, made.2);
    }
    assert!(refused > 100, "most are refused: {refused}");
    assert_eq!(sys.contacts().count(&Filter::All).await.unwrap(), before, "nothing written");
    let stored = sys.contacts().get(ContactId::from_uuid(mine["id"].as_str().unwrap().parse().unwrap())).await;
    assert_eq!(stored.unwrap().version, 1, "the rep's contact is untouched");
}

#[tokio::test]
async fn malformed_bodies_are_refused_before_anything_is_written() {
    let a = api().await;
    let k = a.admin.clone();
    let bodies: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"{".to_vec(),
        b"null".to_vec(),
        b"[]".to_vec(),
        b"\"text\"".to_vec(),
        b"{\"given_name\": }".to_vec(),
        vec![0xff, 0xfe, 0x00],
        format!("{{\"given_name\": \"{}\"}}", "a".repeat(900_000)).into_bytes(),
        b"{\"given_name\": \"Ada\", \"given_name\": \"Bo\", \"emails\": {\"$gt\": \"\"}}".to_vec(),
        b"{\"given_name\": {\"nested\": [1, 2, {\"deep\": true}]}}".to_vec(),
    ];
    for body in bodies {
        let shown = String::from_utf8_lossy(&body[..body.len().min(60)]).into_owned();
        for path in ["/v1/contacts", "/v1/contacts/batch/create"] {
            let req = a.http.post(a.url(path)).header("content-type", "application/json").body(body.clone());
            let (status, _, answer) = a.send(req, &k).await;
            assert!(status.is_client_error(), "{path} {shown}: {status} {answer}");
        }
    }
    let sys = a.crm.as_actor(&Actor::system(a.tenant));
    assert_eq!(sys.contacts().count(&Filter::All).await.unwrap(), 0);
    let v: Value = a.get("/v1/contacts", &k).await.2;
    assert!(v["items"].as_array().unwrap().is_empty());
}
