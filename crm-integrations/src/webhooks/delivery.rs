//! Outbound webhooks: committed outbox events delivered to subscriber URLs, signed by the
//! Standard Webhooks scheme, at least once, with exponential retries and a dead-letter state.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use crm_core::{entity::EntityKind, event::StoredEvent};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use serde_json::json;
use url::Url;

use super::signing::{WebhookSecret, standard_signature};
use crate::error::{IntegrationError, Result};

/// A subscriber: where events go, how they are signed, and which they want.
#[derive(Clone, Debug)]
pub struct Endpoint {
    /// Your id for it (named in reports).
    pub id: String,
    /// Where deliveries are POSTed (`https://…`; `http://` only to hosts allowed below).
    pub url: Url,
    /// Signing secrets: during a rotation, the new one and the old one (each delivery carries
    /// a signature for each).
    pub secrets: Vec<WebhookSecret>,
    /// Only events about records of these kinds (empty: every event).
    pub kinds: Vec<EntityKind>,
}

impl Endpoint {
    /// An endpoint for every event, signed with `secret`.
    pub fn new(id: impl Into<String>, url: &str, secret: WebhookSecret) -> Result<Self> {
        let url = Url::parse(url).map_err(|e| IntegrationError::invalid("url", format!("`{url}`: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(IntegrationError::invalid("url", format!("`{url}`: only http and https can receive webhooks")));
        }
        if url.host_str().is_none() {
            return Err(IntegrationError::invalid("url", format!("`{url}` has no host")));
        }
        Ok(Endpoint { id: id.into(), url, secrets: vec![secret], kinds: Vec::new() })
    }

    /// Only events about records of `kinds`.
    pub fn kinds(mut self, kinds: impl IntoIterator<Item = EntityKind>) -> Self {
        self.kinds = kinds.into_iter().collect();
        self
    }

    /// Starts a secret rotation: deliveries are signed with `new` and the current secrets
    /// until [`finish_rotation`](Self::finish_rotation).
    pub fn rotate_secret(&mut self, new: WebhookSecret) {
        self.secrets.insert(0, new);
    }

    /// Ends a rotation: only the newest secret signs from now on.
    pub fn finish_rotation(&mut self) {
        self.secrets.truncate(1);
    }

    /// Whether `event` is for this endpoint.
    pub fn wants(&self, event: &StoredEvent) -> bool {
        self.kinds.is_empty() || self.kinds.contains(&event.event.subject.kind)
    }
}

/// How deliveries are attempted.
#[derive(Clone, Debug)]
pub struct DeliveryPolicy {
    /// Attempts before a delivery is dead-lettered (default 8).
    pub max_attempts: u32,
    /// Wait before the second attempt; it doubles each time (default 1 s).
    pub first_retry: Duration,
    /// Longest wait between attempts (default 1 h).
    pub max_retry: Duration,
    /// Timeout of one attempt (default 10 s).
    pub timeout: Duration,
    /// Allow targets on loopback and private networks (default false: such targets are
    /// refused, at the URL and again at connect time, so DNS cannot smuggle them in).
    pub allow_private_targets: bool,
}

impl Default for DeliveryPolicy {
    fn default() -> Self {
        DeliveryPolicy {
            max_attempts: 8,
            first_retry: Duration::from_secs(1),
            max_retry: Duration::from_secs(3600),
            timeout: Duration::from_secs(10),
            allow_private_targets: false,
        }
    }
}

/// What became of one event's delivery to one endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeliveryOutcome {
    /// The endpoint answered 2xx.
    Delivered {
        /// Attempts it took.
        attempts: u32,
        /// The status of the successful attempt.
        status: u16,
    },
    /// Every attempt failed (or the target is refused): keep it to redeliver by hand.
    DeadLettered {
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        last_error: String,
    },
}

/// Whether an address is one a webhook must not reach by default: loopback, private,
/// link-local, unique-local, carrier-grade NAT, unspecified, multicast, broadcast, documentation.
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_multicast()
                || v4.is_broadcast()
                || v4.is_documentation()
                || (a == 100 && (64..128).contains(&b))
                || (a == 198 && (18..20).contains(&b))
                || a >= 240
                || a == 0
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_private(IpAddr::V4(v4));
            }
            let seg = v6.segments();
            let embedded = |hi: u16, lo: u16| {
                IpAddr::V4(std::net::Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8))
            };
            // NAT64 (64:ff9b::/96) and 6to4 (2002::/16) reach the IPv4 address inside them;
            // IPv4-compatible addresses (::a.b.c.d) too.
            if seg[..6] == [0x64, 0xff9b, 0, 0, 0, 0] || seg[..6] == [0; 6] && seg[6] != 0 {
                return is_private(embedded(seg[6], seg[7]));
            }
            if seg[0] == 0x2002 {
                return is_private(embedded(seg[1], seg[2]));
            }
            let seg0 = seg[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (seg0 & 0xfe00) == 0xfc00
                || (seg0 & 0xffc0) == 0xfe80
        }
    }
}

