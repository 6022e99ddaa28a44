//! What every record kind implements ([`Entity`]), the [`Record`] enum stores carry, and the
//! standard fields ([`StdField`]) filters and sorts may name.

use std::fmt::Debug;

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::entity::{EntityKind, EntityRef, Links, OnDelete, UniqueKey};
use crate::ids::{TenantId, UserId};
use crate::model::{
    Activity, Campaign, CampaignMember, Case, Company, Contact, CustomField, Deal, Feedback, Invoice, Merge, Order,
    Payment, Pipeline, Product, Relation, Role, Segment, SyncLink, SyncState, Team, User,
};
use crate::model::{ApiKey, Consent, Erasure, Notification, Share, Workflow, WorkflowRun, WorkflowTimer};
use crate::value::{CustomValues, Value, ValueType};

impl EntityKind {
    /// The standard (built-in) fields of this kind that filters and sorts may use.
    pub fn std_fields(self) -> &'static [StdField] {
        match self {
            EntityKind::Contact => Contact::std_fields(),
            EntityKind::Company => Company::std_fields(),
            EntityKind::Deal => Deal::std_fields(),
            EntityKind::Pipeline => Pipeline::std_fields(),
            EntityKind::Activity => Activity::std_fields(),
            EntityKind::Relation => Relation::std_fields(),
            EntityKind::CustomField => CustomField::std_fields(),
            EntityKind::Product => Product::std_fields(),
            EntityKind::Order => Order::std_fields(),
            EntityKind::Invoice => Invoice::std_fields(),
            EntityKind::Payment => Payment::std_fields(),
            EntityKind::Case => Case::std_fields(),
            EntityKind::Feedback => Feedback::std_fields(),
            EntityKind::Campaign => Campaign::std_fields(),
            EntityKind::CampaignMember => CampaignMember::std_fields(),
            EntityKind::Segment => Segment::std_fields(),
            EntityKind::SyncLink => SyncLink::std_fields(),
            EntityKind::SyncState => SyncState::std_fields(),
            EntityKind::Merge => Merge::std_fields(),
            EntityKind::User => User::std_fields(),
            EntityKind::Team => Team::std_fields(),
            EntityKind::Role => Role::std_fields(),
            EntityKind::Consent => Consent::std_fields(),
            EntityKind::Erasure => Erasure::std_fields(),
            EntityKind::Share => Share::std_fields(),
            EntityKind::ApiKey => ApiKey::std_fields(),
            EntityKind::Workflow => Workflow::std_fields(),
            EntityKind::WorkflowRun => WorkflowRun::std_fields(),
            EntityKind::Notification => Notification::std_fields(),
            EntityKind::WorkflowTimer => WorkflowTimer::std_fields(),
        }
    }

    /// The standard field called `name`.
    pub fn std_field(self, name: &str) -> Option<&'static StdField> {
        self.std_fields().iter().find(|f| f.name == name)
    }

    /// For a standard field that is an amount of money stored as a decimal, the standard field
    /// holding its currency (`amount` of a deal is in `currency`): what aggregates group money
    /// by, so that they never add amounts in different currencies.
    ///
    /// ```
    /// use crm_core::entity::EntityKind;
    /// assert_eq!(EntityKind::Deal.amount_currency("amount"), Some("currency"));
    /// assert_eq!(EntityKind::Product.amount_currency("tax_rate"), None);
    /// ```
    pub fn amount_currency(self, field: &str) -> Option<&'static str> {
        let amounts: &[&str] = match self {
            EntityKind::Deal => &["amount"],
            EntityKind::Order => &["subtotal", "tax", "total"],
            EntityKind::Invoice => &["total", "amount_paid", "balance_due"],
            EntityKind::Payment => &["amount", "unapplied"],
            EntityKind::Product => &["unit_price"],
            _ => &[],
        };
        amounts.contains(&field).then_some("currency")
    }

    /// Whether records of this kind carry custom fields.
    pub fn has_custom_fields(self) -> bool {
        matches!(
            self,
            EntityKind::Contact
                | EntityKind::Company
                | EntityKind::Deal
                | EntityKind::Activity
                | EntityKind::Product
                | EntityKind::Order
                | EntityKind::Invoice
                | EntityKind::Case
                | EntityKind::Campaign
        )
    }
}

