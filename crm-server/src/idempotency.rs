//! `Idempotency-Key` on `POST`: a retried create returns the first answer instead of making a
//! second record. Answers are kept per caller for a day: in memory (at most [`CAPACITY`] of
//! them, the oldest forgotten first), and in the CRM's database ([`crate::kept`]), so that a
//! retry reaching another server over the same database, or this one after a restart, finds
//! them too. A request is claimed in the database before it runs, so a retry reaching another
//! server while it runs gets `409` too.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use crate::kept::{self, Kept};
use crate::problem::Problem;

/// How many answers are kept.
pub const CAPACITY: usize = 10_000;
/// How long an answer is kept.
const KEPT: Duration = Duration::from_secs(24 * 3600);

/// A kept answer, or a request still running.
enum Slot {
    Running {
        fingerprint: [u8; 32],
    },
    Done {
        fingerprint: [u8; 32],
        at: Instant,
        status: StatusCode,
        headers: Vec<(header::HeaderName, HeaderValue)>,
        body: Bytes,
    },
}

/// The answers of the requests that carried a key.
#[derive(Default)]
pub(crate) struct Answers {
    slots: Mutex<(HashMap<String, Slot>, VecDeque<String>)>,
}

/// What a request with a key is to do.
enum Begin {
    /// Run it, then [`Ticket::finish`] with the answer.
    Run(Ticket),
    /// Send this kept answer again.
    Replay(Response),
}

impl Answers {
    /// Starts a request of `caller` carrying `key`, whose method, path and body are `request`.
    fn begin(self: &Arc<Self>, caller: &str, key: &HeaderValue, request: &[&[u8]]) -> Result<Begin, Problem> {
        let key = key
            .to_str()
            .ok()
            .filter(|k| (1..=255).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic()))
            .ok_or_else(|| Problem::bad_request("Idempotency-Key must be 1 to 255 visible ASCII characters"))?;
        let mut h = Sha256::new();
        for part in request {
            h.update((part.len() as u64).to_le_bytes());
            h.update(part);
        }
        let fingerprint: [u8; 32] = h.finalize().into();
        let name = format!("{caller}\u{0}{key}");
        let mut guard = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        let (slots, order) = &mut *guard;
        match slots.get(&name) {
            Some(Slot::Done { at, .. }) if at.elapsed() > KEPT => {
                slots.remove(&name);
            }
            Some(Slot::Done { fingerprint: f, status, headers, body, .. }) if *f == fingerprint => {
                let mut res = (*status, body.clone()).into_response();
                for (k, v) in headers {
                    res.headers_mut().insert(k.clone(), v.clone());
                }
                res.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
                return Ok(Begin::Replay(res));
            }
            Some(Slot::Running { fingerprint: f }) if *f == fingerprint => return Err(in_progress()),
            Some(_) => return Err(reused()),
            None => {}
        }
        slots.insert(name.clone(), Slot::Running { fingerprint });
        order.push_back(name.clone());
        while order.len() > CAPACITY {
            if let Some(old) = order.pop_front() {
                slots.remove(&old);
            }
        }
        Ok(Begin::Run(Ticket { answers: self.clone(), name: Some(name), fingerprint }))
    }

    /// Forgets the request started as `name` if it is still running.
    fn abandon(&self, name: &str) {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(Slot::Running { .. }) = slots.0.get(name) {
            slots.0.remove(name);
        }
    }
}

/// A request with a key, running. Dropped unfinished (the request stopped by the time limit, or
/// its connection gone), it frees the key, so that a retry runs again rather than being told
/// forever that the first is still running.
struct Ticket {
    answers: Arc<Answers>,
    name: Option<String>,
    fingerprint: [u8; 32],
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if let Some(name) = self.name.take() {
            self.answers.abandon(&name);
        }
    }
}

