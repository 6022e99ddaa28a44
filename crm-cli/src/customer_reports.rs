//! The customer reports as lines for people: lifetime value, churn risk, cross-sell rules,
//! recommendations, campaign response propensity and attribution.

use crm::analytics::{
    AttributionOptions, BasketOptions, ChurnReport, ClvReport, CrossSell, Marketing, PropensityOptions,
    RecommendOptions,
};
use crm::entity::EntityKind;
use crm::ids::{CampaignId, ContactId, ProductId};
use crm::model::ResponseKind;
use crm::money::Money;
use crm::rust_decimal::Decimal;
use crm::service::Session;

use crate::error::CliError;
use crate::output::Out;
use crate::reports::{Span, json_of};

/// Which orders rules are mined from, and which rules are kept.
#[derive(Debug, clap::Args)]
pub struct RuleArgs {
    #[command(flatten)]
    span: Span,
    /// A pair must appear together in at least this many orders.
    #[arg(long = "min-orders", default_value_t = 3, value_name = "N")]
    min_orders: u64,
    /// Rules below this confidence (0–1) are left out.
    #[arg(long = "min-confidence", default_value = "0.1", value_name = "SHARE")]
    min_confidence: Decimal,
    /// Only the orders this text filter selects (as for `list`; repeatable).
    #[arg(long = "filter", short = 'f', value_name = "EXPR")]
    filters: Vec<String>,
}

impl RuleArgs {
    async fn options(&self, cx: &Session, top: usize) -> Result<BasketOptions, CliError> {
        let filter = crate::filter::of(cx, EntityKind::Order, &self.filters).await?;
        Ok(BasketOptions {
            window: self.span.window(cx),
            filter,
            min_orders: self.min_orders,
            min_confidence: self.min_confidence,
            top,
        })
    }
}

/// `crm reports cross-sell`.
#[derive(Debug, clap::Args)]
pub struct CrossSellArgs {
    #[command(flatten)]
    rules: RuleArgs,
    /// How many rules to list.
    #[arg(long, default_value_t = 20)]
    top: usize,
}

/// `crm reports recommend`.
#[derive(Debug, clap::Args)]
pub struct RecommendArgs {
    #[command(flatten)]
    rules: RuleArgs,
    /// Only this customer (a contact id; repeatable; default: every customer who bought).
    #[arg(long = "contact", value_name = "ID")]
    contacts: Vec<uuid::Uuid>,
    /// At most this many products per customer.
    #[arg(long = "per-customer", default_value_t = 3, value_name = "N")]
    per_customer: usize,
}

/// `crm reports propensity`.
#[derive(Debug, clap::Args)]
pub struct PropensityArgs {
    /// The campaign to rank contacts for (its members are left out).
    #[arg(long, value_name = "ID")]
    target: Option<uuid::Uuid>,
    /// A past campaign to learn from (repeatable; default: every campaign but the target).
    #[arg(long = "campaign", value_name = "ID")]
    campaigns: Vec<uuid::Uuid>,
    /// A response that counts as responding (repeatable; default: responded, converted).
    #[arg(long = "response", value_name = "KIND")]
    responses: Vec<ResponseKind>,
    /// A contact field learned from (repeatable; default: lifecycle_stage, lead_source,
    /// rfm_segment, country).
    #[arg(long = "field", value_name = "FIELD")]
    fields: Vec<String>,
    /// Only the contacts this text filter selects are ranked (as for `list`; repeatable).
    #[arg(long = "filter", short = 'f', value_name = "EXPR")]
    filters: Vec<String>,
    /// How many contacts to list.
    #[arg(long, default_value_t = 20)]
    top: usize,
}