/// A standard field that filters and sorts may name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StdField {
    /// Its name in queries, e.g. `lifecycle_stage`.
    pub name: &'static str,
    /// Its type.
    pub ty: ValueType,
}

/// What every record type implements. Stores see records only through [`Record`];
/// typed code uses this trait to convert.
pub trait Entity: Clone + Debug + Serialize + DeserializeOwned + Send + Sync + 'static {
    /// The kind.
    const KIND: EntityKind;
    /// Its typed id.
    type Id: Copy + Debug + Eq + Into<Uuid> + From<Uuid> + Send + Sync;
    /// The id.
    fn id(&self) -> Self::Id;
    /// The owning tenant.
    fn tenant_id(&self) -> TenantId;
    /// The version (1 after insert, +1 on every update).
    fn version(&self) -> u64;
    /// Sets the version.
    fn set_version(&mut self, version: u64);
    /// When it was created.
    fn created_at(&self) -> DateTime<Utc>;
    /// When it last changed.
    fn updated_at(&self) -> DateTime<Utc>;
    /// Sets the last-changed time.
    fn set_updated_at(&mut self, at: DateTime<Utc>);
    /// Copies the fields no update may change (id, tenant, creation time) from `stored`.
    fn keep_identity(&mut self, stored: &Self);
    /// Custom field values (None for kinds without custom fields).
    fn custom(&self) -> Option<&CustomValues>;
    /// Custom field values, mutable.
    fn custom_mut(&mut self) -> Option<&mut CustomValues>;
    /// The standard fields that filters and sorts may name.
    fn std_fields() -> &'static [StdField];
    /// The value of standard field `name` (None if no such field).
    fn std_field(&self, name: &str) -> Option<Value>;
    /// The records this one names, each with the field naming it.
    fn links(&self) -> Links;
    /// The records this one names, each once (an event about it "touches" them too).
    fn related(&self) -> Vec<EntityRef> {
        self.links().refs()
    }
    /// Values that must be unique among the tenant's records of this kind.
    fn unique_keys(&self) -> Vec<UniqueKey>;
    /// Wraps into a [`Record`].
    fn into_record(self) -> Record;
    /// Unwraps from a [`Record`] of the same kind.
    fn from_record(record: Record) -> Option<Self>;
    /// Borrows from a [`Record`] of the same kind.
    fn from_record_ref(record: &Record) -> Option<&Self>;
    /// A reference to this record.
    fn entity_ref(&self) -> EntityRef {
        EntityRef { kind: Self::KIND, id: self.id().into() }
    }
    /// Who owns it, for kinds whose records have an owner (`owner_id`).
    fn owner(&self) -> Option<UserId> {
        None
    }
    /// Sets the owner (kinds without owners ignore it).
    fn set_owner(&mut self, _owner: Option<UserId>) {}
    /// What deleting a record of this kind does to the records of other kinds that point at it
    /// (the [`Relation`]s at either end are always deleted with it).
    const ON_DELETE: &'static [OnDelete] = &[];
    /// Refuses to delete this record in its present state (a placed order is history, an
    /// accounting-managed invoice belongs to accounting), naming the field and why.
    fn check_delete(&self) -> crate::error::Result<()> {
        Ok(())
    }
}

