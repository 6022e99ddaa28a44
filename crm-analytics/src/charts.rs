//! Reports drawn as SVG charts (feature `charts`, with plotters): a pipeline's value per stage,
//! a campaign's responses, a forecast's weighted value per period, a funnel's deals per stage,
//! the win rate over time, the RFM grid, a portfolio's Pareto curve, the cohort retention
//! heatmap and the spread of customers' predicted lifetime values. Amounts are
//! drawn in one currency: the one with the largest forecast or revenue. Each function returns
//! the SVG document as text.
//!
//! ```
//! use crm_analytics::{Funnel, Window, charts};
//! let window = Window::trailing_months(chrono::Utc::now(), 12);
//! let empty = Funnel { pipeline: crm_core::ids::PipelineId::new(), window, cohorts: vec![] };
//! let svg = charts::funnel(&empty).unwrap();
//! assert!(svg.starts_with("<svg") && svg.contains("Funnel"));
//! ```

use std::collections::BTreeMap;

use crm_core::model::{ForecastCategory, RfmSegment};
use crm_core::money::Currency;
use crm_core::service::{CampaignResults, PipelineReport};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

use crate::{ClvReport, Forecast, Funnel, Period, Portfolio, Retention, RfmReport, WinRateTrend};

/// A chart that could not be drawn (a plotting failure, never bad input).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChartError(pub String);

impl std::fmt::Display for ChartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the chart could not be drawn: {}", self.0)
    }
}

impl std::error::Error for ChartError {}

/// A chart as SVG text, or why it could not be drawn.
pub type Chart = Result<String, ChartError>;

/// The fill of the first series (the totals), then the second (weighted values).
const TOTAL: RGBColor = RGBColor(47, 95, 179);
const WEIGHTED: RGBColor = RGBColor(242, 153, 74);

fn failed(e: impl std::fmt::Display) -> ChartError {
    ChartError(e.to_string())
}

/// The currency with the largest amount in `m` (amounts in others are not charted).
fn main_currency(m: &BTreeMap<Currency, Decimal>) -> Option<Currency> {
    m.iter().max_by_key(|(_, a)| **a).map(|(c, _)| *c)
}

fn amount(m: &BTreeMap<Currency, Decimal>, c: Option<Currency>) -> f64 {
    c.and_then(|c| m.get(&c)).and_then(Decimal::to_f64).unwrap_or(0.0)
}

/// Vertical bars, one group per label, one bar per series (name, colour, values).
fn bars(title: &str, y_label: &str, labels: &[String], series: &[(&str, RGBColor, Vec<f64>)]) -> Chart {
    let mut svg = String::new();
    {
        let width = (160 + labels.len() as u32 * 110).clamp(640, 1600);
        let root = SVGBackend::with_string(&mut svg, (width, 420)).into_drawing_area();
        root.fill(&WHITE).map_err(failed)?;
        let top = series.iter().flat_map(|(_, _, v)| v.iter().copied()).fold(0.0f64, f64::max);
        let top = if top > 0.0 { top * 1.1 } else { 1.0 };
        let groups = labels.len().max(1) as u32;
        let per = series.len().max(1) as u32;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 22))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(80)
            .build_cartesian_2d(0f64..f64::from(groups * (per + 1)), 0f64..top)
            .map_err(failed)?;
        chart.configure_mesh().disable_x_mesh().x_labels(0).y_desc(y_label).draw().map_err(failed)?;
        // Each group's label under its bars, in the label area (drawn on the whole picture).
        for (i, label) in labels.iter().enumerate() {
            let x = f64::from(i as u32 * (per + 1)) + f64::from(per) / 2.0 + 0.5;
            let (px, py) = chart.backend_coord(&(x, 0.0));
            let style = ("sans-serif", 14).into_font().color(&BLACK).pos(Pos::new(HPos::Center, VPos::Top));
            root.draw(&Text::new(label.clone(), (px, py + 8), style)).map_err(failed)?;
        }
        for (s, (name, color, values)) in series.iter().enumerate() {
            let rects = values.iter().enumerate().filter(|(_, v)| **v > 0.0).map(|(i, v)| {
                let x = f64::from(i as u32 * (per + 1) + s as u32) + 0.5;
                Rectangle::new([(x, 0.0), (x + 1.0, *v)], color.filled())
            });
            let color = *color;
            chart
                .draw_series(rects)
                .map_err(failed)?
                .label(*name)
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], color.filled()));
        }
        chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw().map_err(failed)?;
        root.present().map_err(failed)?;
    }
    Ok(svg)
}

