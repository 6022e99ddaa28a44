//! The analytical CRM on a realistic shop: two years of customers and orders (seasonal, with a
//! few big spenders and customers who stop buying) and of deals in the sales pipeline, on a
//! SQLite file, then a report folder: the forecast, the funnel, the win rate by month, the RFM
//! grid, the revenue's Pareto curve, the cohort retention and the customers' predicted
//! lifetime values as SVG charts, and an HTML page that shows them with the key figures
//! (churn risk among them).
//!
//! Run with `cargo run --example analytics --features charts -- --out report`
//! (default folder: `analytics-report`), then open `report/index.html`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Datelike, Duration, Months, TimeZone, Utc};
use crm::analytics::{
    ChurnOptions, ClvOptions, ClvReport, CustomerClv, Customers, ForecastOptions, FunnelOptions, Performance,
    PerformanceOptions, Portfolio, PortfolioOptions, RetentionOptions, RfmOptions, RfmReport, Sales, TrendOptions,
    Window, charts,
};
use crm::ids::ManualClock;
use crm::model::StageKind;
use crm::prelude::*;
use crm::profile::LeadSource;
use crm::service::ImportOptions;
use rust_decimal::Decimal;

/// How a customer buys: chance of an order in a month, the range of an order's euros, and the
/// month after which they stop buying (churners).
struct Habit {
    monthly: f64,
    euros: (u64, u64),
    stops_after: Option<u32>,
}

fn habit(rng: &mut fastrand::Rng) -> Habit {
    match rng.u64(..100) {
        0 => Habit { monthly: 0.9, euros: (400, 2_000), stops_after: None },
        1..=25 => Habit { monthly: 0.35, euros: (40, 150), stops_after: None },
        26..=69 => Habit { monthly: 0.08, euros: (20, 120), stops_after: None },
        _ => Habit { monthly: 0.35, euros: (30, 140), stops_after: Some(rng.u32(3..15)) },
    }
}

/// More orders before Christmas, fewer in January.
fn season(month: u32) -> f64 {
    match month {
        11 => 1.6,
        12 => 2.0,
        1 => 0.7,
        _ => 1.0,
    }
}

const MONTHS: u32 = 24;
const CUSTOMERS: usize = 1_500;

