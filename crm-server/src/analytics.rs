//! The analytical CRM over HTTP: `GET /v1/reports/{forecast,performance,win-rate,funnel,lead-scoring}` (crm-analytics,
//! over the deals the caller reads) and `POST /v1/{kind}/aggregate` (any aggregate of a kind's
//! records: groups, buckets, measures; see `crm::aggregate`).

use std::str::FromStr;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery};
use axum::response::{IntoResponse, Response};
use chrono_tz::Tz;
use crm::aggregate::{Aggregate, AggregateRow};
use crm::analytics::{
    ForecastOptions, FunnelOptions, LeadScoreOptions, PerformanceOptions, Period, Sales, Slice, TrendOptions, Window,
};
use crm::chrono::{DateTime, NaiveDate, Utc};
use crm::entity::EntityKind;
use crm::error::{Error, FieldErrorCode};
use crm::ids::PipelineId;
use crm::io::any;
use crm::query::Filter;
use crm::service::Session;
use crm::value::Value;
use serde_json::json;

use crate::auth::Caller;
use crate::problem::Problem;
use crate::records::kind;

/// The parameters of a report's query string, and its `filter`s.
pub(crate) struct Params {
    pairs: Vec<(String, String)>,
    filters: Vec<String>,
}

impl Params {
    /// Reads the query string; a parameter not in `known` (or `filter`) is refused, naming them.
    pub(crate) fn read(raw: Option<String>, known: &[&str]) -> Result<Params, Problem> {
        let mut out = Params { pairs: Vec::new(), filters: Vec::new() };
        for (k, v) in url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
            match k.as_ref() {
                "filter" => out.filters.push(v.into_owned()),
                k if known.contains(&k) => out.pairs.push((k.to_owned(), v.into_owned())),
                other => {
                    return Err(Problem::bad_request(format!(
                        "unknown parameter `{other}`: use filter, {}",
                        known.join(", ")
                    )));
                }
            }
        }
        Ok(out)
    }

    /// Parameter `name` read as a `T`, described as `what` when it is not one.
    pub(crate) fn get<T: FromStr>(&self, name: &str, what: &str) -> Result<Option<T>, Problem> {
        self.pairs.iter().rev().find(|(k, _)| k == name).map(|(_, v)| parse(name, v, what)).transpose()
    }

    /// Every value of parameter `name` (repeatable), each read as a `T`.
    pub(crate) fn all<T: FromStr>(&self, name: &str, what: &str) -> Result<Vec<T>, Problem> {
        self.pairs.iter().filter(|(k, _)| k == name).map(|(_, v)| parse(name, v, what)).collect()
    }

    pub(crate) fn period(&self, name: &str) -> Result<Option<Period>, Problem> {
        Ok(match self.get::<String>(name, "text")?.as_deref() {
            None => None,
            Some("month") => Some(Period::Month),
            Some("quarter") => Some(Period::Quarter),
            Some(v) => return Err(invalid(name, format!("`{v}` is not a period: use month or quarter"))),
        })
    }

    fn slice(&self) -> Result<Option<Slice>, Problem> {
        Ok(match self.get::<String>("by", "text")?.as_deref() {
            None => None,
            Some("owner") => Some(Slice::Owner),
            Some("pipeline") => Some(Slice::Pipeline),
            Some("lead_source") => Some(Slice::LeadSource),
            Some("campaign") => Some(Slice::Campaign),
            Some(v) => {
                return Err(invalid(
                    "by",
                    format!("`{v}` is not a breakdown: use owner, pipeline, lead_source or campaign"),
                ));
            }
        })
    }

    pub(crate) fn time_zone(&self) -> Result<Tz, Problem> {
        Ok(self.get::<Tz>("time_zone", "an IANA time zone such as Europe/Berlin")?.unwrap_or(Tz::UTC))
    }

    /// The window `from`–`to` (RFC 3339 instants), when either is given.
    pub(crate) fn window(&self, cx: &Session) -> Result<Option<Window>, Problem> {
        let from = self.get::<DateTime<Utc>>("from", "an RFC 3339 time")?;
        let to = self.get::<DateTime<Utc>>("to", "an RFC 3339 time")?;
        Ok(match (from, to) {
            (None, None) => None,
            (from, to) => {
                let to = to.unwrap_or_else(|| cx.now());
                let from = from.unwrap_or_else(|| Window::trailing_months(to, 12).from);
                Some(Window { from, to })
            }
        })
    }

    /// The deals the `filter` parameters select.
    async fn filter(&self, cx: &Session) -> Result<Filter, Problem> {
        self.filter_of(cx, EntityKind::Deal).await
    }

    /// The records of `kind` the `filter` parameters select.
    pub(crate) async fn filter_of(&self, cx: &Session, kind: EntityKind) -> Result<Filter, Problem> {
        if self.filters.is_empty() {
            return Ok(Filter::All);
        }
        Ok(cx.text_query(kind, &self.filters, &[] as &[&str], 1).await?.filter)
    }
}

