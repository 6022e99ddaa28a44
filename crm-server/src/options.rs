//! How the server guards itself: time per request, requests per key, browsers' origins, metrics.

use std::time::Duration;

/// The server's settings. [`Default`] suits most: 30 s per request, 50 requests a second per
/// key (bursts of 100), no cross-origin access, metrics at `/metrics`, webhooks delivered every
/// 5 seconds.
///
/// ```
/// use std::time::Duration;
/// let options = crm_server::Options::default()
///     .timeout(Duration::from_secs(10))
///     .rate_limit(Some(crm_server::RateLimit { per_second: 20, burst: 40 }))
///     .allow_origin("https://app.example.com");
/// # let _ = options;
/// ```
#[derive(Clone, Debug)]
pub struct Options {
    pub(crate) timeout: Duration,
    pub(crate) rate_limit: Option<RateLimit>,
    pub(crate) origins: Vec<String>,
    pub(crate) metrics: bool,
    pub(crate) jwt: Option<crate::Jwt>,
    pub(crate) webhooks: Option<crate::WebhookDelivery>,
    #[cfg(feature = "portal")]
    pub(crate) portal: Option<crate::PortalOptions>,
}

/// Requests allowed per API key: a steady rate and the burst above it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    /// Requests a second, sustained.
    pub per_second: u32,
    /// Requests at once beyond the rate (at least 1).
    pub burst: u32,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            timeout: Duration::from_secs(30),
            rate_limit: Some(RateLimit { per_second: 50, burst: 100 }),
            origins: Vec::new(),
            metrics: true,
            jwt: None,
            webhooks: Some(crate::WebhookDelivery::default()),
            #[cfg(feature = "portal")]
            portal: None,
        }
    }
}

impl Options {
    /// The longest a request may run; beyond it the caller gets 503 and the work is dropped
    /// (its transaction rolled back).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Requests allowed per API key (`None`: no limit). Over it the caller gets 429 with
    /// `Retry-After`.
    pub fn rate_limit(mut self, limit: Option<RateLimit>) -> Self {
        self.rate_limit = limit;
        self
    }

    /// Lets pages from `origin` (`https://app.example.com`, or `*` for any) call the API from a
    /// browser (CORS). None is allowed unless named.
    pub fn allow_origin(mut self, origin: impl Into<String>) -> Self {
        self.origins.push(origin.into());
        self
    }

    /// Accepts bearer tokens (JWTs) of an OAuth2 / OpenID Connect issuer beside API keys.
    pub fn jwt(mut self, jwt: crate::Jwt) -> Self {
        self.jwt = Some(jwt);
        self
    }

    /// Serves the customer self-service portal under its path (see [`PortalOptions`](crate::PortalOptions)).
    #[cfg(feature = "portal")]
    pub fn portal(mut self, portal: crate::PortalOptions) -> Self {
        self.portal = Some(portal);
        self
    }

    /// How [`serve_with`](crate::serve_with) delivers webhook subscriptions' events (`None`: it
    /// does not; subscriptions are still kept, for a deliverer of your own).
    pub fn webhooks(mut self, delivery: Option<crate::WebhookDelivery>) -> Self {
        self.webhooks = delivery;
        self
    }

    /// Serves Prometheus metrics at `GET /metrics` (on by default).
    pub fn metrics(mut self, on: bool) -> Self {
        self.metrics = on;
        self
    }
}
