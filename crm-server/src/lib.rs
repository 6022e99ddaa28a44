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
//! | `POST /v1/{kind}/batch/{create,upsert,update,delete}` | up to 100 records, each with its own outcome (`200`, or `207` when some were refused) |
//! | `GET /v1/{kind}/{id}/relations` | the links with the record at either end (`POST /v1/relations` makes one) |
//! | `GET /v1/reports/pipeline/{id}`, `/v1/reports/campaign/{id}` | a pipeline's stages and forecast; a campaign's results |
//! | `GET /v1/reports/forecast`, `/performance`, `/win-rate`, `/funnel` | the sales forecast by period and category; win rates, deal sizes, cycle and velocity; the funnel (crm-analytics) |
//! | `GET /v1/reports/lead-scoring` | a naive Bayes model of which deals are won, its test on the latest deals (Brier score, reliability), the open deals scored with reasons |
//! | `GET /v1/reports/portfolio` | revenue, growth and concentration per group of customers; the most valuable customers |
//! | `GET /v1/reports/retention` | customers by the month or quarter of their first purchase, and how many buy again in each period since |
//! | `GET /v1/reports/rfm`, `POST /v1/reports/rfm/score` | customers' recency, frequency and monetary scores and segments; written on the contacts |
//! | `GET /v1/reports/clv` | customer lifetime value: revenue so far, the chance each customer is still one, and value predicted over a horizon |
//! | `GET /v1/reports/cross-sell`, `/recommendations` | products bought together (support, confidence, lift); what to offer each customer and why |
//! | `GET /v1/reports/attribution` | revenue credited to the campaigns' first and last touches, and each campaign's return on its budget |
//! | `GET /v1/reports/response-propensity` | who is likely to respond to a campaign, learned from past ones: a ranked target list with reasons |
//! | `GET /v1/reports/churn` | each customer's risk of leaving, 0–100, with the points and figures of each factor behind it |
//! | `POST /v1/{kind}/aggregate` | counts, sums, averages, extremes and percentiles grouped by fields, currencies and calendar buckets |
//! | `GET /v1/search?q=…` | contacts, companies and deals by words |
//! | `GET`/`POST /v1/cases/{id}/replies` | a case's conversation; a reply to the customer or an internal note |
//! | `GET /v1/{contacts,companies}/{id}/timeline` | everything about the customer, newest first |
//! | `GET /v1/{contacts,companies}/{id}/360` | the customer 360: records, figures, timeline |
//! | `GET /v1/events?after=…&limit=…` | the events the caller may see, in commit order |
//! | `POST`/`GET /v1/workflows`, `GET`/`DELETE /v1/workflows/{id}`, `…/enable`, `…/disable`, `…/runs` | workflow rules (needs `manage_automations`) and their run log |
//! | `GET /v1/notifications`, `POST /v1/notifications/{id}/read` | the caller's notifications |
//! | `POST`/`GET /v1/webhooks`, `GET`/`DELETE /v1/webhooks/{id}`, `…/dead-letters`, `…/redeliver` | webhook subscriptions, delivered signed in the background by [`serve_with`] |
//! | `GET /openapi.json`, `GET /docs` | this API as OpenAPI 3.1, and an interactive page over it |
//! | `/portal/…` (feature `portal`) | the customer self-service portal, when [`Options::portal`] sets one |
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

mod analytics;
mod auth;
mod batch;
mod campaign_analytics;
mod case_replies;
mod customer_analytics;
mod customers;
mod guard;
mod idempotency;
mod jwt;
mod kept;
mod metrics;
mod nested;
mod openapi;
mod options;
#[cfg(feature = "portal")]
mod portal;
mod problem;
mod records;
mod reports;
mod schemas;
mod webhooks;
mod workflows;

use std::future::Future;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use axum::routing::get;
use crm::service::Crm;

pub use jwt::{Jwt, JwtKeyError};
pub use options::{Options, RateLimit};
#[cfg(feature = "portal")]
pub use portal::{PortalConfigError, PortalOptions};
pub use problem::Problem;
pub use webhooks::WebhookDelivery;

/// The largest request body read (1 MiB): larger ones are refused with 413.
pub const MAX_BODY: usize = 1 << 20;

/// What the handlers share.
#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) crm: Crm,
    /// The answers kept for `Idempotency-Key`s.
    pub(crate) answers: std::sync::Arc<idempotency::Answers>,
    /// The OpenAPI document as served, and the page over it.
    pub(crate) docs: std::sync::Arc<(String, String)>,
    /// The issuer whose tokens are accepted beside API keys.
    pub(crate) jwt: Option<std::sync::Arc<Jwt>>,
    /// The delivery of webhook subscriptions' events.
    pub(crate) webhooks: Option<std::sync::Arc<webhooks::Webhooks>>,
}

/// The API's routes over `crm`, with the default [`Options`].
pub fn router(crm: Crm) -> Router {
    router_with(crm, &Options::default())
}

/// The API's routes over `crm`, guarded as `options` says. Webhook subscriptions are kept, but
/// delivered only by [`serve_with`].
pub fn router_with(crm: Crm, options: &Options) -> Router {
    app(crm, options).0
}

