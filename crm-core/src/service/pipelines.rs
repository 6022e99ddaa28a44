use std::collections::BTreeSet;

use super::Records;
use super::checks::Checks;
use super::records::Guard;
use super::uow::Uow;
use crate::entity::EntityKind;
use crate::error::{Error, FieldErrorCode, Result};
use crate::ids::StageId;
use crate::macros::new_input;
use crate::macros::new_record;
use crate::model::{Deal, ForecastCategory, Pipeline, Stage, StageKind, default_sales_stages, valid_key};
use crate::query::{Filter, Query};

/// Deal fields a stage may require.
pub(crate) const REQUIRABLE: &[&str] = &["amount", "expected_close_date", "company_id", "contact_ids", "owner_id"];

new_input! {
    /// Input for a new stage.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct NewStage {
        /// Name.
        pub name: String => manual,
        /// Win probability in percent.
        pub probability: u8 => manual,
        /// Open, won or lost.
        pub kind: StageKind => manual,
        /// Rotting limit in days: a deal that stays longer in the stage is rotting.
        pub rotting_days: Option<u32> => some_exact rotting_after(u32),
        /// Deal fields required to enter the stage (see [`Pipeline`]).
        pub required_fields: Vec<String> => push requires(String),
        /// The forecast category of its deals (default: [`Stage::category`]).
        pub forecast_category: Option<ForecastCategory> => some forecast(ForecastCategory),
    }
}

impl NewStage {
    /// An open stage.
    pub fn open(name: impl Into<String>, probability: u8) -> Self {
        Self {
            name: name.into(),
            probability,
            kind: StageKind::Open,
            rotting_days: None,
            required_fields: Vec::new(),
            forecast_category: None,
        }
    }
    /// The won stage (100 %).
    pub fn won(name: impl Into<String>) -> Self {
        Self { kind: StageKind::Won, ..Self::open(name, 100) }
    }
    /// The lost stage (0 %).
    pub fn lost(name: impl Into<String>) -> Self {
        Self { kind: StageKind::Lost, ..Self::open(name, 0) }
    }
}

new_input! {
    /// Input for a new pipeline.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct NewPipeline {
        /// Name.
        pub name: String => manual,
        /// Stages in order.
        pub stages: Vec<NewStage> => push stage(NewStage),
        /// Make it the tenant's default (the previous default stops being one).
        pub is_default: bool => manual,
    }
}

impl NewPipeline {
    /// A pipeline with these stages.
    pub fn new(name: impl Into<String>, stages: Vec<NewStage>) -> Self {
        Self { name: name.into(), stages, is_default: false }
    }
    /// Makes it the tenant's default pipeline.
    pub fn default_pipeline(mut self) -> Self {
        self.is_default = true;
        self
    }
}

fn check_pipeline(p: &mut Pipeline, ch: &mut Checks) {
    ch.name("name", &mut p.name, true);
    if p.stages.is_empty() {
        ch.push("stages", FieldErrorCode::Required, "a pipeline needs stages");
    }
    let mut names = BTreeSet::new();
    let mut ids = BTreeSet::new();
    for (i, s) in p.stages.iter_mut().enumerate() {
        ch.name(&format!("stages[{i}].name"), &mut s.name, true);
        if !names.insert(s.name.to_ascii_lowercase()) {
            ch.push(
                format!("stages[{i}].name"),
                FieldErrorCode::Duplicate,
                format!("two stages are called `{}`", s.name),
            );
        }
        if !ids.insert(s.id) {
            ch.push(format!("stages[{i}].id"), FieldErrorCode::Duplicate, "two stages share an id");
        }
        if s.probability > 100 {
            ch.push(format!("stages[{i}].probability"), FieldErrorCode::OutOfRange, "a probability is 0–100");
        }
        for (j, f) in s.required_fields.iter().enumerate() {
            let ok = REQUIRABLE.contains(&f.as_str()) || f.strip_prefix("custom.").is_some_and(valid_key);
            if !ok {
                ch.push(
                    format!("stages[{i}].required_fields[{j}]"),
                    FieldErrorCode::UnknownField,
                    format!(
                        "`{f}` is not a deal field a stage can require ({} or custom.<key>)",
                        REQUIRABLE.join(", ")
                    ),
                );
            }
        }
    }
    let count = |k: StageKind| p.stages.iter().filter(|s| s.kind == k).count();
    if count(StageKind::Open) == 0 {
        ch.push("stages", FieldErrorCode::Rule, "a pipeline needs at least one open stage");
    }
    if count(StageKind::Won) != 1 {
        ch.push("stages", FieldErrorCode::Rule, "a pipeline needs exactly one won stage");
    }
    if count(StageKind::Lost) != 1 {
        ch.push("stages", FieldErrorCode::Rule, "a pipeline needs exactly one lost stage");
    }
}

/// Pipelines: the stages deals move through. A tenant may have several; one is the default.
/// A pipeline that still holds deals is not deleted.
///
/// ```
/// # futures::executor::block_on(async {
/// use crm_core::prelude::*;
/// let crm = Crm::new(MemoryStore::new());
/// let cx = crm.as_actor(&Actor::system(TenantId::new()));
/// let stages = vec![
///     NewStage::open("Viewing", 20).rotting_after(14),
///     NewStage::open("Offer", 60).requires("amount"),
///     NewStage::won("Sold"),
///     NewStage::lost("Withdrawn"),
/// ];
/// let homes = cx.pipelines().create(NewPipeline::new("Homes", stages)).await?;
/// assert_eq!(homes.stages.len(), 4);
/// // The tenant's default pipeline is made on first use, with the classic sales stages.
/// assert_ne!(cx.pipelines().default_pipeline().await?.id, homes.id);
/// # Ok::<_, Error>(()) }).unwrap();
/// ```
pub type Pipelines<'s> = Records<'s, Pipeline>;