fn eur(euros: u64) -> Money {
    Money::new(Decimal::from(euros), Currency::EUR)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = out_dir();
    std::fs::create_dir_all(&out)?;
    let db = out.join("crm.db");
    for f in ["crm.db", "crm.db-wal", "crm.db-shm"] {
        let _ = std::fs::remove_file(out.join(f));
    }
    let start = Utc.with_ymd_and_hms(2024, 12, 1, 9, 0, 0).single().expect("valid");
    let clock = Arc::new(ManualClock::new(start));
    let crm = Crm::builder(SqlStore::sqlite(&db).await?).clock(clock.clone()).build()?;
    let cx = crm.as_actor(&Actor::system(TenantId::new()));
    // Seeded: the same shop on every run.
    let mut rng = fastrand::Rng::with_seed(0x5eed_cafe_f00d_0001);

    // The customers, imported in batches.
    let sources = [LeadSource::Website, LeadSource::OrganicSearch, LeadSource::SocialMedia, LeadSource::Referral];
    let given = ["Ada", "Ben", "Chloé", "Dev", "Emma", "Finn", "Grace", "Hugo", "Ines", "Jonas", "Kai", "Lena"];
    let family = ["Müller", "Smith", "Dubois", "Rossi", "Novak", "Silva", "Jensen", "Kowalski", "Garcia", "Ito"];
    let rows: Vec<NewContact> = (0..CUSTOMERS)
        .map(|i| {
            NewContact::new(given[i % given.len()], format!("{} {}", family[i / given.len() % family.len()], i))
                .email(format!("customer{i}@shop.example"))
                .lead_source(sources[rng.usize(..sources.len())])
        })
        .collect();
    let report = cx.contacts().import(rows, &ImportOptions::default().batch_size(500), |_| {}).await?;
    let customers = report.imported;

    // Two years of orders, entered as history today.
    let now = start.checked_add_months(Months::new(MONTHS)).expect("in range");
    clock.set(now);
    let habits: Vec<Habit> = customers.iter().map(|_| habit(&mut rng)).collect();
    let mut orders = 0u64;
    for m in 0..MONTHS {
        let month = start.checked_add_months(Months::new(m)).expect("in range");
        for (id, h) in customers.iter().zip(&habits) {
            if h.stops_after.is_some_and(|last| m > last) || rng.f64() >= h.monthly * season(month.month()) {
                continue;
            }
            let euros = rng.u64(h.euros.0..h.euros.1);
            let at = month + Duration::minutes(rng.i64(0..27 * 24 * 60));
            let line = LineItem::new("Coffee beans", Decimal::ONE, eur(euros));
            cx.orders().create(NewOrder::for_contact(*id).currency(Currency::EUR).line(line).placed_at(at)).await?;
            orders += 1;
        }
    }

    // Two years of deals moving through the pipeline: older ones won or lost, recent ones open.
    let pipeline = cx.pipelines().default_pipeline().await?;
    let open: Vec<StageId> = pipeline.stages.iter().filter(|s| s.kind == StageKind::Open).map(|s| s.id).collect();
    for m in 0..MONTHS {
        clock.set(start.checked_add_months(Months::new(m)).expect("in range"));
        for _ in 0..20 {
            let amount = eur(1_000 + 500 * rng.u64(..40));
            let close = (clock_now(&clock) + Duration::days(rng.i64(30..150))).date_naive();
            let deal =
                cx.deals().create(NewDeal::new("Office coffee contract").amount(amount).expected_close(close)).await?;
            let reached = rng.usize(..open.len());
            for stage in &open[1..=reached] {
                clock.advance(Duration::hours(20));
                cx.deals().move_to_stage(deal.id, *stage).await?;
            }
            let fate = if m + 3 < MONTHS { rng.u64(..100) } else { 99 };
            clock.advance(Duration::days(rng.i64(5..45)));
            if fate < 30 + 8 * reached as u64 {
                cx.deals().win(deal.id).await?;
            } else if fate < 85 {
                cx.deals().lose(deal.id, "went with a competitor").await?;
            }
            clock.set(start.checked_add_months(Months::new(m)).expect("in range"));
        }
    }
    clock.set(now);

    // The reports.
    let sales = Sales::new(&cx);
    let forecast = sales.forecast(&ForecastOptions { periods: 6, ..Default::default() }).await?;
    let funnel = sales.funnel(&FunnelOptions::default()).await?;
    let performance = sales.performance(&PerformanceOptions::default()).await?;
    let trend = sales
        .win_rate_trend(&TrendOptions { window: Some(Window { from: start, to: now }), ..Default::default() })
        .await?;
    let shop = Customers::new(&cx);
    let rfm = shop.score_rfm(&RfmOptions::default(), |_| {}).await?;
    let by_segment = PortfolioOptions { by: Some("rfm_segment".into()), top: 5, ..Default::default() };
    let portfolio = shop.portfolio(&by_segment).await?;
    // The customers who first bought in the first year, followed to today.
    let first_year = Window { from: start, to: start.checked_add_months(Months::new(12)).expect("in range") };
    let retention = shop.retention(&RetentionOptions { window: Some(first_year), ..Default::default() }).await?;
    let clv = shop.clv(&ClvOptions::default()).await?;
    // The chance the models give that a customer still buys: those who stopped against the rest.
    let stopped: std::collections::HashSet<ContactId> =
        customers.iter().zip(&habits).filter(|(_, h)| h.stops_after.is_some()).map(|(id, _)| *id).collect();
    let alive = |gone: bool| {
        let p: Vec<f64> = clv
            .customers
            .iter()
            .filter(|c| stopped.contains(&c.contact_id) == gone)
            .filter_map(|c| c.p_alive)
            .collect();
        p.iter().sum::<f64>() / p.len().max(1) as f64
    };
    let (alive_stopped, alive_rest) = (alive(true), alive(false));
    // Churn risk: the mean score of the customers who stopped against the rest's.
    let churn = shop.churn(&ChurnOptions::default()).await?;
    let risk = |gone: bool| {
        let s: Vec<Decimal> =
            churn.customers.iter().filter(|c| stopped.contains(&c.contact_id) == gone).map(|c| c.score).collect();
        (s.iter().sum::<Decimal>() / Decimal::from(s.len().max(1))).round_dp(1)
    };
    let mut valuable = Vec::new();
    for c in clv.customers.iter().take(10) {
        valuable.push((cx.contacts().get(c.contact_id).await?.full_name(), c.clone()));
    }

    write(&out, "forecast.svg", charts::forecast(&forecast)?)?;
    write(&out, "funnel.svg", charts::funnel(&funnel)?)?;
    write(&out, "winrate.svg", charts::win_rate_trend(&trend)?)?;
    write(&out, "rfm.svg", charts::rfm_grid(&rfm.report)?)?;
    write(&out, "pareto.svg", charts::pareto(&portfolio)?)?;
    write(&out, "retention.svg", charts::retention(&retention)?)?;
    write(&out, "clv.svg", charts::clv_distribution(&clv)?)?;
    let mut figures = figures(orders, &performance, &rfm.report, &portfolio);
    figures.push(clv_figure(&clv));
    figures.push(format!(
        "Chance still buying: {:.1} % for the customers who stopped, {:.1} % for the others",
        alive_stopped * 100.0,
        alive_rest * 100.0
    ));
    figures.push(format!(
        "Churn risk: {} for the customers who stopped, {} for the others ({} high, {} medium, {} low)",
        risk(true),
        risk(false),
        churn.bands[2],
        churn.bands[1],
        churn.bands[0]
    ));
    write(&out, "index.html", page(&figures, &rfm.report, &portfolio, &valuable))?;
    for line in &figures {
        println!("{line}");
    }
    println!("Report written to {}", out.join("index.html").display());
    Ok(())
}