/// The value `v` of parameter `name` as a `T`, described as `what` when it is not one.
fn parse<T: FromStr>(name: &str, v: &str, what: &str) -> Result<T, Problem> {
    v.parse()
        .map_err(|_| Problem::from(Error::invalid(name, FieldErrorCode::InvalidFormat, format!("`{v}` is not {what}"))))
}

fn invalid(field: &str, message: String) -> Problem {
    Problem::from(Error::invalid(field, FieldErrorCode::InvalidFormat, message))
}

/// The `from` and `to` query parameters of a report's window, for the OpenAPI document.
pub(crate) fn window_params() -> [serde_json::Value; 2] {
    let instant = json!({ "type": "string", "format": "date-time" });
    let q = |name: &str, description: &str| json!({ "name": name, "in": "query", "required": false, "description": description, "schema": instant });
    [
        q("from", "The window's start (RFC 3339; default 12 months before `to`)"),
        q("to", "The window's end, excluded (RFC 3339; default now)"),
    ]
}

pub(crate) fn reply<T: serde::Serialize>(value: &T) -> Response {
    axum::Json(value).into_response()
}

/// `GET /v1/reports/forecast?period=&from=&periods=&by=&time_zone=&filter=`.
pub(crate) async fn forecast(Caller(cx): Caller, RawQuery(raw): RawQuery) -> Result<Response, Problem> {
    let p = Params::read(raw, &["period", "from", "periods", "by", "time_zone"])?;
    let defaults = ForecastOptions::default();
    let o = ForecastOptions {
        period: p.period("period")?.unwrap_or(defaults.period),
        from: p.get::<NaiveDate>("from", "a date (YYYY-MM-DD)")?,
        periods: p.get::<u32>("periods", "a whole number")?.unwrap_or(defaults.periods),
        by: p.slice()?,
        filter: p.filter(&cx).await?,
        time_zone: p.time_zone()?,
    };
    Ok(reply(&Sales::new(&cx).forecast(&o).await?))
}

/// `GET /v1/reports/performance?from=&to=&by=&filter=`.
pub(crate) async fn performance(Caller(cx): Caller, RawQuery(raw): RawQuery) -> Result<Response, Problem> {
    let p = Params::read(raw, &["from", "to", "by"])?;
    let o = PerformanceOptions { window: p.window(&cx)?, by: p.slice()?, filter: p.filter(&cx).await? };
    Ok(reply(&Sales::new(&cx).performance(&o).await?))
}

/// `GET /v1/reports/win-rate?period=&from=&to=&by=&time_zone=&filter=`.
pub(crate) async fn win_rate(Caller(cx): Caller, RawQuery(raw): RawQuery) -> Result<Response, Problem> {
    let p = Params::read(raw, &["period", "from", "to", "by", "time_zone"])?;
    let o = TrendOptions {
        window: p.window(&cx)?,
        period: p.period("period")?.unwrap_or_default(),
        by: p.slice()?,
        filter: p.filter(&cx).await?,
        time_zone: p.time_zone()?,
    };
    Ok(reply(&Sales::new(&cx).win_rate_trend(&o).await?))
}

/// `GET /v1/reports/lead-scoring?field=&from=&to=&holdout_percent=&smoothing=&top=&filter=`: the
/// model learned from the deals won and lost, its test, and the `top` open deals (default 20)
/// scored with their reasons.
pub(crate) async fn lead_scoring(Caller(cx): Caller, RawQuery(raw): RawQuery) -> Result<Response, Problem> {
    let p = Params::read(raw, &["field", "from", "to", "holdout_percent", "smoothing", "top"])?;
    let d = LeadScoreOptions::default();
    let fields = p.all::<String>("field", "a field")?;
    let filter = p.filter(&cx).await?;
    let o = LeadScoreOptions {
        fields: if fields.is_empty() { d.fields } else { fields },
        window: p.window(&cx)?,
        holdout_percent: p.get("holdout_percent", "a whole percentage")?.unwrap_or(d.holdout_percent),
        smoothing: p.get("smoothing", "a number such as 1")?.unwrap_or(d.smoothing),
        filter: filter.clone(),
    };
    let sales = Sales::new(&cx);
    let scoring = sales.lead_scoring(&o).await?;
    let top = p.get::<usize>("top", "a whole number")?.unwrap_or(20);
    let open = if top == 0 { Vec::new() } else { sales.rank_open_deals(&scoring.model, &filter, top).await? };
    Ok(reply(&json!({
        "window": scoring.window,
        "model": scoring.model,
        "calibration": scoring.calibration,
        "open": open,
    })))
}