/// How the resolver refuses a name (also how a delivery knows not to retry).
const PRIVATE_ONLY: &str = "resolves only to private or loopback addresses, which are not allowed";

/// Resolves names like the system does, refusing private addresses unless allowed.
struct GuardedResolver {
    allow_private: bool,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = addrs.into_iter().filter(|a| allow_private || !is_private(a.ip())).collect();
            if allowed.is_empty() {
                return Err(format!("{host} {PRIVATE_ONLY}").into());
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

/// Delivers events to endpoints.
#[derive(Clone, Debug)]
pub struct WebhookSender {
    client: reqwest::Client,
    policy: DeliveryPolicy,
}

impl WebhookSender {
    /// A sender with `policy` (no redirects are followed: a 3xx is a failed attempt).
    pub fn new(policy: DeliveryPolicy) -> Result<Self> {
        if policy.max_attempts == 0 {
            return Err(IntegrationError::invalid("max_attempts", "must be at least 1"));
        }
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            // A proxy would resolve the target itself, past the guarded resolver.
            .no_proxy()
            .timeout(policy.timeout)
            .user_agent(concat!("crm-webhooks/", env!("CARGO_PKG_VERSION")))
            .dns_resolver(Arc::new(GuardedResolver { allow_private: policy.allow_private_targets }))
            .build()
            .map_err(|e| IntegrationError::invalid("http client", e.to_string()))?;
        Ok(WebhookSender { client, policy })
    }

    /// The body of an event's delivery: `{"type", "timestamp", "data"}` (Standard Webhooks'
    /// recommended shape); `data` is the stored event as JSON.
    pub fn payload(event: &StoredEvent) -> Vec<u8> {
        let data = serde_json::to_value(event).unwrap_or(serde_json::Value::Null);
        let kind = data
            .pointer("/event/change/type")
            .and_then(|v| v.as_str())
            .map(str::to_owned)
            .unwrap_or_else(|| "event".into());
        let body = json!({
            "type": format!("{}.{kind}", event.event.subject.kind),
            "timestamp": event.event.occurred_at.to_rfc3339(),
            "data": data,
        });
        serde_json::to_vec(&body).unwrap_or_default()
    }

    /// Delivers `event` to `endpoint`, retrying with exponential backoff until it is accepted
    /// or the attempts run out. The `webhook-id` is the event's id, the same on every attempt,
    /// so receivers can drop duplicates.
    pub async fn deliver(&self, endpoint: &Endpoint, event: &StoredEvent) -> DeliveryOutcome {
        if let Some(reason) = self.refused_target(&endpoint.url) {
            return DeliveryOutcome::DeadLettered { attempts: 0, last_error: reason };
        }
        let body = Self::payload(event);
        let id = format!("msg_{}", event.event.id.as_uuid().simple());
        let mut wait = self.policy.first_retry;
        let mut last_error = String::new();
        for attempt in 1..=self.policy.max_attempts {
            match self.attempt(endpoint, &id, &body).await {
                Ok(status) => return DeliveryOutcome::Delivered { attempts: attempt, status },
                Err(e) if e.contains(PRIVATE_ONLY) => {
                    // Retrying cannot help: the name points at a private network.
                    return DeliveryOutcome::DeadLettered { attempts: attempt, last_error: e };
                }
                Err(e) => {
                    tracing::warn!(endpoint = %endpoint.id, attempt, error = %e, "webhook delivery failed");
                    last_error = e;
                }
            }
            if attempt < self.policy.max_attempts {
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(self.policy.max_retry);
            }
        }
        DeliveryOutcome::DeadLettered { attempts: self.policy.max_attempts, last_error }
    }

    fn refused_target(&self, url: &Url) -> Option<String> {
        if self.policy.allow_private_targets {
            return None;
        }
        let ip = match url.host()? {
            url::Host::Ipv4(ip) => IpAddr::V4(ip),
            url::Host::Ipv6(ip) => IpAddr::V6(ip),
            // Names are checked when they are resolved, at connect time.
            url::Host::Domain(_) => return None,
        };
        is_private(ip).then(|| format!("`{url}` is a private or loopback target; private targets are not allowed"))
    }

    async fn attempt(&self, endpoint: &Endpoint, id: &str, body: &[u8]) -> std::result::Result<u16, String> {
        let ts = chrono::Utc::now().timestamp();
        let signature = standard_signature(id, ts, body, &endpoint.secrets);
        let response = self
            .client
            .post(endpoint.url.clone())
            .header("content-type", "application/json")
            .header("webhook-id", id)
            .header("webhook-timestamp", ts.to_string())
            .header("webhook-signature", signature)
            .body(body.to_vec())
            .send()
            .await
            // Without the URL: subscriber URLs often carry a token in their path or query.
            .map_err(|e| error_chain(&e.without_url()))?;
        let status = response.status();
        if status.is_success() { Ok(status.as_u16()) } else { Err(format!("the endpoint answered {status}")) }
    }
}

/// An error and its causes, `: `-separated (reqwest's own message omits the cause).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}

/// One event's delivery that failed for good.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DeadLetter {
    /// The endpoint's id.
    pub endpoint: String,
    /// The event's outbox position.
    pub seq: u64,
    /// Attempts made.
    pub attempts: u32,
    /// The last failure.
    pub last_error: String,
}

/// What one [`dispatch`] pass did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DispatchReport {
    /// Deliveries accepted by their endpoint.
    pub delivered: usize,
    /// Deliveries that failed every attempt: redeliver them with [`WebhookSender::deliver`]
    /// once the endpoint is fixed.
    pub dead_letters: Vec<DeadLetter>,
    /// The outbox position to start the next pass after; persist it.
    pub cursor: u64,
}

