//! Typed identifiers, the injectable id generator and clock.

use std::fmt;
use std::str::FromStr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Duration, SubsecRound, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! typed_id {
    ($(#[doc = $doc:literal])* $name:ident) => {
        $(#[doc = $doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A new id: a UUIDv7, time-ordered, unique.
            #[allow(clippy::new_without_default)] // a default that differs on every call would surprise
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }
            /// Wraps an existing UUID.
            pub const fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }
            /// The underlying UUID.
            pub const fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl From<Uuid> for $name {
            fn from(uuid: Uuid) -> Self {
                Self(uuid)
            }
        }

        impl From<$name> for Uuid {
            fn from(id: $name) -> Uuid {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }

        /// A UUID string, described by the id's documentation.
        #[cfg(feature = "openapi")]
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                crate::openapi::id_schema(&[$($doc),*])
            }
        }

        #[cfg(feature = "openapi")]
        impl utoipa::ToSchema for $name {
            fn name() -> std::borrow::Cow<'static, str> {
                std::borrow::Cow::Borrowed(stringify!($name))
            }
        }
    };
}

typed_id!(
    /// A tenant: the unit of data isolation. No API call reads or writes across tenants.
    TenantId
);
typed_id!(
    /// A user of the CRM (owner of records, author of changes): a
    /// [`User`](crate::model::User) record, or an id the embedding application manages.
    UserId
);
typed_id!(
    /// Id of a [`Team`](crate::model::Team).
    TeamId
);
typed_id!(
    /// Id of a tenant-defined [`Role`](crate::model::Role).
    RoleId
);
typed_id!(
    /// Id of a [`Contact`](crate::model::Contact).
    ContactId
);
typed_id!(
    /// Id of a [`Company`](crate::model::Company).
    CompanyId
);
typed_id!(
    /// Id of a [`Deal`](crate::model::Deal).
    DealId
);
typed_id!(
    /// Id of a [`Pipeline`](crate::model::Pipeline).
    PipelineId
);
typed_id!(
    /// Id of a [`Stage`](crate::model::Stage) within a pipeline.
    StageId
);
typed_id!(
    /// Id of an [`Activity`](crate::model::Activity).
    ActivityId
);
typed_id!(
    /// Id of a [`Relation`](crate::model::Relation).
    RelationId
);
typed_id!(
    /// Id of a [`CustomField`](crate::model::CustomField) definition.
    CustomFieldId
);
typed_id!(
    /// Id of a [`Product`](crate::model::Product).
    ProductId
);
typed_id!(
    /// Id of an [`Order`](crate::model::Order).
    OrderId
);
typed_id!(
    /// Id of an [`Invoice`](crate::model::Invoice).
    InvoiceId
);
typed_id!(
    /// Id of a [`Payment`](crate::model::Payment).
    PaymentId
);
typed_id!(
    /// Id of a service [`Case`](crate::model::Case).
    CaseId
);
typed_id!(
    /// Id of a [`Feedback`](crate::model::Feedback) record.
    FeedbackId
);
typed_id!(
    /// Id of a [`Campaign`](crate::model::Campaign).
    CampaignId
);
typed_id!(
    /// Id of a [`CampaignMember`](crate::model::CampaignMember).
    CampaignMemberId
);
typed_id!(
    /// Id of a [`Segment`](crate::model::Segment).
    SegmentId
);
typed_id!(
    /// Id of a [`SyncLink`](crate::model::SyncLink).
    SyncLinkId
);
typed_id!(
    /// Id of a [`SyncState`](crate::model::SyncState).
    SyncStateId
);
typed_id!(
    /// Id of a [`Merge`](crate::model::Merge).
    MergeId
);
typed_id!(
    /// Id of a [`Consent`](crate::model::Consent) ledger entry.
    ConsentId
);
typed_id!(
    /// Id of an [`Erasure`](crate::model::Erasure): the log of one person's erasure.
    ErasureId
);
typed_id!(
    /// Id of a [`Share`](crate::model::Share).
    ShareId
);
typed_id!(
    /// Id of an [`ApiKey`](crate::model::ApiKey).
    ApiKeyId
);
typed_id!(
    /// Id of a [`Workflow`](crate::model::Workflow).
    WorkflowId
);
typed_id!(
    /// Id of a [`WorkflowRun`](crate::model::WorkflowRun): one step of a workflow run.
    WorkflowRunId
);
typed_id!(
    /// Id of a [`WorkflowTimer`](crate::model::WorkflowTimer).
    WorkflowTimerId
);
typed_id!(
    /// Id of a [`Notification`](crate::model::Notification).
    NotificationId
);
typed_id!(
    /// Id of a domain [`Event`](crate::event::Event).
    EventId
);