/// A record of any kind, as stores hold it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "kind", content = "record", rename_all = "snake_case")]
#[non_exhaustive]
#[allow(clippy::large_enum_variant)]
pub enum Record {
    /// A contact.
    Contact(Contact),
    /// A company.
    Company(Company),
    /// A deal.
    Deal(Deal),
    /// A pipeline.
    Pipeline(Pipeline),
    /// An activity.
    Activity(Activity),
    /// A relation.
    Relation(Relation),
    /// A custom field definition.
    CustomField(CustomField),
    /// A product.
    Product(Product),
    /// An order.
    Order(Order),
    /// An invoice.
    Invoice(Invoice),
    /// A payment.
    Payment(Payment),
    /// A service case.
    Case(Case),
    /// A feedback record.
    Feedback(Feedback),
    /// A campaign.
    Campaign(Campaign),
    /// A campaign member.
    CampaignMember(CampaignMember),
    /// A segment.
    Segment(Segment),
    /// A sync link.
    SyncLink(SyncLink),
    /// An integration's state.
    SyncState(SyncState),
    /// A merge's undo record.
    Merge(Merge),
    /// A user.
    User(User),
    /// A team.
    Team(Team),
    /// A tenant-defined role.
    Role(Role),
    /// A consent ledger entry.
    Consent(Consent),
    /// The log of an erasure.
    Erasure(Erasure),
    /// A share.
    Share(Share),
    /// An API key.
    ApiKey(ApiKey),
    /// An automation rule.
    Workflow(Workflow),
    /// A logged step of a workflow run.
    WorkflowRun(WorkflowRun),
    /// A message to a user.
    Notification(Notification),
    /// When a workflow is due to run.
    WorkflowTimer(WorkflowTimer),
}

macro_rules! dispatch {
    ($self:expr, $r:ident => $e:expr) => {
        match $self {
            Record::Contact($r) => $e,
            Record::Company($r) => $e,
            Record::Deal($r) => $e,
            Record::Pipeline($r) => $e,
            Record::Activity($r) => $e,
            Record::Relation($r) => $e,
            Record::CustomField($r) => $e,
            Record::Product($r) => $e,
            Record::Order($r) => $e,
            Record::Invoice($r) => $e,
            Record::Payment($r) => $e,
            Record::Case($r) => $e,
            Record::Feedback($r) => $e,
            Record::Campaign($r) => $e,
            Record::CampaignMember($r) => $e,
            Record::Segment($r) => $e,
            Record::SyncLink($r) => $e,
            Record::SyncState($r) => $e,
            Record::Merge($r) => $e,
            Record::User($r) => $e,
            Record::Team($r) => $e,
            Record::Role($r) => $e,
            Record::Consent($r) => $e,
            Record::Erasure($r) => $e,
            Record::Share($r) => $e,
            Record::ApiKey($r) => $e,
            Record::Workflow($r) => $e,
            Record::WorkflowRun($r) => $e,
            Record::Notification($r) => $e,
            Record::WorkflowTimer($r) => $e,
        }
    };
}

/// A record without its kind's envelope, for serialising (see [`Record::body`]).
#[derive(Clone, Copy, Debug)]
pub struct RecordBody<'a>(&'a Record);

impl Serialize for RecordBody<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        dispatch!(self.0, r => r.serialize(s))
    }
}

