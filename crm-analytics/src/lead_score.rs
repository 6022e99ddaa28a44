//! Lead scoring: how likely an open deal is to be won, by an explainable naive Bayes model
//! learned from the deals won and lost. For each field scored (lead source, owner, campaign, a
//! custom field…) the model keeps how many won and lost deals had each value; a deal's score
//! is its pipeline's win rate moved by each of its values' evidence (the log of how much
//! likelier the value is among won deals than among lost ones, with Laplace smoothing so a
//! value seen once does not decide everything; a value no closed deal had is no evidence). Each field's part is reported with the counts
//! behind it.
//!
//! [`Sales::lead_scoring`] also measures how well such a model would have predicted: it is
//! trained again on the deals closed before the last part of the window (by default the
//! latest fifth) and tested on the deals closed in that part — the Brier score against
//! always predicting the win rate, and a reliability table (in each tenth of predicted
//! chances, how many were won). Every count comes from aggregates; no deal is loaded.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use crm_core::aggregate::Aggregate;
use crm_core::error::{Error, FieldErrorCode, Result};
use crm_core::ids::{DealId, PipelineId};
use crm_core::model::{Deal, Entity};
use crm_core::query::{Field, Filter};
use crm_core::value::Value;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde::{Deserialize, Serialize};

use crate::bayes;
use crate::performance::count;
use crate::window::key_text;
use crate::{Sales, Window};

/// The most fields a model scores.
pub const MAX_SCORED_FIELDS: usize = 6;
/// The most open deals ranked at once.
pub const MAX_RANKED: usize = 10_000;

/// What a lead-scoring model learns from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LeadScoreOptions {
    /// The deal fields scored, standard or custom (`custom.tier`), each taken value by value
    /// (1–[`MAX_SCORED_FIELDS`]; default: lead source, owner, campaign).
    pub fields: Vec<String>,
    /// The deals won or lost in this window teach the model (default: the trailing 24 months).
    pub window: Option<Window>,
    /// The latest part of the window, in percent (0–50, default 20), whose deals test a model
    /// trained on the deals before it; 0 skips the test.
    pub holdout_percent: u32,
    /// The Laplace smoothing added to every count (above 0; default 1).
    pub smoothing: Decimal,
    /// Only the deals this filter selects.
    pub filter: Filter,
}

impl Default for LeadScoreOptions {
    fn default() -> Self {
        LeadScoreOptions {
            fields: vec!["lead_source".into(), "owner_id".into(), "campaign_id".into()],
            window: None,
            holdout_percent: 20,
            smoothing: Decimal::ONE,
            filter: Filter::All,
        }
    }
}

/// How many won and lost deals had a value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ValueCounts {
    /// The value (as text: ids, words, numbers); `None` for deals without one.
    pub value: Option<String>,
    /// Deals won with it.
    pub won: u64,
    /// Deals lost with it.
    pub lost: u64,
}

/// One field's frequency table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FieldTable {
    /// The field.
    pub field: String,
    /// Its values, as text order.
    pub values: Vec<ValueCounts>,
}

/// A pipeline's wins and losses: its prior.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PipelinePrior {
    /// The pipeline.
    pub pipeline_id: PipelineId,
    /// Deals won in it.
    pub won: u64,
    /// Deals lost in it.
    pub lost: u64,
}

/// A naive Bayes lead-scoring model: the counts it was learned from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LeadModel {
    /// The smoothing added to every count.
    pub smoothing: f64,
    /// Deals won.
    pub won: u64,
    /// Deals lost.
    pub lost: u64,
    /// Wins and losses per pipeline.
    pub pipelines: Vec<PipelinePrior>,
    /// The fields scored, in the options' order.
    pub fields: Vec<FieldTable>,
}

/// One field's part in a score.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FieldContribution {
    /// The field.
    pub field: String,
    /// The deal's value of it.
    pub value: Option<String>,
    /// The evidence in log-odds: above 0 the value speaks for winning, below against.
    pub weight: f64,
    /// The counts behind it.
    pub why: String,
}

