//! The API described as OpenAPI 3.1, served at `GET /openapi.json`, with an interactive page
//! over it at `GET /docs`.
//!
//! The document is built from the code: the paths from the kinds the API serves
//! ([`crm::io::any::KINDS`], [`CREATABLE`](crm::io::any::CREATABLE)), the record schemas from
//! the record types themselves ([`crm::openapi`], derived with utoipa), so that neither can
//! drift from what the server does. The tests check every response they receive against it.

use crm::entity::EntityKind;
use crm::io::any;
use serde_json::{Map, Value, json};

/// The media type of problem documents.
const PROBLEM: &str = "application/problem+json";

/// A reference to component `name` of `section` (`schemas`, `responses`, `parameters`).
pub(crate) fn r(section: &str, name: &str) -> Value {
    json!({ "$ref": format!("#/components/{section}/{name}") })
}

/// The responses of `codes` as references to the shared problem responses.
fn problems(codes: &[u16]) -> Map<String, Value> {
    codes.iter().map(|c| (c.to_string(), r("responses", &format!("Problem{c}")))).collect()
}

/// An operation's `responses`: `ok` (status, response object) and the problems of `codes`
/// (every operation can also answer 401, 429, 500 and 503).
pub(crate) fn responses(ok: (u16, Value), codes: &[u16]) -> Value {
    let mut all = problems(&[401, 429, 500, 503]);
    all.extend(problems(codes));
    all.insert(ok.0.to_string(), ok.1);
    Value::Object(all)
}

/// A JSON response of `schema`, with `headers` (names of header components).
pub(crate) fn json_response(description: &str, schema: Value, headers: &[&str]) -> Value {
    let mut res = json!({ "description": description, "content": { "application/json": { "schema": schema } } });
    if !headers.is_empty() {
        let h: Map<String, Value> = headers.iter().map(|h| (h.to_string(), r("headers", h))).collect();
        res["headers"] = Value::Object(h);
    }
    res
}

/// A page of `item`s with the cursor of the next.
fn page(item: Value) -> Value {
    json!({
        "type": "object",
        "required": ["items", "next"],
        "properties": {
            "items": { "type": "array", "items": item },
            "next": { "type": ["string", "null"], "description": "The `cursor` of the next page; null on the last." }
        }
    })
}

/// The operations on one kind: `/v1/{name}` and `/v1/{name}/{id}`.
fn kind_paths(paths: &mut Map<String, Value>, name: &str, kind: EntityKind) {
    let Some(schema) = crm::openapi::record_schema_name(kind) else { return };
    let record = r("schemas", &schema);
    let tag = [name];
    let mut collection = json!({
        "get": {
            "operationId": format!("list_{name}"),
            "tags": tag,
            "summary": format!("A page of {name}"),
            "description": "Filters and sorts are the library's text queries: `filter=lifecycle_stage=lead`, \
                `filter=family_name^=Lo`, `sort=-updated_at`; each repeatable. Follow `next` as `cursor`.",
            "parameters": [r("parameters", "filter"), r("parameters", "sort"), r("parameters", "limit"), r("parameters", "cursor")],
            "responses": responses((200, json_response(&format!("A page of {name}"), page(record.clone()), &[])), &[400, 403, 422]),
        }
    });
    if any::CREATABLE.contains(&kind) || crate::nested::KINDS.contains(&kind) {
        collection["post"] = json!({
            "operationId": format!("create_{name}"),
            "tags": tag,
            "summary": format!("Creates one of the {name}"),
            "description": "The body names the record's fields; a field the kind does not have is refused naming it.",
            "parameters": [r("parameters", "Idempotency-Key")],
            "requestBody": { "required": true, "content": { "application/json": { "schema": r("schemas", &format!("New{schema}")) } } },
            "responses": responses(
                (201, json_response("Created", record.clone(), &["ETag", "Location"])),
                &[400, 403, 409, 413, 422],
            ),
        });
    }
    paths.insert(format!("/v1/{name}"), collection);
    batch_paths(paths, name, kind, &record);
    let mut read_responses = responses((200, json_response("The record", record.clone(), &["ETag"])), &[403, 404]);
    read_responses["304"] =
        json!({ "description": "Not changed since the ETag held", "headers": { "ETag": r("headers", "ETag") } });
    paths.insert(
        format!("/v1/{name}/{{id}}"),
        json!({
            "parameters": [r("parameters", "id")],
            "get": {
                "operationId": format!("read_{name}"),
                "tags": tag,
                "summary": "One record, its version as ETag",
                "parameters": [{ "name": "If-None-Match", "in": "header", "schema": { "type": "string" },
                                 "description": "The ETag held: 304 while it is still the record's." }],
                "responses": read_responses,
            },
            "patch": {
                "operationId": format!("update_{name}"),
                "tags": tag,
                "summary": "Changes fields of the version If-Match names",
                "parameters": [r("parameters", "If-Match")],
                "requestBody": { "required": true, "content": { "application/json": { "schema": r("schemas", "Patch") } } },
                "responses": responses(
                    (200, json_response("The record as changed", record, &["ETag"])),
                    &[400, 403, 404, 412, 413, 422, 428],
                ),
            },
            "delete": {
                "operationId": format!("delete_{name}"),
                "tags": tag,
                "summary": "Deletes the version If-Match names",
                "parameters": [r("parameters", "If-Match")],
                "responses": responses((204, json!({ "description": "Deleted" })), &[403, 404, 412, 422, 428]),
            }
        }),
    );
}

