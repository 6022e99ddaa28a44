//! Response propensity: who is likely to respond to a campaign, learned from how contacts
//! responded to past ones. An explainable naive Bayes model over contact fields (lifecycle
//! stage, lead source, RFM segment, country, custom fields…) counts, for each value, the
//! campaign memberships that ended in a response and those that did not; each candidate's
//! chance starts from the overall response rate and is moved by each of their values'
//! evidence, reported with the counts behind it. The result is a ranked target list.
//!
//! Three aggregates feed it: memberships and responses per contact (over the campaign
//! members) and every contact's values of the fields; nothing is loaded record by record.

use std::collections::{BTreeMap, HashMap, HashSet};

use crm_core::aggregate::Aggregate;
use crm_core::error::{Error, FieldErrorCode, Result};
use crm_core::ids::{CampaignId, ContactId};
use crm_core::model::{CampaignMember, ResponseKind};
use crm_core::query::Filter;
use crm_core::service::Session;
use crm_core::value::Value;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::performance::count;
use crate::window::key_text;
use crate::{FieldContribution, MAX_SCORED_FIELDS, bayes};

/// The most contacts a target list holds.
pub const MAX_TARGETS: usize = 100_000;

/// Marketing analytics for one session.
#[derive(Clone, Copy, Debug)]
pub struct Marketing<'s> {
    pub(crate) cx: &'s Session,
}

/// What a propensity model learns from, and whom it ranks.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PropensityOptions {
    /// The past campaigns learned from (default: every campaign but the target).
    pub campaigns: Vec<CampaignId>,
    /// The campaign targets are ranked for: its members are left out of the list, and out of
    /// the learning.
    pub target: Option<CampaignId>,
    /// The responses that count as responding (default: responded, converted).
    pub responses: Vec<ResponseKind>,
    /// The contact fields learned from, standard or custom, each taken value by value
    /// (1–[`MAX_SCORED_FIELDS`]; default: lifecycle stage, lead source, RFM segment, country).
    pub fields: Vec<String>,
    /// Only the contacts this filter selects are ranked.
    pub audience: Filter,
    /// The Laplace smoothing added to every count (above 0; default 1).
    pub smoothing: Decimal,
    /// How many contacts the list holds, the likeliest first (1–[`MAX_TARGETS`]; default 100).
    pub top: usize,
}

impl Default for PropensityOptions {
    fn default() -> Self {
        PropensityOptions {
            campaigns: Vec::new(),
            target: None,
            responses: vec![ResponseKind::Responded, ResponseKind::Converted],
            fields: vec!["lifecycle_stage".into(), "lead_source".into(), "rfm_segment".into(), "country".into()],
            audience: Filter::All,
            smoothing: Decimal::ONE,
            top: 100,
        }
    }
}

/// How many memberships with a value ended in a response, and how many did not.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResponseCounts {
    /// The value (as text); `None` for contacts without one.
    pub value: Option<String>,
    /// Memberships that ended in a response.
    pub responded: u64,
    /// Memberships that did not.
    pub ignored: u64,
}

/// One field's response table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResponseTable {
    /// The contact field.
    pub field: String,
    /// Its values, in text order.
    pub values: Vec<ResponseCounts>,
}

/// A propensity model: the counts it was learned from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PropensityModel {
    /// The smoothing added to every count.
    pub smoothing: f64,
    /// Memberships that ended in a response.
    pub responded: u64,
    /// Memberships that did not.
    pub ignored: u64,
    /// The fields, in the options' order.
    pub fields: Vec<ResponseTable>,
}

/// A contact on the target list.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Target {
    /// The contact.
    pub contact_id: ContactId,
    /// Their chance of responding, 0–1.
    pub probability: f64,
    /// Each field's part, the weightiest first.
    pub contributions: Vec<FieldContribution>,
}

/// A target list with the model behind it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PropensityReport {
    /// The model.
    pub model: PropensityModel,
    /// The share of memberships that ended in a response (smoothed): every target's start.
    pub base_rate: f64,
    /// The contacts, the likeliest first.
    pub targets: Vec<Target>,
    /// Why there is no model to speak of, when past campaigns had no member.
    pub empty_because: Option<String>,
}

impl PropensityModel {
    /// The chance of a contact with these values of the model's fields (in its order).
    pub fn score(&self, values: &[Option<String>]) -> (f64, Vec<FieldContribution>) {
        let (a, totals) = (self.smoothing, (self.responded, self.ignored));
        bayes::score(&self.fields, values, totals, a, bayes::prior(totals.0, totals.1, a), |field, value, yes, no| {
            if yes + no == 0 {
                format!("{field} = {value}: no member of a past campaign had it")
            } else {
                format!("{field} = {value}: {yes} of {} memberships responded", yes + no)
            }
        })
    }
}

impl bayes::Counts for ResponseTable {
    fn field(&self) -> &str {
        &self.field
    }
    fn counts(&self, value: &Option<String>) -> Option<(u64, u64)> {
        self.values.iter().find(|c| c.value == *value).map(|c| (c.responded, c.ignored))
    }
    fn distinct(&self) -> usize {
        self.values.len()
    }
}

impl<'s> Marketing<'s> {
    /// Marketing analytics over what `cx`'s actor reads.
    pub fn new(cx: &'s Session) -> Self {
        Marketing { cx }
    }

