//! Feedback: what a customer said.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::entity::{EntityKind, Links};
use crate::ids::{CaseId, CompanyId, ContactId, DealId, FeedbackId, OrderId, ProductId};
use crate::macros::record;
use crate::macros::str_enum;
use crate::model::{impl_entity, text_list};

str_enum! {
    /// What a piece of feedback is.
    #[non_exhaustive]
    pub enum FeedbackKind {
        /** An answer to a survey (rating and/or comment). */ Survey = "survey",
        /** A public review (needs a source and a rating). */ Review = "review",
        /** Why a deal went to a competitor (needs the competitor and a reason). */ LostToCompetitor = "lost_to_competitor",
        /** A suggestion or remark. */ Suggestion = "suggestion",
    }
}

record! {
    /// What a customer said: a survey answer, a public review, a suggestion, or why business was
    /// lost to a competitor.
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    pub struct Feedback(FeedbackId) {
        /// What it is.
        pub kind: FeedbackKind,
        /// Who said it.
        pub contact_id: Option<ContactId>,
        /// Their company.
        pub company_id: Option<CompanyId>,
        /// The case it is about.
        pub case_id: Option<CaseId>,
        /// The deal it is about.
        pub deal_id: Option<DealId>,
        /// The order it is about.
        pub order_id: Option<OrderId>,
        /// The product it is about.
        pub product_id: Option<ProductId>,
        /// Rating, 1 (worst) to 5 (best).
        pub rating: Option<u8>,
        /// Where it came from: a survey name, a review site…
        pub source: Option<String>,
        /// The text.
        pub text: Option<String>,
        /// The competitor business went to.
        pub competitor: Option<String>,
        /// Why.
        pub reason: Option<String>,
        /// When it was given.
        pub received_at: DateTime<Utc>,
        /// Free tags.
        pub tags: Vec<String>,
    }
}

impl_entity! {
    Feedback, FeedbackId, Feedback, custom: false;
    links: |f| Links::default()
        .customer(f.contact_id, f.company_id)
        .one("case_id", EntityKind::Case, f.case_id)
        .one("deal_id", EntityKind::Deal, f.deal_id)
        .one("order_id", EntityKind::Order, f.order_id)
        .one("product_id", EntityKind::Product, f.product_id);
    fields {
        "kind": Text => |f| f.kind,
        "contact_id": Id => |f| f.contact_id,
        "company_id": Id => |f| f.company_id,
        "case_id": Id => |f| f.case_id,
        "deal_id": Id => |f| f.deal_id,
        "order_id": Id => |f| f.order_id,
        "product_id": Id => |f| f.product_id,
        "rating": Int => |f| f.rating.map(u32::from),
        "source": Text => |f| f.source.clone(),
        "competitor": Text => |f| f.competitor.clone(),
        "received_at": DateTime => |f| f.received_at,
        "tags": TextList => |f| text_list(f.tags.iter().map(String::as_str)),
    }
}
