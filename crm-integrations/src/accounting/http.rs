//! The HTTP every connector shares: rate limits, retries, `Retry-After`, token refresh.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use reqwest::StatusCode;
use secrecy::ExposeSecret;
use tokio::sync::Semaphore;

use super::oauth::TokenManager;
use crate::error::{IntegrationError, Result};

/// How a connector talks to its API.
#[derive(Clone, Debug)]
pub struct ApiPolicy {
    /// Attempts per request before giving up (default 5). A `401` answered by a token refresh
    /// does not count.
    pub max_attempts: u32,
    /// Wait before the first retry of a `5xx` or a network failure; doubles each time
    /// (default 500 ms).
    pub first_retry: Duration,
    /// Longest wait between retries (default 30 s).
    pub max_retry: Duration,
    /// Longest `Retry-After` honoured by waiting (default 2 min); a longer one fails the call
    /// with [`IntegrationError::RateLimited`] so the caller can schedule the next run.
    pub max_retry_after: Duration,
    /// Timeout of one request (default 30 s).
    pub timeout: Duration,
    /// Requests per minute this connection may make (default 60: Xero's per-tenant limit).
    pub requests_per_minute: u32,
    /// Requests in flight at once on this connection (default 5: Xero's limit).
    pub max_concurrent: usize,
}

impl Default for ApiPolicy {
    fn default() -> Self {
        ApiPolicy {
            max_attempts: 5,
            first_retry: Duration::from_millis(500),
            max_retry: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(120),
            timeout: Duration::from_secs(30),
            requests_per_minute: 60,
            max_concurrent: 5,
        }
    }
}

/// A response the connector interprets: any status but `401`, `429` and `5xx`.
pub(crate) struct Response {
    pub status: StatusCode,
    pub body: Vec<u8>,
}

/// One connection's HTTP client.
pub(crate) struct Api {
    system: &'static str,
    client: reqwest::Client,
    policy: ApiPolicy,
    limiter: DefaultDirectRateLimiter,
    permits: Semaphore,
    tokens: Arc<TokenManager>,
}

/// How long a `Retry-After` asks to wait: delta-seconds or an HTTP date.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let v = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    Some((at.with_timezone(&chrono::Utc) - chrono::Utc::now()).to_std().unwrap_or(Duration::ZERO))
}

impl Api {
    pub(crate) fn new(system: &'static str, policy: ApiPolicy, tokens: Arc<TokenManager>) -> Result<Self> {
        if policy.max_attempts == 0 {
            return Err(IntegrationError::invalid("policy.max_attempts", "must be at least 1"));
        }
        let per_minute = NonZeroU32::new(policy.requests_per_minute)
            .ok_or_else(|| IntegrationError::invalid("policy.requests_per_minute", "must be at least 1"))?;
        if policy.max_concurrent == 0 {
            return Err(IntegrationError::invalid("policy.max_concurrent", "must be at least 1"));
        }
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(policy.timeout)
            .user_agent(concat!("crm-integrations/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| IntegrationError::invalid("http client", e.to_string()))?;
        Ok(Api {
            system,
            client,
            // No burst above the rate: a minute never sees more than the limit.
            limiter: RateLimiter::direct(Quota::per_minute(per_minute).allow_burst(NonZeroU32::MIN)),
            permits: Semaphore::new(policy.max_concurrent),
            policy,
            tokens,
        })
    }

    /// Sends the request `make` builds (again for each attempt), with the current access
    /// token. Retries network failures and `5xx` with backoff, waits out `429`s, refreshes
    /// the token once on `401`.
    pub(crate) async fn send(&self, make: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder) -> Result<Response> {
        let _permit = self.permits.acquire().await.map_err(|_| self.failure("the client is closed".into(), false))?;
        let mut attempt = 0;
        let mut refreshed = false;
        let mut backoff = self.policy.first_retry;
        loop {
            attempt += 1;
            self.limiter.until_ready().await;
            let token = self.tokens.access_token().await?;
            let sent = make(&self.client).bearer_auth(token.expose_secret()).send().await;
            let wait = match sent {
                Err(e) => {
                    if attempt >= self.policy.max_attempts {
                        return Err(self.failure(format!("request failed: {}", e.without_url()), true));
                    }
                    tracing::debug!(system = self.system, attempt, error = %e.without_url(), "retrying");
                    backoff
                }
                Ok(r) => {
                    let status = r.status();
                    if status == StatusCode::UNAUTHORIZED && !refreshed {
                        refreshed = true;
                        attempt -= 1;
                        self.tokens.refresh_after_rejection(&token).await?;
                        continue;
                    }
                    if status == StatusCode::UNAUTHORIZED {
                        return Err(IntegrationError::Auth {
                            system: self.system,
                            message: "the API refused a freshly refreshed access token".into(),
                        });
                    }
                    if status == StatusCode::TOO_MANY_REQUESTS {
                        let asked = retry_after(r.headers()).unwrap_or(backoff);
                        if asked > self.policy.max_retry_after || attempt >= self.policy.max_attempts {
                            return Err(IntegrationError::RateLimited { system: self.system, retry_after: asked });
                        }
                        tracing::debug!(system = self.system, ?asked, "rate limited; waiting");
                        tokio::time::sleep(asked).await;
                        continue;
                    }
                    if status.is_server_error() {
                        if attempt >= self.policy.max_attempts {
                            return Err(self.failure(format!("HTTP {status} after {attempt} attempts"), true));
                        }
                        backoff
                    } else {
                        match r.bytes().await {
                            Ok(body) => return Ok(Response { status, body: body.to_vec() }),
                            Err(e) if attempt < self.policy.max_attempts => {
                                tracing::debug!(system = self.system, error = %e.without_url(), "body cut off; retrying");
                                backoff
                            }
                            Err(e) => {
                                return Err(self.failure(format!("reading the response: {}", e.without_url()), true));
                            }
                        }
                    }
                }
            };
            tokio::time::sleep(wait).await;
            backoff = (backoff * 2).min(self.policy.max_retry);
        }
    }

    fn failure(&self, message: String, transient: bool) -> IntegrationError {
        IntegrationError::Remote { system: self.system, message, transient }
    }
}