impl Records<'_, Pipeline> {
    /// Creates a pipeline.
    pub async fn create(&self, input: NewPipeline) -> Result<Pipeline> {
        self.write(|uow| {
            Box::pin(async move {
                let stages = input
                    .stages
                    .into_iter()
                    .map(|s| Stage {
                        id: uow.new_id(),
                        name: s.name,
                        probability: s.probability,
                        kind: s.kind,
                        rotting_days: s.rotting_days,
                        required_fields: s.required_fields,
                        forecast_category: s.forecast_category,
                    })
                    .collect();
                new_pipeline(uow, input.name, stages, input.is_default).await
            })
        })
        .await
    }

    /// The tenant's default pipeline, created with the classic sales stages if there is none.
    pub async fn default_pipeline(&self) -> Result<Pipeline> {
        self.write(|uow| Box::pin(async move { default_pipeline(uow).await })).await
    }

    /// A new stage id, for adding a stage to a pipeline before [`update`](Self::update).
    pub fn new_stage_id(&self) -> StageId {
        StageId::from_uuid(self.s.crm.inner.ids.next_uuid())
    }

    /// Saves changes (rename, reorder, add stages, change probabilities or rules). A stage
    /// that still holds deals cannot be removed.
    pub async fn update(&self, pipeline: Pipeline) -> Result<Pipeline> {
        self.update_with(pipeline, &Guard::NONE, &[], |uow, before, pipeline, ch| {
            Box::pin(async move {
                check_pipeline(pipeline, ch);
                for removed in before.stages.iter().filter(|s| pipeline.stage(s.id).is_none()) {
                    let n = uow.tx.count(EntityKind::Deal, &Filter::eq("stage_id", removed.id)).await?;
                    if n > 0 {
                        ch.push(
                            "stages",
                            FieldErrorCode::Rule,
                            format!("stage `{}` still holds {n} deals; move them first", removed.name),
                        );
                    }
                }
                // A deal's status is its stage's kind: a stage holding deals keeps its kind.
                for (i, stage) in pipeline.stages.iter().enumerate() {
                    if let Some(old) = before.stage(stage.id)
                        && old.kind != stage.kind
                    {
                        let n = uow.tx.count(EntityKind::Deal, &Filter::eq("stage_id", stage.id)).await?;
                        if n > 0 {
                            ch.push(
                                format!("stages[{i}].kind"),
                                FieldErrorCode::Rule,
                                format!(
                                    "stage `{}` holds {n} deals; its kind changes only while it is empty",
                                    old.name
                                ),
                            );
                        }
                    }
                }
                if pipeline.is_default && !before.is_default {
                    unset_default(uow).await?;
                }
                Ok(())
            })
        })
        .await
    }
}

async fn unset_default(uow: &mut Uow<'_>) -> Result<()> {
    for mut old in uow.tx.find_all::<Pipeline>(Filter::eq("is_default", true)).await? {
        let before = old.clone();
        old.is_default = false;
        uow.save(&before, old, Vec::new(), &[]).await?;
    }
    Ok(())
}

async fn new_pipeline(uow: &mut Uow<'_>, name: String, stages: Vec<Stage>, is_default: bool) -> Result<Pipeline> {
    let mut p = new_record!(uow, Pipeline { name, is_default, stages });
    let mut ch = Checks::default();
    check_pipeline(&mut p, &mut ch);
    Error::check(std::mem::take(&mut ch.errs))?;
    if is_default {
        unset_default(uow).await?;
    }
    uow.create(p, ch.errs).await
}

/// The default pipeline, created on first use.
pub(crate) async fn default_pipeline(uow: &mut Uow<'_>) -> Result<Pipeline> {
    let found = uow.tx.find::<Pipeline>(&Query::new(Filter::eq("is_default", true)).limit(1)).await?;
    if let Some(p) = found.items.into_iter().next() {
        return Ok(p);
    }
    let stages = default_sales_stages(uow.s.crm.inner.ids.as_ref());
    // Made by the rules for whoever first needs it, whether or not they may make pipelines.
    let was = std::mem::replace(&mut uow.by_rules, true);
    let made = new_pipeline(uow, "Sales".into(), stages, true).await;
    uow.by_rules = was;
    made
}

/// Whether `deal` has a value for `field` (one of [`REQUIRABLE`] or `custom.<key>`).
pub(crate) fn deal_has(deal: &Deal, field: &str) -> bool {
    match field {
        "amount" => deal.amount.is_some(),
        "expected_close_date" => deal.expected_close_date.is_some(),
        "company_id" => deal.company_id.is_some(),
        "contact_ids" => !deal.contact_ids.is_empty(),
        "owner_id" => deal.owner_id.is_some(),
        other => other.strip_prefix("custom.").is_some_and(|k| deal.custom.get(k).is_some_and(|v| !v.is_null())),
    }
}

/// The errors for fields `stage` requires that `deal` lacks.
pub(crate) fn missing_for_stage(deal: &Deal, stage: &Stage, ch: &mut Checks) {
    for f in &stage.required_fields {
        if !deal_has(deal, f) {
            ch.push(f.clone(), FieldErrorCode::Required, format!("a deal in stage `{}` needs `{f}`", stage.name));
        }
    }
}
