//! Webhook subscriptions over HTTP, delivered by the server in the background to a real
//! receiver on loopback: who may subscribe, refused input, signed deliveries of the kinds asked
//! for only, dead letters and redelivery, removal.

use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode as AxumStatus};
use crm::integrations::webhooks::{DeliveryPolicy, WebhookSecret, verify_standard};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{Api, api_with};

/// An HTTP receiver on loopback answering `status` and keeping what it got.
struct Receiver {
    url: String,
    status: Arc<AtomicU16>,
    got: Arc<Mutex<Vec<(HeaderMap, Bytes)>>>,
}

async fn receiver() -> Receiver {
    let status = Arc::new(AtomicU16::new(204));
    let got: Arc<Mutex<Vec<(HeaderMap, Bytes)>>> = Arc::default();
    let (s, g) = (status.clone(), got.clone());
    let app = axum::Router::new().route(
        "/hooks",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let (s, g) = (s.clone(), g.clone());
            async move {
                g.lock().unwrap().push((headers, body));
                AxumStatus::from_u16(s.load(Ordering::SeqCst)).unwrap()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Receiver { url, status, got }
}

impl Receiver {
    /// Waits until it has received `n` requests (at most 10 s); their bodies.
    async fn wait_for(&self, n: usize) -> Vec<(HeaderMap, Bytes)> {
        for _ in 0..200 {
            let got = self.got.lock().unwrap().clone();
            if got.len() >= n {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the receiver got {} of {n} deliveries", self.got.lock().unwrap().len());
    }
}

async fn served() -> Api {
    let policy = DeliveryPolicy {
        max_attempts: 1,
        first_retry: Duration::from_millis(10),
        allow_private_targets: true,
        ..DeliveryPolicy::default()
    };
    let delivery = crm_server::WebhookDelivery::default().policy(policy).every(Duration::from_millis(50));
    api_with(crm_server::Options::default().webhooks(Some(delivery))).await
}

fn verified(headers: &HeaderMap, body: &[u8], secret: &str) -> bool {
    let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
    let secret = WebhookSecret::parse(secret).unwrap();
    let now = crm::chrono::Utc::now().timestamp();
    verify_standard(h("webhook-id"), h("webhook-timestamp"), h("webhook-signature"), body, &[secret], now, 300).is_ok()
}

#[tokio::test]
async fn subscriptions_are_managed_over_http_and_delivered_signed_in_the_background() {
    let api = served().await;
    let hooks = receiver().await;
    let url = api.url("/v1/webhooks");

    // Sales reps do not manage integrations.
    let (status, _, body) = api.send(api.http.post(&url).json(&json!({"url": hooks.url})), &api.rep).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    // Refused input names the field.
    for (input, field) in [
        (json!({"url": "ftp://erp.example.com/x"}), "url"),
        (json!({"kinds": ["contact"]}), "url"),
        (json!({"url": hooks.url, "colour": "red"}), "colour"),
        (json!({"url": hooks.url, "kinds": ["contact", "nope"]}), "kinds[1]"),
        (json!({"url": 7}), "url"),
    ] {
        let (status, _, body) = api.send(api.http.post(&url).json(&input), &api.admin).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{input}: {body}");
        assert_eq!(body["errors"][0]["field"], field, "{input}: {body}");
    }
    let (_, _, none) = api.send(api.http.get(&url), &api.admin).await;
    assert_eq!(none["items"], json!([]), "nothing kept from refused input");

    let input = json!({"url": hooks.url, "kinds": ["contact"], "description": "ERP"});
    let (status, headers, made) = api.send(api.http.post(&url).json(&input), &api.admin).await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    let id = made["id"].as_str().unwrap().to_owned();
    assert_eq!(headers["location"], format!("/v1/webhooks/{id}").as_str());
    let secret = made["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"));
    let (_, _, listed) = api.send(api.http.get(&url), &api.admin).await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    assert!(listed["items"][0].get("secret").is_none(), "the secret is shown once");
    let one = api.url(&format!("/v1/webhooks/{id}"));
    let (status, _, read) = api.send(api.http.get(&one), &api.admin).await;
    assert_eq!((status, read["description"].clone()), (StatusCode::OK, json!("ERP")));
    assert_eq!(api.send(api.http.get(&one), &api.other_tenant).await.0, StatusCode::NOT_FOUND, "another tenant's");

    // A contact reaches the receiver, signed; a deal does not (not a kind asked for).
    let (_, _, deal) =
        api.send(api.http.post(api.url("/v1/deals")).json(&json!({"title": "Rollout"})), &api.admin).await;
    let (_, _, ada) =
        api.send(api.http.post(api.url("/v1/contacts")).json(&json!({"given_name": "Ada"})), &api.admin).await;
    let got = hooks.wait_for(1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let got_all = hooks.got.lock().unwrap().clone();
    assert_eq!(got_all.len(), got.len(), "one delivery: {got_all:?}");
    let (headers, body) = &got[0];
    assert!(verified(headers, body, &secret), "signed with the subscription's secret");
    let event: Value = serde_json::from_slice(body).unwrap();
    assert!(body.windows(36).any(|w| w == ada["id"].as_str().unwrap().as_bytes()), "{event}");
    assert!(!body.windows(36).any(|w| w == deal["id"].as_str().unwrap().as_bytes()));

    // A delivery that fails is a dead letter until redelivered.
    hooks.status.store(500, Ordering::SeqCst);
    api.send(api.http.post(api.url("/v1/contacts")).json(&json!({"given_name": "Bo"})), &api.admin).await;
    let letters = api.url(&format!("/v1/webhooks/{id}/dead-letters"));
    let mut dead = Value::Null;
    for _ in 0..200 {
        dead = api.send(api.http.get(&letters), &api.admin).await.2;
        if dead["items"].as_array().is_some_and(|a| !a.is_empty()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(dead["items"].as_array().unwrap().len(), 1, "{dead}");
    assert!(dead["items"][0]["last_error"].as_str().unwrap().contains("500"), "{dead}");
    hooks.status.store(204, Ordering::SeqCst);
    let redo = api.url(&format!("/v1/webhooks/{id}/redeliver"));
    let (status, _, report) = api.send(api.http.post(&redo), &api.admin).await;
    assert_eq!(
        (status, report["delivered"].clone(), report["dead_letters"].clone()),
        (StatusCode::OK, json!(1), json!([]))
    );
    assert_eq!(api.send(api.http.get(&letters), &api.admin).await.2["items"], json!([]));
    assert_eq!(hooks.got.lock().unwrap().len(), 3, "the first, the failed one, its redelivery");

    // Removed: gone, and nothing more is delivered to it.
    assert_eq!(api.send(api.http.delete(&one), &api.admin).await.0, StatusCode::NO_CONTENT);
    assert_eq!(api.send(api.http.get(&one), &api.admin).await.0, StatusCode::NOT_FOUND);
    assert_eq!(api.send(api.http.delete(&one), &api.admin).await.0, StatusCode::NOT_FOUND);
    api.send(api.http.post(api.url("/v1/contacts")).json(&json!({"given_name": "Cy"})), &api.admin).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(hooks.got.lock().unwrap().len(), 3);
}