/// The routes, and the webhook delivery for [`serve_with`] to run.
fn app(crm: Crm, options: &Options) -> (Router, Option<std::sync::Arc<webhooks::Webhooks>>) {
    let hooks = options.webhooks.as_ref().and_then(|d| match webhooks::Webhooks::new(d) {
        Ok(w) => Some(std::sync::Arc::new(w)),
        Err(e) => {
            tracing::error!(error = %e, "webhooks will not be delivered");
            None
        }
    });
    let doc = openapi::document(options);
    let docs = std::sync::Arc::new((doc.to_string(), openapi::docs_page(&doc)));
    let metrics = std::sync::Arc::new(metrics::Metrics::new());
    let mut api = Router::new()
        .route("/openapi.json", get(openapi_json))
        .route("/docs", get(docs_page))
        .route("/v1/search", get(records::search))
        .route("/v1/cases/{id}/replies", get(case_replies::list).post(case_replies::create))
        .route("/v1/webhooks", get(webhooks::list).post(webhooks::create))
        .route("/v1/webhooks/{id}", get(webhooks::read).delete(webhooks::delete))
        .route("/v1/webhooks/{id}/dead-letters", get(webhooks::failed))
        .route("/v1/webhooks/{id}/redeliver", axum::routing::post(webhooks::redeliver))
        .route("/v1/workflows", get(workflows::list).post(workflows::create))
        .route("/v1/workflows/{id}", get(workflows::read).delete(workflows::delete))
        .route("/v1/workflows/{id}/runs", get(workflows::runs))
        .route("/v1/workflows/{id}/{how}", axum::routing::post(workflows::switch))
        .route("/v1/notifications", get(workflows::inbox))
        .route("/v1/notifications/{id}/read", axum::routing::post(workflows::mark_read))
        .route("/v1/events", get(customers::events))
        .route("/v1/reports/forecast", get(analytics::forecast))
        .route("/v1/reports/performance", get(analytics::performance))
        .route("/v1/reports/funnel", get(analytics::funnel))
        .route("/v1/reports/win-rate", get(analytics::win_rate))
        .route("/v1/reports/lead-scoring", get(analytics::lead_scoring))
        .route("/v1/reports/portfolio", get(customer_analytics::portfolio))
        .route("/v1/reports/retention", get(customer_analytics::retention))
        .route("/v1/reports/rfm", get(customer_analytics::rfm))
        .route("/v1/reports/clv", get(customer_analytics::clv))
        .route("/v1/reports/churn", get(customer_analytics::churn))
        .route("/v1/reports/cross-sell", get(customer_analytics::cross_sell))
        .route("/v1/reports/response-propensity", get(campaign_analytics::response_propensity))
        .route("/v1/reports/attribution", get(campaign_analytics::attribution))
        .route("/v1/reports/recommendations", get(customer_analytics::recommendations))
        .route("/v1/reports/rfm/score", axum::routing::post(customer_analytics::score_rfm))
        .route("/v1/{kind}/aggregate", axum::routing::post(analytics::aggregate))
        .route("/v1/reports/pipeline/{id}", get(reports::pipeline))
        .route("/v1/reports/campaign/{id}", get(reports::campaign))
        .route("/v1/{kind}/{id}/relations", get(reports::relations))
        .route("/v1/{kind}/batch/{op}", axum::routing::post(batch::batch))
        .route("/v1/{kind}/{id}/timeline", get(customers::timeline))
        .route("/v1/{kind}/{id}/360", get(customers::overview))
        .route("/v1/{kind}", get(records::list).post(records::create))
        .route("/v1/{kind}/{id}", get(records::read).patch(records::update).delete(records::delete))
        .fallback(records::no_route)
        .method_not_allowed_fallback(records::wrong_method)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(middleware::from_fn_with_state(options.timeout, guard::time_limit))
        .with_state(AppState {
            crm: crm.clone(),
            answers: Default::default(),
            docs,
            jwt: options.jwt.clone().map(std::sync::Arc::new),
            webhooks: hooks.clone(),
        });
    if let Some(limit) = options.rate_limit {
        let limiter = std::sync::Arc::new(guard::Limiter::new(limit));
        api = api.layer(middleware::from_fn_with_state(limiter, guard::rate_limit));
    }
    #[cfg(feature = "portal")]
    if let Some(p) = &options.portal {
        let pages = portal::router(crm.clone(), p.clone())
            .layer(DefaultBodyLimit::max(portal::MAX_FORM))
            .layer(middleware::from_fn_with_state(options.timeout, guard::time_limit));
        api = api.nest(&p.path, pages);
    }
    #[cfg(not(feature = "portal"))]
    let _ = &crm;
    if options.metrics {
        api = api
            .route("/metrics", get(metrics::serve).with_state(metrics.clone()))
            .layer(middleware::from_fn_with_state(metrics, metrics::record));
    }
    if let Some(cors) = guard::cors(options) {
        api = api.layer(cors);
    }
    (api.layer(tower_http::trace::TraceLayer::new_for_http()), hooks)
}

/// `GET /openapi.json`: the API as OpenAPI 3.1.
async fn openapi_json(axum::extract::State(s): axum::extract::State<AppState>) -> impl axum::response::IntoResponse {
    ([(axum::http::header::CONTENT_TYPE, "application/json")], s.docs.0.clone())
}

/// `GET /docs`: an interactive page over the document.
async fn docs_page(axum::extract::State(s): axum::extract::State<AppState>) -> axum::response::Html<String> {
    axum::response::Html(s.docs.1.clone())
}

/// Serves the API on `listener` until `shutdown` resolves, then lets the requests in flight
/// finish.
pub async fn serve(
    crm: Crm,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(crm, listener, &Options::default(), shutdown).await
}

/// [`serve`] guarded as `options` says.
pub async fn serve_with(
    crm: Crm,
    listener: tokio::net::TcpListener,
    options: &Options,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (app, hooks) = app(crm.clone(), options);
    let delivery = hooks.map(|h| tokio::spawn(h.run(crm)));
    let served = axum::serve(listener, app).with_graceful_shutdown(shutdown).await;
    if let Some(d) = delivery {
        d.abort();
    }
    served
}
