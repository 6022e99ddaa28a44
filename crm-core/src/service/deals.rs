//! Deals: sales opportunities and their moves through a pipeline.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::Records;
use super::checks::Checks;
use super::lines::{check_line_products, check_lines};
use super::pipelines::{default_pipeline, missing_for_stage};
use super::records::{Guard, add_new};
use super::uow::Uow;
use crate::aggregate::Aggregate;
use crate::error::{Error, FieldErrorCode, Result};
use crate::event::Change;
use crate::ids::{CampaignId, CompanyId, ContactId, DealId, PipelineId, StageId, UserId};
use crate::macros::new_input;
use crate::macros::new_record;
use crate::model::ForecastCategory;
use crate::model::{Action, Entity};
use crate::model::{Contact, Deal, DealStatus, ExternalRef, LineItem, Pipeline, Stage, StageKind, StageVisit};
use crate::money::{Currency, Money};
use crate::profile::{LeadSource, LifecycleStage};
use crate::query::Filter;
use crate::value::{CustomValues, Value};

new_input! {
    /// Input for a new deal.
    #[derive(Clone, Debug, Default, PartialEq)]
    pub struct NewDeal {
        /// Name (required).
        pub name: String => manual,
        /// Pipeline (default: the tenant's default pipeline).
        pub pipeline_id: Option<PipelineId> => some pipeline(PipelineId),
        /// Open stage to start in (default: the pipeline's first open stage).
        pub stage_id: Option<StageId> => some stage(StageId),
        /// Expected value (default: the sum of the line items, if any).
        pub amount: Option<Money> => some amount(Money),
        /// Expected close date.
        pub expected_close_date: Option<NaiveDate> => some expected_close(NaiveDate),
        /// A person involved.
        pub contact_ids: Vec<ContactId> => push contact(ContactId),
        /// Buying company.
        pub company_id: Option<CompanyId> => some company(CompanyId),
        /// Owner.
        pub owner_id: Option<UserId> => some owner(UserId),
        /// Win probability in percent (0–100), in place of the stage's.
        pub probability: Option<u8> => some_exact probability(u8),
        /// Forecast category, in place of the stage's.
        pub forecast_category: Option<ForecastCategory> => some forecast(ForecastCategory),
        /// Where it came from (default: the first contact's lead source).
        pub lead_source: Option<LeadSource> => some lead_source(LeadSource),
        /// The campaign credited with it.
        pub campaign_id: Option<CampaignId> => some campaign(CampaignId),
        /// A product or service sold.
        pub line_items: Vec<LineItem> => push line_item(LineItem),
        /// Tags.
        pub tags: Vec<String> => push tag(String),
        /// Ids in other systems (the deal's id in the CRM it came from), unique per tenant.
        pub external_refs: Vec<ExternalRef> => refs,
        /// Custom field values.
        pub custom: CustomValues => custom,
    }
}

impl NewDeal {
    /// A deal with this name in the default pipeline's first stage.
    pub fn new(name: impl Into<String>) -> Self {
        Self { name: name.into(), ..Default::default() }
    }
}

fn check_deal(d: &mut Deal, ch: &mut Checks) {
    ch.name("name", &mut d.name, true);
    ch.external_refs(&mut d.external_refs);
    if let Some(a) = &d.amount
        && a.amount.is_sign_negative()
    {
        ch.push("amount", FieldErrorCode::OutOfRange, "an amount cannot be negative");
    }
    check_lines(ch, "line_items", &mut d.line_items, d.amount.map(|a| a.currency));
    if d.amount.is_none() {
        match d.line_items_total() {
            Ok(total) => d.amount = total,
            Err(_) => {
                ch.push("line_items", FieldErrorCode::CurrencyMismatch, "line items are priced in different currencies")
            }
        }
    }
    ch.duplicates("contact_ids", &d.contact_ids);
    ch.opt_text("lost_reason", &mut d.lost_reason);
    if d.probability.is_some_and(|p| p > 100) {
        ch.push("probability", FieldErrorCode::OutOfRange, "a probability is a percentage, 0–100");
    }
    ch.tags(&mut d.tags);
}

