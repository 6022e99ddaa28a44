//! `crm reports`: a pipeline's stages and forecast, a campaign's results, the sales forecast by
//! period, sales performance, the funnel, and the customers' portfolio, retention, RFM scores and
//! lifetime value and churn risk — as lines for people, as JSON with `--json`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use chrono_tz::Tz;
use clap::Subcommand;
use crm::analytics::{
    ChurnOptions, ChurnWeights, ClvOptions, CustomerKind, Customers, ForecastOptions, FunnelOptions,
    PerformanceOptions, Period, Portfolio, PortfolioGroup, PortfolioOptions, RetentionOptions, RfmOptions, Sales,
    Slice, TrendOptions, Window,
};
use crm::chrono::{DateTime, NaiveDate, Utc};
use crm::entity::EntityKind;
use crm::ids::{CampaignId, PipelineId};
use crm::money::{Currency, Money};
use crm::query::Filter;
use crm::rust_decimal::Decimal;
use crm::service::Session;
use uuid::Uuid;

use crate::error::CliError;
use crate::output::Out;
use crate::{charts, customer_reports, lead_scores};

/// The reports.
#[derive(Debug, Subcommand)]
pub enum ReportCmd {
    /// A pipeline: every stage's deals, totals and weighted value, and the forecast.
    Pipeline {
        /// The pipeline's id (`crm pipelines list`).
        id: Uuid,
        /// Also draws it as a bar chart into this SVG file.
        #[arg(long, value_name = "FILE.svg")]
        chart: Option<PathBuf>,
    },
    /// A campaign: members, responses and their rates, cost per conversion, revenue.
    Campaign {
        /// The campaign's id (`crm campaigns list`).
        id: Uuid,
        /// Also draws it as a bar chart into this SVG file.
        #[arg(long, value_name = "FILE.svg")]
        chart: Option<PathBuf>,
    },
    /// The sales forecast: open deals by period of expected close, weighted and by forecast
    /// category, beside the deals won.
    Forecast {
        /// Periods of a month or a quarter.
        #[arg(long, value_parser = ["month", "quarter"], default_value = "month")]
        period: String,
        /// A day in the first period (default: today).
        #[arg(long, value_name = "YYYY-MM-DD")]
        from: Option<NaiveDate>,
        /// How many periods.
        #[arg(long, default_value_t = 12)]
        periods: u32,
        /// Broken down by owner, pipeline, lead source or campaign.
        #[arg(long, value_parser = ["owner", "pipeline", "lead_source", "campaign"])]
        by: Option<String>,
        #[command(flatten)]
        common: Common,
        /// Also draws the weighted value per period as a bar chart into this SVG file.
        #[arg(long, value_name = "FILE.svg")]
        chart: Option<PathBuf>,
    },
    /// Sales performance over a window: won and lost, win rates, deal size, cycle, velocity.
    Performance {
        #[command(flatten)]
        span: Span,
        /// Broken down by owner, pipeline, lead source or campaign.
        #[arg(long, value_parser = ["owner", "pipeline", "lead_source", "campaign"])]
        by: Option<String>,
        #[command(flatten)]
        common: Common,
    },
    /// The win rate over time: deals won and lost per month or quarter of closing.
    WinRate {
        /// Periods of a month or a quarter.
        #[arg(long, value_parser = ["month", "quarter"], default_value = "month")]
        period: String,
        #[command(flatten)]
        span: Span,
        /// One line per owner, pipeline, lead source or campaign.
        #[arg(long, value_parser = ["owner", "pipeline", "lead_source", "campaign"])]
        by: Option<String>,
        #[command(flatten)]
        common: Common,
        /// Also draws the lines into this SVG file.
        #[arg(long, value_name = "FILE.svg")]
        chart: Option<PathBuf>,
    },
    /// The funnel of a pipeline: deals that reached each stage, and the conversions.
    Funnel {
        /// The pipeline (default: the default pipeline).
        #[arg(long)]
        pipeline: Option<Uuid>,
        #[command(flatten)]
        span: Span,
        /// One funnel per month or quarter of creation.
        #[arg(long, value_parser = ["month", "quarter"])]
        cohorts: Option<String>,
        #[command(flatten)]
        common: Common,
        /// Also draws the (whole-window or latest) funnel as a bar chart into this SVG file.
        #[arg(long, value_name = "FILE.svg")]
        chart: Option<PathBuf>,
    },
    /// The customer portfolio: revenue, orders, customers and growth per group of customers, how
    /// concentrated the revenue is, and the most valuable customers.
    Portfolio {
        /// Contacts or companies.
        #[arg(long, value_parser = ["contacts", "companies"], default_value = "contacts")]
        customers: String,
        /// Broken down by this field of the customers (e.g. industry, size, country, rfm_segment).
        #[arg(long, value_name = "FIELD")]
        by: Option<String>,
        #[command(flatten)]
        orders: OrderScope,
        /// How many of the most valuable customers to list.
        #[arg(long, default_value_t = 10)]
        top: usize,
        /// Also draws the Pareto curve (the revenue share of the best tenths) into this SVG file.
        #[arg(long, value_name = "FILE.svg")]
        chart: Option<PathBuf>,
    },
    /// Cohort retention: customers by the month (or quarter) of their first purchase, and the
    /// share of each cohort that bought again in each period since.
    Retention {
        /// Contacts or companies.
        #[arg(long, value_parser = ["contacts", "companies"], default_value = "contacts")]
        customers: String,
        /// Cohorts and periods of a month or a quarter.
        #[arg(long, value_parser = ["month", "quarter"], default_value = "month")]
        period: String,
        #[command(flatten)]
        span: Span,
        /// Only the orders this text filter selects count as purchases (as for `list`; repeatable).
        #[arg(long = "filter", short = 'f', value_name = "EXPR")]
        filters: Vec<String>,
        /// The IANA time zone whose calendar the periods follow.
        #[arg(long = "time-zone", default_value = "UTC", value_name = "ZONE")]
        time_zone: String,
        /// Also draws the heatmap into this SVG file.
        #[arg(long, value_name = "FILE.svg")]
        chart: Option<PathBuf>,
    },
    /// Customers scored 1–5 on recency, frequency and spend (by fifths) from their orders, with
    /// their segments (champions, at risk, hibernating…).
    Rfm {
        #[command(flatten)]
        orders: OrderScope,
        /// Also writes the scores on the contacts (`rfm_segment`, `rfm_code`… for segments).
        #[arg(long)]
        store: bool,
        /// How many of the best customers to list.
        #[arg(long, default_value_t = 10)]
        top: usize,
        /// Also draws the recency × frequency grid into this SVG file.
        #[arg(long, value_name = "FILE.svg")]
        chart: Option<PathBuf>,
    },
    /// Customer lifetime value: each customer's revenue so far, the chance they are still a
    /// customer, and the value predicted over the coming months by BG/NBD and Gamma-Gamma
    /// models fitted to the purchase histories.
    Clv {
        /// The end of the history: orders placed before it count (RFC 3339; default: now).
        #[arg(long, value_name = "TIME")]
        until: Option<DateTime<Utc>>,
        /// The months ahead value is predicted over.
        #[arg(long = "horizon-months", default_value_t = 12, value_name = "MONTHS")]
        horizon_months: u32,
        /// The discount rate per month (0.01 is 1 %).
        #[arg(long = "monthly-discount", default_value = "0.01", value_name = "RATE")]
        monthly_discount: Decimal,
        #[command(flatten)]
        history: History,
        /// How many of the most valuable customers to list.
        #[arg(long, default_value_t = 10)]
        top: usize,
        /// Also draws the spread of predicted values into this SVG file.
        #[arg(long, value_name = "FILE.svg")]
        chart: Option<PathBuf>,
    },
    /// Lead scores: a naive Bayes model of which deals are won (tested on the latest deals)
    /// and the open deals scored with each field's part.
    LeadScore(lead_scores::LeadScoreArgs),
    /// The revenue credited to the campaigns that first and last touched each buyer, and each
    /// campaign's return on its budget.
    Attribution(customer_reports::AttributionArgs),
    /// Who is likely to respond to a campaign, learned from past campaigns: a ranked target
    /// list with each field's part.
    Propensity(customer_reports::PropensityArgs),
    /// Products bought together: association rules (support, confidence, lift), the strongest
    /// first.
    CrossSell(customer_reports::CrossSellArgs),
    /// What to offer each customer: products customers like them bought and they have not,
    /// with the rule behind each.
    Recommend(customer_reports::RecommendArgs),
    /// Churn risk: each customer's risk of leaving, 0–100, with the factors behind it (the
    /// chance they stopped buying, an overdue purchase, fewer interactions, cases, feedback,
    /// overdue invoices).
    Churn {
        /// The instant risk is judged at (RFC 3339; default: now).
        #[arg(long, value_name = "TIME")]
        until: Option<DateTime<Utc>>,
        /// The days interactions, SLA breaches and feedback are looked back over.
        #[arg(long = "lookback-days", default_value_t = 90, value_name = "DAYS")]
        lookback_days: u32,
        /// The factors' weights as factor:weight pairs (factors not named weigh nothing).
        #[arg(
            long,
            value_name = "PAIRS",
            default_value = "not_alive:30,overdue_purchase:20,fewer_interactions:10,cases:15,feedback:15,overdue_invoices:10"
        )]
        weights: ChurnWeights,
        #[command(flatten)]
        history: History,
        /// How many of the customers most at risk to list.
        #[arg(long, default_value_t = 10)]
        top: usize,
    },
}

