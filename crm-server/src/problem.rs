//! Errors as RFC 9457 problem documents (`application/problem+json`), naming the fields.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use crm::error::Error;
use serde_json::json;

/// A failed request: its status and problem document.
#[derive(Debug)]
pub struct Problem {
    status: StatusCode,
    kind: &'static str,
    title: &'static str,
    detail: String,
    errors: Vec<serde_json::Value>,
    /// The methods the resource allows, for a 405.
    allow: Option<&'static str>,
}

impl Problem {
    /// A problem of `status`, `kind` (the end of its type URI) and `title`, with `detail`.
    pub fn new(status: StatusCode, kind: &'static str, title: &'static str, detail: impl Into<String>) -> Self {
        Problem { status, kind, title, detail: detail.into(), errors: Vec::new(), allow: None }
    }

    /// 405: the resource does not take this method; `allow` lists those it takes.
    pub fn method_not_allowed(allow: &'static str, detail: impl Into<String>) -> Self {
        Problem {
            allow: Some(allow),
            ..Problem::new(StatusCode::METHOD_NOT_ALLOWED, "method-not-allowed", "Not a method this takes", detail)
        }
    }

    /// 400: the request cannot be read.
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Problem::new(StatusCode::BAD_REQUEST, "bad-request", "The request cannot be read", detail)
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The problem with `prefix` before every field it names (`inputs[3].` for an input of a
    /// batch).
    pub(crate) fn prefix_fields(mut self, prefix: &str) -> Self {
        for e in &mut self.errors {
            if let Some(f) = e.get("field").and_then(|f| f.as_str()) {
                e["field"] = format!("{prefix}{f}").into();
            }
        }
        self
    }

    /// A version conflict found through `If-Match`: 412 rather than 409.
    pub fn precondition(self) -> Self {
        if self.status == StatusCode::CONFLICT {
            return Problem { status: StatusCode::PRECONDITION_FAILED, kind: "precondition-failed", ..self };
        }
        self
    }
}

impl From<Error> for Problem {
    fn from(e: Error) -> Self {
        let detail = e.to_string();
        match e {
            Error::Validation(v) => Problem {
                status: StatusCode::UNPROCESSABLE_ENTITY,
                kind: "validation",
                title: "Some fields are not acceptable",
                detail,
                errors: v.0.iter().map(|f| json!({"field": f.field, "code": f.code, "message": f.message})).collect(),
                allow: None,
            },
            Error::InvalidTransition { ref field, .. } => Problem {
                errors: vec![json!({"field": field, "code": "invalid_transition", "message": detail})],
                ..Problem::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid-transition",
                    "Not a move this record can make",
                    detail.clone(),
                )
            },
            Error::NotFound { .. } => Problem::new(StatusCode::NOT_FOUND, "not-found", "No such record", detail),
            Error::Forbidden(_) => Problem::new(StatusCode::FORBIDDEN, "forbidden", "Not allowed", detail),
            Error::Conflict { .. } => {
                Problem::new(StatusCode::CONFLICT, "conflict", "The record changed since it was read", detail)
            }
            Error::Busy(_) => Problem::new(StatusCode::SERVICE_UNAVAILABLE, "busy", "Busy: try again", detail),
            other => {
                tracing::error!(error = %other, "a request failed");
                Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "The server failed", "see the server's log")
            }
        }
    }
}

impl From<crm::io::IoError> for Problem {
    fn from(e: crm::io::IoError) -> Self {
        match e {
            crm::io::IoError::Crm(e) => e.into(),
            crm::io::IoError::Mapping { column, reason } => Problem {
                errors: vec![json!({"field": column, "code": "rule", "message": reason})],
                ..Problem::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "validation",
                    "Some fields are not acceptable",
                    format!("{column}: {reason}"),
                )
            },
            other => Problem::bad_request(other.to_string()),
        }
    }
}

impl Problem {
    /// The problem document.
    pub fn json(&self) -> serde_json::Value {
        json!({
            "type": format!("urn:crm:problem:{}", self.kind),
            "title": self.title,
            "status": self.status.as_u16(),
            "detail": self.detail,
            "errors": self.errors,
        })
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let body = self.json();
        let mut res = (self.status, body.to_string()).into_response();
        res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        if self.status == StatusCode::UNAUTHORIZED {
            res.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(allow) = self.allow {
            res.headers_mut().insert(header::ALLOW, HeaderValue::from_static(allow));
        }
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        res
    }
}