/// `/v1/{name}/batch/{op}`: create and upsert for the kinds made over HTTP, update and delete
/// for all.
fn batch_paths(paths: &mut Map<String, Value>, name: &str, kind: EntityKind, record: &Value) {
    let result = json!({ "oneOf": [
        { "type": "object", "required": ["status", "record"], "additionalProperties": false,
          "properties": { "status": { "enum": [200, 201] }, "record": record } },
        { "type": "object", "required": ["status"], "additionalProperties": false,
          "properties": { "status": { "const": 204 } } },
        { "type": "object", "required": ["status", "problem"], "additionalProperties": false,
          "properties": { "status": { "type": "integer", "minimum": 400, "maximum": 599 }, "problem": r("schemas", "Problem") } }
    ] });
    let results = json!({
        "type": "object",
        "required": ["results"],
        "properties": { "results": { "type": "array", "items": result } }
    });
    let ops: &[(&str, &str, &str)] = &[
        ("create", "BatchCreate", "Creates up to 100, written through one import"),
        ("upsert", "BatchUpsert", "Changes the records the inputs match, creates the others"),
        ("read", "BatchRead", "Reads up to 100 records by id"),
        ("update", "BatchUpdate", "Changes up to 100 records, each at the version given"),
        ("delete", "BatchDelete", "Deletes up to 100 records, each at the version given"),
    ];
    for (op, body, summary) in ops {
        if matches!(*op, "create" | "upsert") && !any::CREATABLE.contains(&kind) {
            continue;
        }
        let mut responses = responses(
            (200, json_response("Every input succeeded; the results in input order", results.clone(), &[])),
            &[400, 403, 409, 413, 422],
        );
        responses["207"] = json_response("Some inputs were refused; the results in input order", results.clone(), &[]);
        paths.insert(
            format!("/v1/{name}/batch/{op}"),
            json!({ "post": {
                "operationId": format!("batch_{op}_{name}"),
                "tags": [name],
                "summary": summary,
                "parameters": [r("parameters", "Idempotency-Key")],
                "requestBody": { "required": true, "content": { "application/json": { "schema": batch_body(body, kind) } } },
                "responses": responses,
            } }),
        );
    }
}

/// A path item under a record (`/v1/{name}/{id}/…`) with one `GET` answering `body`.
fn record_view(name: &str, operation: &str, summary: &str, body: Value) -> Value {
    json!({
        "parameters": [r("parameters", "id")],
        "get": {
            "operationId": format!("{operation}_{name}"),
            "tags": [name],
            "summary": summary,
            "responses": responses((200, json_response(summary, body, &[])), &[403, 404]),
        }
    })
}

/// `{"items": [schema…]}`.
fn items_of(schema: &str) -> Value {
    json!({
        "type": "object",
        "required": ["items"],
        "properties": { "items": { "type": "array", "items": r("schemas", schema) } }
    })
}

/// The body of a batch: `schema`, its inputs narrowed to `kind`'s fields for a create or an
/// upsert.
fn batch_body(schema: &str, kind: EntityKind) -> Value {
    match (schema, crm::openapi::record_schema_name(kind)) {
        ("BatchCreate" | "BatchUpsert", Some(name)) => json!({ "allOf": [
            r("schemas", schema),
            { "type": "object", "properties": { "inputs": { "type": "array", "items": r("schemas", &format!("New{name}")) } } }
        ] }),
        _ => r("schemas", schema),
    }
}