/// `GET /v1/reports/funnel?pipeline=&from=&to=&cohorts=&time_zone=&filter=`.
pub(crate) async fn funnel(Caller(cx): Caller, RawQuery(raw): RawQuery) -> Result<Response, Problem> {
    let p = Params::read(raw, &["pipeline", "from", "to", "cohorts", "time_zone"])?;
    let o = FunnelOptions {
        pipeline: p.get::<uuid::Uuid>("pipeline", "an id")?.map(PipelineId::from_uuid),
        window: p.window(&cx)?,
        cohorts: p.period("cohorts")?,
        filter: p.filter(&cx).await?,
        time_zone: p.time_zone()?,
    };
    Ok(reply(&Sales::new(&cx).funnel(&o).await?))
}

/// A value as plain JSON: text, numbers and ids as themselves, decimals as strings (exact),
/// money as `{"amount": "12.50", "currency": "EUR"}`, dates and instants in ISO 8601.
fn plain(v: &Value) -> serde_json::Value {
    match v {
        Value::Null => serde_json::Value::Null,
        Value::Bool(b) => json!(b),
        Value::Int(i) => json!(i),
        Value::Decimal(d) => json!(d.to_string()),
        Value::Money(m) => json!({ "amount": m.amount.to_string(), "currency": m.currency.code() }),
        Value::Text(s) => json!(s),
        Value::Date(d) => json!(d.to_string()),
        Value::DateTime(t) => json!(t.to_rfc3339_opts(crm::chrono::SecondsFormat::AutoSi, true)),
        Value::Id(u) => json!(u),
        Value::List(items) => serde_json::Value::Array(items.iter().map(plain).collect()),
    }
}

fn row_json(r: &AggregateRow) -> serde_json::Value {
    json!({
        "groups": r.groups.iter().map(plain).collect::<Vec<_>>(),
        "values": r.values.iter().map(plain).collect::<Vec<_>>(),
    })
}

/// `POST /v1/{kind}/aggregate`: the body is an aggregate (`crm::aggregate::Aggregate` as JSON:
/// `filter` as the filter tree, `group_by`, `measures`, `sort`, `limit`, `time_zone`); the
/// answer `{"rows": [{"groups": […], "values": […]}]}`.
pub(crate) async fn aggregate(Caller(cx): Caller, Path(name): Path<String>, body: Bytes) -> Result<Response, Problem> {
    let kind = kind(&name)?;
    let a: Aggregate = crate::nested::read(&body)?;
    let rows = any::aggregate(&cx, kind, &a).await?;
    Ok(axum::Json(json!({ "rows": rows.iter().map(row_json).collect::<Vec<_>>() })).into_response())
}