impl Ticket {
    /// Keeps the answer in memory, and returns it with what to keep in the database (a server
    /// error is not kept: the request may be retried).
    async fn finish(mut self, res: Response, now: crm::chrono::DateTime<crm::chrono::Utc>) -> (Response, Option<Kept>) {
        let Some(name) = self.name.take() else { return (res, None) };
        let status = res.status();
        if status.is_server_error() {
            self.answers.abandon(&name);
            return (res, None);
        }
        let (parts, body) = res.into_parts();
        let body = axum::body::to_bytes(body, crate::MAX_BODY * 4).await.unwrap_or_default();
        let kept: Vec<(header::HeaderName, HeaderValue)> = parts
            .headers
            .iter()
            .filter(|(k, _)| [header::CONTENT_TYPE, header::ETAG, header::LOCATION].contains(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let mut slots = self.answers.slots.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(Slot::Running { fingerprint }) = slots.0.get(&name) {
            let fingerprint = *fingerprint;
            slots.0.insert(
                name,
                Slot::Done { fingerprint, at: Instant::now(), status, headers: kept.clone(), body: body.clone() },
            );
        }
        drop(slots);
        let to_keep = Kept {
            fingerprint: hex::encode(self.fingerprint),
            status: status.as_u16(),
            headers: kept.iter().filter_map(|(k, v)| Some((k.to_string(), v.to_str().ok()?.to_owned()))).collect(),
            body: String::from_utf8_lossy(&body).into_owned(),
            at: now,
            running: false,
        };
        (Response::from_parts(parts, axum::body::Body::from(body)), Some(to_keep))
    }
}

/// Runs `run`, the work of a `POST` whose method, path and body are `request`: at most once per
/// `Idempotency-Key` of the caller when the request carries one. A keyed request runs to its end
/// even when the caller goes or the time limit stops the request, so that a retry finds the
/// answer (or 409 while it runs), never a second effect.
pub(crate) async fn once(
    answers: &Arc<Answers>,
    cx: &crm::service::Session,
    headers: &HeaderMap,
    request: &[&[u8]],
    run: impl Future<Output = Response> + Send + 'static,
) -> Result<Response, Problem> {
    let Some(key) = key(headers) else { return Ok(run.await) };
    let ticket = match answers.begin(&caller(cx), key, request)? {
        Begin::Replay(res) => return Ok(res),
        Begin::Run(ticket) => ticket,
    };
    let name = ticket.name.clone().unwrap_or_default();
    let fingerprint = hex::encode(ticket.fingerprint);
    // Not in memory: perhaps kept (or running) in the database by another server, or before a
    // restart. Then claimed there, so that a retry elsewhere waits for this answer.
    let mut claimed = None;
    for attempt in 0..2 {
        let (stored, version) = kept::read(cx, &name).await;
        if let Some(stored) = stored {
            if stored.fingerprint != fingerprint {
                return Err(reused());
            }
            if stored.running && cx.now() - stored.at < kept::CLAIM_HOLDS {
                return Err(in_progress());
            }
            if !stored.running {
                let (mut res, _) = ticket.finish(stored.response(), stored.at).await;
                res.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
                return Ok(res);
            }
            // A claim whose server stopped answering: taken over below.
        }
        match kept::claim(cx, &name, &fingerprint, version).await {
            Ok(v) => {
                claimed = Some(v);
                break;
            }
            // Claimed or answered meanwhile elsewhere: read again (once; then it is running).
            Err(true) if attempt == 0 => continue,
            Err(true) => return Err(in_progress()),
            // The database failed: the request runs, kept in memory only.
            Err(false) => break,
        }
    }
    let session = cx.clone();
    tokio::spawn(async move {
        let (res, to_keep) = ticket.finish(run.await, session.now()).await;
        match (to_keep, claimed) {
            (Some(k), v) => kept::write(&session, &name, &k, v).await,
            (None, Some(v)) => kept::release(&session, &name, v).await,
            (None, None) => {}
        }
        res
    })
    .await
    .map_err(|e| {
        tracing::error!(error = %e, "a keyed request stopped");
        Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "The server failed", "see the server's log")
    })
}

/// 409: the same request is running (here or on another server).
fn in_progress() -> Problem {
    Problem::new(
        StatusCode::CONFLICT,
        "in-progress",
        "The same request is still running",
        "retry once the first attempt has answered",
    )
}

/// 422: the key was used for another request.
fn reused() -> Problem {
    Problem::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "idempotency-key-reused",
        "This Idempotency-Key belongs to another request",
        "send a new key for a different request",
    )
}

