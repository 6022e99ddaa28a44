//! Webhook subscriptions over HTTP (`/v1/webhooks`), and their delivery in the background.
//!
//! A program with the `manage_integrations` permission subscribes a URL to the events of some
//! record kinds; the secret its deliveries are signed with (Standard Webhooks) is in the
//! `201` answer only. [`serve_with`](crate::serve_with) delivers every few seconds, in commit
//! order and at least once, the events of the tenants in [`WebhookDelivery::tenant`] and of every
//! tenant that manages its subscriptions through this server; failures go to dead letters, which
//! `POST /v1/webhooks/{id}/redeliver` sends again.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use crm::actor::Actor;
use crm::entity::EntityKind;
use crm::ids::TenantId;
use crm::integrations::IntegrationError;
use crm::integrations::webhooks::{
    DeliveryPolicy, Subscription, Subscriptions, WebhookSender, dead_letters, dispatch_pending, redeliver_dead_letters,
};
use crm::service::{Crm, Session};
use serde_json::{Value, json};

use crate::AppState;
use crate::auth::Caller;
use crate::idempotency;
use crate::problem::Problem;
use crate::records::{object, read_body};

/// How the server delivers subscriptions' events: the retry policy, how often it looks for new
/// events, and the tenants it delivers for from the start. By default: the default policy,
/// every 5 seconds, for the tenants seen managing subscriptions.
#[derive(Clone, Debug)]
pub struct WebhookDelivery {
    pub(crate) policy: DeliveryPolicy,
    pub(crate) every: Duration,
    pub(crate) tenants: Vec<TenantId>,
}

impl Default for WebhookDelivery {
    fn default() -> Self {
        WebhookDelivery { policy: DeliveryPolicy::default(), every: Duration::from_secs(5), tenants: Vec::new() }
    }
}

impl WebhookDelivery {
    /// Attempts, backoff, timeouts and which targets are allowed.
    pub fn policy(mut self, policy: DeliveryPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// How often new events are looked for (at least every 10 ms).
    pub fn every(mut self, every: Duration) -> Self {
        self.every = every.max(Duration::from_millis(10));
        self
    }

    /// Delivers `tenant`'s subscriptions from the start (others once they are managed here).
    pub fn tenant(mut self, tenant: TenantId) -> Self {
        self.tenants.push(tenant);
        self
    }
}

/// The delivery as it runs: its sender and the tenants it delivers for.
pub(crate) struct Webhooks {
    sender: WebhookSender,
    every: Duration,
    tenants: Mutex<BTreeSet<TenantId>>,
}

impl Webhooks {
    pub(crate) fn new(delivery: &WebhookDelivery) -> Result<Webhooks, IntegrationError> {
        Ok(Webhooks {
            sender: WebhookSender::new(delivery.policy.clone())?,
            every: delivery.every,
            tenants: Mutex::new(delivery.tenants.iter().copied().collect()),
        })
    }

    fn watch(&self, tenant: TenantId) {
        self.tenants.lock().unwrap_or_else(|p| p.into_inner()).insert(tenant);
    }

