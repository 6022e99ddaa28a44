//! Marketing analytics over HTTP: `GET /v1/reports/response-propensity` (who is likely to
//! respond to a campaign, learned from past campaigns, as a ranked target list with reasons)
//! and `GET /v1/reports/attribution` (revenue credited to the campaigns' first and last
//! touches, and their return on budget).

use axum::extract::RawQuery;
use axum::response::Response;
use crm::analytics::{AttributionOptions, Marketing, PropensityOptions};
use crm::entity::EntityKind;
use crm::ids::CampaignId;
use crm::model::ResponseKind;
use crm::rust_decimal::Decimal;
use serde_json::json;

use crate::analytics::{Params, reply};
use crate::auth::Caller;
use crate::problem::Problem;

/// `GET /v1/reports/response-propensity?target=&campaign=&response=&field=&smoothing=&top=&filter=`.
pub(crate) async fn response_propensity(Caller(cx): Caller, RawQuery(raw): RawQuery) -> Result<Response, Problem> {
    let p = Params::read(raw, &["target", "campaign", "response", "field", "smoothing", "top"])?;
    let d = PropensityOptions::default();
    let campaigns = p.all::<uuid::Uuid>("campaign", "a campaign id")?.into_iter().map(CampaignId::from_uuid).collect();
    let responses: Vec<ResponseKind> = p.all("response", "a response kind such as responded or converted")?;
    let fields: Vec<String> = p.all("field", "a field")?;
    let o = PropensityOptions {
        campaigns,
        target: p.get::<uuid::Uuid>("target", "a campaign id")?.map(CampaignId::from_uuid),
        responses: if responses.is_empty() { d.responses } else { responses },
        fields: if fields.is_empty() { d.fields } else { fields },
        audience: p.filter_of(&cx, EntityKind::Contact).await?,
        smoothing: p.get::<Decimal>("smoothing", "a number such as 1")?.unwrap_or(d.smoothing),
        top: p.get("top", "a whole number")?.unwrap_or(d.top),
    };
    Ok(reply(&Marketing::new(&cx).response_propensity(&o).await?))
}

/// `GET /v1/reports/attribution?from=&to=&lookback_days=&touch=&currency=&filter=`.
pub(crate) async fn attribution(Caller(cx): Caller, RawQuery(raw): RawQuery) -> Result<Response, Problem> {
    let p = Params::read(raw, &["from", "to", "lookback_days", "touch", "currency"])?;
    let d = AttributionOptions::default();
    let touches: Vec<ResponseKind> = p.all("touch", "a response kind such as clicked or converted")?;
    let currency = match p.get::<String>("currency", "text")? {
        Some(code) => Some(crm::money::Money::currency_from_code(&code)?),
        None => None,
    };
    let o = AttributionOptions {
        window: p.window(&cx)?,
        lookback_days: p.get("lookback_days", "a whole number of days")?.unwrap_or(d.lookback_days),
        touches: if touches.is_empty() { d.touches } else { touches },
        currency,
        filter: p.filter_of(&cx, EntityKind::Order).await?,
    };
    Ok(reply(&Marketing::new(&cx).attribution(&o).await?))
}

/// The OpenAPI paths of the target list and of attribution.
pub(crate) fn paths(paths: &mut serde_json::Map<String, serde_json::Value>) {
    use crate::openapi::{json_response, responses};
    let q = |name: &str, description: &str, schema: serde_json::Value| json!({ "name": name, "in": "query", "required": false, "description": description, "schema": schema });
    let id = json!({ "type": "string", "format": "uuid" });
    let params = [
        q(
            "target",
            "The campaign to rank contacts for: its members are left out of the list and of the learning",
            id.clone(),
        ),
        q("campaign", "A past campaign to learn from (repeatable; default every campaign but the target)", id),
        q(
            "response",
            "A response that counts as responding (repeatable; default responded and converted)",
            json!({ "enum": ["sent", "delivered", "opened", "clicked", "responded", "converted", "unsubscribed", "bounced"] }),
        ),
        q(
            "field",
            "A contact field learned from (repeatable; default lifecycle_stage, lead_source, rfm_segment, country)",
            json!({ "type": "string" }),
        ),
        q(
            "smoothing",
            "The Laplace smoothing added to every count (default 1)",
            json!({ "type": "string", "example": "1" }),
        ),
        q(
            "top",
            "How many contacts the list holds (default 100)",
            json!({ "type": "integer", "minimum": 1, "maximum": crm::analytics::MAX_TARGETS }),
        ),
        q("filter", "A text filter over the contacts ranked (repeatable), as in lists", json!({ "type": "string" })),
    ];
    let mut attribution = crate::analytics::window_params().to_vec();
    attribution.extend([
        q(
            "lookback_days",
            "A touch counts for a purchase up to this many days after it (default 90)",
            json!({ "type": "integer", "minimum": 1, "maximum": 730 }),
        ),
        q(
            "touch",
            "A response that makes a membership a touch (repeatable; default opened, clicked, responded, converted)",
            json!({ "type": "string" }),
        ),
        q(
            "currency",
            "The currency revenue is counted in (needed when the orders are in several)",
            json!({ "type": "string" }),
        ),
        q("filter", "A text filter over the orders (repeatable), as in lists", json!({ "type": "string" })),
    ]);
    paths.insert(
        "/v1/reports/attribution".into(),
        json!({ "get": {
            "operationId": "report_attribution",
            "tags": ["reports"],
            "summary": "The window's revenue credited to the campaigns that first and last touched each buyer before each purchase, with each campaign's return on its budget",
            "parameters": attribution,
            "responses": responses((200, json_response("The credit", json!({ "type": "object", "description": "`campaigns` (first and last touch purchases and revenue, cost, ROI), `revenue`, `unattributed`, `empty_because`" }), &[])), &[400, 403, 422]),
        } }),
    );
    paths.insert(
        "/v1/reports/response-propensity".into(),
        json!({ "get": {
            "operationId": "report_response_propensity",
            "tags": ["reports"],
            "summary": "Who is likely to respond to a campaign: a naive Bayes model of past campaigns' responses over contact fields, and the contacts ranked by their chance with each field's part",
            "parameters": params,
            "responses": responses((200, json_response("The target list", json!({ "type": "object", "description": "`model` (counts per field value), `base_rate`, `targets` (contact_id, probability, contributions), `empty_because`" }), &[])), &[400, 403, 422]),
        } }),
    );
}