async fn check_deal_refs(uow: &mut Uow<'_>, d: &mut Deal, before: Option<&Deal>, ch: &mut Checks) -> Result<()> {
    let before_lines = before.map(|b| b.line_items.as_slice()).unwrap_or_default();
    check_line_products(uow, "line_items", &mut d.line_items, before_lines, ch).await?;
    uow.check_links(d, before, &mut ch.errs).await
}

/// Moves contacts up the lifecycle to `target` if they are behind it (never back).
async fn promote(uow: &mut Uow<'_>, contacts: &[ContactId], target: LifecycleStage) -> Result<()> {
    for id in contacts {
        let Some(mut c) = uow.tx.fetch::<Contact>(*id).await? else { continue };
        if c.lifecycle_stage < target {
            let from = c.lifecycle_stage;
            c.lifecycle_stage = target;
            let c = uow.save_system(c).await?;
            uow.emit(c.entity_ref(), c.related(), Change::LifecycleChanged { from, to: target, reset: false });
        }
    }
    Ok(())
}

fn lifecycle_for(status: DealStatus) -> Option<LifecycleStage> {
    match status {
        DealStatus::Open => Some(LifecycleStage::Opportunity),
        DealStatus::Won => Some(LifecycleStage::Customer),
        DealStatus::Lost => None,
    }
}

fn status_of(kind: StageKind) -> DealStatus {
    match kind {
        StageKind::Open => DealStatus::Open,
        StageKind::Won => DealStatus::Won,
        StageKind::Lost => DealStatus::Lost,
    }
}

/// How deals in one stage add up.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct StageSummary {
    /// The stage.
    pub stage: Stage,
    /// Deals in it.
    pub count: u64,
    /// Sum of their amounts, per currency.
    #[cfg_attr(feature = "openapi", schema(value_type = std::collections::BTreeMap<String, String>))]
    pub total: BTreeMap<Currency, Decimal>,
    /// Sum of amount × stage probability, per currency.
    #[cfg_attr(feature = "openapi", schema(value_type = std::collections::BTreeMap<String, String>))]
    pub weighted: BTreeMap<Currency, Decimal>,
    /// Deals that sat in the stage longer than its rotting limit.
    pub rotting: u64,
}

/// The state of a pipeline: every stage's deals, totals and the weighted forecast.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct PipelineReport {
    /// The pipeline.
    pub pipeline: Pipeline,
    /// One summary per stage, in stage order.
    pub stages: Vec<StageSummary>,
    /// Probability-weighted value of the open deals, per currency.
    #[cfg_attr(feature = "openapi", schema(value_type = std::collections::BTreeMap<String, String>))]
    pub forecast: BTreeMap<Currency, Decimal>,
}

/// Deals: sales opportunities and their moves through a pipeline. Deleting one deletes the
/// relations at either end of it.
///
/// ```
/// # futures::executor::block_on(async {
/// use crm_core::prelude::*;
/// use rust_decimal::Decimal;
/// let crm = Crm::new(MemoryStore::new());
/// let cx = crm.as_actor(&Actor::system(TenantId::new()));
/// let deal = cx.deals().create(NewDeal::new("Fleet renewal").amount(Money::new(Decimal::from(9_000), Currency::EUR))).await?;
/// let lost = cx.deals().lose(deal.id, "went with a competitor").await?;
/// assert_eq!((lost.status, lost.lost_reason.as_deref()), (DealStatus::Lost, Some("went with a competitor")));
/// // Won and lost deals are closed until reopened.
/// assert!(cx.deals().win(deal.id).await.is_err());
/// # Ok::<_, Error>(()) }).unwrap();
/// ```
pub type Deals<'s> = Records<'s, Deal>;