fn clock_now(clock: &ManualClock) -> DateTime<Utc> {
    crm::ids::Clock::now(clock)
}

fn out_dir() -> PathBuf {
    let args: Vec<String> = std::env::args().collect();
    match args.iter().position(|a| a == "--out") {
        Some(i) => PathBuf::from(args.get(i + 1).map(String::as_str).unwrap_or("analytics-report")),
        None => PathBuf::from("analytics-report"),
    }
}

fn write(dir: &Path, name: &str, text: String) -> std::io::Result<()> {
    std::fs::write(dir.join(name), text)
}

/// "0.35" as "35 %".
fn percent(r: Option<Decimal>) -> String {
    r.map_or("–".into(), |r| format!("{} %", (r * Decimal::ONE_HUNDRED).round_dp(1).normalize()))
}

/// The key figures, one per line.
fn figures(orders: u64, p: &Performance, rfm: &RfmReport, portfolio: &Portfolio) -> Vec<String> {
    let all = &p.rows[0];
    let mut lines = vec![
        format!("Orders over two years: {orders}"),
        format!(
            "Deals won in the last 12 months: {} of {} closed (win rate {})",
            all.won,
            all.won + all.lost,
            percent(all.win_rate)
        ),
        format!("Customers scored: {}", rfm.customers.len()),
    ];
    for s in &rfm.segments {
        lines.push(format!("Segment {}: {} customers, {}", s.segment, s.customers, s.revenue));
    }
    lines.push(format!("Revenue in the last 12 months: {}", portfolio.total.revenue));
    lines.push(format!("The top fifth of the customers brings {}", percent(portfolio.concentration.top_fifth_share)));
    lines
}

/// The lifetime value predicted, or why it was not.
fn clv_figure(clv: &ClvReport) -> String {
    match (&clv.predicted, &clv.models) {
        (Some(value), Some(m)) => format!(
            "Predicted value over the next {} months: {value} from {} customers (fits {})",
            clv.horizon_months,
            clv.customers.len(),
            if m.purchases_fit.converged && m.spend_fit.converged { "converged" } else { "did not converge" }
        ),
        _ => format!("No value predicted: {}", clv.not_predicted_because.as_deref().unwrap_or("")),
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// The HTML page: the figures, the charts, the segments and the best customers.
fn page(figures: &[String], rfm: &RfmReport, portfolio: &Portfolio, valuable: &[(String, CustomerClv)]) -> String {
    let mut h = String::from(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Shop analytics</title>\n\
         <style>body{font-family:sans-serif;max-width:1100px;margin:2em auto}img{max-width:100%;border:1px solid #ddd}\
         td,th{padding:4px 10px;text-align:left}</style></head><body>\n<h1>Shop analytics</h1>\n<ul>\n",
    );
    for f in figures {
        let _ = writeln!(h, "<li>{}</li>", escape(f));
    }
    h.push_str("</ul>\n<h2>Forecast</h2><img src=\"forecast.svg\" alt=\"forecast by month\">\n");
    h.push_str("<h2>Funnel</h2><img src=\"funnel.svg\" alt=\"deals per stage\">\n");
    h.push_str("<h2>Win rate</h2><img src=\"winrate.svg\" alt=\"win rate by month\">\n");
    h.push_str("<h2>Customers by recency and frequency</h2><img src=\"rfm.svg\" alt=\"RFM grid\">\n<table>\n");
    h.push_str("<tr><th>segment</th><th>customers</th><th>orders</th><th>revenue</th></tr>\n");
    for s in &rfm.segments {
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            s.segment, s.customers, s.orders, s.revenue
        );
    }
    h.push_str("</table>\n<h2>Revenue concentration</h2><img src=\"pareto.svg\" alt=\"Pareto curve\">\n<table>\n");
    h.push_str("<tr><th>most valuable</th><th>segment</th><th>orders</th><th>revenue</th><th>share</th></tr>\n");
    for c in &portfolio.most_valuable {
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&c.name),
            escape(c.key.as_deref().unwrap_or("")),
            c.orders,
            c.revenue,
            percent(c.share)
        );
    }
    h.push_str("</table>\n<h2>Retention</h2><img src=\"retention.svg\" alt=\"cohort retention\">\n");
    h.push_str("<h2>Lifetime value</h2><img src=\"clv.svg\" alt=\"predicted values\">\n<table>\n");
    h.push_str("<tr><th>most valuable ahead</th><th>orders</th><th>spent</th><th>chance still buying</th><th>predicted</th></tr>\n");
    for (name, c) in valuable {
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{:.0} %</td><td>{}</td></tr>",
            escape(name),
            c.orders,
            c.revenue,
            c.p_alive.unwrap_or(0.0) * 100.0,
            c.predicted.map(|m| m.to_string()).unwrap_or_default()
        );
    }
    h.push_str("</table>\n</body></html>\n");
    h
}