impl Record {
    /// The record itself, serialised without the kind's envelope: the fields of a contact
    /// where the `Record` is `{"kind": "contact", "record": {…}}`.
    ///
    /// ```
    /// # use crm_core::prelude::*;
    /// # use chrono::Utc;
    /// let r = Team {
    ///     id: TeamId::new(), tenant_id: TenantId::new(), version: 1,
    ///     created_at: Utc::now(), updated_at: Utc::now(),
    ///     name: "North".into(), description: None, members: vec![],
    /// }
    /// .into_record();
    /// let body = serde_json::to_value(r.body()).unwrap();
    /// assert_eq!(body["name"], "North");
    /// assert_eq!(serde_json::to_value(&r).unwrap()["record"], body);
    /// ```
    pub fn body(&self) -> RecordBody<'_> {
        RecordBody(self)
    }

    /// The kind.
    pub fn kind(&self) -> EntityKind {
        fn kind_of<E: Entity>(_: &E) -> EntityKind {
            E::KIND
        }
        dispatch!(self, r => kind_of(r))
    }
    /// The id.
    pub fn id(&self) -> Uuid {
        dispatch!(self, r => r.id().into())
    }
    /// The owning tenant.
    pub fn tenant_id(&self) -> TenantId {
        dispatch!(self, r => r.tenant_id())
    }
    /// The version.
    pub fn version(&self) -> u64 {
        dispatch!(self, r => r.version())
    }
    /// Sets the version.
    pub fn set_version(&mut self, version: u64) {
        dispatch!(self, r => r.set_version(version))
    }
    /// Sets the last-changed time.
    pub fn set_updated_at(&mut self, at: DateTime<Utc>) {
        dispatch!(self, r => r.set_updated_at(at))
    }
    /// When it was created.
    pub fn created_at(&self) -> DateTime<Utc> {
        dispatch!(self, r => r.created_at())
    }
    /// When it last changed.
    pub fn updated_at(&self) -> DateTime<Utc> {
        dispatch!(self, r => r.updated_at())
    }
    /// Custom field values.
    pub fn custom(&self) -> Option<&CustomValues> {
        dispatch!(self, r => r.custom())
    }
    /// Custom field values, mutable.
    pub fn custom_mut(&mut self) -> Option<&mut CustomValues> {
        dispatch!(self, r => r.custom_mut())
    }
    /// A reference to this record.
    pub fn entity_ref(&self) -> EntityRef {
        EntityRef { kind: self.kind(), id: self.id() }
    }
    /// The records this one names, each with the field naming it.
    pub fn links(&self) -> Links {
        dispatch!(self, r => r.links())
    }
    /// The records this one names, each once.
    pub fn related(&self) -> Vec<EntityRef> {
        dispatch!(self, r => r.related())
    }
    /// Values that must be unique among the tenant's records of this kind.
    pub fn unique_keys(&self) -> Vec<UniqueKey> {
        dispatch!(self, r => r.unique_keys())
    }
    /// Who owns it, for kinds whose records have an owner.
    pub fn owner(&self) -> Option<UserId> {
        dispatch!(self, r => r.owner())
    }
    /// Sets the owner (kinds without owners ignore it).
    pub fn set_owner(&mut self, owner: Option<UserId>) {
        dispatch!(self, r => r.set_owner(owner))
    }
    /// The value of a standard field (None if no such field).
    pub fn std_field(&self, name: &str) -> Option<Value> {
        dispatch!(self, r => r.std_field(name))
    }
    /// The value of a field: standard, or custom (missing custom values are [`Value::Null`]).
    pub fn field(&self, field: &crate::query::Field) -> Value {
        match field {
            crate::query::Field::Std(name) => self.std_field(name).unwrap_or(Value::Null),
            crate::query::Field::Custom(key) => self.custom().and_then(|c| c.get(key)).cloned().unwrap_or(Value::Null),
        }
    }
    /// Converts into a typed entity.
    pub fn into_entity<E: Entity>(self) -> Option<E> {
        E::from_record(self)
    }
}