/// The OpenAPI paths of the reports and of `POST /v1/{kind}/aggregate` for every kind.
pub(crate) fn paths(paths: &mut serde_json::Map<String, serde_json::Value>) {
    use crate::openapi::{json_response, r, responses};
    let q = |name: &str, description: &str, schema: serde_json::Value| json!({ "name": name, "in": "query", "required": false, "description": description, "schema": schema });
    let text = json!({ "type": "string" });
    let filter = q("filter", "A text filter over the deals (repeatable), as in lists", text.clone());
    let by = q(
        "by",
        "Broken down by owner, pipeline, lead source or campaign",
        json!({ "enum": ["owner", "pipeline", "lead_source", "campaign"] }),
    );
    let tz = q("time_zone", "The IANA zone whose calendar the periods follow (default UTC)", text.clone());
    let from_to = window_params();
    let object = |what: &str| json!({ "type": "object", "description": what });
    let report = |op: &str, summary: &str, params: Vec<serde_json::Value>, body: &str| {
        json!({ "get": {
            "operationId": op,
            "tags": ["reports"],
            "summary": summary,
            "parameters": params,
            "responses": responses((200, json_response(body, object(body), &[])), &[400, 403, 404, 422]),
        } })
    };
    let period = json!({ "enum": ["month", "quarter"] });
    paths.insert(
        "/v1/reports/forecast".into(),
        report(
            "report_forecast",
            "Open deals by period of expected close, weighted and by forecast category, beside the deals won",
            vec![
                q("period", "Months (default) or quarters", period.clone()),
                q("from", "A day in the first period (default today)", json!({ "type": "string", "format": "date" })),
                q(
                    "periods",
                    "How many periods (default 12)",
                    json!({ "type": "integer", "minimum": 1, "maximum": crm::analytics::MAX_PERIODS }),
                ),
                by.clone(),
                tz.clone(),
                filter.clone(),
            ],
            "The forecast: `from`, `to`, `rows` (period, slice, category, deals, amount, weighted), `unpriced`",
        ),
    );
    let mut perf = from_to.to_vec();
    perf.extend([by.clone(), filter.clone()]);
    paths.insert(
        "/v1/reports/performance".into(),
        report(
            "report_performance",
            "Won and lost deals, win rates by count and value, average won amount, sales cycle and velocity",
            perf,
            "The window and one row per slice, with money per currency",
        ),
    );
    let mut trend = vec![q("period", "Months (default) or quarters", period.clone())];
    trend.extend(from_to.clone());
    trend.extend([by.clone(), tz.clone(), filter.clone()]);
    paths.insert(
        "/v1/reports/win-rate".into(),
        report(
            "report_win_rate",
            "Deals won and lost and the win rate per month or quarter of closing, overall or per slice",
            trend,
            "The window, the period and the points (period, slice, won, lost, win_rate)",
        ),
    );
    let mut scoring = vec![q(
        "field",
        "A deal field scored, standard or custom (repeatable; default lead_source, owner_id, campaign_id)",
        json!({ "type": "string" }),
    )];
    scoring.extend(from_to.clone());
    scoring.extend([
        q(
            "holdout_percent",
            "The latest part of the window, in percent, whose deals test the model (default 20; 0 skips)",
            json!({ "type": "integer", "minimum": 0, "maximum": 50 }),
        ),
        q(
            "smoothing",
            "The Laplace smoothing added to every count (default 1)",
            json!({ "type": "string", "example": "1" }),
        ),
        q(
            "top",
            "How many open deals to score, the likeliest first (default 20)",
            json!({ "type": "integer", "minimum": 0, "maximum": crm::analytics::MAX_RANKED }),
        ),
        filter.clone(),
    ]);
    paths.insert(
        "/v1/reports/lead-scoring".into(),
        report(
            "report_lead_scoring",
            "An explainable naive Bayes model of which deals are won, learned from the deals won and lost, tested on the latest of them, and the open deals scored with each field's part",
            scoring,
            "`window`, `model` (counts per pipeline and field value), `calibration` (Brier score, base Brier score, reliability bins), `open` (deal_id, score: probability, prior, contributions)",
        ),
    );
    let mut funnel =
        vec![q("pipeline", "The pipeline (default: the default one)", json!({ "type": "string", "format": "uuid" }))];
    funnel.extend(from_to);
    funnel.extend([q("cohorts", "One funnel per month or quarter of creation", period), tz, filter]);
    paths.insert(
        "/v1/reports/funnel".into(),
        report(
            "report_funnel",
            "Deals that reached each stage and the conversions, from the deals' stage history",
            funnel,
            "The pipeline, the window and one funnel per cohort",
        ),
    );
    let rows = json!({
        "type": "object", "required": ["rows"],
        "properties": { "rows": { "type": "array", "items": {
            "type": "object", "required": ["groups", "values"],
            "properties": {
                "groups": { "type": "array", "description": "The group keys, in the order of `group_by`" },
                "values": { "type": "array", "description": "The measures, in the order of `measures`; money as {amount, currency}" }
            }
        } } }
    });
    for (name, _) in any::KINDS {
        paths.insert(
            format!("/v1/{name}/aggregate"),
            json!({ "post": {
                "operationId": format!("aggregate_{name}"),
                "tags": [name],
                "summary": "Counts, sums, averages, extremes and percentiles, grouped by fields, currencies and calendar buckets",
                "requestBody": { "required": true, "content": { "application/json": { "schema": r("schemas", "Aggregate") } } },
                "responses": responses((200, json_response("The rows", rows.clone(), &[])), &[400, 403, 413, 422]),
            } }),
        );
    }
}
