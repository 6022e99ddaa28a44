//! The customer reports as lines for people: lifetime value and churn risk.

use crm::analytics::{ChurnReport, ClvReport};
use crm::money::Money;
use crm::service::Session;

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