/// A deal's chance of being won, explained.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LeadScore {
    /// The chance, 0–1.
    pub probability: f64,
    /// Its pipeline's win rate (smoothed), where the evidence starts from.
    pub prior: f64,
    /// Each field's part, the weightiest first.
    pub contributions: Vec<FieldContribution>,
}

/// Deals whose predicted chances fell in one tenth, and how many were won.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReliabilityBin {
    /// The tenth's lower bound (0, 0.1, … 0.9).
    pub from: Decimal,
    /// Deals in it.
    pub deals: u64,
    /// Their mean predicted chance.
    pub mean_predicted: f64,
    /// The share of them won.
    pub observed: f64,
}

/// How a model trained before the holdout predicted the deals closed in it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// The deals closed from this instant on were held out.
    pub held_out_from: DateTime<Utc>,
    /// Deals trained on (closed before it).
    pub trained_on: u64,
    /// Deals tested (closed in the holdout).
    pub deals: u64,
    /// The mean squared error of the predicted chances (0 perfect, 0.25 a coin).
    pub brier: f64,
    /// The same for always predicting the training deals' win rate: the model should beat it.
    pub base_brier: f64,
    /// The reliability table: the tenths that had deals.
    pub bins: Vec<ReliabilityBin>,
}

/// A lead-scoring model with its test.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LeadScoring {
    /// The window the deals were closed in.
    pub window: Window,
    /// The model, learned from every deal won or lost in the window.
    pub model: LeadModel,
    /// Its test (`None` without a holdout, or when the holdout or the deals before it had no
    /// deal).
    pub calibration: Option<Calibration>,
}

/// An open deal and its score.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScoredDeal {
    /// The deal.
    pub deal_id: DealId,
    /// Its score.
    pub score: LeadScore,
}

impl bayes::Counts for FieldTable {
    fn field(&self) -> &str {
        &self.field
    }
    fn counts(&self, value: &Option<String>) -> Option<(u64, u64)> {
        self.values.iter().find(|c| c.value == *value).map(|c| (c.won, c.lost))
    }
    fn distinct(&self) -> usize {
        self.values.len()
    }
}

impl LeadModel {
    /// The score of a deal with these values of the model's fields (in its order), in
    /// `pipeline` (the overall win rate when the pipeline has no closed deal).
    pub fn score(&self, pipeline: Option<PipelineId>, values: &[Option<String>]) -> LeadScore {
        let a = self.smoothing;
        let (won, lost) = pipeline
            .and_then(|p| self.pipelines.iter().find(|x| x.pipeline_id == p))
            .map_or((self.won, self.lost), |p| (p.won, p.lost));
        let prior_logit = bayes::prior(won, lost, a);
        let (probability, contributions) =
            bayes::score(&self.fields, values, (self.won, self.lost), a, prior_logit, |field, value, w, l| {
                if w + l == 0 {
                    format!("{field} = {value}: no deal with it was closed")
                } else {
                    format!("{field} = {value}: {w} won and {l} lost")
                }
            });
        LeadScore { probability, prior: bayes::sigmoid(prior_logit), contributions }
    }

    /// The score of `deal`, from its values of the model's fields.
    pub fn score_deal(&self, deal: &Deal) -> LeadScore {
        let record = deal.clone().into_record();
        let values: Vec<Option<String>> =
            self.fields.iter().map(|t| key_text(&record.field(&Field::parse(&t.field)))).collect();
        self.score(Some(deal.pipeline_id), &values)
    }
}

/// A group key as the model's text, and a pipeline id from one.
fn text(v: &Value) -> Option<String> {
    key_text(v)
}

fn pipeline(v: &Value) -> Option<PipelineId> {
    match v {
        Value::Id(u) => Some(PipelineId::from_uuid(*u)),
        _ => None,
    }
}

