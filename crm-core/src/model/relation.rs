use serde::{Deserialize, Serialize};

use crate::entity::{EntityKind, EntityRef, Links};
use crate::ids::RelationId;
use crate::macros::record;
use crate::macros::str_enum;
use crate::model::impl_entity;

str_enum! {
    /// The meaning of a link between two records. Each label allows certain record kinds
    /// on each end (see [`RelationLabel::allows`]).
    #[non_exhaustive]
    pub enum RelationLabel {
        /** Contact → company: works there (set `role`). */ WorksAt = "works_at",
        /** Contact → deal: makes the decision. */ DecisionMaker = "decision_maker",
        /** Contact → deal: champions us internally. */ Champion = "champion",
        /** Contact → deal: influences the decision. */ Influencer = "influencer",
        /** Contact → deal: holds the budget. */ EconomicBuyer = "economic_buyer",
        /** Contact → deal: stands in the way. */ Blocker = "blocker",
        /** Company → company: partners. */ Partner = "partner",
        /** Company → company: `from` supplies `to`. */ Supplier = "supplier",
        /** Company → company: `from` invests in `to`. */ Investor = "investor",
        /** Company → company: `from` is a subsidiary of `to`. */ Subsidiary = "subsidiary",
        /** Contact → contact: know each other (set `role`, e.g. "spouse"). */ Knows = "knows",
        /** Any → any: free-form (set `role`). */ Other = "other",
    }
}

impl RelationLabel {
    /// Whether `a → b` means the same as `b → a` (`partner`, `knows`).
    pub fn is_symmetric(self) -> bool {
        matches!(self, RelationLabel::Partner | RelationLabel::Knows)
    }

    /// Whether this label may link a `from` record to a `to` record of these kinds.
    pub fn allows(self, from: EntityKind, to: EntityKind) -> bool {
        use EntityKind as K;
        use RelationLabel as L;
        match self {
            L::WorksAt => from == K::Contact && to == K::Company,
            L::DecisionMaker | L::Champion | L::Influencer | L::EconomicBuyer | L::Blocker => {
                from == K::Contact && to == K::Deal
            }
            L::Partner | L::Supplier | L::Investor | L::Subsidiary => from == K::Company && to == K::Company,
            L::Knows => from == K::Contact && to == K::Contact,
            L::Other => true,
        }
    }
}

record! {
    /// A typed, labelled link between two records, queryable from both ends.
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    pub struct Relation(RelationId) {
        /// One end.
        pub from: EntityRef,
        /// The other end.
        pub to: EntityRef,
        /// What the link means.
        pub label: RelationLabel,
        /// A role on the link, e.g. "CFO" for `works_at`.
        pub role: Option<String>,
    }
}

impl Relation {
    /// The end that is not `me` (None if `me` is neither end).
    pub fn other_end(&self, me: EntityRef) -> Option<EntityRef> {
        if self.from == me {
            Some(self.to)
        } else if self.to == me {
            Some(self.from)
        } else {
            None
        }
    }
}

impl_entity! {
    Relation, RelationId, Relation, custom: false;
    links: |r| Links::default().any("from", r.from).any("to", r.to);
    fields {
        "from_kind": Text => |r| r.from.kind,
        "from_id": Id => |r| r.from.id,
        "to_kind": Text => |r| r.to.kind,
        "to_id": Id => |r| r.to.id,
        "label": Text => |r| r.label,
        "role": Text => |r| r.role.clone(),
    }
}
