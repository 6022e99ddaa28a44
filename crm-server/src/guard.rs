//! The layers around every request: a time limit and a rate limit per API key, both answering
//! with problem documents, and the browsers' origins allowed (CORS).

use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use sha2::{Digest, Sha256};
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::options::{Options, RateLimit};
use crate::problem::Problem;

/// Ends a request that runs longer than the configured time with a 503 problem.
pub(crate) async fn time_limit(State(limit): State<std::time::Duration>, req: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(res) => res,
        Err(_) => Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "timeout",
            "The request took too long",
            format!(
                "it ran over {} ms and was stopped: a change it was making is rolled back unless it had \
                 committed, so read before retrying, or retry with the same Idempotency-Key",
                limit.as_millis()
            ),
        )
        .into_response(),
    }
}

/// The requests each key may make.
pub(crate) struct Limiter {
    keys: DefaultKeyedRateLimiter<[u8; 16]>,
    checks: AtomicU64,
}

impl Limiter {
    pub(crate) fn new(limit: RateLimit) -> Self {
        let per_second = NonZeroU32::new(limit.per_second).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(limit.burst).unwrap_or(NonZeroU32::MIN);
        Limiter {
            keys: governor::RateLimiter::dashmap(Quota::per_second(per_second).allow_burst(burst)),
            checks: AtomicU64::new(0),
        }
    }
}

/// Refuses a key's request over its rate with 429 and `Retry-After`. Keys are told apart by a
/// digest of the `Authorization` header (requests without one share a bucket), before the key
/// is looked up, so that a flood costs no database work.
pub(crate) async fn rate_limit(State(limiter): State<Arc<Limiter>>, req: Request, next: Next) -> Response {
    let digest = Sha256::digest(req.headers().get(header::AUTHORIZATION).map(HeaderValue::as_bytes).unwrap_or(b""));
    let mut key = [0u8; 16];
    key.copy_from_slice(&digest[..16]);
    if limiter.checks.fetch_add(1, Ordering::Relaxed) % 4096 == 4095 {
        limiter.keys.retain_recent();
    }
    match limiter.keys.check_key(&key) {
        Ok(()) => next.run(req).await,
        Err(not_until) => {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            let mut res = Problem::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate-limited",
                "Too many requests",
                format!("this key is over its rate; try again in {} ms", wait.as_millis().max(1)),
            )
            .into_response();
            if let Ok(v) = HeaderValue::from_str(&secs.max(1).to_string()) {
                res.headers_mut().insert(header::RETRY_AFTER, v);
            }
            res
        }
    }
}

/// The CORS layer for the origins `options` allows, or `None` when it allows none.
pub(crate) fn cors(options: &Options) -> Option<CorsLayer> {
    if options.origins.is_empty() {
        return None;
    }
    let origin = if options.origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(options.origins.iter().filter_map(|o| HeaderValue::from_str(o.trim_end_matches('/')).ok()))
    };
    Some(
        CorsLayer::new()
            .allow_origin(origin)
            .allow_methods([Method::GET, Method::POST, Method::PATCH, Method::DELETE])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                header::IF_MATCH,
                HeaderName::from_static("idempotency-key"),
            ])
            .expose_headers([
                header::ETAG,
                header::LOCATION,
                header::RETRY_AFTER,
                HeaderName::from_static("idempotent-replayed"),
            ])
            .max_age(std::time::Duration::from_secs(600)),
    )
}