/// Delivers the tenant's committed events after outbox position `cursor` (at most `limit`)
/// to every endpoint that wants them, in commit order, and reports the new cursor. Events are
/// delivered at least once: persist [`DispatchReport::cursor`] after the pass, and a pass that
/// is interrupted is simply run again (receivers drop repeats by `webhook-id`).
pub async fn dispatch(
    cx: &crm_core::service::Session,
    sender: &WebhookSender,
    endpoints: &[Endpoint],
    cursor: u64,
    limit: usize,
) -> Result<DispatchReport> {
    let events = cx.events(&crm_core::event::EventQuery::after(cursor, limit)).await?;
    let mut report = DispatchReport { cursor, ..DispatchReport::default() };
    for event in &events {
        for endpoint in endpoints.iter().filter(|e| e.wants(event)) {
            match sender.deliver(endpoint, event).await {
                DeliveryOutcome::Delivered { .. } => report.delivered += 1,
                DeliveryOutcome::DeadLettered { attempts, last_error } => report.dead_letters.push(DeadLetter {
                    endpoint: endpoint.id.clone(),
                    seq: event.seq,
                    attempts,
                    last_error,
                }),
            }
        }
        report.cursor = event.seq;
    }
    Ok(report)
}

/// An endpoint's delivery state as the CRM keeps it: its cursor and its dead letters.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
struct EndpointState {
    cursor: u64,
    dead: Vec<DeadLetter>,
}

fn state_key(endpoint: &Endpoint) -> String {
    format!("webhooks/{}", endpoint.id)
}

async fn load_state(cx: &crm_core::service::Session, endpoint: &Endpoint) -> Result<(EndpointState, Option<u64>)> {
    match cx.sync().state(&state_key(endpoint)).await? {
        Some(s) => {
            let state = serde_json::from_value(s.value)
                .map_err(|e| IntegrationError::invalid("webhook state", format!("unreadable: {e}")))?;
            Ok((state, Some(s.version)))
        }
        None => Ok((EndpointState::default(), None)),
    }
}