/// The target list, as lines or JSON.
pub(crate) async fn propensity(cx: &Session, a: PropensityArgs, out: &mut Out) -> Result<(), CliError> {
    let d = PropensityOptions::default();
    let audience = crate::filter::of(cx, EntityKind::Contact, &a.filters).await?;
    let o = PropensityOptions {
        campaigns: a.campaigns.into_iter().map(CampaignId::from_uuid).collect(),
        target: a.target.map(CampaignId::from_uuid),
        responses: if a.responses.is_empty() { d.responses } else { a.responses },
        fields: if a.fields.is_empty() { d.fields } else { a.fields },
        audience,
        smoothing: d.smoothing,
        top: a.top,
    };
    let r = Marketing::new(cx).response_propensity(&o).await?;
    if out.is_json() {
        return json_of(out, &r);
    }
    let m = &r.model;
    let mut lines = vec![format!(
        "response propensity from {} memberships ({} responded, base rate {:.1} %)",
        m.responded + m.ignored,
        m.responded,
        r.base_rate * 100.0
    )];
    if let Some(why) = &r.empty_because {
        lines.push(format!("  ({why})"));
    }
    for t in &r.targets {
        lines.push(format!("  {:.1} % {}", t.probability * 100.0, name(cx, t.contact_id).await));
        for c in t.contributions.iter().filter(|c| c.weight != 0.0) {
            lines.push(format!("      {:+.2} {}", c.weight, c.why));
        }
    }
    out.done(&lines.join("\n"))
}

/// `crm reports attribution`.
#[derive(Debug, clap::Args)]
pub struct AttributionArgs {
    #[command(flatten)]
    span: Span,
    /// A touch counts for a purchase up to this many days after it.
    #[arg(long = "lookback-days", default_value_t = 90, value_name = "DAYS")]
    lookback_days: u32,
    /// A response that makes a membership a touch (repeatable; default: opened, clicked,
    /// responded, converted).
    #[arg(long = "touch", value_name = "KIND")]
    touches: Vec<ResponseKind>,
    /// The currency revenue is counted in (needed when the orders are in several).
    #[arg(long, value_name = "CODE")]
    currency: Option<String>,
    /// Only the orders this text filter selects (as for `list`; repeatable).
    #[arg(long = "filter", short = 'f', value_name = "EXPR")]
    filters: Vec<String>,
}

/// The revenue credited to the campaigns, as lines or JSON.
pub(crate) async fn attribution(cx: &Session, a: AttributionArgs, out: &mut Out) -> Result<(), CliError> {
    let o = AttributionOptions {
        window: a.span.window(cx),
        lookback_days: a.lookback_days,
        touches: if a.touches.is_empty() { AttributionOptions::default().touches } else { a.touches },
        currency: a.currency.as_deref().map(Money::currency_from_code).transpose()?,
        filter: crate::filter::of(cx, EntityKind::Order, &a.filters).await?,
    };
    let r = Marketing::new(cx).attribution(&o).await?;
    if out.is_json() {
        return json_of(out, &r);
    }
    let money = |m: Option<Money>| m.map_or("-".to_owned(), |m| m.to_string());
    let mut lines = vec![format!(
        "attribution {} to {}: {} revenue, {} touched by no campaign",
        r.window.from,
        r.window.to,
        money(r.revenue),
        money(r.unattributed)
    )];
    if let Some(why) = &r.empty_because {
        lines.push(format!("  ({why})"));
    }
    for c in &r.campaigns {
        let roi = |x: Option<Decimal>| x.map_or("-".to_owned(), |x| x.to_string());
        lines.push(format!(
            "  {}: first touch {} ({} purchases, ROI {}), last touch {} ({} purchases, ROI {})",
            c.name,
            c.first_touch,
            c.first_touch_purchases,
            roi(c.roi_first_touch),
            c.last_touch,
            c.last_touch_purchases,
            roi(c.roi_last_touch)
        ));
    }
    out.done(&lines.join("\n"))
}

/// A product's name, or its id when it cannot be read.
async fn product(cx: &Session, id: ProductId) -> String {
    cx.products().get(id).await.map_or_else(|_| id.to_string(), |p| p.name)
}

/// The association rules, as lines or JSON.
pub(crate) async fn cross_sell(cx: &Session, a: CrossSellArgs, out: &mut Out) -> Result<(), CliError> {
    let r = CrossSell::new(cx).rules(&a.rules.options(cx, a.top).await?).await?;
    if out.is_json() {
        return json_of(out, &r);
    }
    let mut lines = vec![format!(
        "cross-sell {} to {}: {} orders with {} products, {} rules",
        r.window.from,
        r.window.to,
        r.orders,
        r.products,
        r.rules.len()
    )];
    if let Some(why) = &r.empty_because {
        lines.push(format!("  ({why})"));
    }
    for rule in &r.rules {
        lines.push(format!(
            "  {} → {}: confidence {}, lift {}, {} orders",
            product(cx, rule.antecedent).await,
            product(cx, rule.consequent).await,
            rule.confidence,
            rule.lift,
            rule.orders
        ));
    }
    out.done(&lines.join("\n"))
}

