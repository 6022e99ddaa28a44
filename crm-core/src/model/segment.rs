//! Segments: saved filters over contacts.

use serde::{Deserialize, Serialize};

use crate::entity::{EntityKind, OnDelete, UniqueKey};
use crate::ids::SegmentId;
use crate::macros::record;
use crate::model::impl_entity;
use crate::query::Filter;

record! {
    /// A saved filter over contacts, evaluated live: its members are whoever matches now.
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    pub struct Segment(SegmentId) {
        /// Name (required, unique per tenant).
        pub name: String,
        /// What it is for.
        pub description: Option<String>,
        /// Which contacts belong (checked against the contact schema when saved).
        pub filter: Filter,
    }
}

impl_entity! {
    Segment, SegmentId, Segment, custom: false;
    unique: |s| vec![UniqueKey::new("name", s.name.to_lowercase())];
    on_delete: [OnDelete::Restrict {
        kind: EntityKind::Campaign,
        field: "segment_id", by: "id",
        reported: "id",
        what: "campaigns draw members from the segment",
    }];
    fields {
        "name": Text => |s| s.name.clone(),
    }
}