async fn save_state(
    cx: &crm_core::service::Session,
    endpoint: &Endpoint,
    state: &EndpointState,
    version: Option<u64>,
) -> Result<Option<u64>> {
    let value = serde_json::to_value(state).map_err(|e| IntegrationError::invalid("webhook state", e.to_string()))?;
    Ok(Some(cx.sync().put_state(&state_key(endpoint), value, version).await?.version))
}

/// [`dispatch`] with the bookkeeping kept in the CRM: each endpoint continues after its own
/// cursor (an endpoint added later starts from the beginning of the outbox), and its dead
/// letters are kept until [`redeliver_dead_letters`] gets them through. State is saved after
/// each dead letter and at the end of each endpoint's pass, so an interrupted pass resends at
/// most what it had not saved (at least once; receivers drop repeats by `webhook-id`).
/// Two dispatchers racing on one endpoint: the second save fails with a conflict.
pub async fn dispatch_pending(
    cx: &crm_core::service::Session,
    sender: &WebhookSender,
    endpoints: &[Endpoint],
    limit: usize,
) -> Result<DispatchReport> {
    let mut report = DispatchReport::default();
    for endpoint in endpoints {
        let (mut state, mut version) = load_state(cx, endpoint).await?;
        let events = cx.events(&crm_core::event::EventQuery::after(state.cursor, limit)).await?;
        let start = state.cursor;
        for event in &events {
            if endpoint.wants(event) {
                match sender.deliver(endpoint, event).await {
                    DeliveryOutcome::Delivered { .. } => report.delivered += 1,
                    DeliveryOutcome::DeadLettered { attempts, last_error } => {
                        let letter = DeadLetter { endpoint: endpoint.id.clone(), seq: event.seq, attempts, last_error };
                        report.dead_letters.push(letter.clone());
                        state.dead.push(letter);
                        state.cursor = event.seq;
                        version = save_state(cx, endpoint, &state, version).await?;
                        continue;
                    }
                }
            }
            state.cursor = event.seq;
        }
        if state.cursor != start || version.is_none() {
            save_state(cx, endpoint, &state, version).await?;
        }
        report.cursor = report.cursor.max(state.cursor);
    }
    Ok(report)
}

/// An endpoint's dead letters, oldest first.
pub async fn dead_letters(cx: &crm_core::service::Session, endpoint: &Endpoint) -> Result<Vec<DeadLetter>> {
    Ok(load_state(cx, endpoint).await?.0.dead)
}

/// Tries an endpoint's dead letters again (with the sender's full retry policy); those that
/// get through leave the list, the others stay with their latest error.
pub async fn redeliver_dead_letters(
    cx: &crm_core::service::Session,
    sender: &WebhookSender,
    endpoint: &Endpoint,
) -> Result<DispatchReport> {
    let (mut state, version) = load_state(cx, endpoint).await?;
    let mut report = DispatchReport { cursor: state.cursor, ..DispatchReport::default() };
    let mut still = Vec::new();
    for letter in std::mem::take(&mut state.dead) {
        let found = cx.events(&crm_core::event::EventQuery::after(letter.seq.saturating_sub(1), 1)).await?;
        let Some(event) = found.into_iter().find(|e| e.seq == letter.seq) else {
            // The event is gone from the outbox (pruned): nothing left to send.
            continue;
        };
        match sender.deliver(endpoint, &event).await {
            DeliveryOutcome::Delivered { .. } => report.delivered += 1,
            DeliveryOutcome::DeadLettered { attempts, last_error } => {
                let l = DeadLetter { attempts: letter.attempts + attempts, last_error, ..letter };
                report.dead_letters.push(l.clone());
                still.push(l);
            }
        }
    }
    state.dead = still;
    save_state(cx, endpoint, &state, version).await?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_loopback_addresses_are_recognised() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "64:ff9b::10.0.0.1",
            "2002:7f00:1::",
            "::192.168.0.1",
            "198.18.0.1",
            "240.0.0.1",
        ] {
            assert!(is_private(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111", "100.128.0.1"] {
            assert!(!is_private(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn endpoints_need_an_http_url_with_a_host() {
        let s = WebhookSecret::generate;
        assert!(Endpoint::new("a", "https://hooks.example.com/crm", s()).is_ok());
        assert!(
            matches!(Endpoint::new("a", "ftp://hooks.example.com", s()), Err(IntegrationError::Invalid { field, .. }) if field == "url")
        );
        assert!(Endpoint::new("a", "not a url", s()).is_err());
    }
}