/// What the sales reports share: the deals they count and the calendar they follow.
#[derive(Debug, clap::Args)]
pub struct Common {
    /// Only the deals this text filter selects (as for `list`; repeatable).
    #[arg(long = "filter", short = 'f', value_name = "EXPR")]
    filters: Vec<String>,
    /// The IANA time zone whose calendar the periods follow.
    #[arg(long = "time-zone", default_value = "UTC", value_name = "ZONE")]
    time_zone: String,
}

/// The orders the customer reports count.
#[derive(Debug, clap::Args)]
pub struct OrderScope {
    #[command(flatten)]
    span: Span,
    /// The currency money is counted in (needed when the orders are in several).
    #[arg(long, value_name = "CODE")]
    currency: Option<String>,
    /// Only the orders this text filter selects (as for `list`; repeatable).
    #[arg(long = "filter", short = 'f', value_name = "EXPR")]
    filters: Vec<String>,
}

/// The purchase histories the lifetime-value and churn reports read.
#[derive(Debug, clap::Args)]
pub struct History {
    /// The currency of the orders that count (needed when they are in several).
    #[arg(long, value_name = "CODE")]
    currency: Option<String>,
    /// Only the orders this text filter selects (as for `list`; repeatable).
    #[arg(long = "filter", short = 'f', value_name = "EXPR")]
    filters: Vec<String>,
    /// The IANA time zone whose calendar days purchases are counted in.
    #[arg(long = "time-zone", default_value = "UTC", value_name = "ZONE")]
    time_zone: String,
}

