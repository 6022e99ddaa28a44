//! What a merge changed, kept so that it can be undone ([`Merge`]).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::entity::{EntityKind, EntityRef};
use crate::ids::{MergeId, UserId};
use crate::macros::record;
use crate::model::{Record, impl_entity};

record! {
    /// A merge of records into one survivor, with everything it changed as it was before, so
    /// that [`unmerge`](crate::service::Contacts::unmerge) can put it back. Written by the merge
    /// itself; not edited by users.
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    pub struct Merge(MergeId) {
        /// The kind of the merged records.
        pub kind: EntityKind,
        /// The record that remains.
        pub survivor: Uuid,
        /// The records merged into it (deleted), in the order given.
        pub merged: Vec<Uuid>,
        /// The survivor and the merged records as they were before.
        #[cfg_attr(feature = "openapi", schema(no_recursion))]
        pub before: Vec<Record>,
        /// Every other record the merge changed (its reference moved to the survivor) or deleted
        /// (a membership or link the survivor already had), as it was before.
        #[cfg_attr(feature = "openapi", schema(no_recursion))]
        pub moved: Vec<Record>,
        /// Each record the merge left changed (the survivor and the moved ones), with the version
        /// it left: an undo requires them unchanged since.
        pub after: Vec<(EntityRef, u64)>,
        /// Who merged (None for the system).
        pub merged_by: Option<UserId>,
        /// When the merge was undone.
        pub undone_at: Option<DateTime<Utc>>,
    }
}

impl_entity! {
    Merge, MergeId, Merge, custom: false;
    fields {
        "kind": Text => |m| m.kind,
        "survivor": Id => |m| Some(m.survivor),
        "undone_at": DateTime => |m| m.undone_at,
    }
}
