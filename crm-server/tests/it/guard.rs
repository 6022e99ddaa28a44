//! The guards around every request: the rate limit per key, the time limit, CORS, metrics.

use std::time::Duration;

use crm::prelude::*;
use crm_server::{Options, RateLimit};
use reqwest::StatusCode;
use serde_json::json;

use crate::{api, api_with, problem};

#[tokio::test]
async fn a_key_over_its_rate_is_told_when_to_return_and_other_keys_are_served() {
    let a = api_with(Options::default().rate_limit(Some(RateLimit { per_second: 1, burst: 3 }))).await;
    for _ in 0..3 {
        assert_eq!(a.get("/v1/contacts", &a.admin).await.0, StatusCode::OK);
    }
    let over = a.post("/v1/contacts", &a.admin, json!({"given_name": "Late"})).await;
    problem(&over, StatusCode::TOO_MANY_REQUESTS, None);
    let wait: u64 = over.1["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&wait), "{wait}");
    assert_eq!(a.get("/v1/contacts", &a.rep).await.0, StatusCode::OK, "another key has its own allowance");
    let sys = a.crm.as_actor(&Actor::system(a.tenant));
    assert_eq!(sys.contacts().count(&Filter::All).await.unwrap(), 0, "the refused create wrote nothing");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(a.get("/v1/contacts", &a.admin).await.0, StatusCode::OK, "allowed again after the wait");
}

#[tokio::test]
async fn a_request_over_the_time_limit_is_stopped_with_a_problem() {
    let a = api_with(Options::default().timeout(Duration::ZERO)).await;
    let late = a.get("/v1/contacts", &a.admin).await;
    problem(&late, StatusCode::SERVICE_UNAVAILABLE, None);
    assert_eq!(late.2["type"], "urn:crm:problem:timeout");
    assert_eq!(late.1["retry-after"], "1");
    let made = a.post("/v1/contacts", &a.admin, json!({"given_name": "Slow"})).await;
    problem(&made, StatusCode::SERVICE_UNAVAILABLE, None);
    let sys = a.crm.as_actor(&Actor::system(a.tenant));
    assert_eq!(sys.contacts().count(&Filter::All).await.unwrap(), 0);
}

#[tokio::test]
async fn only_the_origins_named_may_call_from_a_browser() {
    let preflight = |a: &crate::Api, origin: &str| {
        a.http
            .request(reqwest::Method::OPTIONS, a.url("/v1/contacts/0191e0a8-0000-7000-8000-000000000000"))
            .header("origin", origin)
            .header("access-control-request-method", "PATCH")
            .header("access-control-request-headers", "authorization,if-match")
            .send()
    };
    let a = api_with(Options::default().allow_origin("https://app.example.com")).await;
    let ok = preflight(&a, "https://app.example.com").await.unwrap();
    assert!(ok.status().is_success(), "{}", ok.status());
    let h = ok.headers();
    assert_eq!(h["access-control-allow-origin"], "https://app.example.com");
    assert!(h["access-control-allow-methods"].to_str().unwrap().contains("PATCH"));
    assert!(h["access-control-allow-headers"].to_str().unwrap().contains("if-match"));
    let res = a.http.get(a.url("/v1/contacts")).bearer_auth(&a.admin).header("origin", "https://app.example.com");
    let res = res.send().await.unwrap();
    assert_eq!(res.headers()["access-control-allow-origin"], "https://app.example.com");
    assert!(res.headers()["access-control-expose-headers"].to_str().unwrap().contains("etag"));
    let evil = preflight(&a, "https://evil.example").await.unwrap();
    assert!(evil.headers().get("access-control-allow-origin").is_none());

    let closed = api().await;
    let res = preflight(&closed, "https://app.example.com").await.unwrap();
    assert!(res.headers().get("access-control-allow-origin").is_none(), "no origin allowed by default");
}

#[tokio::test]
async fn requests_are_counted_by_route_and_status_for_prometheus() {
    let a = api().await;
    for _ in 0..2 {
        assert_eq!(a.get("/v1/contacts", &a.admin).await.0, StatusCode::OK);
    }
    problem(&a.get("/v1/widgets", &a.admin).await, StatusCode::NOT_FOUND, None);
    let res = a.http.get(a.url("/metrics")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("application/openmetrics-text"));
    let text = res.text().await.unwrap();
    let line = |prefix: &str| text.lines().find(|l| l.starts_with(prefix)).map(str::to_owned);
    assert_eq!(
        line(r#"crm_http_requests_total{method="GET",route="/v1/{kind}",status="200"}"#).as_deref(),
        Some(r#"crm_http_requests_total{method="GET",route="/v1/{kind}",status="200"} 2"#),
        "{text}"
    );
    assert!(line(r#"crm_http_requests_total{method="GET",route="/v1/{kind}",status="404"} 1"#).is_some(), "{text}");
    assert!(line(r#"crm_http_request_duration_seconds_count{method="GET",route="/v1/{kind}"} 3"#).is_some(), "{text}");
    let off = api_with(Options::default().metrics(false)).await;
    problem(&off.get("/metrics", &off.admin).await, StatusCode::NOT_FOUND, None);
}
