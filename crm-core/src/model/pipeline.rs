use serde::{Deserialize, Serialize};

use crate::ids::{IdGenerator, PipelineId, StageId};
use crate::macros::str_enum;
use crate::macros::{new_input, record};
use crate::model::impl_entity;

str_enum! {
    /// Whether deals in a stage are still open, won or lost.
    pub enum StageKind { /** Still being worked. */ Open = "open", /** Closed won. */ Won = "won", /** Closed lost. */ Lost = "lost" }
}

str_enum! {
    /// Where a deal counts in a forecast by category: a default per stage
    /// ([`Stage::category`]), overridable per deal.
    pub enum ForecastCategory {
        /** Early: counted as pipeline only. */ Pipeline = "pipeline",
        /** Could close this period with luck. */ BestCase = "best_case",
        /** The seller commits to it closing. */ Commit = "commit",
        /** Won. */ Closed = "closed",
        /** Left out of the forecast (lost, or set aside). */ Omitted = "omitted"
    }
}

new_input! {
    /// One step of a pipeline.
    #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    pub struct Stage {
        /// Id, unique within the tenant.
        pub id: StageId => manual,
        /// Name shown to users; unique within the pipeline.
        pub name: String => manual,
        /// Win probability in percent (0–100), used for the weighted forecast.
        pub probability: u8 => manual,
        /// Open, won or lost.
        pub kind: StageKind => manual,
        /// A deal that sits in this stage longer than this many days is "rotting": the limit
        /// in days.
        pub rotting_days: Option<u32> => some_exact rotting_after(u32),
        /// A deal field that must be set before a deal may enter this stage
        /// (`amount`, `expected_close_date`, `company_id`, `contact_ids`, `owner_id`, or `custom.<key>`).
        pub required_fields: Vec<String> => push requires(String),
        /// The forecast category of deals in this stage (default: see [`Stage::category`]).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub forecast_category: Option<ForecastCategory> => some forecast(ForecastCategory),
    }
}

impl Stage {
    /// A stage with no rotting limit and no required fields.
    pub fn new(id: StageId, name: impl Into<String>, probability: u8, kind: StageKind) -> Self {
        Self {
            id,
            name: name.into(),
            probability,
            kind,
            rotting_days: None,
            required_fields: Vec::new(),
            forecast_category: None,
        }
    }

    /// The forecast category of deals in this stage: the one set on it, else closed for the
    /// won stage, omitted for the lost one, and for open stages commit from 80 % probability,
    /// best case from 50 %, pipeline below.
    ///
    /// ```
    /// use crm_core::ids::StageId;
    /// use crm_core::model::{ForecastCategory, Stage, StageKind};
    /// let proposal = Stage::new(StageId::new(), "Proposal", 60, StageKind::Open);
    /// assert_eq!(proposal.category(), ForecastCategory::BestCase);
    /// ```
    pub fn category(&self) -> ForecastCategory {
        match (self.forecast_category, self.kind) {
            (Some(c), _) => c,
            (None, StageKind::Won) => ForecastCategory::Closed,
            (None, StageKind::Lost) => ForecastCategory::Omitted,
            (None, StageKind::Open) if self.probability >= 80 => ForecastCategory::Commit,
            (None, StageKind::Open) if self.probability >= 50 => ForecastCategory::BestCase,
            (None, StageKind::Open) => ForecastCategory::Pipeline,
        }
    }
}

record! {
    /// An ordered sequence of stages deals move through. A tenant may have several.
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    pub struct Pipeline(PipelineId) {
        /// Name, e.g. "Sales".
        pub name: String,
        /// Whether new deals go here when no pipeline is named.
        pub is_default: bool,
        /// Stages in order.
        pub stages: Vec<Stage>,
    }
}

impl Pipeline {
    /// The stage with this id.
    pub fn stage(&self, id: StageId) -> Option<&Stage> {
        self.stages.iter().find(|s| s.id == id)
    }

    /// The stage with this name (case-insensitive).
    pub fn stage_named(&self, name: &str) -> Option<&Stage> {
        self.stages.iter().find(|s| s.name.eq_ignore_ascii_case(name))
    }

    /// The first open stage, where new deals start.
    pub fn first_open_stage(&self) -> Option<&Stage> {
        self.stages.iter().find(|s| s.kind == StageKind::Open)
    }

    /// The won stage.
    pub fn won_stage(&self) -> Option<&Stage> {
        self.stages.iter().find(|s| s.kind == StageKind::Won)
    }

    /// The lost stage.
    pub fn lost_stage(&self) -> Option<&Stage> {
        self.stages.iter().find(|s| s.kind == StageKind::Lost)
    }
}

/// The classic sales process: lead generation, qualification, needs identification, proposal,
/// presentation, handling objections, closed won, closed lost. From proposal on, a deal needs
/// an amount.
pub fn default_sales_stages(ids: &dyn IdGenerator) -> Vec<Stage> {
    let id = || StageId::from_uuid(ids.next_uuid());
    vec![
        Stage::new(id(), "Lead generation", 5, StageKind::Open).rotting_after(14),
        Stage::new(id(), "Qualification", 10, StageKind::Open).rotting_after(14),
        Stage::new(id(), "Needs identification", 25, StageKind::Open).rotting_after(21),
        Stage::new(id(), "Proposal", 50, StageKind::Open).rotting_after(21).requires("amount"),
        Stage::new(id(), "Presentation", 65, StageKind::Open).rotting_after(14).requires("amount"),
        Stage::new(id(), "Handling objections", 80, StageKind::Open).rotting_after(14).requires("amount"),
        Stage::new(id(), "Closed won", 100, StageKind::Won).requires("amount"),
        Stage::new(id(), "Closed lost", 0, StageKind::Lost),
    ]
}

impl_entity! {
    Pipeline, PipelineId, Pipeline, custom: false;
    unique: |p| if p.is_default { vec![crate::entity::UniqueKey::new("is_default", "default")] } else { Vec::new() };
    on_delete: [crate::entity::OnDelete::Restrict {
        kind: crate::entity::EntityKind::Deal,
        field: "pipeline_id", by: "id",
        reported: "pipeline_id",
        what: "deals are still in the pipeline",
    }];
    fields {
        "name": Text => |p| p.name.clone(),
        "is_default": Bool => |p| p.is_default,
    }
}
