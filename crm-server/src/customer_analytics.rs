//! Customer analytics over HTTP (crm-analytics, over the orders the caller reads):
//! `GET /v1/reports/portfolio` (revenue, growth and concentration per group of customers, the
//! most valuable ones), `GET /v1/reports/retention` (cohorts of first purchases and how they
//! come back), `GET /v1/reports/rfm` (customers scored on recency, frequency and
//! spend), `POST /v1/reports/rfm/score` (the scores written on the contacts, where segments
//! filter on them), `GET /v1/reports/clv` (customer lifetime value, spent and predicted) and
//! `GET /v1/reports/churn` (each customer's risk of leaving, with the factors behind it),
//! `GET /v1/reports/cross-sell` (products bought together: association rules) and
//! `GET /v1/reports/recommendations` (what to offer each customer).

use axum::extract::RawQuery;
use axum::response::Response;
use crm::analytics::{
    BasketOptions, ChurnOptions, ChurnWeights, ClvOptions, CrossSell, CustomerKind, Customers, PortfolioOptions,
    RecommendOptions, RetentionOptions, RfmOptions,
};
use crm::chrono::{DateTime, Utc};
use crm::entity::EntityKind;
use crm::error::{Error, FieldErrorCode};
use crm::money::Money;
use crm::rust_decimal::Decimal;
use crm::service::Session;
use serde_json::json;

use crate::analytics::{Params, reply, window_params};
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

/// The `customers` parameter: contacts (the default) or companies.
fn customer_kind(p: &Params) -> Result<CustomerKind, Problem> {
    match p.get::<String>("customers", "text")?.as_deref() {
        None | Some("contacts") => Ok(CustomerKind::Contact),
        Some("companies") => Ok(CustomerKind::Company),
        Some(v) => {
            let why = format!("`{v}` is not a kind of customer: use contacts or companies");
            Err(Error::invalid("customers", FieldErrorCode::NotAnOption, why).into())
        }
    }
}

/// `GET /v1/reports/retention?customers=&period=&from=&to=&time_zone=&filter=`.
pub(crate) async fn retention(Caller(cx): Caller, RawQuery(raw): RawQuery) -> Result<Response, Problem> {
    let p = Params::read(raw, &["customers", "period", "from", "to", "time_zone"])?;
    let o = RetentionOptions {
        customers: customer_kind(&p)?,
        period: p.period("period")?.unwrap_or_default(),
        window: p.window(&cx)?,
        filter: p.filter_of(&cx, EntityKind::Order).await?,
        time_zone: p.time_zone()?,
    };
    Ok(reply(&Customers::new(&cx).retention(&o).await?))
}

