//! Record kinds and references: [`EntityKind`], [`EntityRef`], the [`UniqueKey`]s stores
//! enforce and the [`OnDelete`] rules of dependent records. A leaf of the crate: the records
//! themselves, the [`Entity`](crate::model::Entity) trait and [`Record`](crate::model::Record)
//! are in [`model`](crate::model).

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::macros::str_enum_core;

str_enum_core! {
    /// The kinds of record a store holds.
    #[non_exhaustive]
    pub enum EntityKind {
        /** [`Contact`](crate::model::Contact). */ Contact = "contact",
        /** [`Company`](crate::model::Company). */ Company = "company",
        /** [`Deal`](crate::model::Deal). */ Deal = "deal",
        /** [`Pipeline`](crate::model::Pipeline). */ Pipeline = "pipeline",
        /** [`Activity`](crate::model::Activity). */ Activity = "activity",
        /** [`Relation`](crate::model::Relation). */ Relation = "relation",
        /** [`CustomField`](crate::model::CustomField) definition. */ CustomField = "custom_field",
        /** [`Product`](crate::model::Product). */ Product = "product",
        /** [`Order`](crate::model::Order). */ Order = "order",
        /** [`Invoice`](crate::model::Invoice). */ Invoice = "invoice",
        /** [`Payment`](crate::model::Payment). */ Payment = "payment",
        /** Service [`Case`](crate::model::Case). */ Case = "case",
        /** [`Feedback`](crate::model::Feedback). */ Feedback = "feedback",
        /** [`Campaign`](crate::model::Campaign). */ Campaign = "campaign",
        /** [`CampaignMember`](crate::model::CampaignMember). */ CampaignMember = "campaign_member",
        /** [`Segment`](crate::model::Segment). */ Segment = "segment",
        /** [`SyncLink`](crate::model::SyncLink): a local record paired with a remote one. */ SyncLink = "sync_link",
        /** [`SyncState`](crate::model::SyncState): an integration's named state. */ SyncState = "sync_state",
    }
}

/// A typed pointer to a record: its kind and id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct EntityRef {
    /// The kind.
    pub kind: EntityKind,
    /// The id.
    pub id: Uuid,
}

impl EntityRef {
    /// Builds a reference.
    pub fn new(kind: EntityKind, id: impl Into<Uuid>) -> Self {
        Self { kind, id: id.into() }
    }
}

impl std::fmt::Display for EntityRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.kind, self.id)
    }
}

/// A value that must be unique among a tenant's records of one kind (a product's SKU, an
/// invoice's number). Stores enforce these: a write that would give two records of the same
/// kind and tenant the same key fails with [`Error::Validation`](crate::error::Error::Validation),
/// code [`Duplicate`](crate::error::FieldErrorCode::Duplicate), naming `field`, and writes nothing.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct UniqueKey {
    /// The field the key comes from (reported in the error), e.g. `sku`.
    pub field: &'static str,
    /// The normalised value (e.g. upper-cased SKU). Keys of different fields never collide.
    pub value: String,
}

impl UniqueKey {
    /// A key on `field`.
    pub fn new(field: &'static str, value: impl Into<String>) -> Self {
        Self { field, value: value.into() }
    }
}

/// What deleting a record does to the records of one other kind that point at it through a
/// field: the declarative counterpart of SQL's `ON DELETE CASCADE` and `ON DELETE RESTRICT`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnDelete {
    /// They are deleted with it (a campaign's members).
    Cascade {
        /// Their kind.
        kind: EntityKind,
        /// Their field holding the deleted record's id.
        field: &'static str,
    },
    /// While any of them exists the delete is refused: [`Error::Validation`](crate::error::Error::Validation)
    /// with code [`Rule`](crate::error::FieldErrorCode::Rule) on `reported`, saying how many and `what`
    /// (a pipeline that still holds deals).
    Restrict {
        /// Their kind.
        kind: EntityKind,
        /// Their field holding the deleted record's id.
        field: &'static str,
        /// The field the refusal names.
        reported: &'static str,
        /// What they do, after their count: `deals are still in it`.
        what: &'static str,
    },
}
