//! Customer analytics over HTTP (crm-analytics, over the orders the caller reads):
//! `GET /v1/reports/portfolio` (revenue, growth and concentration per group of customers, the
//! most valuable ones), `GET /v1/reports/rfm` (customers scored on recency, frequency and
//! spend) and `POST /v1/reports/rfm/score` (the scores written on the contacts, where segments
//! filter on them).

use axum::extract::RawQuery;
use axum::response::Response;
use crm::analytics::{CustomerKind, Customers, PortfolioOptions, RfmOptions};
use crm::entity::EntityKind;
use crm::error::{Error, FieldErrorCode};
use crm::money::Money;
use crm::service::Session;
use serde_json::json;

use crate::analytics::{Params, reply};
use crate::auth::Caller;
use crate::problem::Problem;

fn currency(p: &Params) -> Result<Option<crm::money::Currency>, Problem> {
    Ok(match p.get::<String>("currency", "text")? {
        Some(code) => Some(Money::currency_from_code(&code)?),
        None => None,
    })
}

async fn options(cx: &Session, raw: Option<String>) -> Result<RfmOptions, Problem> {
    let p = Params::read(raw, &["from", "to", "currency"])?;
    Ok(RfmOptions { window: p.window(cx)?, currency: currency(&p)?, filter: p.filter_of(cx, EntityKind::Order).await? })
}

/// `GET /v1/reports/portfolio?customers=&by=&from=&to=&currency=&top=&filter=`.
pub(crate) async fn portfolio(Caller(cx): Caller, RawQuery(raw): RawQuery) -> Result<Response, Problem> {
    let p = Params::read(raw, &["customers", "by", "from", "to", "currency", "top"])?;
    let customers = match p.get::<String>("customers", "text")?.as_deref() {
        None | Some("contacts") => CustomerKind::Contact,
        Some("companies") => CustomerKind::Company,
        Some(v) => {
            let why = format!("`{v}` is not a kind of customer: use contacts or companies");
            return Err(Error::invalid("customers", FieldErrorCode::NotAnOption, why).into());
        }
    };
    let o = PortfolioOptions {
        customers,
        by: p.get::<String>("by", "text")?,
        window: p.window(&cx)?,
        currency: currency(&p)?,
        filter: p.filter_of(&cx, EntityKind::Order).await?,
        top: p.get::<usize>("top", "a whole number")?.unwrap_or(PortfolioOptions::default().top),
    };
    Ok(reply(&Customers::new(&cx).portfolio(&o).await?))
}

/// `GET /v1/reports/rfm?from=&to=&currency=&filter=`.
pub(crate) async fn rfm(Caller(cx): Caller, RawQuery(raw): RawQuery) -> Result<Response, Problem> {
    let o = options(&cx, raw).await?;
    Ok(reply(&Customers::new(&cx).rfm(&o).await?))
}

/// `POST /v1/reports/rfm/score?from=&to=&currency=`: what was written, and the report's
/// summary (not every customer: read the contacts for those). A `filter` is refused.
pub(crate) async fn score_rfm(Caller(cx): Caller, RawQuery(raw): RawQuery) -> Result<Response, Problem> {
    let o = options(&cx, raw).await?;
    let run = Customers::new(&cx).score_rfm(&o, |_| {}).await?;
    let r = &run.report;
    Ok(reply(&json!({
        "written": run.written,
        "cleared": run.cleared,
        "scored": r.customers.len(),
        "window": r.window,
        "currency": r.currency,
        "segments": r.segments,
        "grid": r.grid,
        "empty_because": r.empty_because,
    })))
}

/// The OpenAPI paths of the portfolio, the RFM report and scoring.
pub(crate) fn paths(paths: &mut serde_json::Map<String, serde_json::Value>) {
    use crate::openapi::{json_response, responses};
    let q = |name: &str, description: &str, schema: serde_json::Value| json!({ "name": name, "in": "query", "required": false, "description": description, "schema": schema });
    let params = [
        q(
            "from",
            "The window's start (RFC 3339; default 12 months before `to`)",
            json!({ "type": "string", "format": "date-time" }),
        ),
        q(
            "to",
            "The window's end, excluded, to which recency is measured (RFC 3339; default now)",
            json!({ "type": "string", "format": "date-time" }),
        ),
        q(
            "currency",
            "The currency spend is counted in (needed when the orders are in several)",
            json!({ "type": "string" }),
        ),
        q("filter", "A text filter over the orders (repeatable), as in lists", json!({ "type": "string" })),
    ];
    let object = |what: &str| json!({ "type": "object", "description": what });
    let op = |method: &str, id: &str, summary: &str, body: &str, errors: &[u16]| {
        json!({ method: {
            "operationId": id,
            "tags": ["reports"],
            "summary": summary,
            "parameters": params,
            "responses": responses((200, json_response(body, object(body), &[])), errors),
        } })
    };
    let mut portfolio = vec![
        q("customers", "Contacts (default) or companies", json!({ "enum": ["contacts", "companies"] })),
        q(
            "by",
            "Broken down by this field of the customers (e.g. industry, size, country, rfm_segment)",
            json!({ "type": "string" }),
        ),
        q(
            "top",
            "How many of the most valuable customers to list (default 10)",
            json!({ "type": "integer", "minimum": 0, "maximum": crm::analytics::MAX_TOP }),
        ),
    ];
    portfolio.extend(params.iter().cloned());
    paths.insert(
        "/v1/reports/portfolio".into(),
        json!({ "get": {
            "operationId": "report_portfolio",
            "tags": ["reports"],
            "summary": "Revenue, orders, customers and growth per group of customers; concentration; the most valuable customers",
            "parameters": portfolio,
            "responses": responses((200, json_response("The portfolio", object("`total`, `groups`, `concentration`, `most_valuable`"), &[])), &[400, 403, 422]),
        } }),
    );
    paths.insert(
        "/v1/reports/rfm".into(),
        op(
            "get",
            "report_rfm",
            "Every customer's recency, frequency and monetary scores (1–5 by fifths) and segment",
            "The window, the currency, `customers` best first, `segments`, the recency × frequency `grid`",
            &[400, 403, 422],
        ),
    );
    paths.insert(
        "/v1/reports/rfm/score".into(),
        op(
            "post",
            "score_rfm",
            "Scores the customers and writes the scores on the contacts (clearing those who bought nothing in the window); a filter is refused: stored scores rank every customer",
            "`written`, `cleared`, `scored`, with the report's `segments` and `grid`",
            &[400, 403, 422],
        ),
    );
}
