//! The sales funnel: how many deals of a pipeline reached each stage, and the conversion from
//! one stage to the next, from the deals' stage history, optionally per cohort (month or quarter
//! the deals were created in).
//!
//! A deal has reached a stage when it has been in that stage or in any later one (the won
//! stage is the last): a deal that skipped stages reached them, and a lost deal counts as having
//! reached its last stage before the loss and every earlier one. Each step is one aggregate
//! over the deals' visited stages, so the store does the counting.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use chrono_tz::Tz;
use crm_core::aggregate::Aggregate;
use crm_core::error::Result;
use crm_core::ids::{PipelineId, StageId};
use crm_core::model::StageKind;
use crm_core::query::Filter;
use crm_core::value::Value;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::{Period, Sales, Window};

/// What a funnel covers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FunnelOptions {
    /// The pipeline (default: the tenant's default pipeline).
    pub pipeline: Option<PipelineId>,
    /// The deals created in this window (default: the trailing 12 months).
    pub window: Option<Window>,
    /// One funnel per month or quarter of creation (default: one for the whole window).
    pub cohorts: Option<Period>,
    /// Only the deals this filter selects.
    pub filter: Filter,
    /// The zone whose calendar the cohorts follow.
    pub time_zone: Tz,
}

impl Default for FunnelOptions {
    fn default() -> Self {
        FunnelOptions { pipeline: None, window: None, cohorts: None, filter: Filter::All, time_zone: Tz::UTC }
    }
}

/// One stage of a funnel.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FunnelStep {
    /// The stage.
    pub stage: StageId,
    /// Its name.
    pub name: String,
    /// Deals that reached it.
    pub reached: u64,
    /// `reached` ÷ the previous step's (0–1); `None` for the first step or after an empty one.
    pub from_previous: Option<Decimal>,
    /// `reached` ÷ the first step's (0–1); `None` when none entered the funnel.
    pub from_start: Option<Decimal>,
}

/// The funnel of the deals created in one period (or in the whole window).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FunnelCohort {
    /// The first day of the period (`None` for the whole window).
    pub period: Option<NaiveDate>,
    /// The open stages in pipeline order, then the won stage.
    pub steps: Vec<FunnelStep>,
    /// Deals of the cohort that were lost.
    pub lost: u64,
}

/// A funnel report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Funnel {
    /// The pipeline.
    pub pipeline: PipelineId,
    /// The window deals were created in.
    pub window: Window,
    /// One funnel per cohort, oldest first.
    pub cohorts: Vec<FunnelCohort>,
}

fn ratio(part: u64, whole: u64) -> Option<Decimal> {
    (whole > 0).then(|| (Decimal::from(part) / Decimal::from(whole)).normalize())
}

impl Sales<'_> {
    /// The funnel of one pipeline: deals that reached each stage, and conversions.
    pub async fn funnel(&self, o: &FunnelOptions) -> Result<Funnel> {
        let pipeline = match o.pipeline {
            Some(id) => self.cx.pipelines().get(id).await?,
            None => self.cx.pipelines().default_pipeline().await?,
        };
        let window = o.window.unwrap_or_else(|| Window::trailing_months(self.cx.now(), 12));
        window.check()?;
        let base = o.filter.clone().and(Filter::eq("pipeline_id", pipeline.id)).and(window.filter("created_at"));
        let steps: Vec<_> = pipeline
            .stages
            .iter()
            .filter(|s| s.kind == StageKind::Open)
            .chain(pipeline.stages.iter().filter(|s| s.kind == StageKind::Won))
            .collect();
        let cohort = |a: Aggregate| match o.cohorts {
            Some(p) => a.bucket("created_at", p.bucket()).time_zone(o.time_zone),
            None => a,
        };
        let key = |groups: &[Value]| match groups.first() {
            Some(Value::Date(d)) => Some(*d),
            _ => None,
        };
        // reached[cohort][step]
        let mut reached: BTreeMap<Option<NaiveDate>, Vec<u64>> = BTreeMap::new();
        let mut periods: BTreeSet<Option<NaiveDate>> = BTreeSet::new();
        if o.cohorts.is_none() {
            periods.insert(None);
        }
        for (i, _) in steps.iter().enumerate() {
            let later: Vec<Value> = steps[i..].iter().map(|s| Value::Id(s.id.into())).collect();
            let q = cohort(Aggregate::new(
                base.clone().and(Filter::In { field: "visited_stage_ids".into(), values: later }),
            ))
            .count();
            for row in self.cx.deals().aggregate(&q).await? {
                let period = key(&row.groups);
                periods.insert(period);
                let counts = reached.entry(period).or_insert_with(|| vec![0; steps.len()]);
                counts[i] = crate::performance::count(&row.values[0]);
            }
        }
        let mut lost: BTreeMap<Option<NaiveDate>, u64> = BTreeMap::new();
        let q = cohort(Aggregate::new(base.and(Filter::eq("status", "lost")))).count();
        for row in self.cx.deals().aggregate(&q).await? {
            let period = key(&row.groups);
            periods.insert(period);
            lost.insert(period, crate::performance::count(&row.values[0]));
        }
        let cohorts = periods
            .into_iter()
            .map(|period| {
                let counts = reached.get(&period).cloned().unwrap_or_else(|| vec![0; steps.len()]);
                let first = counts.first().copied().unwrap_or(0);
                let steps = steps
                    .iter()
                    .zip(&counts)
                    .enumerate()
                    .map(|(i, (s, n))| FunnelStep {
                        stage: s.id,
                        name: s.name.clone(),
                        reached: *n,
                        from_previous: if i == 0 { None } else { ratio(*n, counts[i - 1]) },
                        from_start: ratio(*n, first),
                    })
                    .collect();
                FunnelCohort { period, steps, lost: lost.get(&period).copied().unwrap_or(0) }
            })
            .collect();
        Ok(Funnel { pipeline: pipeline.id, window, cohorts })
    }
}