/// Creates a deal in one unit of work (see [`Deals::create`]).
async fn new_deal(uow: &mut Uow<'_>, input: NewDeal) -> Result<Deal> {
    let pipeline = match input.pipeline_id {
        Some(id) => uow.tx.fetch::<Pipeline>(id).await?.ok_or_else(|| {
            Error::invalid("pipeline_id", FieldErrorCode::NotFound, format!("no pipeline with id {id}"))
        })?,
        None => default_pipeline(uow).await?,
    };
    let stage = match input.stage_id {
        Some(id) => pipeline.stage(id).cloned().ok_or_else(|| {
            Error::invalid(
                "stage_id",
                FieldErrorCode::NotFound,
                format!("stage {id} is not in pipeline `{}`", pipeline.name),
            )
        })?,
        None => pipeline
            .first_open_stage()
            .cloned()
            .ok_or_else(|| Error::invalid("pipeline_id", FieldErrorCode::Rule, "the pipeline has no open stage"))?,
    };
    if stage.kind != StageKind::Open {
        return Err(Error::transition(
            "stage_id",
            "(new)",
            stage.name.clone(),
            "a deal starts in an open stage; create it, then win or lose it",
        ));
    }
    let now = uow.now;
    let mut deal = new_record!(
        uow,
        Deal {
            name: input.name,
            pipeline_id: pipeline.id,
            stage_id: stage.id,
            status: DealStatus::Open,
            amount: input.amount,
            expected_close_date: input.expected_close_date,
            closed_at: None,
            contact_ids: input.contact_ids,
            company_id: input.company_id,
            owner_id: input.owner_id,
            line_items: input.line_items,
            lost_reason: None,
            stage_history: vec![StageVisit { stage_id: stage.id, entered_at: now, left_at: None }],
            probability: input.probability,
            forecast_category: input.forecast_category,
            lead_source: input.lead_source,
            campaign_id: input.campaign_id,
            tags: input.tags,
            external_refs: input.external_refs,
            custom: input.custom,
        }
    );
    if deal.lead_source.is_none()
        && let Some(first) = deal.contact_ids.first()
        && let Some(c) = uow.tx.fetch::<Contact>(*first).await?
    {
        deal.lead_source = c.lead_source;
    }
    let mut ch = Checks::default();
    check_deal(&mut deal, &mut ch);
    missing_for_stage(&deal, &stage, &mut ch);
    check_deal_refs(uow, &mut deal, None, &mut ch).await?;
    let deal = uow.create(deal, ch.errs).await?;
    promote(uow, &deal.contact_ids, LifecycleStage::Opportunity).await?;
    Ok(deal)
}

/// Saves a user's edit of a deal in one unit of work (see [`Deals::update`]).
async fn edit(uow: &mut Uow<'_>, mut deal: Deal) -> Result<Deal> {
    let before = uow.load_for_update(&deal).await?;
    GUARD.check(&before, &deal)?;
    if before.lost_reason != deal.lost_reason && before.status != DealStatus::Lost {
        return Err(Error::transition(
            "lost_reason",
            before.lost_reason.clone().unwrap_or_else(|| "none".into()),
            deal.lost_reason.clone().unwrap_or_else(|| "none".into()),
            "only a lost deal has a reason, given by lose",
        ));
    }
    // An amount that came from the line items follows them when they change.
    let derived = !before.line_items.is_empty() && before.line_items_total().ok().flatten() == before.amount;
    if derived && deal.line_items != before.line_items && deal.amount == before.amount {
        deal.amount = None;
    }
    let mut ch = Checks::default();
    check_deal(&mut deal, &mut ch);
    if before.status == DealStatus::Lost && deal.lost_reason.is_none() {
        ch.push("lost_reason", FieldErrorCode::Required, "a lost deal keeps its reason");
    }
    let pipeline = uow.tx.require::<Pipeline>(before.pipeline_id).await?;
    if let Some(stage) = pipeline.stage(before.stage_id) {
        missing_for_stage(&deal, stage, &mut ch);
    }
    check_deal_refs(uow, &mut deal, Some(&before), &mut ch).await?;
    let added: Vec<ContactId> = deal.contact_ids.iter().filter(|c| !before.contact_ids.contains(c)).copied().collect();
    let saved = uow.save(&before, deal, ch.errs, &[]).await?;
    if let Some(target) = lifecycle_for(saved.status) {
        promote(uow, &added, target).await?;
    }
    Ok(saved)
}