impl History {
    /// The currency, the filter and the time zone.
    async fn read(&self, cx: &Session) -> Result<(Option<Currency>, Filter, Tz), CliError> {
        let filter = crate::filter::of(cx, EntityKind::Order, &self.filters).await?;
        let currency = self.currency.as_deref().map(Money::currency_from_code).transpose()?;
        Ok((currency, filter, zone(&self.time_zone)?))
    }
}

impl OrderScope {
    /// The window, the currency and the filter.
    async fn read(&self, cx: &Session) -> Result<(Option<Window>, Option<Currency>, Filter), CliError> {
        let filter = crate::filter::of(cx, EntityKind::Order, &self.filters).await?;
        let currency = self.currency.as_deref().map(Money::currency_from_code).transpose()?;
        Ok((self.span.window(cx), currency, filter))
    }
}

impl Common {
    async fn filter(&self, cx: &Session) -> Result<Filter, CliError> {
        crate::filter::of(cx, EntityKind::Deal, &self.filters).await
    }

    fn zone(&self) -> Result<Tz, CliError> {
        zone(&self.time_zone)
    }
}

/// The `--time-zone` named.
fn zone(name: &str) -> Result<Tz, CliError> {
    name.parse().map_err(|_| CliError::Usage(format!("--time-zone {name}: not an IANA time zone (e.g. Europe/Berlin)")))
}

