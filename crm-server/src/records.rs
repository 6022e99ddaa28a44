//! `/v1/{kind}`: every record kind over JSON.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use crm::entity::EntityKind;
use crm::io::any;
use crm::model::Record;
use crm::query::Cursor;
use serde_json::json;
use uuid::Uuid;

use crate::AppState;
use crate::auth::Caller;
use crate::idempotency;
use crate::problem::Problem;

/// A page's size when the request names none, and the most it may name.
const DEFAULT_LIMIT: usize = 50;
const MAX_LIMIT: usize = 1000;

/// The kind a URL names, or 404.
pub(crate) fn kind(name: &str) -> Result<EntityKind, Problem> {
    any::kind_named(name).ok_or_else(|| {
        let known: Vec<&str> = any::KINDS.iter().map(|(n, _)| *n).collect();
        Problem::new(
            StatusCode::NOT_FOUND,
            "no-such-kind",
            "No such kind of record",
            format!("`{name}` is not a kind of record here; there are {}", known.join(", ")),
        )
    })
}

/// The 404 of a customer view of a kind that is not a customer.
pub(crate) fn not_a_customer(name: &str) -> Problem {
    Problem::new(
        StatusCode::NOT_FOUND,
        "not-a-customer",
        "Not a customer",
        format!("`{name}`: only contacts and companies have a timeline and a 360"),
    )
}

/// The id a URL names, or 404.
pub(crate) fn id(raw: &str) -> Result<Uuid, Problem> {
    Uuid::parse_str(raw).map_err(|_| {
        Problem::new(StatusCode::NOT_FOUND, "not-found", "No such record", format!("`{raw}` is not a record id"))
    })
}

/// A record's JSON, without the kind's envelope.
pub(crate) fn record_json(r: &Record) -> serde_json::Value {
    serde_json::to_value(r.body()).unwrap_or_default()
}

/// A record's JSON (without the kind's envelope) with its version as `ETag`.
fn record(status: StatusCode, r: &Record, location: Option<String>) -> Response {
    let mut res = (status, axum::Json(r.body())).into_response();
    if let Ok(tag) = HeaderValue::from_str(&format!("\"{}\"", r.version())) {
        res.headers_mut().insert(header::ETAG, tag);
    }
    if let Some(l) = location.and_then(|l| HeaderValue::from_str(&l).ok()) {
        res.headers_mut().insert(header::LOCATION, l);
    }
    res
}

/// The version `If-Match` names: 428 without it, 412 when it is not a version.
fn if_match(headers: &HeaderMap) -> Result<u64, Problem> {
    let Some(h) = headers.get(header::IF_MATCH) else {
        return Err(Problem::new(
            StatusCode::PRECONDITION_REQUIRED,
            "precondition-required",
            "If-Match is required",
            "send the record's ETag as If-Match, so that a change made since is not overwritten",
        ));
    };
    h.to_str()
        .ok()
        .map(|v| v.trim().trim_start_matches("W/").trim_matches('"'))
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| {
            Problem::new(
                StatusCode::PRECONDITION_FAILED,
                "precondition-failed",
                "If-Match names no version",
                "send the ETag as it was given",
            )
        })
}

/// The request body: 413 over the size limit, 400 when it cannot be read.
pub(crate) fn read_body(body: Result<Bytes, BytesRejection>) -> Result<Bytes, Problem> {
    body.map_err(|r| {
        let status = r.status();
        let kind = if status == StatusCode::PAYLOAD_TOO_LARGE { "too-large" } else { "bad-request" };
        Problem::new(status, kind, "The body cannot be read", r.body_text())
    })
}

/// The JSON object a request body holds, or 400.
pub(crate) fn object(body: &Bytes) -> Result<serde_json::Map<String, serde_json::Value>, Problem> {
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(serde_json::Value::Object(o)) => Ok(o),
        Ok(_) => Err(Problem::bad_request("the body must be a JSON object of fields")),
        Err(e) => Err(Problem::bad_request(format!("the body is not JSON: {e}"))),
    }
}

/// `GET /v1/{kind}`: a page of records.
pub(crate) async fn list(
    Caller(cx): Caller,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, Problem> {
    let kind = kind(&name)?;
    let (mut filters, mut sorts, mut limit, mut cursor) = (Vec::new(), Vec::new(), DEFAULT_LIMIT, None);
    for (k, v) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match k.as_ref() {
            "filter" => filters.push(v.into_owned()),
            "sort" => sorts.push(v.into_owned()),
            "limit" => {
                limit = v
                    .parse()
                    .ok()
                    .filter(|n| (1..=MAX_LIMIT).contains(n))
                    .ok_or_else(|| Problem::bad_request(format!("limit `{v}`: give 1 to {MAX_LIMIT}")))?
            }
            "cursor" => cursor = Some(Cursor::from_string(v.into_owned())),
            other => {
                return Err(Problem::bad_request(format!(
                    "unknown parameter `{other}`: use filter, sort, limit, cursor"
                )));
            }
        }
    }
    let mut q = cx.text_query(kind, &filters, &sorts, limit).await?;
    q.after = cursor;
    let page = any::list(&cx, kind, &q).await?;
    /// A page as it is sent: the records written straight to the body.
    #[derive(serde::Serialize)]
    struct Sent<'a> {
        items: Vec<crm::model::RecordBody<'a>>,
        next: Option<&'a Cursor>,
    }
    let sent = Sent { items: page.items.iter().map(Record::body).collect(), next: page.next.as_ref() };
    Ok(axum::Json(sent).into_response())
}