/// The customer views of contacts and companies.
fn customer_paths(paths: &mut Map<String, Value>) {
    for name in ["contacts", "companies"] {
        let timeline = "Everything about the customer, newest first";
        paths.insert(
            format!("/v1/{name}/{{id}}/timeline"),
            record_view(name, "timeline_of", timeline, items_of("TimelineItem")),
        );
        let overview = "The customer 360: records, figures and timeline";
        paths.insert(
            format!("/v1/{name}/{{id}}/360"),
            record_view(name, "overview_of", overview, r("schemas", "Customer360")),
        );
    }
}

/// `/v1/{kind}/{id}/relations` for every kind, and the reports.
fn report_paths(paths: &mut Map<String, Value>) {
    for (name, _) in any::KINDS {
        let links = "The links with the record at either end, oldest first";
        paths.insert(
            format!("/v1/{name}/{{id}}/relations"),
            record_view(name, "relations_of", links, items_of("Relation")),
        );
    }
    for (what, schema, summary) in [
        ("pipeline", "PipelineReport", "Every stage's deals, totals and the weighted forecast"),
        ("campaign", "CampaignResults", "Members, responses, rates, cost per conversion and revenue"),
    ] {
        let mut view = record_view("reports", "report", summary, r("schemas", schema));
        view["get"]["operationId"] = json!(format!("report_{what}"));
        paths.insert(format!("/v1/reports/{what}/{{id}}"), view);
    }
}

/// `/v1/search` and `/v1/events`.
fn other_paths(paths: &mut Map<String, Value>) {
    let hits: Vec<Value> = crm::search::SEARCHABLE
        .iter()
        .filter_map(|k| {
            let schema = crm::openapi::record_schema_name(*k)?;
            Some(json!({ "allOf": [
                r("schemas", &schema),
                { "type": "object", "required": ["kind"], "properties": { "kind": { "const": k.as_str() } } }
            ] }))
        })
        .collect();
    paths.insert(
        "/v1/search".into(),
        json!({ "get": {
            "operationId": "search",
            "tags": ["search"],
            "summary": "Contacts, companies and deals by words",
            "parameters": [{ "name": "q", "in": "query", "required": true, "schema": { "type": "string", "minLength": 1 } }],
            "responses": responses((200, json_response("The best matches, each with its kind", json!({
                "type": "object",
                "required": ["items"],
                "properties": { "items": { "type": "array", "items": { "oneOf": hits } } }
            }), &[])), &[400, 403, 422]),
        } }),
    );
    paths.insert(
        "/v1/events".into(),
        json!({ "get": {
            "operationId": "events",
            "tags": ["events"],
            "summary": "The events the caller may see, in commit order",
            "parameters": [
                { "name": "after", "in": "query", "description": "Events after this number (0: from the start).",
                  "schema": { "type": "integer", "minimum": 0 } },
                { "name": "limit", "in": "query", "schema": { "type": "integer", "minimum": 1, "maximum": 1000 } }
            ],
            "responses": responses((200, json_response("A page of events", json!({
                "type": "object",
                "required": ["items", "next_after"],
                "properties": {
                    "items": { "type": "array", "items": r("schemas", "StoredEvent") },
                    "next_after": { "type": "integer", "minimum": 0, "description": "The `after` of the next page." }
                }
            }), &[])), &[400, 403]),
        } }),
    );
    paths.insert(
        "/openapi.json".into(),
        json!({ "get": {
            "operationId": "openapi",
            "tags": ["meta"],
            "summary": "This document",
            "security": [],
            "responses": { "200": { "description": "OpenAPI 3.1", "content": { "application/json": { "schema": { "type": "object" } } } } },
        } }),
    );
    paths.insert(
        "/docs".into(),
        json!({ "get": {
            "operationId": "docs",
            "tags": ["meta"],
            "summary": "An interactive page over this document",
            "security": [],
            "responses": { "200": { "description": "HTML", "content": { "text/html": { "schema": { "type": "string" } } } } },
        } }),
    );
}

