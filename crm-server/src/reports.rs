//! Reports and a record's links: `/v1/reports/pipeline/{id}`, `/v1/reports/campaign/{id}`, and
//! `/v1/{kind}/{id}/relations`.

use axum::extract::Path;
use axum::response::{IntoResponse, Response};
use crm::entity::EntityKind;
use crm::ids::{CampaignId, PipelineId};
use crm::io::any;
use crm::query::{Filter, MAX_PAGE_SIZE, Query};
use serde_json::json;

use crate::auth::Caller;
use crate::problem::Problem;
use crate::records::{id, kind, record_json};

/// `GET /v1/reports/pipeline/{id}`: every stage's deals, totals and the weighted forecast, over
/// the deals the caller may read.
pub(crate) async fn pipeline(Caller(cx): Caller, Path(raw): Path<String>) -> Result<Response, Problem> {
    let report = cx.deals().pipeline_report(PipelineId::from_uuid(id(&raw)?)).await?;
    Ok(axum::Json(report).into_response())
}

/// `GET /v1/reports/campaign/{id}`: members, responses, rates, cost per conversion and revenue.
pub(crate) async fn campaign(Caller(cx): Caller, Path(raw): Path<String>) -> Result<Response, Problem> {
    let results = cx.campaigns().results(CampaignId::from_uuid(id(&raw)?)).await?;
    Ok(axum::Json(results).into_response())
}

/// `GET /v1/{kind}/{id}/relations`: the links with the record at either end, oldest first (the
/// first thousand), when the caller may read the record.
pub(crate) async fn relations(
    Caller(cx): Caller,
    Path((name, raw)): Path<(String, String)>,
) -> Result<Response, Problem> {
    let (kind, id) = (kind(&name)?, id(&raw)?);
    any::get(&cx, kind, id).await?;
    let links = Filter::eq("from_id", id).or(Filter::eq("to_id", id));
    let q = Query::new(links).limit(MAX_PAGE_SIZE).sort_asc("created_at");
    let page = any::list(&cx, EntityKind::Relation, &q).await?;
    let items: Vec<serde_json::Value> = page.items.iter().map(record_json).collect();
    Ok(axum::Json(json!({ "items": items })).into_response())
}
