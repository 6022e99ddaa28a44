//! `Idempotency-Key` on `POST`: a retried create returns the first answer instead of making a
//! second record. Answers are kept per caller for a day: in memory (at most [`CAPACITY`] of
//! them, the oldest forgotten first), and in the CRM's database ([`crate::kept`]), so that a
//! retry reaching another server over the same database, or this one after a restart, finds
//! them too. A request still running is known only to the server running it.

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
            Some(Slot::Running { fingerprint: f }) if *f == fingerprint => {
                return Err(Problem::new(
                    StatusCode::CONFLICT,
                    "in-progress",
                    "The same request is still running",
                    "retry once the first attempt has answered",
                ));
            }
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
    // Not in memory: perhaps kept in the database by another server, or before a restart.
    let (stored, version) = kept::read(cx, &name).await;
    if let Some(stored) = stored {
        if stored.fingerprint != hex::encode(ticket.fingerprint) {
            return Err(reused());
        }
        let (mut res, _) = ticket.finish(stored.response(), stored.at).await;
        res.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
        return Ok(res);
    }
    let session = cx.clone();
    tokio::spawn(async move {
        let (res, to_keep) = ticket.finish(run.await, session.now()).await;
        if let Some(k) = to_keep {
            kept::write(&session, &name, &k, version).await;
        }
        res
    })
    .await
    .map_err(|e| {
        tracing::error!(error = %e, "a keyed request stopped");
        Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "The server failed", "see the server's log")
    })
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
