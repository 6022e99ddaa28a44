//! Idempotency answers kept in the CRM's own database beside the server's memory, so that a
//! retry reaching another server process over the same database, or this one after a restart,
//! finds the first answer. One sync state per caller and key (`idempotency/<digest>`), written
//! with the answer, read when memory has none.

use axum::body::Bytes;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use crm::actor::Actor;
use crm::chrono::{DateTime, Duration, Utc};
use crm::service::Session;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// How long an answer is kept.
pub(crate) const KEPT: Duration = Duration::hours(24);

/// An answer as kept.
#[derive(Serialize, Deserialize)]
pub(crate) struct Kept {
    /// The request it answers (a digest of method, path and body), hex.
    pub(crate) fingerprint: String,
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: String,
    pub(crate) at: DateTime<Utc>,
}

impl Kept {
    /// The answer again.
    pub(crate) fn response(&self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::OK);
        let mut res = (status, Bytes::from(self.body.clone())).into_response();
        for (k, v) in &self.headers {
            if let (Ok(k), Ok(v)) = (HeaderName::try_from(k.as_str()), HeaderValue::from_str(v)) {
                res.headers_mut().insert(k, v);
            }
        }
        res
    }
}

/// The sync-state key of the answers of `name` (caller and key).
fn state_key(name: &str) -> String {
    format!("idempotency/{}", hex::encode(Sha256::digest(name.as_bytes())))
}

/// The tenant's system session, which keeps the answers (whoever the caller is).
fn keeper(cx: &Session) -> Session {
    cx.crm().as_actor(&Actor::system(cx.tenant()))
}

/// The answer kept for `name` and the version of its state, if one was kept less than a day
/// ago; else the version of a stale one to overwrite.
pub(crate) async fn read(cx: &Session, name: &str) -> (Option<Kept>, Option<u64>) {
    let Ok(Some(state)) = keeper(cx).sync().state(&state_key(name)).await else { return (None, None) };
    let kept = serde_json::from_value::<Kept>(state.value).ok().filter(|k| cx.now() - k.at < KEPT);
    (kept, Some(state.version))
}

/// Keeps `kept` for `name` over the state at `version` (None: there is none). A failure is
/// logged: the answer is still kept in memory.
pub(crate) async fn write(cx: &Session, name: &str, kept: &Kept, version: Option<u64>) {
    let Ok(value) = serde_json::to_value(kept) else { return };
    if let Err(e) = keeper(cx).sync().put_state(&state_key(name), value, version).await {
        tracing::warn!(error = %e, "an idempotency answer was not kept in the database");
    }
}