fn period(s: &str) -> Period {
    if s == "quarter" { Period::Quarter } else { Period::Month }
}

fn slice(s: Option<&str>) -> Option<Slice> {
    match s {
        Some("owner") => Some(Slice::Owner),
        Some("pipeline") => Some(Slice::Pipeline),
        Some("lead_source") => Some(Slice::LeadSource),
        Some("campaign") => Some(Slice::Campaign),
        _ => None,
    }
}

/// The window a report covers, from `--from` and `--to`.
#[derive(Debug, clap::Args)]
pub struct Span {
    /// The window's start (RFC 3339; default: 12 months before its end).
    #[arg(long, value_name = "TIME")]
    from: Option<DateTime<Utc>>,
    /// The window's end, excluded (RFC 3339; default: now).
    #[arg(long, value_name = "TIME")]
    to: Option<DateTime<Utc>>,
}

impl Span {
    /// The window, when either end is given (the report's default otherwise).
    pub(crate) fn window(&self, cx: &Session) -> Option<Window> {
        window(cx, self.from, self.to)
    }
}

pub(crate) fn window(cx: &Session, from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>) -> Option<Window> {
    if from.is_none() && to.is_none() {
        return None;
    }
    let to = to.unwrap_or_else(|| cx.now());
    Some(Window { from: from.unwrap_or_else(|| Window::trailing_months(to, 12).from), to })
}

pub(crate) fn json_of<T: serde::Serialize>(out: &mut Out, value: &T) -> Result<(), CliError> {
    out.value(&serde_json::to_value(value).map_err(|e| CliError::Io(e.to_string()))?)
}

/// "0.75" as "75 %", or "–".
fn percent(r: Option<Decimal>) -> String {
    r.map_or("–".into(), |r| format!("{} %", (r * Decimal::ONE_HUNDRED).round_dp(1).normalize()))
}

/// "1000.00 EUR + 20.00 USD", or "0" for no amounts.
fn amounts(m: &BTreeMap<Currency, Decimal>) -> String {
    if m.is_empty() {
        return "0".into();
    }
    m.iter().map(|(c, a)| format!("{a} {}", c.code())).collect::<Vec<_>>().join(" + ")
}

/// A portfolio as lines: the whole, each group, the concentration, the most valuable.
fn portfolio_lines(p: &Portfolio) -> Vec<String> {
    let group = |g: &PortfolioGroup| {
        format!(
            "{:>6} customers {:>7} orders  {}  ({} of the revenue, growth {})",
            g.customers,
            g.orders,
            g.revenue,
            percent(g.share),
            percent(g.growth)
        )
    };
    let mut lines = vec![format!("portfolio {} to {}: {}", p.window.from, p.window.to, group(&p.total))];
    if let Some(why) = &p.empty_because {
        lines.push(format!("  ({why})"));
    }
    for g in &p.groups {
        lines.push(format!("  {:<20} {}", g.key.as_deref().unwrap_or("(none)"), group(g)));
    }
    let c = &p.concentration;
    if let Some(share) = c.top_fifth_share {
        lines.push(format!("the top fifth ({} customers) brings {}", c.top_fifth, percent(Some(share))));
    }
    for v in &p.most_valuable {
        lines.push(format!("  {:<30} {}  {} orders  {}", v.name, v.revenue, v.orders, percent(v.share)));
    }
    lines
}

