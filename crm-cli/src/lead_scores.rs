//! `crm reports lead-score`: a naive Bayes model of which deals are won, its test on the
//! latest deals, and the open deals scored with each field's part.

use crm::analytics::{LeadScoreOptions, Sales};
use crm::chrono::{DateTime, Utc};
use crm::entity::EntityKind;
use crm::rust_decimal::Decimal;
use crm::service::Session;
use serde_json::json;

use crate::error::CliError;
use crate::output::Out;
use crate::reports::{json_of, window};

/// `crm reports lead-score`.
#[derive(Debug, clap::Args)]
pub struct LeadScoreArgs {
    /// A deal field to score, standard or custom (repeatable; default: lead_source, owner_id,
    /// campaign_id).
    #[arg(long = "field", value_name = "FIELD")]
    fields: Vec<String>,
    /// The window's start: deals won or lost from then on teach the model (RFC 3339;
    /// default: 24 months before its end).
    #[arg(long, value_name = "TIME")]
    from: Option<DateTime<Utc>>,
    /// The window's end, excluded (RFC 3339; default: now).
    #[arg(long, value_name = "TIME")]
    to: Option<DateTime<Utc>>,
    /// The latest part of the window, in percent, whose deals test the model (0 skips).
    #[arg(long = "holdout-percent", default_value_t = 20, value_name = "PERCENT")]
    holdout_percent: u32,
    /// The Laplace smoothing added to every count.
    #[arg(long, default_value = "1", value_name = "N")]
    smoothing: Decimal,
    /// Only the deals this text filter selects (as for `list`; repeatable).
    #[arg(long = "filter", short = 'f', value_name = "EXPR")]
    filters: Vec<String>,
    /// How many open deals to score, the likeliest first (0: none).
    #[arg(long, default_value_t = 10)]
    top: usize,
}

/// The model, its test and the open deals, as lines or JSON.
pub(crate) async fn run(cx: &Session, a: LeadScoreArgs, out: &mut Out) -> Result<(), CliError> {
    let filter = crate::filter::of(cx, EntityKind::Deal, &a.filters).await?;
    let d = LeadScoreOptions::default();
    // Without a window, the default 24 months; with either end, the window they give.
    let window = window(cx, a.from, a.to).map(|w| match a.from {
        Some(_) => w,
        None => crm::analytics::Window::trailing_months(w.to, 24),
    });
    let o = LeadScoreOptions {
        fields: if a.fields.is_empty() { d.fields } else { a.fields },
        window,
        holdout_percent: a.holdout_percent,
        smoothing: a.smoothing,
        filter: filter.clone(),
    };
    let sales = Sales::new(cx);
    let scoring = sales.lead_scoring(&o).await?;
    let open = if a.top == 0 { Vec::new() } else { sales.rank_open_deals(&scoring.model, &filter, a.top).await? };
    if out.is_json() {
        let all = json!({ "window": scoring.window, "model": scoring.model, "calibration": scoring.calibration, "open": open });
        return json_of(out, &all);
    }
    let m = &scoring.model;
    let fields: Vec<&str> = m.fields.iter().map(|f| f.field.as_str()).collect();
    let mut lines = vec![format!(
        "lead scores from {} won and {} lost deals, {} to {}, by {}",
        m.won,
        m.lost,
        scoring.window.from,
        scoring.window.to,
        fields.join(", ")
    )];
    match &scoring.calibration {
        Some(c) => lines.push(format!(
            "  tested on {} deals closed from {} (trained on {}): Brier {:.3} against {:.3} for the win rate alone",
            c.deals, c.held_out_from, c.trained_on, c.brier, c.base_brier
        )),
        None => lines.push("  (not tested: no holdout, or no deal closed on one side of it)".into()),
    }
    for s in &open {
        let name = cx.deals().get(s.deal_id).await.map(|d| d.name).unwrap_or_default();
        lines.push(format!("  {:.0} % {name}", s.score.probability * 100.0));
        for c in s.score.contributions.iter().filter(|c| c.weight != 0.0) {
            lines.push(format!("      {:+.2} {}", c.weight, c.why));
        }
    }
    out.done(&lines.join("\n"))
}