/// The recommendations, as lines or JSON.
pub(crate) async fn recommend(cx: &Session, a: RecommendArgs, out: &mut Out) -> Result<(), CliError> {
    let o = RecommendOptions {
        basket: a.rules.options(cx, BasketOptions::default().top).await?,
        customers: a.contacts.into_iter().map(ContactId::from_uuid).collect(),
        per_customer: a.per_customer,
    };
    let r = CrossSell::new(cx).recommend(&o).await?;
    if out.is_json() {
        return json_of(out, &r);
    }
    let mut lines = vec![format!("recommendations for {} customers", r.len())];
    for c in &r {
        lines.push(format!("  {}:", name(cx, c.contact_id).await));
        for p in &c.products {
            let (offer, after) = (product(cx, p.product_id).await, product(cx, p.because).await);
            lines.push(format!("      {offer} ({}, after {after}): {}", p.score, p.why));
        }
    }
    out.done(&lines.join("\n"))
}

/// A contact's name, or nothing when it cannot be read.
async fn name(cx: &Session, id: crm::ids::ContactId) -> String {
    cx.contacts().get(id).await.map(|c| c.full_name()).unwrap_or_default()
}

/// A lifetime-value report as lines: the totals, the models and the most valuable customers.
pub(crate) async fn clv_lines(cx: &Session, r: &ClvReport, top: usize) -> Vec<String> {
    let money = |m: Option<Money>| m.map_or("-".to_owned(), |m| m.to_string());
    let mut lines = vec![format!(
        "lifetime value up to {}: {} customers, {} spent, {} predicted over {} months",
        r.last_day,
        r.customers.len(),
        money(r.revenue),
        money(r.predicted),
        r.horizon_months
    )];
    if let Some(m) = &r.models {
        let (p, s) = (&m.purchases, &m.spend);
        let fit = |f: &crm::analytics::Fit| {
            let how = if f.converged { "converged" } else { "did not converge" };
            format!("{how} in {} iterations, log-likelihood {:.2}", f.iterations, f.log_likelihood)
        };
        lines.push(format!(
            "  purchases (BG/NBD): r {:.4} alpha {:.4} a {:.4} b {:.4}; {}",
            p.r,
            p.alpha,
            p.a,
            p.b,
            fit(&m.purchases_fit)
        ));
        lines.push(format!("  spend (Gamma-Gamma): p {:.4} q {:.4} v {:.4}; {}", s.p, s.q, s.v, fit(&m.spend_fit)));
    }
    if let Some(why) = r.empty_because.as_ref().or(r.not_predicted_because.as_ref()) {
        lines.push(format!("  ({why})"));
    }
    for c in r.customers.iter().take(top) {
        let name = name(cx, c.contact_id).await;
        let alive = c.p_alive.map_or("-".to_owned(), |p| format!("{:.0} %", p * 100.0));
        lines.push(format!(
            "  {name}: {} orders, {} spent, alive {alive}, {} predicted",
            c.orders,
            c.revenue,
            money(c.predicted)
        ));
    }
    lines
}

/// A churn-risk report as lines: the bands, and the customers most at risk with their factors.
pub(crate) async fn churn_lines(cx: &Session, r: &ChurnReport, top: usize) -> Vec<String> {
    let [low, medium, high] = r.bands;
    let mut lines = vec![format!(
        "churn risk at {}: {} customers, {high} high, {medium} medium, {low} low",
        r.until,
        r.customers.len()
    )];
    if let Some(why) = r.empty_because.as_ref().or(r.not_alive_because.as_ref()) {
        lines.push(format!("  ({why})"));
    }
    for c in r.customers.iter().take(top) {
        lines.push(format!("  {} {:?}: {}", c.score, c.band, name(cx, c.contact_id).await));
        for f in c.factors.iter().filter(|f| !f.points.is_zero()) {
            lines.push(format!("      +{} {:?}: {}", f.points, f.factor, f.why));
        }
    }
    lines
}