/// Moves deal `id` to `target` in one unit of work (see [`Deals::move_to_stage`]).
async fn step(uow: &mut Uow<'_>, id: DealId, target: Target) -> Result<Deal> {
    let mut deal = uow.load::<Deal>(id, Action::Update).await?;
    let pipeline = uow.tx.require::<Pipeline>(deal.pipeline_id).await?;
    let current = pipeline.stage(deal.stage_id).map(|s| s.name.clone()).unwrap_or_else(|| deal.stage_id.to_string());
    let in_pipeline = |sid: StageId| {
        pipeline.stage(sid).cloned().ok_or_else(|| {
            Error::invalid(
                "stage_id",
                FieldErrorCode::NotFound,
                format!("stage {sid} is not in pipeline `{}`", pipeline.name),
            )
        })
    };
    let no_stage =
        |what: &str| Error::invalid("stage_id", FieldErrorCode::Rule, format!("the pipeline has no {what} stage"));
    let (stage, reason, reopen) = match target {
        Target::Stage(sid) => (in_pipeline(sid)?, None, false),
        Target::Won => (pipeline.won_stage().cloned().ok_or_else(|| no_stage("won"))?, None, false),
        Target::Lost(r) => (pipeline.lost_stage().cloned().ok_or_else(|| no_stage("lost"))?, Some(r), false),
        Target::Reopen(sid) => (in_pipeline(sid)?, None, true),
    };
    let refuse = |reason: &str| Error::transition("stage_id", current.clone(), stage.name.clone(), reason);
    if reopen {
        if deal.status == DealStatus::Open {
            return Err(refuse("only a won or lost deal can be reopened"));
        }
        if stage.kind != StageKind::Open {
            return Err(refuse("a deal is reopened into an open stage"));
        }
    } else if deal.status != DealStatus::Open {
        return Err(refuse(&format!("the deal is {}; reopen it first", deal.status)));
    }
    if stage.id == deal.stage_id {
        return Ok(deal);
    }
    let mut ch = Checks::default();
    let lost_reason = match (stage.kind, reason) {
        (StageKind::Lost, Some(r)) if !r.trim().is_empty() => Some(r.trim().to_owned()),
        (StageKind::Lost, _) => {
            ch.push("lost_reason", FieldErrorCode::Required, "say why the deal was lost (use `lose(id, reason)`)");
            None
        }
        _ => None,
    };
    missing_for_stage(&deal, &stage, &mut ch);
    Error::check(ch.errs)?;
    let now = uow.now;
    let from = deal.stage_id;
    if let Some(last) = deal.stage_history.last_mut()
        && last.left_at.is_none()
    {
        last.left_at = Some(now);
    }
    deal.stage_history.push(StageVisit { stage_id: stage.id, entered_at: now, left_at: None });
    deal.stage_id = stage.id;
    deal.status = status_of(stage.kind);
    deal.closed_at = if stage.kind == StageKind::Open { None } else { Some(now) };
    deal.lost_reason = lost_reason.clone();
    let deal = uow.save_system(deal).await?;
    let (subject, related) = (deal.entity_ref(), deal.related());
    uow.emit(subject, related.clone(), Change::StageChanged { pipeline_id: pipeline.id, from, to: stage.id });
    match (stage.kind, reopen) {
        (_, true) => uow.emit(subject, related, Change::DealReopened { to: stage.id }),
        (StageKind::Won, _) => uow.emit(subject, related, Change::DealWon),
        (StageKind::Lost, _) => {
            uow.emit(subject, related, Change::DealLost { reason: lost_reason.unwrap_or_default() })
        }
        (StageKind::Open, false) => {}
    }
    if let Some(target) = lifecycle_for(deal.status) {
        promote(uow, &deal.contact_ids, target).await?;
    }
    Ok(deal)
}

/// Fields an edit may not change: they move through the stage verbs.
const GUARD: Guard = Guard {
    fields: &["pipeline_id", "stage_id", "status", "closed_at", "stage_history"],
    through: "move_to_stage, win, lose or reopen",
};