/// `GET /v1/{kind}/{id}`.
/// With `If-None-Match` naming the version it has, `304` and no body.
pub(crate) async fn read(
    Caller(cx): Caller,
    Path((name, raw)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let (kind, id) = (kind(&name)?, id(&raw)?);
    let r = any::get(&cx, kind, id).await?;
    let tag = format!("\"{}\"", r.version());
    let held = headers.get(header::IF_NONE_MATCH).and_then(|h| h.to_str().ok()).unwrap_or_default();
    if held.split(',').map(|t| t.trim().trim_start_matches("W/")).any(|t| t == tag || t == "*") {
        let mut res = StatusCode::NOT_MODIFIED.into_response();
        if let Ok(v) = HeaderValue::from_str(&tag) {
            res.headers_mut().insert(header::ETAG, v);
        }
        return Ok(res);
    }
    Ok(record(StatusCode::OK, &r, None))
}

/// `POST /v1/{kind}`: a record from a JSON object of fields.
/// With an `Idempotency-Key`, a retry gets the first answer again (see [`crate::idempotency`]),
/// and the create runs to its end whatever becomes of the request.
pub(crate) async fn create(
    State(state): State<AppState>,
    Caller(cx): Caller,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    let body = read_body(body)?;
    if !crate::nested::KINDS.contains(&kind(&name)?) {
        creatable(&name)?;
    }
    let request: [&[u8]; 3] = [b"POST", name.as_bytes(), &body];
    let (session, run_name, run_body) = (cx.clone(), name.clone(), body.clone());
    let run = async move { make(&session, &run_name, &run_body).await.unwrap_or_else(IntoResponse::into_response) };
    idempotency::once(&state.answers, &cx, &headers, &request, run).await
}

/// The kind `name` names, if records of it are made over HTTP; else 405 (or 404).
pub(crate) fn creatable(name: &str) -> Result<EntityKind, Problem> {
    let kind = kind(name)?;
    if !any::CREATABLE.contains(&kind) {
        let how = "they are made through the library's services, or the `crm` command line";
        return Err(Problem::method_not_allowed("GET", format!("{name} are not created over HTTP: {how}")));
    }
    Ok(kind)
}

/// A JSON object of fields as an import row's cells: text as it is, null as empty, a number or
/// a boolean as its JSON text. A list or an object is refused naming the field.
pub(crate) fn cells(fields: serde_json::Map<String, serde_json::Value>) -> Result<Vec<(String, String)>, Problem> {
    use serde_json::Value as V;
    fields
        .into_iter()
        .map(|(k, v)| match v {
            V::String(s) => Ok((k, s)),
            V::Null => Ok((k, String::new())),
            V::Bool(_) | V::Number(_) => Ok((k, v.to_string())),
            V::Array(_) | V::Object(_) => {
                let why = "a text, number, boolean or null (a list as text: `a, b`)";
                Err(crm::error::Error::invalid(k, crm::error::FieldErrorCode::InvalidFormat, why).into())
            }
        })
        .collect()
}

/// Creates the record a `POST` body describes.
async fn make(cx: &crm::service::Session, name: &str, body: &Bytes) -> Result<Response, Problem> {
    let kind = kind(name)?;
    let r = match crate::nested::KINDS.contains(&kind) {
        true => crate::nested::make(cx, kind, body).await?,
        false => any::create(cx, kind, &cells(object(body)?)?).await?,
    };
    Ok(record(StatusCode::CREATED, &r, Some(format!("/v1/{name}/{}", r.id()))))
}

/// `PATCH /v1/{kind}/{id}`: changes fields of the version `If-Match` names.
pub(crate) async fn update(
    Caller(cx): Caller,
    Path((name, raw)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    let (kind, id) = (kind(&name)?, id(&raw)?);
    let version = if_match(&headers)?;
    let patch = object(&read_body(body)?)?;
    let r = any::update(&cx, kind, id, Some(version), &patch).await.map_err(|e| Problem::from(e).precondition())?;
    Ok(record(StatusCode::OK, &r, None))
}

/// `DELETE /v1/{kind}/{id}` of the version `If-Match` names.
pub(crate) async fn delete(
    Caller(cx): Caller,
    Path((name, raw)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let (kind, id) = (kind(&name)?, id(&raw)?);
    let version = if_match(&headers)?;
    any::delete(&cx, kind, id, version).await.map_err(|e| Problem::from(e).precondition())?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /v1/search?q=…`.
pub(crate) async fn search(Caller(cx): Caller, RawQuery(query): RawQuery) -> Result<Response, Problem> {
    let q = url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .find(|(k, _)| k == "q")
        .map(|(_, v)| v.into_owned())
        .filter(|q| !q.trim().is_empty())
        .ok_or_else(|| Problem::bad_request("search needs words: ?q=…"))?;
    let hits = cx.search(&q).await?;
    let items: Vec<serde_json::Value> = hits
        .iter()
        .map(|r| {
            let mut v = record_json(r);
            if let Some(o) = v.as_object_mut() {
                o.insert("kind".into(), r.kind().as_str().into());
            }
            v
        })
        .collect();
    Ok(axum::Json(json!({ "items": items })).into_response())
}

/// A method a route does not take: 405 as a problem.
pub(crate) async fn wrong_method(method: axum::http::Method) -> Problem {
    Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
        "Not a method this takes",
        format!("{method} is not taken here: see /openapi.json for what is"),
    )
}

/// Anything else: 404 as a problem.
pub(crate) async fn no_route() -> Problem {
    Problem::new(StatusCode::NOT_FOUND, "no-route", "Nothing here", "the API is under /v1/{kind}")
}