/// Implements [`Entity`] for a record struct with the common meta fields
/// (`id`, `tenant_id`, `version`, `created_at`, `updated_at`).
macro_rules! impl_entity {
    (
        $ty:ident, $id:ty, $kind:ident, custom: $custom:tt;
        $( owner: $owner:ident; )?
        $( links: |$rs:ident| $links:expr; )?
        $( unique: |$us:ident| $unique:expr; )?
        $( on_delete: [ $( $od:expr ),* $(,)? ]; )?
        $( deletable: |$ds:ident| $deletable:expr; )?
        fields { $( $fname:literal : $fty:ident => |$s:ident| $fexpr:expr ),* $(,)? }
    ) => {
        impl $crate::model::Entity for $ty {
            const KIND: $crate::entity::EntityKind = $crate::entity::EntityKind::$kind;
            type Id = $id;
            fn id(&self) -> $id { self.id }
            fn tenant_id(&self) -> $crate::ids::TenantId { self.tenant_id }
            fn version(&self) -> u64 { self.version }
            fn set_version(&mut self, version: u64) { self.version = version }
            fn created_at(&self) -> ::chrono::DateTime<::chrono::Utc> { self.created_at }
            fn updated_at(&self) -> ::chrono::DateTime<::chrono::Utc> { self.updated_at }
            fn set_updated_at(&mut self, at: ::chrono::DateTime<::chrono::Utc>) { self.updated_at = at }
            fn keep_identity(&mut self, stored: &Self) {
                self.id = stored.id;
                self.tenant_id = stored.tenant_id;
                self.created_at = stored.created_at;
            }
            fn custom(&self) -> Option<&$crate::value::CustomValues> { impl_entity!(@custom_ref self, $custom) }
            fn custom_mut(&mut self) -> Option<&mut $crate::value::CustomValues> { impl_entity!(@custom_mut self, $custom) }
            fn std_fields() -> &'static [$crate::model::StdField] {
                &[
                    $crate::model::StdField { name: "id", ty: $crate::value::ValueType::Id },
                    $crate::model::StdField { name: "version", ty: $crate::value::ValueType::Int },
                    $crate::model::StdField { name: "created_at", ty: $crate::value::ValueType::DateTime },
                    $crate::model::StdField { name: "updated_at", ty: $crate::value::ValueType::DateTime },
                    $( $crate::model::StdField { name: $fname, ty: $crate::value::ValueType::$fty }, )*
                ]
            }
            fn std_field(&self, name: &str) -> Option<$crate::value::Value> {
                use $crate::value::Value;
                Some(match name {
                    "id" => Value::Id(self.id.into()),
                    "version" => Value::Int(self.version as i64),
                    "created_at" => Value::DateTime(self.created_at),
                    "updated_at" => Value::DateTime(self.updated_at),
                    $( $fname => { let $s = self; Value::from($fexpr) } )*
                    _ => return None,
                })
            }
            fn links(&self) -> $crate::entity::Links {
                let links = impl_entity!(@links self $(, |$rs| $links)?);
                $( let links = links.one(stringify!($owner), $crate::entity::EntityKind::User, self.$owner); )?
                links
            }
            $(
                fn owner(&self) -> Option<$crate::ids::UserId> { self.$owner }
                fn set_owner(&mut self, owner: Option<$crate::ids::UserId>) { self.$owner = owner }
            )?
            fn unique_keys(&self) -> Vec<$crate::entity::UniqueKey> {
                impl_entity!(@unique self $(, |$us| $unique)?)
            }
            fn into_record(self) -> $crate::model::Record { $crate::model::Record::$kind(self) }
            fn from_record(record: $crate::model::Record) -> Option<Self> {
                match record { $crate::model::Record::$kind(x) => Some(x), _ => None }
            }
            fn from_record_ref(record: &$crate::model::Record) -> Option<&Self> {
                match record { $crate::model::Record::$kind(x) => Some(x), _ => None }
            }
            $( const ON_DELETE: &'static [$crate::entity::OnDelete] = &[ $( $od ),* ]; )?
            $(
                fn check_delete(&self) -> $crate::error::Result<()> {
                    let $ds = self;
                    $deletable
                }
            )?
        }
    };
    (@links $s:ident) => { $crate::entity::Links::default() };
    (@links $s:ident, |$rs:ident| $links:expr) => {{
        let $rs = $s;
        $links
    }};
    (@unique $s:ident) => { Vec::new() };
    (@unique $s:ident, |$us:ident| $unique:expr) => {{
        let $us = $s;
        let mut keys: Vec<$crate::entity::UniqueKey> = $unique;
        keys.sort();
        keys.dedup();
        keys
    }};
    (@custom_ref $s:ident, true) => { Some(&$s.custom) };
    (@custom_ref $s:ident, false) => { None };
    (@custom_mut $s:ident, true) => { Some(&mut $s.custom) };
    (@custom_mut $s:ident, false) => { None };
}

pub(crate) use impl_entity;

/// Converts a list of typed ids into a [`Value::List`] of ids.
pub(crate) fn id_list<I: Copy + Into<Uuid>>(ids: &[I]) -> Value {
    Value::List(ids.iter().map(|i| Value::Id((*i).into())).collect())
}

/// Converts a list of strings into a [`Value::List`] of text.
pub(crate) fn text_list<'a>(items: impl IntoIterator<Item = &'a str>) -> Value {
    Value::List(items.into_iter().map(|s| Value::Text(s.to_owned())).collect())
}
