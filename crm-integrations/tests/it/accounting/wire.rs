//! What the suite's vendor servers share: the OAuth token endpoint, the bearer check, faults
//! played as HTTP answers, exact decimals in JSON bodies.

use std::time::Duration;

use rust_decimal::Decimal;
use serde_json::{Value, json};
use wiremock::{Request, ResponseTemplate};

use super::ledger::{Fault, Ledger};

const NUM: &str = "\u{1}num:";

/// A decimal written into a JSON body as a number with its exact digits (see [`body`]).
pub fn num(d: Decimal) -> Value {
    Value::String(format!("{NUM}{d}\u{1}"))
}

/// A JSON answer, [`num`]s written as bare numbers.
pub fn body(status: u16, v: &Value) -> ResponseTemplate {
    let text = v.to_string().replace(&format!("\"{}", NUM.replace('\u{1}', "\\u0001")), "").replace("\\u0001\"", "");
    ResponseTemplate::new(status).set_body_raw(text, "application/json")
}

/// The OAuth2 token endpoint (`grant_type=refresh_token`, rotating refresh tokens); None when
/// `req` is not for it.
pub fn token_endpoint(ledger: &Ledger, req: &Request, path: &str) -> Option<ResponseTemplate> {
    if req.url.path() != path {
        return None;
    }
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&req.body).into_owned().collect();
    let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    if get("grant_type").as_deref() != Some("refresh_token") || !req.headers.contains_key("authorization") {
        return Some(body(400, &json!({"error": "invalid_request"})));
    }
    Some(match ledger.refresh(&get("refresh_token").unwrap_or_default()) {
        Some((access, refresh)) => body(
            200,
            &json!({"access_token": access, "token_type": "Bearer", "expires_in": 1800, "refresh_token": refresh}),
        ),
        None => body(400, &json!({"error": "invalid_grant"})),
    })
}

/// Whether the request carries an access token the organisation accepts.
pub fn authorised(ledger: &Ledger, req: &Request) -> bool {
    req.headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|t| ledger.accepts(t))
}

/// The answer a read fault gives instead of the data (None: answer normally).
pub fn fault_answer(fault: Option<Fault>) -> Option<ResponseTemplate> {
    match fault? {
        Fault::Hang => Some(ResponseTemplate::new(200).set_delay(Duration::from_secs(60))),
        Fault::Throttle(secs) => {
            Some(ResponseTemplate::new(429).insert_header("Retry-After", secs.to_string().as_str()))
        }
        Fault::LoseReply => None,
    }
}