impl Records<'_, Deal> {
    /// Creates a deal in an open stage. The stage must belong to the pipeline and the deal must
    /// have the fields the stage requires. Its contacts become opportunities.
    pub async fn create(&self, input: NewDeal) -> Result<Deal> {
        self.write(|uow| Box::pin(new_deal(uow, input))).await
    }

    /// Checks `input` exactly as [`create`](Self::create) would, writing nothing.
    pub async fn check(&self, input: NewDeal) -> Result<()> {
        self.dry(|uow| Box::pin(new_deal(uow, input))).await
    }

    /// Saves changes to a deal read earlier. The pipeline, stage, status, close time, stage
    /// history and lost reason change only through the stage methods. An amount that was the
    /// sum of the line items is recomputed when they change (unless the amount is changed too).
    pub async fn update(&self, deal: Deal) -> Result<Deal> {
        self.write(|uow| Box::pin(edit(uow, deal))).await
    }

    /// Updates deal `id` with what `input` gives, in one unit of work: a name when not empty,
    /// and the amount, close date, company and owner it sets replace the stored ones; the
    /// contacts, line items, tags and external ids it lists are added when new; the custom
    /// values it sets replace. A stage it names other than the deal's moves the deal there (as
    /// [`move_to_stage`](Self::move_to_stage)); a deal stays in its pipeline. An import uses
    /// it to update instead of duplicating.
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// use crm_core::prelude::*;
    /// let crm = Crm::new(MemoryStore::new());
    /// let cx = crm.as_actor(&Actor::system(TenantId::new()));
    /// let deal = cx.deals().create(NewDeal::new("Renewal").tag("q1")).await?;
    /// let pipeline = cx.pipelines().get(deal.pipeline_id).await?;
    /// let next = pipeline.stages[1].id;
    /// let deal = cx.deals().apply(deal.id, NewDeal::default().stage(next).tag("vip")).await?;
    /// assert_eq!((deal.name.as_str(), deal.stage_id, deal.tags.len()), ("Renewal", next, 2));
    /// # Ok::<_, Error>(()) }).unwrap();
    /// ```
    pub async fn apply(&self, id: DealId, input: NewDeal) -> Result<Deal> {
        self.write(|uow| {
            Box::pin(async move {
                let mut d = uow.load::<Deal>(id, Action::Update).await?;
                if let Some(p) = input.pipeline_id
                    && p != d.pipeline_id
                {
                    return Err(Error::transition(
                        "pipeline_id",
                        d.pipeline_id.to_string(),
                        p.to_string(),
                        "a deal stays in the pipeline it was created in",
                    ));
                }
                if !input.name.trim().is_empty() {
                    d.name = input.name;
                }
                if input.amount.is_some() {
                    d.amount = input.amount;
                }
                if input.expected_close_date.is_some() {
                    d.expected_close_date = input.expected_close_date;
                }
                if input.company_id.is_some() {
                    d.company_id = input.company_id;
                }
                if input.owner_id.is_some() {
                    d.owner_id = input.owner_id;
                }
                if input.probability.is_some() {
                    d.probability = input.probability;
                }
                if input.forecast_category.is_some() {
                    d.forecast_category = input.forecast_category;
                }
                if input.lead_source.is_some() {
                    d.lead_source = input.lead_source;
                }
                if input.campaign_id.is_some() {
                    d.campaign_id = input.campaign_id;
                }
                add_new(&mut d.contact_ids, input.contact_ids);
                add_new(&mut d.line_items, input.line_items);
                add_new(&mut d.tags, input.tags);
                add_new(&mut d.external_refs, input.external_refs);
                d.custom.extend(input.custom);
                let target = input.stage_id.filter(|s| *s != d.stage_id);
                let d = edit(uow, d).await?;
                match target {
                    Some(stage) => step(uow, id, Target::Stage(stage)).await,
                    None => Ok(d),
                }
            })
        })
        .await
    }

    /// Moves an open deal to another stage of its pipeline (forwards or backwards). The stage
    /// must belong to the deal's pipeline and the deal must have the fields it requires; the
    /// won stage wins the deal (see [`Deals::win`]); the lost stage needs [`Deals::lose`].
    pub async fn move_to_stage(&self, id: DealId, stage: StageId) -> Result<Deal> {
        self.transition(id, Target::Stage(stage)).await
    }

    /// Moves an open deal to its pipeline's won stage; its contacts become customers.
    pub async fn win(&self, id: DealId) -> Result<Deal> {
        self.transition(id, Target::Won).await
    }

    /// Moves an open deal to its pipeline's lost stage; a reason is required.
    pub async fn lose(&self, id: DealId, reason: impl Into<String>) -> Result<Deal> {
        self.transition(id, Target::Lost(reason.into())).await
    }

    /// Reopens a won or lost deal into an open stage of its pipeline.
    pub async fn reopen(&self, id: DealId, stage: StageId) -> Result<Deal> {
        self.transition(id, Target::Reopen(stage)).await
    }

    async fn transition(&self, id: DealId, target: Target) -> Result<Deal> {
        self.write(|uow| Box::pin(step(uow, id, target))).await
    }

    /// Deals per stage with counts, totals, rotting deals and the probability-weighted forecast,
    /// over the deals the actor may read (a sales rep's report is of their own pipeline).
    pub async fn pipeline_report(&self, pipeline_id: PipelineId) -> Result<PipelineReport> {
        let pipeline = {
            let mut uow = Uow::read(self.s).await?;
            uow.load::<Pipeline>(pipeline_id, Action::Read).await?
        };
        let now = self.s.now();
        let mut stages: Vec<StageSummary> = pipeline
            .stages
            .iter()
            .map(|s| StageSummary {
                stage: s.clone(),
                count: 0,
                total: BTreeMap::new(),
                weighted: BTreeMap::new(),
                rotting: 0,
            })
            .collect();
        // Counts and totals per stage, currency and hand-set probability: one aggregate.
        let in_pipeline = Filter::eq("pipeline_id", pipeline_id);
        let totals = Aggregate::new(in_pipeline.clone())
            .group_by("stage_id")
            .currency("amount")
            .group_by("probability")
            .count()
            .sum("amount");
        let mut exact: BTreeMap<(usize, Currency), Decimal> = BTreeMap::new();
        for row in self.aggregate(&totals).await? {
            let Some(i) = stages.iter().position(|s| Value::Id(s.stage.id.into()) == row.groups[0]) else { continue };
            let sum = &mut stages[i];
            sum.count += count_of(&row.values[0]);
            if let Value::Money(a) = &row.values[1] {
                let p = match row.groups[2] {
                    Value::Int(p) => Decimal::from(p),
                    _ => Decimal::from(sum.stage.probability),
                };
                plus(sum.total.entry(a.currency).or_insert(Decimal::ZERO), a.amount)?;
                let w = a.amount.checked_mul(p).ok_or_else(beyond)? / Decimal::ONE_HUNDRED;
                plus(exact.entry((i, a.currency)).or_insert(Decimal::ZERO), w)?;
            }
        }
        let mut forecast = BTreeMap::new();
        for ((i, currency), w) in exact {
            let weighted = Money::new(w, currency).rounded().amount;
            stages[i].weighted.insert(currency, weighted);
            if stages[i].stage.kind == StageKind::Open {
                plus(forecast.entry(currency).or_insert(Decimal::ZERO), weighted)?;
            }
        }
        // Open deals longer in their stage than its rotting limit: one more aggregate.
        let rotting: Vec<Filter> = pipeline
            .stages
            .iter()
            .filter(|s| s.kind == StageKind::Open)
            .filter_map(|s| {
                let since = now - chrono::Duration::days(i64::from(s.rotting_days?) + 1);
                Some(Filter::eq("stage_id", s.id).and(Filter::lte("stage_entered_at", since)))
            })
            .collect();
        if !rotting.is_empty() {
            let q = Aggregate::new(in_pipeline.and(Filter::eq("status", "open")).and(Filter::Or(rotting)))
                .group_by("stage_id")
                .count();
            for row in self.aggregate(&q).await? {
                if let Some(sum) = stages.iter_mut().find(|s| Value::Id(s.stage.id.into()) == row.groups[0]) {
                    sum.rotting = count_of(&row.values[0]);
                }
            }
        }
        Ok(PipelineReport { pipeline, stages, forecast })
    }
}

/// The number in a count measure's value.
fn count_of(v: &Value) -> u64 {
    match v {
        Value::Int(n) => u64::try_from(*n).unwrap_or(0),
        _ => 0,
    }
}

fn beyond() -> Error {
    Error::invalid("amount", FieldErrorCode::OutOfRange, "the totals exceed the largest decimal")
}

/// `*total += x`, refusing to overflow.
fn plus(total: &mut Decimal, x: Decimal) -> Result<()> {
    *total = total.checked_add(x).ok_or_else(beyond)?;
    Ok(())
}

enum Target {
    Stage(StageId),
    Won,
    Lost(String),
    Reopen(StageId),
}
