//! Automation over HTTP: the tenant's workflow rules (`/v1/workflows`: created from a JSON body,
//! listed, read, switched on and off, removed, their run log), and the caller's notifications
//! (`/v1/notifications`). Rules are run by the embedder's runner (`crm::automation`) or by
//! `crm automation run`.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, RawQuery};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use crm::ids::{NotificationId, WorkflowId};
use crm::query::{Filter, Query};
use crm::service::NewWorkflow;
use serde_json::{Value, json};

use crate::auth::Caller;
use crate::problem::Problem;
use crate::records::read_body;

fn id<T: From<uuid::Uuid>>(raw: &str) -> Result<T, Problem> {
    raw.parse::<uuid::Uuid>().map(T::from).map_err(|_| Problem::bad_request(format!("`{raw}` is not an id")))
}

/// The value of query parameter `name`.
fn param(query: &Option<String>, name: &str) -> Option<String> {
    url::form_urlencoded::parse(query.as_deref().unwrap_or_default().as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// `limit` (1–1000, default 50), or 400.
fn limit(query: &Option<String>) -> Result<usize, Problem> {
    match param(query, "limit") {
        None => Ok(50),
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=1000).contains(n))
            .ok_or_else(|| Problem::bad_request(format!("limit: `{v}` is not a number from 1 to 1000"))),
    }
}

fn json_of<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or_default()
}

/// `POST /v1/workflows`: a rule from its JSON, checked against the fields of the kind it
/// watches (`422` naming the part that is wrong).
pub(crate) async fn create(Caller(cx): Caller, body: Result<Bytes, BytesRejection>) -> Result<Response, Problem> {
    let body = read_body(body)?;
    let input: NewWorkflow =
        serde_json::from_slice(&body).map_err(|e| Problem::bad_request(format!("not a workflow: {e}")))?;
    let w = cx.workflows().create(input).await?;
    let mut res = (StatusCode::CREATED, axum::Json(json_of(&w))).into_response();
    if let Ok(at) = HeaderValue::from_str(&format!("/v1/workflows/{}", w.id)) {
        res.headers_mut().insert(header::LOCATION, at);
    }
    Ok(res)
}

/// `GET /v1/workflows`: every rule, by name.
pub(crate) async fn list(Caller(cx): Caller) -> Result<Response, Problem> {
    let all = cx.workflows().list(&Query::new(Filter::All).sort_asc("name").limit(1000)).await?.items;
    Ok(axum::Json(json!({ "items": json_of(&all) })).into_response())
}

/// `GET /v1/workflows/{id}`.
pub(crate) async fn read(Caller(cx): Caller, Path(raw): Path<String>) -> Result<Response, Problem> {
    let w = cx.workflows().get(id::<WorkflowId>(&raw)?).await?;
    Ok(axum::Json(json_of(&w)).into_response())
}