impl Sales<'_> {
    /// Learns a lead-scoring model from the deals won and lost in the window, and tests one
    /// learned before the holdout on the deals closed in it.
    ///
    /// No field, more than [`MAX_SCORED_FIELDS`], or a field that cannot be grouped by (a
    /// list, an amount) is an error naming `fields` (or `fields[i]`); a holdout above 50 %,
    /// one naming `holdout_percent`; smoothing of 0 or less, one naming `smoothing`.
    pub async fn lead_scoring(&self, o: &LeadScoreOptions) -> Result<LeadScoring> {
        if o.fields.is_empty() || o.fields.len() > MAX_SCORED_FIELDS {
            let why = format!("score 1–{MAX_SCORED_FIELDS} fields");
            return Err(Error::invalid("fields", FieldErrorCode::OutOfRange, why));
        }
        if o.holdout_percent > 50 {
            return Err(Error::invalid("holdout_percent", FieldErrorCode::OutOfRange, "hold out 0–50 % of the window"));
        }
        let smoothing = o.smoothing.to_f64().filter(|s| *s > 0.0 && s.is_finite()).ok_or_else(|| {
            Error::invalid("smoothing", FieldErrorCode::OutOfRange, "the smoothing must be above 0 (1 is Laplace's)")
        })?;
        let window = o.window.unwrap_or_else(|| Window::trailing_months(self.cx.now(), 24));
        window.check()?;
        let closed = o.filter.clone().and(Filter::is_in("status", ["won", "lost"]));
        let model = self.learn(o, closed.clone().and(window.filter("closed_at")), smoothing).await?;
        let calibration = if o.holdout_percent == 0 {
            None
        } else {
            let span = window.to - window.from;
            let cutoff = window.to - span * o.holdout_percent as i32 / 100;
            let before = Window { from: window.from, to: cutoff };
            let trained = self.learn(o, closed.clone().and(before.filter("closed_at")), smoothing).await?;
            let after = Window { from: cutoff, to: window.to };
            self.test(&trained, o, closed.and(after.filter("closed_at")), cutoff).await?
        };
        Ok(LeadScoring { window, model, calibration })
    }

    /// Scores the open deals the filter selects with `model`, the likeliest first, at most
    /// `limit` of them (1–[`MAX_RANKED`]).
    pub async fn rank_open_deals(&self, model: &LeadModel, filter: &Filter, limit: usize) -> Result<Vec<ScoredDeal>> {
        if limit == 0 || limit > MAX_RANKED {
            return Err(Error::invalid("limit", FieldErrorCode::OutOfRange, format!("rank 1–{MAX_RANKED} deals")));
        }
        if model.fields.len() > MAX_SCORED_FIELDS {
            let why = format!("a model scores at most {MAX_SCORED_FIELDS} fields");
            return Err(Error::invalid("fields", FieldErrorCode::OutOfRange, why));
        }
        let mut a =
            Aggregate::new(filter.clone().and(Filter::eq("status", "open"))).group_by("id").group_by("pipeline_id");
        for t in &model.fields {
            a = a.group_by(t.field.as_str());
        }
        let rows = self.cx.deals().aggregate(&a.count()).await.map_err(|e| bayes::fields_at_fault(e, 2))?;
        let mut out: Vec<ScoredDeal> = rows
            .iter()
            .filter_map(|r| {
                let Value::Id(id) = r.groups[0] else { return None };
                let values: Vec<Option<String>> = r.groups[2..].iter().map(text).collect();
                Some(ScoredDeal { deal_id: DealId::from_uuid(id), score: model.score(pipeline(&r.groups[1]), &values) })
            })
            .collect();
        out.sort_by(|x, y| y.score.probability.total_cmp(&x.score.probability).then(x.deal_id.cmp(&y.deal_id)));
        out.truncate(limit);
        Ok(out)
    }

    /// The counts of the deals `closed` selects.
    async fn learn(&self, o: &LeadScoreOptions, closed: Filter, smoothing: f64) -> Result<LeadModel> {
        let priors = Aggregate::new(closed.clone()).group_by("pipeline_id").group_by("status").count();
        let mut pipelines: BTreeMap<PipelineId, (u64, u64)> = BTreeMap::new();
        let (mut won, mut lost) = (0, 0);
        for r in self.cx.deals().aggregate(&priors).await? {
            let n = count(&r.values[0]);
            let is_won = r.groups[1] == Value::Text("won".into());
            *(if is_won { &mut won } else { &mut lost }) += n;
            if let Some(p) = pipeline(&r.groups[0]) {
                let e = pipelines.entry(p).or_default();
                *(if is_won { &mut e.0 } else { &mut e.1 }) += n;
            }
        }
        let mut fields = Vec::with_capacity(o.fields.len());
        for (i, f) in o.fields.iter().enumerate() {
            let a = Aggregate::new(closed.clone()).group_by(f.as_str()).group_by("status").count();
            let rows = self.cx.deals().aggregate(&a).await.map_err(|e| naming(e, i))?;
            let mut values: BTreeMap<Option<String>, (u64, u64)> = BTreeMap::new();
            for r in rows {
                let e = values.entry(text(&r.groups[0])).or_default();
                let n = count(&r.values[0]);
                *(if r.groups[1] == Value::Text("won".into()) { &mut e.0 } else { &mut e.1 }) += n;
            }
            let values = values.into_iter().map(|(value, (won, lost))| ValueCounts { value, won, lost }).collect();
            fields.push(FieldTable { field: f.clone(), values });
        }
        let pipelines =
            pipelines.into_iter().map(|(pipeline_id, (won, lost))| PipelinePrior { pipeline_id, won, lost }).collect();
        Ok(LeadModel { smoothing, won, lost, pipelines, fields })
    }

    /// How `model` predicts the deals `closed` selects (one aggregate by pipeline, every field
    /// and the outcome).
    async fn test(
        &self,
        model: &LeadModel,
        o: &LeadScoreOptions,
        closed: Filter,
        cutoff: DateTime<Utc>,
    ) -> Result<Option<Calibration>> {
        let trained_on = model.won + model.lost;
        let mut a = Aggregate::new(closed).group_by("pipeline_id").group_by("status");
        for f in &o.fields {
            a = a.group_by(f.as_str());
        }
        let rows = self.cx.deals().aggregate(&a.count()).await?;
        let deals: u64 = rows.iter().map(|r| count(&r.values[0])).sum();
        if trained_on == 0 || deals == 0 {
            return Ok(None);
        }
        let base = model.won as f64 / trained_on as f64;
        let (mut brier, mut base_brier) = (0.0, 0.0);
        let mut bins: HashMap<usize, (u64, f64, u64)> = HashMap::new();
        for r in &rows {
            let n = count(&r.values[0]);
            let y = if r.groups[1] == Value::Text("won".into()) { 1.0 } else { 0.0 };
            let values: Vec<Option<String>> = r.groups[2..].iter().map(text).collect();
            let p = model.score(pipeline(&r.groups[0]), &values).probability;
            brier += n as f64 * (p - y).powi(2);
            base_brier += n as f64 * (base - y).powi(2);
            let bin = bins.entry(((p * 10.0 + 1e-9) as usize).min(9)).or_default();
            (bin.0, bin.1, bin.2) = (bin.0 + n, bin.1 + n as f64 * p, bin.2 + n * y as u64);
        }
        let mut bins: Vec<(usize, (u64, f64, u64))> = bins.into_iter().collect();
        bins.sort_by_key(|(i, _)| *i);
        let bins = bins
            .into_iter()
            .map(|(i, (n, p, won))| ReliabilityBin {
                from: Decimal::new(i as i64, 1),
                deals: n,
                mean_predicted: p / n as f64,
                observed: won as f64 / n as f64,
            })
            .collect();
        Ok(Some(Calibration {
            held_out_from: cutoff,
            trained_on,
            deals,
            brier: brier / deals as f64,
            base_brier: base_brier / deals as f64,
            bins,
        }))
    }
}

/// A refusal of the aggregate of field `i`, naming `fields[i]`.
fn naming(e: Error, i: usize) -> Error {
    match e.field_errors().first() {
        Some(f) => Error::invalid(format!("fields[{i}]"), f.code, f.message.clone()),
        None => e,
    }
}