    /// Learns who responds from past campaigns and ranks the audience (but the target's
    /// members) by their chance of responding.
    ///
    /// No field, more than [`MAX_SCORED_FIELDS`], or one that cannot be grouped by is an error
    /// naming `fields` (or `fields[i]`); no response kind, one naming `responses`; smoothing of
    /// 0 or less, one naming `smoothing`; `top` out of range, one naming `top`.
    pub async fn response_propensity(&self, o: &PropensityOptions) -> Result<PropensityReport> {
        if o.fields.is_empty() || o.fields.len() > MAX_SCORED_FIELDS {
            let why = format!("learn from 1–{MAX_SCORED_FIELDS} fields");
            return Err(Error::invalid("fields", FieldErrorCode::OutOfRange, why));
        }
        if o.responses.is_empty() {
            return Err(Error::invalid("responses", FieldErrorCode::Required, "name the responses that count"));
        }
        if o.top == 0 || o.top > MAX_TARGETS {
            return Err(Error::invalid("top", FieldErrorCode::OutOfRange, format!("list 1–{MAX_TARGETS} contacts")));
        }
        let smoothing = o.smoothing.to_f64().filter(|s| *s > 0.0 && s.is_finite()).ok_or_else(|| {
            Error::invalid("smoothing", FieldErrorCode::OutOfRange, "the smoothing must be above 0 (1 is Laplace's)")
        })?;
        // Every contact's values of the fields.
        let mut a = Aggregate::new(Filter::All).group_by("id");
        for f in &o.fields {
            a = a.group_by(f.as_str());
        }
        let rows = self.cx.contacts().aggregate(&a.count()).await.map_err(|e| bayes::fields_at_fault(e, 1))?;
        let values: HashMap<Uuid, Vec<Option<String>>> = rows
            .into_iter()
            .filter_map(|r| match r.groups[0] {
                Value::Id(id) => Some((id, r.groups[1..].iter().map(key_text).collect())),
                _ => None,
            })
            .collect();
        // Memberships and responses per contact in the past campaigns.
        let mut past = Filter::All;
        if !o.campaigns.is_empty() {
            past = Filter::is_in("campaign_id", o.campaigns.iter().map(|c| Value::Id(c.as_uuid())));
        }
        if let Some(t) = o.target {
            past = past.and(Filter::ne("campaign_id", Value::Id(t.as_uuid())));
        }
        let kinds: Vec<&str> = o.responses.iter().map(|k| k.as_str()).collect();
        let mut seen: BTreeMap<Uuid, (u64, u64)> = BTreeMap::new();
        for (filter, is_response) in [(past.clone(), false), (past.and(Filter::is_in("responses", kinds)), true)] {
            let a = Aggregate::new(filter).group_by("contact_id").count();
            for r in self.cx.records::<CampaignMember>().aggregate(&a).await? {
                if let Value::Id(id) = r.groups[0] {
                    let e = seen.entry(id).or_default();
                    *(if is_response { &mut e.1 } else { &mut e.0 }) += count(&r.values[0]);
                }
            }
        }
        let mut tables: Vec<BTreeMap<Option<String>, (u64, u64)>> = vec![BTreeMap::new(); o.fields.len()];
        let (mut responded, mut ignored) = (0, 0);
        for (id, (memberships, responses)) in &seen {
            let no = memberships.saturating_sub(*responses);
            (responded, ignored) = (responded + responses, ignored + no);
            let none = vec![None; o.fields.len()];
            for (t, v) in tables.iter_mut().zip(values.get(id).unwrap_or(&none)) {
                let e = t.entry(v.clone()).or_default();
                (e.0, e.1) = (e.0 + responses, e.1 + no);
            }
        }
        let fields = o
            .fields
            .iter()
            .zip(tables)
            .map(|(f, t)| ResponseTable {
                field: f.clone(),
                values: t
                    .into_iter()
                    .map(|(value, (responded, ignored))| ResponseCounts { value, responded, ignored })
                    .collect(),
            })
            .collect();
        let model = PropensityModel { smoothing, responded, ignored, fields };
        let targets = self.rank(&model, o, &values).await?;
        let empty_because =
            (responded + ignored == 0).then(|| "no contact was a member of the campaigns learned from".to_owned());
        let base_rate = bayes::sigmoid(bayes::prior(responded, ignored, smoothing));
        Ok(PropensityReport { model, base_rate, targets, empty_because })
    }

    /// The audience but the target's members, scored, the likeliest first.
    async fn rank(
        &self,
        model: &PropensityModel,
        o: &PropensityOptions,
        values: &HashMap<Uuid, Vec<Option<String>>>,
    ) -> Result<Vec<Target>> {
        let mut members = HashSet::new();
        if let Some(t) = o.target {
            let a = Aggregate::new(Filter::eq("campaign_id", Value::Id(t.as_uuid()))).group_by("contact_id").count();
            for r in self.cx.records::<CampaignMember>().aggregate(&a).await? {
                if let Value::Id(id) = r.groups[0] {
                    members.insert(id);
                }
            }
        }
        // Everyone is already in `values`; a narrower audience takes one more aggregate.
        let audience: Vec<Uuid> = if o.audience == Filter::All {
            values.keys().copied().collect()
        } else {
            let a = Aggregate::new(o.audience.clone()).group_by("id").count();
            let rows = self.cx.contacts().aggregate(&a).await?;
            rows.iter().filter_map(|r| if let Value::Id(id) = r.groups[0] { Some(id) } else { None }).collect()
        };
        let mut targets: Vec<Target> = Vec::new();
        for id in audience {
            if members.contains(&id) {
                continue;
            }
            let none = Vec::new();
            let (probability, contributions) = model.score(values.get(&id).unwrap_or(&none));
            targets.push(Target { contact_id: ContactId::from_uuid(id), probability, contributions });
        }
        targets.sort_by(|x, y| y.probability.total_cmp(&x.probability).then(x.contact_id.cmp(&y.contact_id)));
        targets.truncate(o.top);
        Ok(targets)
    }
}