/// `DELETE /v1/workflows/{id}`: the rule goes; its run log stays.
pub(crate) async fn delete(Caller(cx): Caller, Path(raw): Path<String>) -> Result<Response, Problem> {
    let w = cx.workflows().get(id::<WorkflowId>(&raw)?).await?;
    cx.workflows().delete(w.id, w.version).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /v1/workflows/{id}/enable` and `/disable`.
pub(crate) async fn switch(Caller(cx): Caller, Path((raw, how)): Path<(String, String)>) -> Result<Response, Problem> {
    let on = match how.as_str() {
        "enable" => true,
        "disable" => false,
        _ => return Err(crate::records::no_route().await),
    };
    let w = cx.workflows().set_enabled(id::<WorkflowId>(&raw)?, on).await?;
    Ok(axum::Json(json_of(&w)).into_response())
}

/// `GET /v1/workflows/{id}/runs?limit=`: the rule's run log, newest first.
pub(crate) async fn runs(
    Caller(cx): Caller,
    Path(raw): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, Problem> {
    let w = cx.workflows().get(id::<WorkflowId>(&raw)?).await?;
    let runs = cx.workflow_runs(Filter::eq("workflow_id", w.id), limit(&query)?).await?;
    Ok(axum::Json(json!({ "items": json_of(&runs) })).into_response())
}

/// `GET /v1/notifications?unread=true&limit=`: the caller's notifications, newest first.
pub(crate) async fn inbox(Caller(cx): Caller, RawQuery(query): RawQuery) -> Result<Response, Problem> {
    let unread = match param(&query, "unread").as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => return Err(Problem::bad_request(format!("unread: `{other}` is not true or false"))),
    };
    let items = cx.notifications().inbox(unread, limit(&query)?).await?;
    let unread = cx.notifications().unread().await?;
    Ok(axum::Json(json!({ "items": json_of(&items), "unread": unread })).into_response())
}

/// `POST /v1/notifications/{id}/read`: one of the caller's notifications marked read.
pub(crate) async fn mark_read(Caller(cx): Caller, Path(raw): Path<String>) -> Result<Response, Problem> {
    let n = cx.notifications().mark_read(id::<NotificationId>(&raw)?).await?;
    Ok(axum::Json(json_of(&n)).into_response())
}

/// The operations above, for the OpenAPI document.
pub(crate) fn paths(paths: &mut serde_json::Map<String, Value>) {
    use crate::openapi::{json_response, r, responses};
    let tag = ["automation"];
    let one = r("schemas", "Workflow");
    let items = |item: Value| json!({ "type": "object", "required": ["items"], "properties": { "items": { "type": "array", "items": item } } });
    let id = json!({ "name": "id", "in": "path", "required": true, "schema": { "type": "string", "format": "uuid" } });
    let limit = json!({ "name": "limit", "in": "query", "schema": { "type": "integer", "minimum": 1, "maximum": 1000, "default": 50 } });
    paths.insert(
        "/v1/workflows".into(),
        json!({
            "get": {
                "operationId": "list_workflows", "tags": tag,
                "summary": "The tenant's workflow rules, by name (needs manage_automations)",
                "responses": responses((200, json_response("Every rule", items(one.clone()), &[])), &[403]),
            },
            "post": {
                "operationId": "create_workflow", "tags": tag,
                "summary": "A rule from its JSON, checked against the fields of the kind it watches",
                "requestBody": { "required": true, "content": { "application/json": { "schema": r("schemas", "NewWorkflow") } } },
                "responses": responses((201, json_response("Saved", one.clone(), &["Location"])), &[400, 403, 413, 422]),
            }
        }),
    );
    paths.insert(
        "/v1/workflows/{id}".into(),
        json!({
            "parameters": [id.clone()],
            "get": {
                "operationId": "read_workflow", "tags": tag, "summary": "One rule",
                "responses": responses((200, json_response("The rule", one.clone(), &[])), &[400, 403, 404]),
            },
            "delete": {
                "operationId": "delete_workflow", "tags": tag, "summary": "Removes a rule (its run log stays)",
                "responses": responses((204, json!({ "description": "Removed" })), &[400, 403, 404, 422]),
            }
        }),
    );
    for (how, what) in
        [("enable", "Switches a rule on: changes from now on set it off"), ("disable", "Switches a rule off")]
    {
        paths.insert(
            format!("/v1/workflows/{{id}}/{how}"),
            json!({ "parameters": [id.clone()], "post": {
                "operationId": format!("{how}_workflow"), "tags": tag, "summary": what,
                "responses": responses((200, json_response("The rule", one.clone(), &[])), &[400, 403, 404]),
            } }),
        );
    }
    paths.insert(
        "/v1/workflows/{id}/runs".into(),
        json!({ "parameters": [id.clone()], "get": {
            "operationId": "workflow_runs", "tags": tag,
            "summary": "The rule's run log, newest first: each step, its outcome and why",
            "parameters": [limit.clone()],
            "responses": responses((200, json_response("Log entries", items(r("schemas", "WorkflowRun")), &[])), &[400, 403, 404]),
        } }),
    );
    paths.insert(
        "/v1/notifications".into(),
        json!({ "get": {
            "operationId": "notifications", "tags": tag,
            "summary": "The caller's notifications, newest first, and how many are unread",
            "parameters": [limit, { "name": "unread", "in": "query", "schema": { "type": "boolean", "default": false } }],
            "responses": responses((200, json_response("Notifications", json!({
                "type": "object", "required": ["items", "unread"],
                "properties": {
                    "items": { "type": "array", "items": r("schemas", "Notification") },
                    "unread": { "type": "integer", "minimum": 0 }
                }
            }), &[])), &[400]),
        } }),
    );
    paths.insert(
        "/v1/notifications/{id}/read".into(),
        json!({ "parameters": [id], "post": {
            "operationId": "read_notification", "tags": tag,
            "summary": "Marks one of the caller's notifications read",
            "responses": responses((200, json_response("The notification", r("schemas", "Notification"), &[])), &[400, 404]),
        } }),
    );
}

/// The request body of `POST /v1/workflows`.
pub(crate) fn schemas() -> serde_json::Map<String, Value> {
    use crate::openapi::r;
    let new = json!({
        "type": "object",
        "required": ["name", "entity_kind", "trigger", "steps"],
        "additionalProperties": false,
        "properties": {
            "name": { "type": "string" },
            "description": { "type": ["string", "null"] },
            "entity_kind": r("schemas", "EntityKind"),
            "trigger": r("schemas", "Trigger"),
            "condition": r("schemas", "Filter"),
            "was": { "oneOf": [r("schemas", "Filter"), { "type": "null" }] },
            "edge": { "type": "boolean", "default": false },
            "steps": { "type": "array", "items": r("schemas", "Step"), "maxItems": crm::service::MAX_STEPS },
            "enabled": { "type": "boolean", "default": true },
            "time_zone": { "type": ["string", "null"], "description": "An IANA time zone, e.g. Europe/Berlin" }
        }
    });
    [("NewWorkflow".to_owned(), new)].into_iter().collect()
}
