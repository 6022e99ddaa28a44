//! A case's conversation over HTTP: `GET /v1/cases/{id}/replies` (oldest first) and
//! `POST /v1/cases/{id}/replies` (a reply to the customer, or an internal note).

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use crm::error::{Error, FieldErrorCode};
use crm::ids::CaseId;
use crm::model::Entity;
use crm::service::NewReply;
use serde_json::{Value, json};

use crate::AppState;
use crate::auth::Caller;
use crate::idempotency;
use crate::problem::Problem;
use crate::records::{id, object, read_body, record_json};

/// `GET /v1/cases/{id}/replies`: the replies of both sides and the internal notes, oldest first.
pub(crate) async fn list(Caller(cx): Caller, Path(raw): Path<String>) -> Result<Response, Problem> {
    let all = cx.cases().conversation(CaseId::from_uuid(id(&raw)?)).await?;
    let items: Vec<Value> = all.into_iter().map(|a| record_json(&a.into_record())).collect();
    Ok(axum::Json(json!({ "items": items })).into_response())
}

/// `POST /v1/cases/{id}/replies`: `{"body": …, "internal": false, "awaiting_customer": false}`.
pub(crate) async fn create(
    State(state): State<AppState>,
    Caller(cx): Caller,
    Path(raw): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    let case = CaseId::from_uuid(id(&raw)?);
    let bytes = read_body(body)?;
    let wrong = |field: &str, why: &str| Problem::from(Error::invalid(field, FieldErrorCode::TypeMismatch, why));
    let mut reply = NewReply::new("");
    for (name, value) in object(&bytes)? {
        match (name.as_str(), value) {
            ("body", Value::String(b)) => reply.body = b,
            ("internal", Value::Bool(b)) => reply.internal = b,
            ("awaiting_customer", Value::Bool(b)) => reply.awaiting_customer = b,
            ("body", _) => return Err(wrong("body", "text")),
            ("internal" | "awaiting_customer", _) => return Err(wrong(&name, "true or false")),
            _ => {
                let why = "not a field of a reply (body, internal, awaiting_customer)";
                return Err(Problem::from(Error::invalid(name.clone(), FieldErrorCode::UnknownField, why)));
            }
        }
    }
    let session = cx.clone();
    let run = async move {
        match session.cases().reply(case, reply).await {
            Ok(a) => {
                let location = format!("/v1/activities/{}", a.id);
                let mut res = (StatusCode::CREATED, axum::Json(record_json(&a.into_record()))).into_response();
                if let Ok(at) = HeaderValue::from_str(&location) {
                    res.headers_mut().insert(header::LOCATION, at);
                }
                res
            }
            Err(e) => Problem::from(e).into_response(),
        }
    };
    let path = format!("cases/{case}/replies");
    idempotency::once(&state.answers, &cx, &headers, &[b"POST", path.as_bytes(), &bytes], run).await
}

/// The conversation's paths in the OpenAPI document.
pub(crate) fn paths(paths: &mut serde_json::Map<String, Value>) {
    use crate::openapi::{json_response, r, responses};
    let activity = r("schemas", "Activity");
    paths.insert(
        "/v1/cases/{id}/replies".into(),
        json!({
            "parameters": [r("parameters", "id")],
            "get": {
                "operationId": "case_replies",
                "tags": ["cases"],
                "summary": "A case's conversation: both sides' replies and the internal notes, oldest first",
                "responses": responses((200, json_response("The replies", json!({
                    "type": "object", "required": ["items"],
                    "properties": { "items": { "type": "array", "items": activity.clone() } }
                }), &[])), &[403, 404]),
            },
            "post": {
                "operationId": "reply_to_case",
                "tags": ["cases"],
                "summary": "Replies to the customer, or adds an internal note",
                "description": "Needs the right to update the case and to create activities. \
                    `awaiting_customer` moves a new or open case to `pending_customer`.",
                "parameters": [r("parameters", "Idempotency-Key")],
                "requestBody": { "required": true, "content": { "application/json": { "schema": {
                    "type": "object",
                    "required": ["body"],
                    "additionalProperties": false,
                    "properties": {
                        "body": { "type": "string", "minLength": 1, "maxLength": crm::service::MAX_REPLY_CHARS },
                        "internal": { "type": "boolean" },
                        "awaiting_customer": { "type": "boolean" }
                    }
                } } } },
                "responses": responses((201, json_response("The reply, an activity", activity, &["Location"])),
                    &[400, 403, 404, 409, 413, 422]),
            }
        }),
    );
}
