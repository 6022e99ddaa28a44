//! What an embedder needs every day, in one import:
//!
//! ```
//! use crm_core::prelude::*;
//! # futures::executor::block_on(async {
//! let crm = Crm::new(MemoryStore::new());
//! let cx = crm.as_actor(&Actor::system(TenantId::new()));
//! let ada = cx.contacts().create(NewContact::new("Ada", "Lovelace")).await?;
//! assert_eq!(cx.contacts().count(&Filter::eq("given_name", "Ada")).await?, 1);
//! # let _: ContactId = ada.id;
//! # Ok::<_, Error>(()) }).unwrap();
//! ```
//!
//! Everything else lives in its module, by one path: the record types' parts in
//! [`model`](crate::model) and [`profile`](crate::profile), the service handles in
//! [`service`](crate::service), extension hooks in [`service::extension`](crate::service::extension), the storage
//! contract in [`store`](crate::store).

pub use crate::actor::Actor;
pub use crate::entity::{EntityKind, EntityRef};
pub use crate::error::{Error, FieldErrorCode, Result};
pub use crate::event::{Change, EventQuery, StoredEvent};
pub use crate::ids::{
    ActivityId, CampaignId, CaseId, CompanyId, ContactId, DealId, FeedbackId, InvoiceId, OrderId, PaymentId,
    PipelineId, ProductId, RelationId, RoleId, SegmentId, StageId, TeamId, TenantId, UserId, WorkflowId,
};
pub use crate::memory::MemoryStore;
pub use crate::model::{
    Action, Activity, ActivityKind, BuiltinRole, Campaign, CampaignChannel, Case, CaseChannel, CaseStatus, CaseType,
    Company, Contact, Deal, DealStatus, Feedback, FeedbackKind, ForecastCategory, Invoice, InvoiceStatus, LineItem,
    Order, OrderStatus, Payment, PaymentMethod, Pipeline, Priority, Product, Relation, RelationLabel, ResponseKind,
    RfmSegment, Role, Scope, Segment, Stage, Team, User, Workflow,
};
pub use crate::model::{Entity, Record};
pub use crate::money::{Currency, Money};
pub use crate::profile::LifecycleStage;
pub use crate::query::{Filter, Page, Query};
pub use crate::service::{
    Crm, NewActivity, NewCampaign, NewCase, NewCompany, NewContact, NewDeal, NewFeedback, NewInvoice, NewOrder,
    NewPayment, NewPipeline, NewProduct, NewRole, NewSegment, NewStage, NewTeam, NewUser, NewWorkflow, Session,
};
pub use crate::store::Store;
pub use crate::value::Value;