/// A pipeline's total and weighted value per stage.
pub fn pipeline(r: &PipelineReport) -> Chart {
    let currency = main_currency(&r.forecast).or_else(|| r.stages.iter().find_map(|s| main_currency(&s.total)));
    let labels: Vec<String> = r.stages.iter().map(|s| s.stage.name.clone()).collect();
    let totals = r.stages.iter().map(|s| amount(&s.total, currency)).collect();
    let weighted = r.stages.iter().map(|s| amount(&s.weighted, currency)).collect();
    let unit = currency.map_or("value".to_owned(), |c| c.code().to_owned());
    bars(&r.pipeline.name, &unit, &labels, &[("total", TOTAL, totals), ("weighted", WEIGHTED, weighted)])
}

/// A campaign's responses, by kind.
pub fn campaign(r: &CampaignResults) -> Chart {
    let labels: Vec<String> = r.counts.keys().map(|k| k.to_string()).collect();
    let counts = r.counts.values().map(|n| *n as f64).collect();
    let title = format!("{} ({} members)", r.campaign.name, r.members);
    bars(&title, "responses", &labels, &[("responses", TOTAL, counts)])
}

/// A forecast's weighted value per period, won and still open, in its main currency.
pub fn forecast(f: &Forecast) -> Chart {
    let mut by_currency: BTreeMap<Currency, Decimal> = BTreeMap::new();
    for r in &f.rows {
        let e = by_currency.entry(r.weighted.currency).or_insert(Decimal::ZERO);
        *e = e.checked_add(r.weighted.amount).unwrap_or(*e);
    }
    let currency = main_currency(&by_currency);
    let periods: Vec<_> =
        f.weighted_by_period().keys().map(|(p, _)| *p).collect::<std::collections::BTreeSet<_>>().into_iter().collect();
    let value = |closed: bool| -> Vec<f64> {
        periods
            .iter()
            .map(|p| {
                f.rows
                    .iter()
                    .filter(|r| r.period == *p && Some(r.weighted.currency) == currency)
                    .filter(|r| {
                        (r.category == ForecastCategory::Closed) == closed && r.category != ForecastCategory::Omitted
                    })
                    .filter_map(|r| r.weighted.amount.to_f64())
                    .sum()
            })
            .collect()
    };
    let labels: Vec<String> = periods.iter().map(|p| p.format("%Y-%m").to_string()).collect();
    let unit = currency.map_or("value".to_owned(), |c| c.code().to_owned());
    bars("Forecast", &unit, &labels, &[("won", TOTAL, value(true)), ("open, weighted", WEIGHTED, value(false))])
}

/// A funnel's deals per stage (the whole window's, or the latest cohort's).
pub fn funnel(f: &Funnel) -> Chart {
    let Some(c) = f.cohorts.last() else { return bars("Funnel", "deals", &[], &[]) };
    let labels: Vec<String> = c.steps.iter().map(|s| s.name.clone()).collect();
    let reached = c.steps.iter().map(|s| s.reached as f64).collect();
    let title = c.period.map_or("Funnel".to_owned(), |p| format!("Funnel of the deals created from {p}"));
    bars(&title, "deals", &labels, &[("reached", TOTAL, reached)])
}

/// The customers on the grid of recency (rows, 5 at the top) by frequency (columns) scores:
/// each cell shaded by its share of the customers, with their count and segment.
pub fn rfm_grid(r: &RfmReport) -> Chart {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (720, 640)).into_drawing_area();
        root.fill(&WHITE).map_err(failed)?;
        let title = format!("RFM: {} customers by recency and frequency", r.customers.len());
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 22))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d(0.5f64..5.5f64, 0.5f64..5.5f64)
            .map_err(failed)?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_labels(5)
            .y_labels(5)
            .x_desc("frequency score")
            .y_desc("recency score")
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_label_formatter(&|y| format!("{y:.0}"))
            .draw()
            .map_err(failed)?;
        let most = r.grid.iter().flatten().copied().max().unwrap_or(0).max(1) as f64;
        for (ri, row) in r.grid.iter().enumerate() {
            for (fi, n) in row.iter().enumerate() {
                let (x, y) = (fi as f64 + 1.0, ri as f64 + 1.0);
                let shade = TOTAL.mix(0.08 + 0.92 * (*n as f64) / most);
                let cell = Rectangle::new([(x - 0.48, y - 0.48), (x + 0.48, y + 0.48)], shade.filled());
                chart.draw_series(std::iter::once(cell)).map_err(failed)?;
                let segment = RfmSegment::of(ri as u8 + 1, fi as u8 + 1).to_string().replace('_', " ");
                let style = ("sans-serif", 13).into_font().color(&BLACK).pos(Pos::new(HPos::Center, VPos::Center));
                let (px, py) = chart.backend_coord(&(x, y));
                root.draw(&Text::new(n.to_string(), (px, py - 9), style.clone())).map_err(failed)?;
                root.draw(&Text::new(segment, (px, py + 9), style)).map_err(failed)?;
            }
        }
        root.present().map_err(failed)?;
    }
    Ok(svg)
}