/// Who is calling, for keeping answers apart: the tenant and user of the session.
fn caller(cx: &crm::service::Session) -> String {
    let a = cx.actor();
    format!("{}/{}", a.tenant_id, a.user_id.map(|u| u.to_string()).unwrap_or_default())
}

/// The request's `Idempotency-Key`, if it carries one.
fn key(headers: &HeaderMap) -> Option<&HeaderValue> {
    headers.get("idempotency-key")
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use crm::ids::TenantId;
    use crm::memory::MemoryStore;
    use crm::service::Crm;

    use super::*;

    /// Two servers (each with its own memory of answers) over one CRM.
    #[tokio::test]
    async fn a_retry_reaching_another_server_is_told_the_request_runs_then_gets_its_answer() {
        let crm = Crm::new(MemoryStore::new());
        let cx = crm.as_actor(&crm::actor::Actor::system(TenantId::new()));
        let (here, there) = (Arc::new(Answers::default()), Arc::new(Answers::default()));
        let keyed = |k: &'static str| {
            let mut h = HeaderMap::new();
            h.insert("idempotency-key", HeaderValue::from_static(k));
            h
        };
        let runs = Arc::new(AtomicUsize::new(0));
        let request: [&[u8]; 2] = [b"POST", b"/v1/contacts"];

        let (go, wait) = tokio::sync::oneshot::channel::<()>();
        let first = {
            let (here, cx, runs, h) = (here.clone(), cx.clone(), runs.clone(), keyed("k1"));
            tokio::spawn(async move {
                let work = async move {
                    runs.fetch_add(1, Ordering::SeqCst);
                    let _ = wait.await;
                    (StatusCode::CREATED, "made").into_response()
                };
                once(&here, &cx, &h, &request, work).await
            })
        };
        let name = format!("{}\u{0}k1", caller(&cx));
        for _ in 0..200 {
            if kept::read(&cx, &name).await.0.is_some_and(|k| k.running) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let never = |runs: Arc<AtomicUsize>| async move {
            runs.fetch_add(1, Ordering::SeqCst);
            (StatusCode::CREATED, "again").into_response()
        };
        let err = once(&there, &cx, &keyed("k1"), &request, never(runs.clone())).await.unwrap_err();
        assert_eq!(err.status(), StatusCode::CONFLICT, "running on the first server");

        go.send(()).unwrap();
        let made = first.await.unwrap().unwrap();
        assert_eq!(made.status(), StatusCode::CREATED);
        let replayed = once(&there, &cx, &keyed("k1"), &request, never(runs.clone())).await.unwrap();
        assert_eq!(replayed.status(), StatusCode::CREATED);
        assert_eq!(replayed.headers()["idempotent-replayed"], "true");
        let body = axum::body::to_bytes(replayed.into_body(), 100).await.unwrap();
        assert_eq!((&body[..], runs.load(Ordering::SeqCst)), (&b"made"[..], 1), "ran once");

        // A request that failed releases its claim: a retry elsewhere runs it.
        let failing = async { (StatusCode::INTERNAL_SERVER_ERROR, "boom").into_response() };
        let failed = once(&here, &cx, &keyed("k2"), &request, failing).await.unwrap();
        assert_eq!(failed.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let name = format!("{}\u{0}k2", caller(&cx));
        let (left, version) = kept::read(&cx, &name).await;
        assert!(left.is_none() && version.is_none(), "no claim left");
        let retried = once(&there, &cx, &keyed("k2"), &request, never(runs.clone())).await.unwrap();
        assert_eq!((retried.status(), runs.load(Ordering::SeqCst)), (StatusCode::CREATED, 2));
    }
}