/// The shared parts: parameters, headers, problem responses, security (`jwt`: whether tokens of
/// an issuer are taken), and the schemas.
fn components(jwt: bool) -> Value {
    let mut schemas: Map<String, Value> = crm::openapi::record_schemas()
        .into_iter()
        .chain(crm::openapi::view_schemas())
        .filter_map(|(name, schema)| Some((name, serde_json::to_value(schema).ok()?)))
        .collect();
    schemas.extend(crate::schemas::extra());
    schemas.extend(crate::webhooks::schemas());
    schemas.extend(crate::workflows::schemas());
    for kind in any::CREATABLE {
        if let Some(name) = crm::openapi::record_schema_name(*kind) {
            schemas.insert(format!("New{name}"), crate::schemas::new_record(*kind));
        }
    }
    for kind in crate::nested::KINDS {
        if let Some(name) = crm::openapi::record_schema_name(*kind) {
            schemas.insert(format!("New{name}"), crate::nested::schema(*kind));
        }
    }
    let mut responses = Map::new();
    for (code, what) in [
        (400, "The request cannot be read"),
        (401, "No valid API key"),
        (403, "The key's user may not do this"),
        (404, "No such record, kind or route"),
        (409, "A request with this Idempotency-Key is still running"),
        (412, "The record changed since the version If-Match names"),
        (413, "The body is over the size limit"),
        (422, "Some fields are not acceptable: `errors` names them"),
        (428, "If-Match is required"),
        (429, "Over the key's rate: try again after Retry-After seconds"),
        (500, "The server failed"),
        (503, "Busy or over the time limit: try again after Retry-After seconds"),
    ] {
        responses.insert(
            format!("Problem{code}"),
            json!({ "description": what, "content": { PROBLEM: { "schema": r("schemas", "Problem") } } }),
        );
    }
    let mut security = json!({
        "apiKey": { "type": "http", "scheme": "bearer", "description": "An API key issued by `crm api-keys issue`." }
    });
    if jwt {
        security["jwt"] = json!({ "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                                  "description": "A token of the configured OAuth2 / OpenID Connect issuer." });
    }
    json!({
        "schemas": schemas,
        "responses": responses,
        "parameters": {
            "id": { "name": "id", "in": "path", "required": true, "schema": { "type": "string", "format": "uuid" } },
            "filter": { "name": "filter", "in": "query", "description": "`field op value`, e.g. `lifecycle_stage=lead`; repeatable (AND).",
                        "schema": { "type": "array", "items": { "type": "string" } }, "explode": true },
            "sort": { "name": "sort", "in": "query", "description": "A field, `-` first for descending; repeatable.",
                      "schema": { "type": "array", "items": { "type": "string" } }, "explode": true },
            "limit": { "name": "limit", "in": "query", "schema": { "type": "integer", "minimum": 1, "maximum": 1000, "default": 50 } },
            "cursor": { "name": "cursor", "in": "query", "description": "The `next` of the page before.", "schema": { "type": "string" } },
            "If-Match": { "name": "If-Match", "in": "header", "required": true, "description": "The record's ETag as read.",
                          "schema": { "type": "string" } },
            "Idempotency-Key": { "name": "Idempotency-Key", "in": "header",
                                 "description": "Makes a retry return the first answer instead of creating twice (kept a day).",
                                 "schema": { "type": "string", "minLength": 1, "maxLength": 255 } }
        },
        "headers": {
            "ETag": { "description": "The record's version.", "schema": { "type": "string" } },
            "Location": { "description": "The new record's URL.", "schema": { "type": "string" } }
        },
        "securitySchemes": security
    })
}

/// The whole document, of a server with `options`.
pub(crate) fn document(options: &crate::Options) -> Value {
    let metrics = options.metrics;
    let mut paths = Map::new();
    for (name, kind) in any::KINDS {
        kind_paths(&mut paths, name, *kind);
    }
    customer_paths(&mut paths);
    report_paths(&mut paths);
    other_paths(&mut paths);
    crate::webhooks::paths(&mut paths);
    crate::workflows::paths(&mut paths);
    crate::case_replies::paths(&mut paths);
    crate::analytics::paths(&mut paths);
    crate::customer_analytics::paths(&mut paths);
    crate::campaign_analytics::paths(&mut paths);
    if metrics {
        paths.insert(
            "/metrics".into(),
            json!({ "get": {
                "operationId": "metrics",
                "tags": ["meta"],
                "summary": "Prometheus metrics: requests by route, method and status, and their durations",
                "security": [],
                "responses": { "200": { "description": "OpenMetrics text",
                    "content": { "application/openmetrics-text": { "schema": { "type": "string" } } } } },
            } }),
        );
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "crm",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The embeddable CRM over HTTP: every record kind as JSON, API keys bound to users and \
                their roles, cursor pagination, ETag concurrency and RFC 9457 problem documents.",
            "license": { "name": "MIT OR Apache-2.0", "identifier": "MIT OR Apache-2.0" }
        },
        "security": if options.jwt.is_some() { json!([{ "apiKey": [] }, { "jwt": [] }]) } else { json!([{ "apiKey": [] }]) },
        "paths": paths,
        "components": components(options.jwt.is_some()),
    })
}

/// The interactive page over `doc`.
pub(crate) fn docs_page(doc: &Value) -> String {
    utoipa_scalar::Scalar::new(doc.clone()).title("crm API").to_html()
}
