//! Idempotency answers kept in the CRM's own database beside the server's memory, so that a
//! retry reaching another server process over the same database, or this one after a restart,
//! finds the first answer. One sync state per caller and key (`idempotency/<digest>`): claimed
//! (`running`) before the request runs, so that a retry reaching another server meanwhile is
//! told it is running; then overwritten with the answer. Every [`PURGE_EVERY`] answers kept,
//! the tenant's answers older than a day are deleted.

use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::Bytes;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use crm::actor::Actor;
use crm::chrono::{DateTime, Duration, Utc};
use crm::model::SyncState;
use crm::query::{Filter, MAX_PAGE_SIZE, Query};
use crm::service::Session;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// How long an answer is kept.
pub(crate) const KEPT: Duration = Duration::hours(24);

/// How long a claim holds without its answer: after it, the server that claimed is taken to
/// have stopped, and a retry runs the request.
pub(crate) const CLAIM_HOLDS: Duration = Duration::minutes(5);

/// How many answers are kept between two purges of the old ones.
pub(crate) const PURGE_EVERY: u64 = 500;

/// Answers kept by this process, counted for the purges.
static WRITTEN: AtomicU64 = AtomicU64::new(0);

/// The key prefix of the answers' sync states.
const PREFIX: &str = "idempotency/";

/// An answer as kept.
#[derive(Serialize, Deserialize)]
pub(crate) struct Kept {
    /// The request it answers (a digest of method, path and body), hex.
    pub(crate) fingerprint: String,
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: String,
    pub(crate) at: DateTime<Utc>,
    /// A claim: the request is running (no answer yet).
    #[serde(default)]
    pub(crate) running: bool,
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
    format!("{PREFIX}{}", hex::encode(Sha256::digest(name.as_bytes())))
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

/// Claims `name` for the request of `fingerprint` (hex) over the state at `version` (None: there
/// is none): the claim's version, or `Err(true)` when another claimed or answered it meanwhile,
/// `Err(false)` when the database failed (logged).
pub(crate) async fn claim(cx: &Session, name: &str, fingerprint: &str, version: Option<u64>) -> Result<u64, bool> {
    let claim = Kept {
        fingerprint: fingerprint.to_owned(),
        status: 0,
        headers: Vec::new(),
        body: String::new(),
        at: cx.now(),
        running: true,
    };
    let Ok(value) = serde_json::to_value(&claim) else { return Err(false) };
    match keeper(cx).sync().put_state(&state_key(name), value, version).await {
        Ok(state) => Ok(state.version),
        Err(crm::error::Error::Conflict { .. }) => Err(true),
        Err(e) => {
            tracing::warn!(error = %e, "an idempotency key was not claimed in the database");
            Err(false)
        }
    }
}

/// Drops the claim on `name` at `version` (its request failed: a retry may run it).
pub(crate) async fn release(cx: &Session, name: &str, version: u64) {
    let keeper = keeper(cx);
    if let Ok(Some(state)) = keeper.sync().state(&state_key(name)).await
        && state.version == version
        && let Err(e) = keeper.records::<SyncState>().delete(state.id, version).await
    {
        tracing::warn!(error = %e, "an idempotency claim was not released");
    }
}

/// Keeps `kept` for `name` over the state at `version` (None: there is none). A failure is
/// logged: the answer is still kept in memory.
pub(crate) async fn write(cx: &Session, name: &str, kept: &Kept, version: Option<u64>) {
    let Ok(value) = serde_json::to_value(kept) else { return };
    if let Err(e) = keeper(cx).sync().put_state(&state_key(name), value, version).await {
        tracing::warn!(error = %e, "an idempotency answer was not kept in the database");
    }
    if WRITTEN.fetch_add(1, Ordering::Relaxed) % PURGE_EVERY == PURGE_EVERY - 1
        && let Err(e) = purge(cx).await
    {
        tracing::warn!(error = %e, "old idempotency answers were not purged");
    }
}

/// Deletes the tenant's answers kept more than a day ago (a thousand at a time); how many.
pub(crate) async fn purge(cx: &Session) -> crm::error::Result<usize> {
    let keeper = keeper(cx);
    let old = Filter::starts_with("key", PREFIX).and(Filter::lt("updated_at", cx.now() - KEPT));
    let page = keeper.records::<SyncState>().list(&Query::new(old).limit(MAX_PAGE_SIZE)).await?;
    for s in &page.items {
        keeper.records::<SyncState>().delete(s.id, s.version).await?;
    }
    Ok(page.items.len())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crm::ids::{ManualClock, TenantId};
    use crm::memory::MemoryStore;
    use crm::service::Crm;

    use super::*;

    #[tokio::test]
    async fn answers_are_read_back_for_a_day_and_purged_after() {
        let clock = Arc::new(ManualClock::new(crm::chrono::Utc::now()));
        let crm = Crm::builder(MemoryStore::new()).clock(clock.clone()).build().unwrap();
        let cx = crm.as_actor(&Actor::system(TenantId::new()));
        let kept = |body: &str| Kept {
            fingerprint: "f".into(),
            status: 201,
            headers: vec![("location".into(), "/v1/contacts/x".into())],
            body: body.into(),
            at: cx.now(),
            running: false,
        };
        write(&cx, "caller\0old", &kept("{\"old\":true}"), None).await;
        let (read_back, version) = read(&cx, "caller\0old").await;
        assert_eq!((read_back.map(|k| k.body), version), (Some("{\"old\":true}".to_owned()), Some(1)));
        clock.advance(Duration::hours(25));
        write(&cx, "caller\0new", &kept("{}"), None).await;
        let (stale, version) = read(&cx, "caller\0old").await;
        assert!(stale.is_none() && version == Some(1), "too old to replay, there to overwrite");
        assert_eq!(purge(&cx).await.unwrap(), 1);
        assert_eq!(read(&cx, "caller\0old").await.1, None, "purged");
        assert!(read(&cx, "caller\0new").await.0.is_some(), "the recent one stays");
        let res = read(&cx, "caller\0new").await.0.unwrap().response();
        assert_eq!(
            (res.status(), res.headers()["location"].to_str().unwrap()),
            (StatusCode::CREATED, "/v1/contacts/x")
        );
    }
}
