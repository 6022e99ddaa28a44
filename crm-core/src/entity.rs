//! Record kinds and references: [`EntityKind`], [`EntityRef`], the [`Links`] of a record, the [`UniqueKey`]s stores
//! enforce and the [`OnDelete`] rules of dependent records. A leaf of the crate: the records
//! themselves, the [`Entity`](crate::model::Entity) trait and [`Record`](crate::model::Record)
//! are in [`model`](crate::model).

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::ids::{CompanyId, ContactId};
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
        /** [`Merge`](crate::model::Merge): what a merge of records changed, to undo it. */ Merge = "merge",
        /** [`User`](crate::model::User): someone who works in the CRM. */ User = "user",
        /** [`Team`](crate::model::Team): a group of users. */ Team = "team",
        /** [`Role`](crate::model::Role): what users holding it may do. */ Role = "role",
        /** [`Consent`](crate::model::Consent): one entry of the consent ledger. */ Consent = "consent",
        /** [`Erasure`](crate::model::Erasure): the log of one person's erasure. */ Erasure = "erasure",
        /** [`Share`](crate::model::Share): a record opened to one more user or team. */ Share = "share",
        /** [`ApiKey`](crate::model::ApiKey): a secret a program acts as a user with. */ ApiKey = "api_key",
        /** [`Workflow`](crate::model::Workflow): an automation rule. */ Workflow = "workflow",
        /** [`WorkflowRun`](crate::model::WorkflowRun): one step of a workflow run, logged. */ WorkflowRun = "workflow_run",
        /** [`Notification`](crate::model::Notification): a message to a user. */ Notification = "notification",
        /** [`WorkflowTimer`](crate::model::WorkflowTimer): when a workflow is due to run. */ WorkflowTimer = "workflow_timer",
    }
}

/// A typed pointer to a record: its kind and id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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

/// One record named by a field of another.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    /// The field naming it, as errors report it: `company_id`, `contact_ids[1]`,
    /// `participants[0].contact_id`.
    pub field: String,
    /// The record named.
    pub to: EntityRef,
}

/// The records a record names, each with the field naming it, in field order: what
/// [`Entity::links`](crate::model::Entity::links) declares once per record kind. Events list
/// them as the records a change touches, and services check that every record a write newly
/// names exists ([`Links::added_since`]).
///
/// ```
/// use crm_core::entity::{EntityKind, Links};
/// use crm_core::ids::{CompanyId, ContactId};
/// let (ann, bob, acme) = (ContactId::new(), ContactId::new(), CompanyId::new());
/// let before = Links::default().each("contact_ids", EntityKind::Contact, &[ann]);
/// let after = Links::default()
///     .each("contact_ids", EntityKind::Contact, &[ann, bob])
///     .one("company_id", EntityKind::Company, Some(acme));
/// let fields: Vec<String> = after.added_since(Some(&before)).into_iter().map(|l| l.field).collect();
/// assert_eq!(fields, ["contact_ids[1]", "company_id"]);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Links(Vec<Link>);

impl Links {
    /// A field holding at most one id.
    pub fn one(mut self, field: &str, kind: EntityKind, id: Option<impl Into<Uuid>>) -> Self {
        if let Some(id) = id {
            self.0.push(Link { field: field.to_owned(), to: EntityRef::new(kind, id) });
        }
        self
    }

    /// A field holding a list of ids: `field[i]`.
    pub fn each<I: Copy + Into<Uuid>>(mut self, field: &str, kind: EntityKind, ids: &[I]) -> Self {
        let links = ids
            .iter()
            .enumerate()
            .map(|(i, id)| Link { field: format!("{field}[{i}]"), to: EntityRef::new(kind, *id) });
        self.0.extend(links);
        self
    }

    /// A field of each item of a list: `list[i].field`.
    pub fn each_in<T, I: Into<Uuid>>(
        mut self,
        list: &str,
        field: &str,
        kind: EntityKind,
        items: &[T],
        id: impl Fn(&T) -> Option<I>,
    ) -> Self {
        for (i, item) in items.iter().enumerate() {
            if let Some(id) = id(item) {
                self.0.push(Link { field: format!("{list}[{i}].{field}"), to: EntityRef::new(kind, id) });
            }
        }
        self
    }

    /// The customer of a document: `contact_id` and `company_id`.
    pub fn customer(self, contact: Option<ContactId>, company: Option<CompanyId>) -> Self {
        self.one("contact_id", EntityKind::Contact, contact).one("company_id", EntityKind::Company, company)
    }

    /// A field naming a record of any kind.
    pub fn any(mut self, field: &str, to: EntityRef) -> Self {
        self.0.push(Link { field: field.to_owned(), to });
        self
    }

    /// The links, in field order.
    pub fn iter(&self) -> impl Iterator<Item = &Link> {
        self.0.iter()
    }

    /// The records named, each once, in field order.
    pub fn refs(&self) -> Vec<EntityRef> {
        let mut out: Vec<EntityRef> = Vec::with_capacity(self.0.len());
        for l in &self.0 {
            if !out.contains(&l.to) {
                out.push(l.to);
            }
        }
        out
    }

    /// The links to records `before` did not name (all of them without a `before`), each record
    /// once, under the first field naming it. A record named before is not checked again: it
    /// may have been deleted since, which must not block unrelated changes.
    pub fn added_since(self, before: Option<&Links>) -> Vec<Link> {
        let old = before.map(Links::refs).unwrap_or_default();
        let mut out: Vec<Link> = Vec::new();
        for l in self.0 {
            if !old.contains(&l.to) && !out.iter().any(|o| o.to == l.to) {
                out.push(l);
            }
        }
        out
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
        /// Their field holding the deleted record's `by` (a list field: as one of its elements).
        field: &'static str,
        /// The deleted record's standard field they hold (`id` for most; a role's `key`).
        by: &'static str,
        /// The field the refusal names.
        reported: &'static str,
        /// What they do, after their count: `deals are still in it`.
        what: &'static str,
    },
}
