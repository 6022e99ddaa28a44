//! `POST /v1/{kind}/batch/{create|upsert|read|update|delete}`: up to [`MAX_INPUTS`] records in one
//! request, each with its own outcome.
//!
//! The body is `{"inputs": […]}`: for `create`, objects of fields as `POST /v1/{kind}` takes
//! them; for `upsert` the same and `"match"`, the key an input finds its record by (`email`,
//! `domain`, `sku`, `number`, `id`, or `external:SYSTEM`); for `update`,
//! `{"id", "version", "fields"}`; for `read`, `{"id"}`; for `delete`, `{"id", "version"}`. Creates and upserts are
//! written through one import run. The answer is `{"results": […]}` in input order, each
//! `{"status", "record"}` or `{"status", "problem"}`: `200` when every input succeeded, `207`
//! when some did not.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use crm::entity::EntityKind;
use crm::error::{Error, FieldErrorCode};
use crm::io::MatchBy;
use crm::io::batch::{self, Outcome};
use crm::service::Session;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::AppState;
use crate::auth::Caller;
use crate::idempotency;
use crate::problem::Problem;
use crate::records::{cells, creatable, kind, object, read_body, record_json};

/// The most inputs a batch may hold.
pub const MAX_INPUTS: usize = 100;

/// `POST /v1/{kind}/batch/{op}`.
pub(crate) async fn batch(
    State(state): State<AppState>,
    Caller(cx): Caller,
    Path((name, op)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    let body = read_body(body)?;
    let no_route = |why: String| Problem::new(StatusCode::NOT_FOUND, "no-route", "Nothing here", why);
    let kind = match op.as_str() {
        "create" | "upsert" => creatable(&name).map_err(|p| match p.status() {
            StatusCode::METHOD_NOT_ALLOWED => no_route(format!("{name} are not created over HTTP")),
            _ => p,
        })?,
        "read" | "update" | "delete" => kind(&name)?,
        other => return Err(no_route(format!("`{other}`: a batch is create, upsert, read, update or delete"))),
    };
    let request: [&[u8]; 4] = [b"POST", name.as_bytes(), op.as_bytes(), &body];
    let (session, run_op, run_body) = (cx.clone(), op.clone(), body.clone());
    let run = async move { run(&session, kind, &run_op, &run_body).await.unwrap_or_else(IntoResponse::into_response) };
    idempotency::once(&state.answers, &cx, &headers, &request, run).await
}

/// A field of the body refused: 422 naming it.
fn refused(field: impl Into<String>, code: FieldErrorCode, why: impl Into<String>) -> Problem {
    Error::invalid(field, code, why).into()
}

/// Runs the batch `op` of `body` on `kind`.
async fn run(cx: &Session, kind: EntityKind, op: &str, body: &Bytes) -> Result<Response, Problem> {
    let mut body = object(body)?;
    let inputs = match body.remove("inputs") {
        Some(Value::Array(a)) if (1..=MAX_INPUTS).contains(&a.len()) => a,
        Some(Value::Array(a)) => {
            let why = format!("{} inputs: give 1 to {MAX_INPUTS}", a.len());
            return Err(refused("inputs", FieldErrorCode::OutOfRange, why));
        }
        _ => return Err(refused("inputs", FieldErrorCode::Required, "an array of the inputs")),
    };
    let by = match (op, body.remove("match")) {
        ("upsert", Some(Value::String(m))) => Some(match_by(&m)?),
        ("upsert", _) => return Err(refused("match", FieldErrorCode::Required, "the key inputs are matched by")),
        (_, Some(_)) => return Err(refused("match", FieldErrorCode::UnknownField, "only an upsert matches")),
        (_, None) => None,
    };
    if let Some(other) = body.keys().next() {
        return Err(refused(other.clone(), FieldErrorCode::UnknownField, "a batch body holds inputs (and match)"));
    }
    // Inputs that cannot be read are refused on their own; the others run.
    let mut results: Vec<Option<Value>> = vec![None; inputs.len()];
    let mut runnable = Vec::new();
    for (i, input) in inputs.into_iter().enumerate() {
        match read_input(op, i, input) {
            Ok(input) => runnable.push((i, input)),
            Err(p) => results[i] = Some(problem_result(p)),
        }
    }
    let (at, read): (Vec<usize>, Vec<Input>) = runnable.into_iter().unzip();
    let outcomes = match op {
        "create" | "upsert" => {
            let rows: Vec<Vec<(String, String)>> = read.into_iter().map(|i| i.fields).collect();
            batch::create_many(cx, kind, &rows, by).await?
        }
        "read" => {
            let ids: Vec<_> = read.into_iter().map(|i| i.id).collect();
            batch::read_many(cx, kind, &ids).await
        }
        "update" => {
            let changes: Vec<_> = read.into_iter().map(|i| (i.id, i.version, i.patch)).collect();
            batch::update_many(cx, kind, &changes).await
        }
        _ => {
            let gone: Vec<_> = read.into_iter().map(|i| (i.id, i.version.unwrap_or_default())).collect();
            batch::delete_many(cx, kind, &gone).await
        }
    };
    for (i, o) in at.into_iter().zip(outcomes) {
        results[i] = Some(outcome(o));
    }
    let results: Vec<Value> = results.into_iter().map(Option::unwrap_or_default).collect();
    let all_ok = results.iter().all(|r| r["status"].as_u64().is_some_and(|s| s < 300));
    let status = if all_ok { StatusCode::OK } else { StatusCode::MULTI_STATUS };
    Ok((status, axum::Json(json!({ "results": results }))).into_response())
}

/// One input as read.
#[derive(Default)]
struct Input {
    fields: Vec<(String, String)>,
    id: Uuid,
    version: Option<u64>,
    patch: Map<String, Value>,
}

/// Reads input `i` of a batch `op`, naming its fields `inputs[i].…` when it cannot.
fn read_input(op: &str, i: usize, input: Value) -> Result<Input, Problem> {
    let Value::Object(mut o) = input else {
        return Err(refused(format!("inputs[{i}]"), FieldErrorCode::InvalidFormat, "an object"));
    };
    if matches!(op, "create" | "upsert") {
        let fields = cells(o).map_err(|p| p.prefix_fields(&format!("inputs[{i}].")))?;
        return Ok(Input { fields, ..Input::default() });
    }
    let id = o
        .remove("id")
        .and_then(|v| v.as_str().and_then(|s| Uuid::parse_str(s).ok()))
        .ok_or_else(|| refused(format!("inputs[{i}].id"), FieldErrorCode::Required, "the record's id"))?;
    if op == "read" {
        if let Some(other) = o.keys().next() {
            return Err(refused(format!("inputs[{i}].{other}"), FieldErrorCode::UnknownField, "an input is {\"id\"}"));
        }
        return Ok(Input { id, ..Input::default() });
    }
    let version = o.remove("version").and_then(|v| v.as_u64()).ok_or_else(|| {
        let why = "the version read (as If-Match takes it), so that a change made since is not overwritten";
        refused(format!("inputs[{i}].version"), FieldErrorCode::Required, why)
    })?;
    let patch = match (op, o.remove("fields")) {
        ("update", Some(Value::Object(f))) => f,
        ("update", _) => return Err(refused(format!("inputs[{i}].fields"), FieldErrorCode::Required, "an object")),
        _ => Map::new(),
    };
    if let Some(other) = o.keys().next() {
        let why = if op == "update" { "id, version, fields" } else { "id, version" };
        return Err(refused(format!("inputs[{i}].{other}"), FieldErrorCode::UnknownField, why));
    }
    Ok(Input { id, version: Some(version), patch, ..Input::default() })
}

/// The key an upsert matches by.
fn match_by(m: &str) -> Result<MatchBy, Problem> {
    Ok(match m {
        "email" => MatchBy::Email,
        "domain" => MatchBy::Domain,
        "sku" => MatchBy::Sku,
        "number" => MatchBy::Number,
        "id" => MatchBy::Id,
        other => match other.strip_prefix("external:").filter(|s| !s.is_empty()) {
            Some(system) => MatchBy::ExternalId(system.to_owned()),
            None => {
                let why = format!("`{other}`: email, domain, sku, number, id or external:SYSTEM");
                return Err(refused("match", FieldErrorCode::NotAnOption, why));
            }
        },
    })
}

/// A refused input's result object.
fn problem_result(p: Problem) -> Value {
    json!({ "status": p.status().as_u16(), "problem": p.json() })
}

/// One outcome as its result object.
fn outcome(o: Outcome) -> Value {
    match o {
        Outcome::Created(r) => json!({ "status": 201, "record": record_json(&r) }),
        Outcome::Updated(r) | Outcome::Found(r) => json!({ "status": 200, "record": record_json(&r) }),
        Outcome::Deleted => json!({ "status": 204 }),
        Outcome::Refused(e) => problem_result(Problem::from(e).precondition()),
    }
}
