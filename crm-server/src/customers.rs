//! A customer seen whole (`/v1/{contacts|companies}/{id}/timeline` and `/360`), and the events
//! feed (`/v1/events?after=…`).

use axum::extract::{Path, RawQuery};
use axum::response::{IntoResponse, Response};
use crm::entity::EntityKind;
use crm::event::EventQuery;
use crm::ids::{CompanyId, ContactId};
use crm::service::CustomerRef;
use serde_json::json;

use crate::auth::Caller;
use crate::problem::Problem;

/// The most events a page of the feed holds, and its default.
const MAX_EVENTS: usize = 1000;

/// The customer a URL names: a contact or a company.
fn customer(name: &str, raw: &str) -> Result<CustomerRef, Problem> {
    let id = crate::records::id(raw)?;
    match crm::io::any::kind_named(name) {
        Some(EntityKind::Contact) => Ok(ContactId::from_uuid(id).into()),
        Some(EntityKind::Company) => Ok(CompanyId::from_uuid(id).into()),
        _ => Err(crate::records::not_a_customer(name)),
    }
}

/// `GET /v1/{contacts|companies}/{id}/timeline`: everything about the customer, newest first.
pub(crate) async fn timeline(
    Caller(cx): Caller,
    Path((name, raw)): Path<(String, String)>,
) -> Result<Response, Problem> {
    let items = cx.timeline(customer(&name, &raw)?).await?;
    Ok(axum::Json(json!({ "items": items })).into_response())
}

/// `GET /v1/{contacts|companies}/{id}/360`: the customer 360.
pub(crate) async fn overview(
    Caller(cx): Caller,
    Path((name, raw)): Path<(String, String)>,
) -> Result<Response, Problem> {
    let view = cx.customer_360(customer(&name, &raw)?).await?;
    Ok(axum::Json(view).into_response())
}

/// `GET /v1/events?after=SEQ&limit=N`: the events the caller may see, in commit order, and the
/// `after` of the next page.
pub(crate) async fn events(Caller(cx): Caller, RawQuery(query): RawQuery) -> Result<Response, Problem> {
    let (mut after, mut limit) = (0u64, MAX_EVENTS);
    for (k, v) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match k.as_ref() {
            "after" => after = v.parse().map_err(|_| Problem::bad_request(format!("after `{v}`: an event number")))?,
            "limit" => {
                limit = v
                    .parse()
                    .ok()
                    .filter(|n| (1..=MAX_EVENTS).contains(n))
                    .ok_or_else(|| Problem::bad_request(format!("limit `{v}`: give 1 to {MAX_EVENTS}")))?
            }
            other => return Err(Problem::bad_request(format!("unknown parameter `{other}`: use after, limit"))),
        }
    }
    let items = cx.events(&EventQuery::after(after, limit)).await?;
    let next = items.last().map_or(after, |e| e.seq);
    Ok(axum::Json(json!({ "items": items, "next_after": next })).into_response())
}