/// `GET /v1/reports/portfolio?customers=&by=&from=&to=&currency=&top=&filter=`.
pub(crate) async fn portfolio(Caller(cx): Caller, RawQuery(raw): RawQuery) -> Result<Response, Problem> {
    let p = Params::read(raw, &["customers", "by", "from", "to", "currency", "top"])?;
    let o = PortfolioOptions {
        customers: customer_kind(&p)?,
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

/// `GET /v1/reports/clv?until=&horizon_months=&monthly_discount=&currency=&time_zone=&top=&filter=`:
/// the fitted models and every customer's value (the `top` most valuable when given).
pub(crate) async fn clv(Caller(cx): Caller, RawQuery(raw): RawQuery) -> Result<Response, Problem> {
    let known = ["until", "horizon_months", "monthly_discount", "currency", "time_zone", "top"];
    let p = Params::read(raw, &known)?;
    let d = ClvOptions::default();
    let o = ClvOptions {
        until: p.get::<DateTime<Utc>>("until", "an RFC 3339 time")?,
        horizon_months: p.get("horizon_months", "a whole number of months")?.unwrap_or(d.horizon_months),
        monthly_discount: p.get::<Decimal>("monthly_discount", "a rate such as 0.01")?.unwrap_or(d.monthly_discount),
        currency: currency(&p)?,
        filter: p.filter_of(&cx, EntityKind::Order).await?,
        time_zone: p.time_zone()?,
    };
    let mut report = Customers::new(&cx).clv(&o).await?;
    if let Some(top) = p.get::<usize>("top", "a whole number")? {
        report.customers.truncate(top);
    }
    Ok(reply(&report))
}

/// `GET /v1/reports/churn?until=&lookback_days=&weights=&currency=&time_zone=&top=&filter=`:
/// every customer's churn risk, the highest first (the `top` when given).
pub(crate) async fn churn(Caller(cx): Caller, RawQuery(raw): RawQuery) -> Result<Response, Problem> {
    let known = ["until", "lookback_days", "weights", "currency", "time_zone", "top"];
    let p = Params::read(raw, &known)?;
    let d = ChurnOptions::default();
    let o = ChurnOptions {
        until: p.get::<DateTime<Utc>>("until", "an RFC 3339 time")?,
        lookback_days: p.get("lookback_days", "a whole number of days")?.unwrap_or(d.lookback_days),
        weights: p
            .get::<ChurnWeights>("weights", "factor:weight pairs such as cases:2,feedback:1")?
            .unwrap_or(d.weights),
        currency: currency(&p)?,
        filter: p.filter_of(&cx, EntityKind::Order).await?,
        time_zone: p.time_zone()?,
    };
    let mut report = Customers::new(&cx).churn(&o).await?;
    if let Some(top) = p.get::<usize>("top", "a whole number")? {
        report.customers.truncate(top);
    }
    Ok(reply(&report))
}

/// The rule options of the query: `from`, `to`, `min_orders`, `min_confidence`, `filter`.
async fn basket(cx: &Session, p: &Params) -> Result<BasketOptions, Problem> {
    let d = BasketOptions::default();
    Ok(BasketOptions {
        window: p.window(cx)?,
        filter: p.filter_of(cx, EntityKind::Order).await?,
        min_orders: p.get("min_orders", "a whole number")?.unwrap_or(d.min_orders),
        min_confidence: p.get::<Decimal>("min_confidence", "a share such as 0.2")?.unwrap_or(d.min_confidence),
        top: d.top,
    })
}

/// `GET /v1/reports/cross-sell?from=&to=&min_orders=&min_confidence=&top=&filter=`: the
/// association rules between products, the strongest first.
pub(crate) async fn cross_sell(Caller(cx): Caller, RawQuery(raw): RawQuery) -> Result<Response, Problem> {
    let p = Params::read(raw, &["from", "to", "min_orders", "min_confidence", "top"])?;
    let mut o = basket(&cx, &p).await?;
    o.top = p.get("top", "a whole number")?.unwrap_or(o.top);
    Ok(reply(&CrossSell::new(&cx).rules(&o).await?))
}

/// `GET /v1/reports/recommendations?contact=&per_customer=&from=&to=&min_orders=&min_confidence=&filter=`:
/// the products to offer each customer (or the `contact`s named), the likeliest first.
pub(crate) async fn recommendations(Caller(cx): Caller, RawQuery(raw): RawQuery) -> Result<Response, Problem> {
    let p = Params::read(raw, &["contact", "per_customer", "from", "to", "min_orders", "min_confidence"])?;
    let customers =
        p.all::<uuid::Uuid>("contact", "a contact id")?.into_iter().map(crm::ids::ContactId::from_uuid).collect();
    let o = RecommendOptions {
        basket: basket(&cx, &p).await?,
        customers,
        per_customer: p.get("per_customer", "a whole number")?.unwrap_or(RecommendOptions::default().per_customer),
    };
    Ok(reply(&CrossSell::new(&cx).recommend(&o).await?))
}

/// The OpenAPI paths of the portfolio, retention, the RFM report and scoring, and lifetime
/// value.
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
    let mut retention = vec![
        q("customers", "Contacts (default) or companies", json!({ "enum": ["contacts", "companies"] })),
        q("period", "Cohorts and periods of a month (default) or a quarter", json!({ "enum": ["month", "quarter"] })),
        q("time_zone", "The IANA zone whose calendar the periods follow (default UTC)", json!({ "type": "string" })),
    ];
    retention.extend(params.iter().filter(|p| p["name"] != "currency").cloned());
    paths.insert(
        "/v1/reports/retention".into(),
        json!({ "get": {
            "operationId": "report_retention",
            "tags": ["reports"],
            "summary": "Customers by the period of their first purchase in the window, and the share of each cohort buying in each period since",
            "parameters": retention,
            "responses": responses((200, json_response("The cohorts", object("`window`, `period`, `cohorts` (start, customers, active, rates)"), &[])), &[400, 403, 422]),
        } }),
    );
    let clv = [
        q(
            "until",
            "The end of the history: orders placed before it count (RFC 3339; default now)",
            json!({ "type": "string", "format": "date-time" }),
        ),
        q(
            "horizon_months",
            "The months ahead value is predicted over (default 12)",
            json!({ "type": "integer", "minimum": 1, "maximum": crm::analytics::MAX_HORIZON_MONTHS }),
        ),
        q(
            "monthly_discount",
            "The discount rate per month, at least 0 and below 1 (default 0.01)",
            json!({ "type": "string", "example": "0.01" }),
        ),
        q(
            "currency",
            "The currency spend is counted in (needed when the orders are in several)",
            json!({ "type": "string" }),
        ),
        q(
            "time_zone",
            "The IANA zone whose calendar days purchases are counted in (default UTC)",
            json!({ "type": "string" }),
        ),
        q(
            "top",
            "List only the most valuable customers, this many (default all)",
            json!({ "type": "integer", "minimum": 0 }),
        ),
        q("filter", "A text filter over the orders (repeatable), as in lists", json!({ "type": "string" })),
    ];
    paths.insert(
        "/v1/reports/clv".into(),
        json!({ "get": {
            "operationId": "report_clv",
            "tags": ["reports"],
            "summary": "Customer lifetime value: each customer's revenue, chance of being alive, expected purchases and spend, and value predicted over the horizon by BG/NBD and Gamma-Gamma models fitted to the purchase histories",
            "parameters": clv,
            "responses": responses((200, json_response("The report", object("`models` (parameters and fits), `customers` most valuable first, `revenue`, `predicted`, `not_predicted_because`, `empty_because`"), &[])), &[400, 403, 422]),
        } }),
    );
    let churn = [
        q(
            "until",
            "The instant risk is judged at (RFC 3339; default now)",
            json!({ "type": "string", "format": "date-time" }),
        ),
        q(
            "lookback_days",
            "The days interactions, SLA breaches and feedback are looked back over (default 90)",
            json!({ "type": "integer", "minimum": crm::analytics::LOOKBACK_DAYS.start(), "maximum": crm::analytics::LOOKBACK_DAYS.end() }),
        ),
        q(
            "weights",
            "factor:weight pairs (not_alive, overdue_purchase, fewer_interactions, cases, feedback, overdue_invoices); factors not named weigh nothing (default 30, 20, 10, 15, 15, 10)",
            json!({ "type": "string", "example": "cases:2,feedback:1" }),
        ),
        q(
            "currency",
            "The currency of the orders that count (needed when they are in several)",
            json!({ "type": "string" }),
        ),
        q(
            "time_zone",
            "The IANA zone whose calendar days purchases are counted in (default UTC)",
            json!({ "type": "string" }),
        ),
        q(
            "top",
            "List only the customers most at risk, this many (default all)",
            json!({ "type": "integer", "minimum": 0 }),
        ),
        q("filter", "A text filter over the orders (repeatable), as in lists", json!({ "type": "string" })),
    ];
    let mut rules = window_params().to_vec();
    rules.extend([
        q(
            "min_orders",
            "A pair must appear together in at least this many orders (default 3)",
            json!({ "type": "integer", "minimum": 1 }),
        ),
        q(
            "min_confidence",
            "Rules below this confidence, 0-1, are left out (default 0.1)",
            json!({ "type": "string", "example": "0.2" }),
        ),
        q("filter", "A text filter over the orders (repeatable), as in lists", json!({ "type": "string" })),
    ]);
    let mut cross = rules.clone();
    cross.push(q(
        "top",
        "At most this many rules (default 100)",
        json!({ "type": "integer", "minimum": 0, "maximum": crm::analytics::MAX_RULES }),
    ));
    paths.insert(
        "/v1/reports/cross-sell".into(),
        json!({ "get": {
            "operationId": "report_cross_sell",
            "tags": ["reports"],
            "summary": "Association rules between products bought together: support, confidence and lift, the strongest first",
            "parameters": cross,
            "responses": responses((200, json_response("The rules", object("`window`, `orders`, `products`, `rules` (antecedent, consequent, orders, support, confidence, lift), `empty_because`"), &[])), &[400, 403, 422]),
        } }),
    );
    let mut recommend = rules;
    recommend.push(q(
        "contact",
        "Only this customer (repeatable; default every customer who bought)",
        json!({ "type": "string", "format": "uuid" }),
    ));
    recommend.push(q(
        "per_customer",
        "At most this many products per customer (default 3)",
        json!({ "type": "integer", "minimum": 1, "maximum": crm::analytics::MAX_PER_CUSTOMER }),
    ));
    paths.insert(
        "/v1/reports/recommendations".into(),
        json!({ "get": {
            "operationId": "report_recommendations",
            "tags": ["reports"],
            "summary": "For each customer, the products customers like them bought and they have not, with the rule behind each",
            "parameters": recommend,
            "responses": responses((200, json_response("The recommendations", json!({ "type": "array", "items": object("`contact_id`, `products` (product_id, score, lift, because, why)") }), &[])), &[400, 403, 422]),
        } }),
    );
    paths.insert(
        "/v1/reports/churn".into(),
        json!({ "get": {
            "operationId": "report_churn",
            "tags": ["reports"],
            "summary": "Each customer's churn risk, 0-100, from the purchase model's chance alive, an overdue purchase, fewer interactions, cases, feedback and overdue invoices, with each factor's points and figures",
            "parameters": churn,
            "responses": responses((200, json_response("The report", object("`customers` (score, band, factors) highest first, `bands`, `purchases` model, `not_alive_because`, `empty_because`"), &[])), &[400, 403, 422]),
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