/// Makes new ids. Ids must be UUIDv7 and increase over time.
pub trait IdGenerator: Send + Sync + 'static {
    /// A new, never-before-returned UUIDv7.
    fn next_uuid(&self) -> Uuid;
}

/// The production generator: random UUIDv7 from the system clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct UuidV7Generator;

impl IdGenerator for UuidV7Generator {
    fn next_uuid(&self) -> Uuid {
        Uuid::now_v7()
    }
}

/// A deterministic generator for tests and replays: valid UUIDv7 values whose
/// timestamp part starts at `start_ms` and whose every id is greater than the last.
#[derive(Debug)]
pub struct SequentialIds {
    start_ms: u64,
    counter: AtomicU64,
}

impl SequentialIds {
    /// Starts at the given Unix time in milliseconds.
    pub fn new(start_ms: u64) -> Self {
        Self { start_ms, counter: AtomicU64::new(0) }
    }
}

impl Default for SequentialIds {
    fn default() -> Self {
        Self::new(1_767_225_600_000) // 2026-01-01T00:00:00Z
    }
}

impl IdGenerator for SequentialIds {
    fn next_uuid(&self) -> Uuid {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let mut rand = [0u8; 10];
        rand[2..10].copy_from_slice(&n.to_be_bytes());
        uuid::Builder::from_unix_timestamp_millis(self.start_ms + n / 1000, &rand).into_uuid()
    }
}

/// The source of "now". Injectable so tests and replays are exact.
pub trait Clock: Send + Sync + 'static {
    /// The current time in UTC.
    fn now(&self) -> DateTime<Utc>;
}

impl<C: Clock + ?Sized> Clock for std::sync::Arc<C> {
    fn now(&self) -> DateTime<Utc> {
        (**self).now()
    }
}

/// The production clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that only moves when told to.
#[derive(Debug)]
pub struct ManualClock(Mutex<DateTime<Utc>>);

impl ManualClock {
    /// A clock stopped at `at`.
    pub fn new(at: DateTime<Utc>) -> Self {
        Self(Mutex::new(at))
    }
    /// Moves the clock to `at`.
    pub fn set(&self, at: DateTime<Utc>) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = at;
    }
    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let mut now = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *now += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Truncates to microseconds, the precision every store keeps.
pub(crate) fn storage_precision(t: DateTime<Utc>) -> DateTime<Utc> {
    t.trunc_subsecs(6)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequential_ids_are_v7_and_increasing() {
        let g = SequentialIds::default();
        let mut last = g.next_uuid();
        assert_eq!(last.get_version_num(), 7);
        for _ in 0..5000 {
            let next = g.next_uuid();
            assert_eq!(next.get_version_num(), 7);
            assert!(next > last);
            last = next;
        }
    }

    #[test]
    fn manual_clock_moves_only_when_told() {
        let t0 = DateTime::parse_from_rfc3339("2026-03-01T10:00:00Z").unwrap().to_utc();
        let c = ManualClock::new(t0);
        assert_eq!(c.now(), t0);
        c.advance(Duration::minutes(5));
        assert_eq!(c.now(), t0 + Duration::minutes(5));
    }
}
