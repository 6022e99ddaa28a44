use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::entity::{EntityKind, Links};
use crate::ids::{CaseId, CompanyId, ContactId, OrderId, ProductId, UserId};
use crate::macros::record;
use crate::macros::str_enum;
use crate::model::{impl_entity, text_list};
use crate::value::CustomValues;

str_enum! {
    /// How a case reached the business.
    #[non_exhaustive]
    pub enum CaseChannel {
        /** Phone. */ Phone = "phone", /** Email. */ Email = "email", /** Web form or portal. */ Web = "web",
        /** Chat. */ Chat = "chat", /** In person. */ InPerson = "in_person",
    }
}

str_enum! {
    /// What a case is about.
    #[non_exhaustive]
    pub enum CaseType {
        /** A question. */ Question = "question", /** Something does not work. */ Problem = "problem",
        /** A complaint. */ Complaint = "complaint", /** A return (RMA): needs the product and a reason. */ Return = "return",
        /** A feature request. */ FeatureRequest = "feature_request",
    }
}

str_enum! {
    /// How urgent a case is; sets its SLA due time.
    pub enum Priority { /** Low. */ Low = "low", /** Normal. */ Normal = "normal", /** High. */ High = "high", /** Urgent. */ Urgent = "urgent" }
}

str_enum! {
    /// Where a case is in its life.
    ///
    /// `new → open ⇄ pending_customer → resolved → closed`; from new, open or pending a case
    /// may also be resolved or closed directly. Resolved and closed cases change only through
    /// `reopen` (back to open); a resolved case may also be closed.
    pub enum CaseStatus {
        /** Just came in. */ New = "new", /** Being worked. */ Open = "open",
        /** Waiting for the customer. */ PendingCustomer = "pending_customer",
        /** Solved; the customer may still confirm. */ Resolved = "resolved", /** Done. */ Closed = "closed",
    }
}

impl CaseStatus {
    /// Whether a case may move from `self` to `to` without reopening.
    pub fn can_become(self, to: CaseStatus) -> bool {
        use CaseStatus::*;
        matches!(
            (self, to),
            (New, Open | PendingCustomer | Resolved | Closed)
                | (Open, PendingCustomer | Resolved | Closed)
                | (PendingCustomer, Open | Resolved | Closed)
                | (Resolved, Closed)
        )
    }

    /// Whether the case is still being worked (new, open or pending).
    pub fn is_active(self) -> bool {
        matches!(self, CaseStatus::New | CaseStatus::Open | CaseStatus::PendingCustomer)
    }
}

/// How long a case of each priority may take to resolve.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlaPolicy {
    /// Low priority.
    pub low: Duration,
    /// Normal priority.
    pub normal: Duration,
    /// High priority.
    pub high: Duration,
    /// Urgent priority.
    pub urgent: Duration,
}

impl Default for SlaPolicy {
    /// 5 days, 3 days, 1 day, 4 hours.
    fn default() -> Self {
        Self { low: Duration::days(5), normal: Duration::days(3), high: Duration::days(1), urgent: Duration::hours(4) }
    }
}

impl SlaPolicy {
    /// The resolution time allowed at `priority`.
    pub fn target(&self, priority: Priority) -> Duration {
        match priority {
            Priority::Low => self.low,
            Priority::Normal => self.normal,
            Priority::High => self.high,
            Priority::Urgent => self.urgent,
        }
    }
}

record! {
    /// A customer service case: a question, problem, complaint, return or request, worked to a
    /// resolution within its SLA.
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    pub struct Case(CaseId) {
        /// One-line summary (required).
        pub subject: String,
        /// The customer's account of it.
        pub description: Option<String>,
        /// How it came in.
        pub channel: CaseChannel,
        /// What it is about.
        pub case_type: CaseType,
        /// How urgent it is.
        pub priority: Priority,
        /// Where it is. Changed only by the case service's status methods.
        pub status: CaseStatus,
        /// The user working it.
        pub owner_id: Option<UserId>,
        /// The customer (at least one of contact and company is set).
        pub contact_id: Option<ContactId>,
        /// The customer's company.
        pub company_id: Option<CompanyId>,
        /// The order it concerns.
        pub order_id: Option<OrderId>,
        /// The product it concerns (required for returns).
        pub product_id: Option<ProductId>,
        /// Why the product comes back (required for returns).
        pub return_reason: Option<String>,
        /// When it came in (SLA clock start).
        pub opened_at: DateTime<Utc>,
        /// When it must be resolved by (from the SLA policy and the priority).
        pub sla_due_at: DateTime<Utc>,
        /// Whether it was (or is) resolved late. Set when resolved late or found late by a sweep.
        pub sla_breached: bool,
        /// When it was resolved.
        pub resolved_at: Option<DateTime<Utc>>,
        /// When it was closed.
        pub closed_at: Option<DateTime<Utc>>,
        /// How it was solved (required to resolve).
        pub resolution: Option<String>,
        /// The customer's satisfaction, 1 (worst) to 5 (best).
        pub satisfaction: Option<u8>,
        /// The customer's comment in the satisfaction survey.
        pub survey_comment: Option<String>,
        /// Free tags.
        pub tags: Vec<String>,
        /// Custom field values.
        #[cfg_attr(feature = "openapi", schema(value_type = std::collections::BTreeMap<String, crate::value::FieldValue>))]
        pub custom: CustomValues,
    }
}

impl Case {
    /// Time from opening to resolution, once resolved.
    pub fn resolution_time(&self) -> Option<Duration> {
        self.resolved_at.map(|r| r - self.opened_at)
    }

    /// Whether the SLA is breached as of `now`: resolved late, or still active past due.
    pub fn is_breached_at(&self, now: DateTime<Utc>) -> bool {
        match self.resolved_at {
            Some(r) => r > self.sla_due_at,
            None => self.status.is_active() && now > self.sla_due_at,
        }
    }
}

impl_entity! {
    Case, CaseId, Case, custom: true;
    owner: owner_id;
    links: |c| Links::default()
        .customer(c.contact_id, c.company_id)
        .one("order_id", EntityKind::Order, c.order_id)
        .one("product_id", EntityKind::Product, c.product_id);
    fields {
        "subject": Text => |c| c.subject.clone(),
        "channel": Text => |c| c.channel,
        "case_type": Text => |c| c.case_type,
        "priority": Text => |c| c.priority,
        "status": Text => |c| c.status,
        "owner_id": Id => |c| c.owner_id,
        "contact_id": Id => |c| c.contact_id,
        "company_id": Id => |c| c.company_id,
        "order_id": Id => |c| c.order_id,
        "product_id": Id => |c| c.product_id,
        "opened_at": DateTime => |c| c.opened_at,
        "sla_due_at": DateTime => |c| c.sla_due_at,
        "sla_breached": Bool => |c| c.sla_breached,
        "resolved_at": DateTime => |c| c.resolved_at,
        "satisfaction": Int => |c| c.satisfaction.map(u32::from),
        "tags": TextList => |c| text_list(c.tags.iter().map(String::as_str)),
    }
}