/// A portfolio's Pareto curve: the share of the revenue the best tenths of the customers bring,
/// beside the diagonal every customer bringing as much would draw.
pub fn pareto(p: &Portfolio) -> Chart {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (720, 520)).into_drawing_area();
        root.fill(&WHITE).map_err(failed)?;
        let title = format!("Revenue concentration: {} customers", p.total.customers);
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 22))
            .margin(16)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(0f64..100f64, 0f64..100f64)
            .map_err(failed)?;
        chart.configure_mesh().x_desc("best customers, % of all").y_desc("% of the revenue").draw().map_err(failed)?;
        let pct = |d: Decimal| d.to_f64().unwrap_or(0.0) * 100.0;
        let curve: Vec<(f64, f64)> = std::iter::once((0.0, 0.0))
            .chain(p.concentration.pareto.iter().map(|c| (pct(c.customers_share), pct(c.revenue_share))))
            .collect();
        chart
            .draw_series(LineSeries::new([(0.0, 0.0), (100.0, 100.0)], BLACK.mix(0.3)))
            .map_err(failed)?
            .label("equal shares")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], BLACK.mix(0.3)));
        chart
            .draw_series(LineSeries::new(curve.clone(), TOTAL.stroke_width(3)))
            .map_err(failed)?
            .label("revenue share")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], TOTAL.stroke_width(3)));
        chart.draw_series(curve.iter().map(|(x, y)| Circle::new((*x, *y), 4, TOTAL.filled()))).map_err(failed)?;
        chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw().map_err(failed)?;
        root.present().map_err(failed)?;
    }
    Ok(svg)
}