    /// Delivers, pass after pass, until dropped (the server aborts it at shutdown).
    pub(crate) async fn run(self: Arc<Self>, crm: Crm) {
        loop {
            tokio::time::sleep(self.every).await;
            let tenants: Vec<TenantId> =
                self.tenants.lock().unwrap_or_else(|p| p.into_inner()).iter().copied().collect();
            for tenant in tenants {
                let cx = crm.as_actor(&Actor::system(tenant));
                let pass = async {
                    let endpoints = Subscriptions::of(&cx).endpoints().await?;
                    dispatch_pending(&cx, &self.sender, &endpoints, 500).await
                };
                match pass.await {
                    Ok(r) if !r.dead_letters.is_empty() => {
                        tracing::warn!(%tenant, dead = r.dead_letters.len(), "webhook deliveries failed")
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(%tenant, error = %e, "a webhook delivery pass failed"),
                }
            }
        }
    }
}

fn problem(e: IntegrationError) -> Problem {
    crm::error::Error::from(e).into()
}

/// The subscription as answered, with `secret` when it was just made.
fn subscription_json(s: &Subscription, secret: Option<String>) -> Value {
    let mut v = json!({
        "id": s.id,
        "url": s.url,
        "kinds": s.kinds,
        "description": s.description,
        "created_at": s.created_at,
    });
    if let Some(secret) = secret {
        v["secret"] = json!(secret);
    }
    v
}

/// Who manages here is delivered for.
fn seen(state: &AppState, cx: &Session) {
    if let Some(w) = &state.webhooks {
        w.watch(cx.tenant());
    }
}

/// `POST /v1/webhooks`.
pub(crate) async fn create(
    State(state): State<AppState>,
    Caller(cx): Caller,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    let body = read_body(body)?;
    let fields = object(&body)?;
    let invalid = |field: &str, why: &str| -> Problem {
        problem(IntegrationError::Invalid { field: field.to_owned(), reason: why.to_owned() })
    };
    let mut url = None;
    let mut kinds = Vec::new();
    let mut description = None;
    for (name, value) in fields {
        match (name.as_str(), value) {
            ("url", Value::String(u)) => url = Some(u),
            ("kinds", Value::Array(list)) => {
                for (i, k) in list.into_iter().enumerate() {
                    let kind = k.as_str().and_then(|k| k.parse::<EntityKind>().ok());
                    kinds.push(kind.ok_or_else(|| invalid(&format!("kinds[{i}]"), "not a record kind (`deal`…)"))?);
                }
            }
            ("description", Value::String(d)) => description = Some(d),
            ("description", Value::Null) => {}
            ("url" | "kinds" | "description", _) => return Err(invalid(&name, "the wrong type")),
            _ => return Err(invalid(&name, "not a field of a subscription (url, kinds, description)")),
        }
    }
    let url = url.ok_or_else(|| invalid("url", "required"))?;
    seen(&state, &cx);
    let session = cx.clone();
    let run = async move {
        match Subscriptions::of(&session).add(&url, kinds, description).await {
            Ok((s, secret)) => {
                let mut res =
                    (StatusCode::CREATED, axum::Json(subscription_json(&s, Some(secret.expose())))).into_response();
                if let Ok(at) = HeaderValue::from_str(&format!("/v1/webhooks/{}", s.id)) {
                    res.headers_mut().insert(header::LOCATION, at);
                }
                res
            }
            Err(e) => problem(e).into_response(),
        }
    };
    idempotency::once(&state.answers, &cx, &headers, &[b"POST", b"webhooks", &body], run).await
}

/// `GET /v1/webhooks`.
pub(crate) async fn list(State(state): State<AppState>, Caller(cx): Caller) -> Result<Response, Problem> {
    let all = Subscriptions::of(&cx).list().await.map_err(problem)?;
    seen(&state, &cx);
    let items: Vec<Value> = all.iter().map(|s| subscription_json(s, None)).collect();
    Ok(axum::Json(json!({ "items": items })).into_response())
}

/// The subscription `id`, else 404.
async fn one(cx: &Session, id: &str) -> Result<Subscription, Problem> {
    Subscriptions::of(cx).get(id).await.map_err(problem)?.ok_or_else(|| missing(id))
}

/// `GET /v1/webhooks/{id}`.
pub(crate) async fn read(Caller(cx): Caller, Path(id): Path<String>) -> Result<Response, Problem> {
    Ok(axum::Json(subscription_json(&one(&cx, &id).await?, None)).into_response())
}

/// `DELETE /v1/webhooks/{id}`: the subscription and its delivery state.
pub(crate) async fn delete(Caller(cx): Caller, Path(id): Path<String>) -> Result<Response, Problem> {
    match Subscriptions::of(&cx).remove(&id).await.map_err(problem)? {
        true => Ok(StatusCode::NO_CONTENT.into_response()),
        false => Err(missing(&id)),
    }
}

/// `GET /v1/webhooks/{id}/dead-letters`: the deliveries that failed for good, oldest first.
pub(crate) async fn failed(Caller(cx): Caller, Path(id): Path<String>) -> Result<Response, Problem> {
    let endpoint = endpoint(&cx, &id).await?;
    let items = dead_letters(&cx, &endpoint).await.map_err(problem)?;
    Ok(axum::Json(json!({ "items": items })).into_response())
}

/// `POST /v1/webhooks/{id}/redeliver`: the dead letters tried again; those that fail again stay.
pub(crate) async fn redeliver(
    State(state): State<AppState>,
    Caller(cx): Caller,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let endpoint = endpoint(&cx, &id).await?;
    let fallback;
    let sender = match &state.webhooks {
        Some(w) => &w.sender,
        None => {
            fallback = WebhookSender::new(DeliveryPolicy::default()).map_err(problem)?;
            &fallback
        }
    };
    let report = redeliver_dead_letters(&cx, sender, &endpoint).await.map_err(problem)?;
    Ok(axum::Json(json!({ "delivered": report.delivered, "dead_letters": report.dead_letters })).into_response())
}

/// The endpoint of subscription `id`, else 404.
async fn endpoint(cx: &Session, id: &str) -> Result<crm::integrations::webhooks::Endpoint, Problem> {
    let all = Subscriptions::of(cx).endpoints().await.map_err(problem)?;
    all.into_iter().find(|e| e.id == id).ok_or_else(|| missing(id))
}

fn missing(id: &str) -> Problem {
    Problem::new(StatusCode::NOT_FOUND, "not-found", "No such subscription", format!("no subscription `{id}`"))
}

/// The subscriptions' paths in the OpenAPI document.
pub(crate) fn paths(paths: &mut serde_json::Map<String, Value>) {
    use crate::openapi::{json_response, r, responses};
    let tag = ["webhooks"];
    let one = r("schemas", "Subscription");
    paths.insert(
        "/v1/webhooks".into(),
        json!({
            "get": {
                "operationId": "list_webhooks",
                "tags": tag,
                "summary": "The tenant's webhook subscriptions (needs manage_integrations)",
                "responses": responses((200, json_response("Every subscription, oldest first", json!({
                    "type": "object", "required": ["items"],
                    "properties": { "items": { "type": "array", "items": one.clone() } }
                }), &[])), &[403]),
            },
            "post": {
                "operationId": "create_webhook",
                "tags": tag,
                "summary": "Subscribes a URL to events; the signing secret is in this answer only",
                "parameters": [r("parameters", "Idempotency-Key")],
                "requestBody": { "required": true, "content": { "application/json": { "schema": r("schemas", "NewSubscription") } } },
                "responses": responses(
                    (201, json_response("Subscribed", r("schemas", "SubscriptionCreated"), &["Location"])),
                    &[400, 403, 409, 413, 422],
                ),
            }
        }),
    );
    let id = json!({ "name": "id", "in": "path", "required": true, "schema": { "type": "string" } });
    paths.insert(
        "/v1/webhooks/{id}".into(),
        json!({
            "parameters": [id.clone()],
            "get": {
                "operationId": "read_webhook",
                "tags": tag,
                "summary": "One subscription",
                "responses": responses((200, json_response("The subscription", one, &[])), &[403, 404]),
            },
            "delete": {
                "operationId": "delete_webhook",
                "tags": tag,
                "summary": "Ends a subscription, with its delivery state",
                "responses": responses((204, json!({ "description": "Removed" })), &[403, 404]),
            }
        }),
    );
    paths.insert(
        "/v1/webhooks/{id}/dead-letters".into(),
        json!({ "parameters": [id.clone()], "get": {
            "operationId": "webhook_dead_letters",
            "tags": tag,
            "summary": "Deliveries that failed every attempt, oldest first",
            "responses": responses((200, json_response("The dead letters", json!({
                "type": "object", "required": ["items"],
                "properties": { "items": { "type": "array", "items": r("schemas", "DeadLetter") } }
            }), &[])), &[403, 404]),
        } }),
    );
    paths.insert(
        "/v1/webhooks/{id}/redeliver".into(),
        json!({ "parameters": [id], "post": {
            "operationId": "redeliver_webhook",
            "tags": tag,
            "summary": "Tries the dead letters again; those that fail again stay",
            "responses": responses((200, json_response("What went through", json!({
                "type": "object", "required": ["delivered", "dead_letters"],
                "properties": {
                    "delivered": { "type": "integer", "minimum": 0 },
                    "dead_letters": { "type": "array", "items": r("schemas", "DeadLetter") }
                }
            }), &[])), &[403, 404]),
        } }),
    );
}

/// The subscriptions' schemas.
pub(crate) fn schemas() -> serde_json::Map<String, Value> {
    let kind = json!({ "type": "string", "enum": EntityKind::ALL.iter().map(|k| k.as_str()).collect::<Vec<_>>() });
    let subscription = json!({
        "type": "object",
        "required": ["id", "url", "kinds", "description", "created_at"],
        "properties": {
            "id": { "type": "string" },
            "url": { "type": "string", "format": "uri" },
            "kinds": { "type": "array", "items": kind.clone(), "description": "Only events about these kinds; empty: every event." },
            "description": { "type": ["string", "null"] },
            "created_at": { "type": "string", "format": "date-time" }
        }
    });
    let mut created = subscription.clone();
    if let Some(required) = created["required"].as_array_mut() {
        required.push(json!("secret"));
    }
    created["properties"]["secret"] =
        json!({ "type": "string", "description": "The signing secret (`whsec_…`), shown only in this answer." });
    [
        ("Subscription", subscription),
        ("SubscriptionCreated", created),
        (
            "NewSubscription",
            json!({
                "type": "object",
                "required": ["url"],
                "additionalProperties": false,
                "properties": {
                    "url": { "type": "string", "description": "Where events are POSTed (https)." },
                    "kinds": { "type": "array", "items": kind },
                    "description": { "type": ["string", "null"], "maxLength": 200 }
                }
            }),
        ),
        (
            "DeadLetter",
            json!({
                "type": "object",
                "required": ["endpoint", "seq", "attempts", "last_error"],
                "properties": {
                    "endpoint": { "type": "string" },
                    "seq": { "type": "integer", "minimum": 0 },
                    "attempts": { "type": "integer", "minimum": 0 },
                    "last_error": { "type": "string" }
                }
            }),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}
