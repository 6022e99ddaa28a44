//! The embeddable CRM over HTTP, for programs in any language: every record kind as JSON
//! under `/v1/{kind}` (`contacts`, `deals`…), API keys bound to users (their roles apply),
//! cursor pagination, optimistic concurrency through `ETag` / `If-Match`, and RFC 9457
//! problem documents that name the fields.
//!
//! | | |
//! |---|---|
//! | `GET /v1/{kind}?filter=…&sort=…&limit=…&cursor=…` | a page: `{"items": […], "next": cursor or null}` |
//! | `POST /v1/{kind}` | creates from a JSON object of fields; `201`, `Location`, `ETag`; an `Idempotency-Key` makes retries safe |
//! | `GET /v1/{kind}/{id}` | the record, its version as `ETag` |
//! | `PATCH /v1/{kind}/{id}` | changes fields; needs `If-Match` (`428` without, `412` when stale) |
//! | `DELETE /v1/{kind}/{id}` | needs `If-Match`; `204` |
//! | `GET /v1/search?q=…` | contacts, companies and deals by words |
//! | `GET /v1/{contacts,companies}/{id}/timeline` | everything about the customer, newest first |
//! | `GET /v1/{contacts,companies}/{id}/360` | the customer 360: records, figures, timeline |
//! | `GET /v1/events?after=…&limit=…` | the events the caller may see, in commit order |
//!
//! Filters and sorts are the library's text queries
//! ([`Session::text_query`](crm::service::Session::text_query)): `filter=lifecycle_stage=lead`,
//! `sort=-updated_at`, each repeatable. Every request carries `Authorization: Bearer <key>`, a
//! key issued by [`ApiKeys::issue`](crm::service::ApiKeys::issue).
//!
//! ```no_run
//! # async fn run(crm: crm::service::Crm) -> std::io::Result<()> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! crm_server::serve(crm, listener, std::future::pending()).await
//! # }
//! ```

mod auth;
mod customers;
mod idempotency;
mod problem;
mod records;

use std::future::Future;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use crm::service::Crm;

pub use problem::Problem;

/// The largest request body read (1 MiB): larger ones are refused with 413.
pub const MAX_BODY: usize = 1 << 20;

/// What the handlers share.
#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) crm: Crm,
    /// The answers kept for `Idempotency-Key`s.
    pub(crate) answers: std::sync::Arc<idempotency::Answers>,
}

/// The API's routes over `crm`.
pub fn router(crm: Crm) -> Router {
    Router::new()
        .route("/v1/search", get(records::search))
        .route("/v1/events", get(customers::events))
        .route("/v1/{kind}/{id}/timeline", get(customers::timeline))
        .route("/v1/{kind}/{id}/360", get(customers::overview))
        .route("/v1/{kind}", get(records::list).post(records::create))
        .route("/v1/{kind}/{id}", get(records::read).patch(records::update).delete(records::delete))
        .fallback(records::no_route)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(AppState { crm, answers: Default::default() })
}

/// Serves the API on `listener` until `shutdown` resolves, then lets the requests in flight
/// finish.
pub async fn serve(
    crm: Crm,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(crm)).with_graceful_shutdown(shutdown).await
}