/// A retention heatmap: one row per cohort (oldest at the top), one column per period since
/// the first purchase, each cell shaded by the share of the cohort that bought then.
pub fn retention(r: &Retention) -> Chart {
    let mut svg = String::new();
    {
        let rows = r.cohorts.len().max(1);
        let cols = r.cohorts.iter().map(|c| c.active.len()).max().unwrap_or(1).max(1);
        let width = (180 + cols as u32 * 56).clamp(480, 1600);
        let height = (120 + rows as u32 * 34).clamp(240, 1400);
        let root = SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(failed)?;
        let unit = if r.period == Period::Quarter { "quarters" } else { "months" };
        let mut chart = ChartBuilder::on(&root)
            .caption("Retention by cohort of first purchase", ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(90)
            .build_cartesian_2d(-0.5f64..cols as f64 - 0.5, -(rows as f64) + 0.5..0.5f64)
            .map_err(failed)?;
        let labels: Vec<String> = r.cohorts.iter().map(|c| c.start.format("%Y-%m").to_string()).collect();
        chart
            .configure_mesh()
            .disable_mesh()
            .x_labels(cols.min(24))
            .y_labels(rows)
            .x_desc(format!("{unit} since the first purchase"))
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_label_formatter(&|y| labels.get((-y).round() as usize).cloned().unwrap_or_default())
            .draw()
            .map_err(failed)?;
        for (ri, c) in r.cohorts.iter().enumerate() {
            for (ci, rate) in c.rates.iter().enumerate() {
                let share = rate.to_f64().unwrap_or(0.0);
                let (x, y) = (ci as f64, -(ri as f64));
                let cell = Rectangle::new(
                    [(x - 0.48, y - 0.46), (x + 0.48, y + 0.46)],
                    TOTAL.mix(0.06 + 0.94 * share).filled(),
                );
                chart.draw_series(std::iter::once(cell)).map_err(failed)?;
                let style = ("sans-serif", 12).into_font().color(&BLACK).pos(Pos::new(HPos::Center, VPos::Center));
                let (px, py) = chart.backend_coord(&(x, y));
                root.draw(&Text::new(format!("{:.0}%", share * 100.0), (px, py), style)).map_err(failed)?;
            }
        }
        root.present().map_err(failed)?;
    }
    Ok(svg)
}

/// One line of a chart: the deals it counts (to rank lines by) and its points.
type Line = (u64, Vec<(f64, f64)>);

/// The win rate per period as lines: one for everything, or one per slice (the first eight,
/// by deals closed); periods where nothing closed leave a gap in the points.
pub fn win_rate_trend(t: &WinRateTrend) -> Chart {
    let mut svg = String::new();
    {
        let periods: Vec<chrono::NaiveDate> =
            t.points.iter().map(|p| p.period).collect::<std::collections::BTreeSet<_>>().into_iter().collect();
        let mut lines: BTreeMap<Option<String>, Line> = BTreeMap::new();
        for p in &t.points {
            let line = lines.entry(p.slice.clone()).or_default();
            line.0 += p.won + p.lost;
            if let (Some(rate), Some(x)) = (p.win_rate, periods.iter().position(|d| *d == p.period)) {
                line.1.push((x as f64, rate.to_f64().unwrap_or(0.0) * 100.0));
            }
        }
        let mut lines: Vec<(Option<String>, Line)> = lines.into_iter().collect();
        lines.sort_by(|a, b| b.1.0.cmp(&a.1.0).then_with(|| a.0.cmp(&b.0)));
        lines.truncate(8);
        let width = (200 + periods.len() as u32 * 60).clamp(640, 1600);
        let root = SVGBackend::with_string(&mut svg, (width, 420)).into_drawing_area();
        root.fill(&WHITE).map_err(failed)?;
        let mut chart = ChartBuilder::on(&root)
            .caption("Win rate", ("sans-serif", 22))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(-0.5f64..(periods.len().max(1) as f64 - 0.5), 0f64..100f64)
            .map_err(failed)?;
        let format = if t.period == Period::Quarter { "%Y-%m (Q)" } else { "%Y-%m" };
        chart
            .configure_mesh()
            .x_labels(periods.len().clamp(1, 24))
            .x_label_formatter(&|x| {
                periods.get(x.round().max(0.0) as usize).map(|d| d.format(format).to_string()).unwrap_or_default()
            })
            .y_desc("% of the deals closed that were won")
            .draw()
            .map_err(failed)?;
        for (i, (slice, (_, points))) in lines.into_iter().enumerate() {
            let color = Palette99::pick(i).to_rgba();
            let name = slice.unwrap_or_else(|| "all".to_owned());
            chart
                .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))
                .map_err(failed)?
                .label(name)
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], color.stroke_width(2)));
            chart.draw_series(points.iter().map(|(x, y)| Circle::new((*x, *y), 4, color.filled()))).map_err(failed)?;
        }
        chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw().map_err(failed)?;
        root.present().map_err(failed)?;
    }
    Ok(svg)
}

/// How customers' predicted lifetime values spread: customers per band of value, ten bands of
/// a round width up to the value nineteen in twenty stay under, the last open-ended.
pub fn clv_distribution(r: &ClvReport) -> Chart {
    let mut values: Vec<f64> =
        r.customers.iter().filter_map(|c| c.predicted.and_then(|m| m.amount.to_f64())).map(|v| v.max(0.0)).collect();
    values.sort_by(f64::total_cmp);
    let high = values.get(values.len() * 19 / 20).or(values.last()).copied().unwrap_or(0.0);
    let width = round_up(high / 9.0);
    let mut counts = [0.0; 10];
    for v in &values {
        counts[((v / width) as usize).min(9)] += 1.0;
    }
    let unit = r.currency.map_or("", |c| c.code());
    let labels: Vec<String> = (0..10)
        .map(|i| {
            let from = width * f64::from(i);
            if i == 9 { format!("≥ {from} {unit}") } else { format!("{from}–{} {unit}", from + width) }
        })
        .collect();
    let title = format!("Predicted value over {} months", r.horizon_months);
    bars(&title, "customers", &labels, &[("customers", TOTAL, counts.to_vec())])
}

/// The smallest of 1, 2 or 5 times a power of ten that is at least `x` (at least 1).
fn round_up(x: f64) -> f64 {
    if !(x > 1.0 && x.is_finite()) {
        return 1.0;
    }
    let mut power = 1.0;
    loop {
        for m in [1.0, 2.0, 5.0] {
            if power * m >= x {
                return power * m;
            }
        }
        power *= 10.0;
    }
}

#[cfg(test)]
mod tests {
    use super::round_up;

    #[test]
    fn band_widths_are_round() {
        let widths: Vec<f64> = [0.0, 0.3, 1.0, 1.5, 3.0, 7.0, 10.0, 11.0, 480.0, f64::NAN].map(round_up).to_vec();
        assert_eq!(widths, [1.0, 1.0, 1.0, 2.0, 5.0, 10.0, 10.0, 20.0, 500.0, 1.0]);
    }
}