/// Runs a report command.
pub async fn run(cx: &Session, cmd: ReportCmd, out: &mut Out) -> Result<(), CliError> {
    match cmd {
        ReportCmd::Pipeline { id, chart } => {
            let r = cx.deals().pipeline_report(PipelineId::from_uuid(id)).await?;
            if let Some(path) = &chart {
                charts::write(path, crm::analytics::charts::pipeline(&r))?;
            }
            if out.is_json() {
                return out.value(&serde_json::to_value(&r).map_err(|e| CliError::Io(e.to_string()))?);
            }
            let mut lines = vec![format!("{}:", r.pipeline.name)];
            for s in &r.stages {
                let rotting = if s.rotting > 0 { format!(", {} rotting", s.rotting) } else { String::new() };
                lines.push(format!(
                    "  {:<24} {:>5} deals  {}  (weighted {}){rotting}",
                    s.stage.name,
                    s.count,
                    amounts(&s.total),
                    amounts(&s.weighted)
                ));
            }
            lines.push(format!("forecast: {}", amounts(&r.forecast)));
            out.done(&lines.join("\n"))
        }
        ReportCmd::Campaign { id, chart } => {
            let r = cx.campaigns().results(CampaignId::from_uuid(id)).await?;
            if let Some(path) = &chart {
                charts::write(path, crm::analytics::charts::campaign(&r))?;
            }
            if out.is_json() {
                return out.value(&serde_json::to_value(&r).map_err(|e| CliError::Io(e.to_string()))?);
            }
            let mut lines = vec![format!("{}: {} members", r.campaign.name, r.members)];
            for (kind, n) in &r.counts {
                let rate = r.rates.get(kind).map(|x| format!(" ({x})")).unwrap_or_default();
                lines.push(format!("  {kind:<14} {n:>6}{rate}"));
            }
            if let Some(c) = r.cost_per_conversion {
                lines.push(format!("cost per conversion: {c}"));
            }
            lines.push(format!("revenue: {}", amounts(&r.revenue)));
            out.done(&lines.join("\n"))
        }
        ReportCmd::Forecast { period: p, from, periods, by, common, chart } => {
            let o = ForecastOptions {
                period: period(&p),
                from,
                periods,
                by: slice(by.as_deref()),
                filter: common.filter(cx).await?,
                time_zone: common.zone()?,
            };
            let f = Sales::new(cx).forecast(&o).await?;
            if let Some(path) = &chart {
                charts::write(path, crm::analytics::charts::forecast(&f))?;
            }
            if out.is_json() {
                return json_of(out, &f);
            }
            let mut lines = vec![format!("forecast {} to {} (excluded):", f.from, f.to)];
            for r in &f.rows {
                let slice = r.slice.as_deref().map(|s| format!("  {s}")).unwrap_or_default();
                lines.push(format!(
                    "  {}  {:<9} {:>4} deals  {}  (weighted {}){slice}",
                    r.period, r.category, r.deals, r.amount, r.weighted
                ));
            }
            for ((period, _), w) in f.weighted_by_period() {
                lines.push(format!("{period}: weighted {w}"));
            }
            if f.unpriced > 0 {
                lines.push(format!("{} deals without an amount are not counted", f.unpriced));
            }
            out.done(&lines.join("\n"))
        }
        ReportCmd::Performance { span, by, common } => {
            let o = PerformanceOptions {
                window: span.window(cx),
                by: slice(by.as_deref()),
                filter: common.filter(cx).await?,
            };
            let p = Sales::new(cx).performance(&o).await?;
            if out.is_json() {
                return json_of(out, &p);
            }
            let mut lines = vec![format!("performance {} to {}:", p.window.from, p.window.to)];
            for r in &p.rows {
                let who = r.slice.as_deref().unwrap_or("all");
                let cycle = r.cycle.median_days.map_or("–".into(), |d| format!("{d} days"));
                lines.push(format!(
                    "{who}: {} won, {} lost, win rate {}, median cycle {cycle}, {} open",
                    r.won,
                    r.lost,
                    percent(r.win_rate),
                    r.open
                ));
                for m in &r.money {
                    let avg = m.average_won.map_or("–".into(), |a| a.to_string());
                    let velocity = m.velocity_per_day.map_or("–".into(), |v| format!("{v} a day"));
                    lines.push(format!(
                        "  {}: won {}, lost {}, average won {avg}, velocity {velocity}",
                        m.currency.code(),
                        m.won,
                        m.lost
                    ));
                }
            }
            out.done(&lines.join("\n"))
        }
        ReportCmd::WinRate { period: p, span, by, common, chart } => {
            let o = TrendOptions {
                window: span.window(cx),
                period: period(&p),
                by: slice(by.as_deref()),
                filter: common.filter(cx).await?,
                time_zone: common.zone()?,
            };
            let t = Sales::new(cx).win_rate_trend(&o).await?;
            if let Some(path) = &chart {
                charts::write(path, crm::analytics::charts::win_rate_trend(&t))?;
            }
            if out.is_json() {
                return json_of(out, &t);
            }
            let mut lines = vec![format!("win rate {} to {}:", t.window.from, t.window.to)];
            for p in &t.points {
                let slice = p.slice.as_deref().map(|s| format!("  {s}")).unwrap_or_default();
                let rate = percent(p.win_rate);
                lines.push(format!("  {}  {:>5} won {:>5} lost  {rate:>8}{slice}", p.period, p.won, p.lost));
            }
            out.done(&lines.join("\n"))
        }
        ReportCmd::Funnel { pipeline, span, cohorts, common, chart } => {
            let o = FunnelOptions {
                pipeline: pipeline.map(PipelineId::from_uuid),
                window: span.window(cx),
                cohorts: cohorts.as_deref().map(period),
                filter: common.filter(cx).await?,
                time_zone: common.zone()?,
            };
            let f = Sales::new(cx).funnel(&o).await?;
            if let Some(path) = &chart {
                charts::write(path, crm::analytics::charts::funnel(&f))?;
            }
            if out.is_json() {
                return json_of(out, &f);
            }
            let mut lines = Vec::new();
            for c in &f.cohorts {
                lines.push(c.period.map_or("funnel:".into(), |p| format!("created from {p}:")));
                for s in &c.steps {
                    lines.push(format!(
                        "  {:<24} {:>6}  {:>8} of the previous",
                        s.name,
                        s.reached,
                        percent(s.from_previous)
                    ));
                }
                lines.push(format!("  lost {}", c.lost));
            }
            out.done(&lines.join("\n"))
        }
        ReportCmd::Portfolio { customers, by, orders, top, chart } => {
            let (window, currency, filter) = orders.read(cx).await?;
            let kind = if customers == "companies" { CustomerKind::Company } else { CustomerKind::Contact };
            let o = PortfolioOptions { customers: kind, by, window, currency, filter, top };
            let p = Customers::new(cx).portfolio(&o).await?;
            if let Some(path) = &chart {
                charts::write(path, crm::analytics::charts::pareto(&p))?;
            }
            if out.is_json() {
                return json_of(out, &p);
            }
            out.done(&portfolio_lines(&p).join("\n"))
        }
        ReportCmd::Retention { customers, period: p, span, filters, time_zone, chart } => {
            let filter = crate::filter::of(cx, EntityKind::Order, &filters).await?;
            let o = RetentionOptions {
                customers: if customers == "companies" { CustomerKind::Company } else { CustomerKind::Contact },
                period: period(&p),
                window: span.window(cx),
                filter,
                time_zone: zone(&time_zone)?,
            };
            let r = Customers::new(cx).retention(&o).await?;
            if let Some(path) = &chart {
                charts::write(path, crm::analytics::charts::retention(&r))?;
            }
            if out.is_json() {
                return json_of(out, &r);
            }
            let mut lines =
                vec![format!("retention of the customers who first bought {} to {}:", r.window.from, r.window.to)];
            for c in &r.cohorts {
                let rates: Vec<String> = c.rates.iter().map(|x| percent(Some(*x))).collect();
                lines.push(format!("  {} {:>6} customers: {}", c.start.format("%Y-%m"), c.customers, rates.join("  ")));
            }
            out.done(&lines.join("\n"))
        }
        ReportCmd::Rfm { orders, store, top, chart } => {
            let (window, currency, filter) = orders.read(cx).await?;
            let o = RfmOptions { window, currency, filter };
            let customers = Customers::new(cx);
            let (r, stored) = if store {
                let run = customers.score_rfm(&o, |_| {}).await?;
                (run.report, Some((run.written, run.cleared)))
            } else {
                (customers.rfm(&o).await?, None)
            };
            if let Some(path) = &chart {
                charts::write(path, crm::analytics::charts::rfm_grid(&r))?;
            }
            if out.is_json() {
                return json_of(out, &r);
            }
            let mut lines = vec![format!(
                "rfm {} to {}{}: {} customers",
                r.window.from,
                r.window.to,
                r.currency.map(|c| format!(" in {}", c.code())).unwrap_or_default(),
                r.customers.len()
            )];
            if let Some(why) = &r.empty_because {
                lines.push(format!("  ({why})"));
            }
            for g in &r.segments {
                lines.push(format!(
                    "  {:<20} {:>6} customers {:>7} orders  {}",
                    g.segment.to_string(),
                    g.customers,
                    g.orders,
                    g.revenue
                ));
            }
            for c in r.customers.iter().take(top) {
                let name = cx.contacts().get(c.contact_id).await.map(|c| c.full_name()).unwrap_or_default();
                lines.push(format!(
                    "  {} {:<20} {name}: {} orders, {}, last {} days ago",
                    c.rfm.code(),
                    c.rfm.segment.to_string(),
                    c.orders,
                    c.spent,
                    c.recency_days
                ));
            }
            if let Some((written, cleared)) = stored {
                lines.push(format!("stored: {written} contacts written, {cleared} cleared"));
            }
            out.done(&lines.join("\n"))
        }
        ReportCmd::Clv { until, horizon_months, monthly_discount, history, top, chart } => {
            let (currency, filter, time_zone) = history.read(cx).await?;
            let o = ClvOptions { until, horizon_months, monthly_discount, currency, filter, time_zone };
            let r = Customers::new(cx).clv(&o).await?;
            if let Some(path) = &chart {
                charts::write(path, crm::analytics::charts::clv_distribution(&r))?;
            }
            if out.is_json() {
                return json_of(out, &r);
            }
            out.done(&customer_reports::clv_lines(cx, &r, top).await.join("\n"))
        }
        ReportCmd::LeadScore(args) => lead_scores::run(cx, args, out).await,
        ReportCmd::CrossSell(args) => customer_reports::cross_sell(cx, args, out).await,
        ReportCmd::Propensity(args) => customer_reports::propensity(cx, args, out).await,
        ReportCmd::Attribution(args) => customer_reports::attribution(cx, args, out).await,
        ReportCmd::Recommend(args) => customer_reports::recommend(cx, args, out).await,
        ReportCmd::Churn { until, lookback_days, weights, history, top } => {
            let (currency, filter, time_zone) = history.read(cx).await?;
            let o = ChurnOptions { until, lookback_days, weights, currency, filter, time_zone };
            let r = Customers::new(cx).churn(&o).await?;
            if out.is_json() {
                return json_of(out, &r);
            }
            out.done(&customer_reports::churn_lines(cx, &r, top).await.join("\n"))
        }
    }
}
