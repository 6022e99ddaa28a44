//! # crm-analytics
//!
//! The analytical half of the CRM over the `crm` library's records: what will close and when
//! ([`Sales::forecast`]), how well sales converts and how fast ([`Sales::performance`]: win
//! rates by count and value, average deal size, sales cycle, velocity), sliced by owner or
//! pipeline, and where deals drop out ([`Sales::funnel`]: stage-to-stage conversion from the
//! deals' stage history, per cohort). [`Customers::rfm`] scores customers 1–5 on the recency,
//! frequency and monetary value of their orders and names their segment (champions, at risk,
//! hibernating…); [`Customers::score_rfm`] writes the scores on the contacts, where segments and
//! campaigns filter on them. [`Customers::clv`] gives each customer's lifetime value, spent
//! and predicted: the [`BgNbd`] and [`GammaGamma`] models fitted to the purchase histories by
//! maximum likelihood tell who is probably gone and what each will still buy.
//! [`Customers::churn`] scores each customer's risk of leaving from that model, their overdue
//! purchases, fewer interactions, cases, feedback and overdue invoices, each factor's part
//! shown. [`CrossSell`] mines which products sell together (support, confidence, lift) and
//! what to offer each customer; [`Sales::lead_scoring`] learns an explainable naive Bayes
//! model of which deals are won, tested on the latest deals (Brier score, reliability);
//! [`Marketing`] ranks who will respond to a campaign and credits revenue to the campaigns'
//! first and last touches. Every figure is computed by the store's aggregates
//! ([`crm_core::aggregate`]): one `GROUP BY` per question on SQL stores, never a table loaded
//! into memory. Money stays exact and per currency; nothing is ever a NaN.
//!
//! ```
//! # futures::executor::block_on(async {
//! use crm_analytics::{ForecastOptions, Sales};
//! use crm_core::prelude::*;
//! use rust_decimal::Decimal;
//!
//! let crm = Crm::new(MemoryStore::new());
//! let cx = crm.as_actor(&Actor::system(TenantId::new()));
//! let close = cx.now().date_naive();
//! let proposal = cx.pipelines().default_pipeline().await?.stage_named("Proposal").unwrap().id;
//! cx.deals()
//!     .create(NewDeal::new("Fleet").amount(Money::new(Decimal::new(10_000, 0), Currency::EUR)).expected_close(close).stage(proposal))
//!     .await?;
//! let forecast = Sales::new(&cx).forecast(&ForecastOptions::default()).await?;
//! // A 50 % stage: 10,000 EUR in the pipeline weighs 5,000 EUR, as best case.
//! let row = &forecast.rows[0];
//! assert_eq!((row.category, row.amount.amount, row.weighted.amount), (ForecastCategory::BestCase, Decimal::new(1_000_000, 2), Decimal::new(500_000, 2)));
//! # Ok::<_, Error>(()) }).unwrap();
//! ```
#![warn(missing_docs)]

mod attribution;
mod bayes;
mod bgnbd;
#[cfg(feature = "charts")]
pub mod charts;
mod churn;
mod clv;
mod cross_sell;
mod fit;
mod forecast;
mod funnel;
mod gamma_gamma;
mod lead_score;
mod performance;
mod portfolio;
mod propensity;
mod purchases;
mod retention;
mod rfm;
mod trend;
mod window;

pub use attribution::{Attribution, AttributionOptions, CampaignCredit};
pub use bgnbd::{BgNbd, Purchases};
pub use churn::{
    ChurnBand, ChurnFactor, ChurnOptions, ChurnReport, ChurnWeights, Contribution, CustomerChurn, LOOKBACK_DAYS,
    MAX_WEIGHT,
};
pub use clv::{ClvModels, ClvOptions, ClvReport, CustomerClv, MAX_HORIZON_MONTHS, MIN_CUSTOMERS, MIN_REPEAT_BUYERS};
pub use cross_sell::{
    BasketOptions, BasketReport, CrossSell, CustomerRecommendations, MAX_PER_CUSTOMER, MAX_RULES, RecommendOptions,
    Recommendation, Rule,
};
pub use fit::Fit;
pub use forecast::{Forecast, ForecastOptions, ForecastRow, MAX_PERIODS, Period};
pub use funnel::{Funnel, FunnelCohort, FunnelOptions, FunnelStep};
pub use gamma_gamma::GammaGamma;
pub use lead_score::{
    Calibration, FieldContribution, FieldTable, LeadModel, LeadScore, LeadScoreOptions, LeadScoring, MAX_RANKED,
    MAX_SCORED_FIELDS, PipelinePrior, ReliabilityBin, ScoredDeal, ValueCounts,
};
pub use performance::{Cycle, MoneyStats, Performance, PerformanceOptions, SliceStats};
pub use portfolio::{
    Concentration, CustomerKind, MAX_TOP, ParetoPoint, Portfolio, PortfolioGroup, PortfolioOptions, ValuableCustomer,
};
pub use propensity::{
    MAX_TARGETS, Marketing, PropensityModel, PropensityOptions, PropensityReport, ResponseCounts, ResponseTable, Target,
};
pub use retention::{Retention, RetentionCohort, RetentionOptions};
pub use rfm::{CustomerRfm, RfmOptions, RfmReport, RfmRun, ScoreProgress, SegmentSummary};
pub use trend::{TrendOptions, TrendPoint, WinRateTrend};
pub use window::{Slice, Window};

use crm_core::service::Session;

/// Sales analytics for one session: what its actor may read, in its tenant.
#[derive(Clone, Copy, Debug)]
pub struct Sales<'s> {
    pub(crate) cx: &'s Session,
}

impl<'s> Sales<'s> {
    /// Sales analytics over what `cx`'s actor reads.
    pub fn new(cx: &'s Session) -> Self {
        Sales { cx }
    }
}

/// Customer analytics for one session: who the most valuable customers are
/// ([`Customers::portfolio`], [`Customers::clv`]), who is slipping away ([`Customers::rfm`],
/// [`Customers::churn`]), and how many come back ([`Customers::retention`]).
#[derive(Clone, Copy, Debug)]
pub struct Customers<'s> {
    pub(crate) cx: &'s Session,
}

/// `part` as a share of `whole`, 0–1 to six decimals; `None` when `whole` is zero (never a
/// NaN).
pub(crate) fn share(part: rust_decimal::Decimal, whole: rust_decimal::Decimal) -> Option<rust_decimal::Decimal> {
    if whole.is_zero() { None } else { part.checked_div(whole).map(|r| r.round_dp(6).normalize()) }
}

impl<'s> Customers<'s> {
    /// Customer analytics over what `cx`'s actor reads (and, to store scores, edits).
    pub fn new(cx: &'s Session) -> Self {
        Customers { cx }
    }
}
