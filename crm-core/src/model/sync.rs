//! What connectors to other systems remember: which local record is which remote one
//! ([`SyncLink`]), and named state such as cursors ([`SyncState`]).
//!
//! These records are written by integrations (crm-integrations' accounting sync, the IMAP
//! mailbox sync, webhook dispatch) through [`SyncRecords`](crate::service::SyncRecords). They emit no domain events:
//! they are bookkeeping, not customer data.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::entity::{EntityRef, UniqueKey};
use crate::ids::{SyncLinkId, SyncStateId};
use crate::macros::record;
use crate::model::impl_entity;

/// A field both the CRM and the other system changed since the last sync, to different values.
/// Neither side is overwritten until someone resolves it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SyncConflict {
    /// The CRM's field name (e.g. `name`).
    pub field: String,
    /// The value both sides agreed on at the last sync.
    pub base: Option<String>,
    /// The CRM's value now.
    pub local: Option<String>,
    /// The other system's value now.
    pub remote: Option<String>,
    /// When the conflict was found.
    pub detected_at: DateTime<Utc>,
}

record! {
    /// One local record paired with one record in another system, for one connection.
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    pub struct SyncLink(SyncLinkId) {
        /// The connection: the system and its account, e.g. `xero:2a1f…` (the Xero tenant).
        pub connection: String,
        /// The local record.
        pub local: EntityRef,
        /// The remote record's type, e.g. `Contact`, `Invoice`.
        pub remote_kind: String,
        /// The remote record's id.
        pub remote_id: String,
        /// The remote record's version when last synced (Xero `UpdatedDateUTC`, QuickBooks `SyncToken`).
        pub remote_version: Option<String>,
        /// The shared fields' values both sides had at the last sync: the base of the three-way merge.
        pub snapshot: BTreeMap<String, Option<String>>,
        /// Fields both sides changed differently, waiting to be resolved.
        pub conflicts: Vec<SyncConflict>,
        /// Fields resolved by hand that the next sync has yet to carry across.
        #[serde(default)]
        pub resolved: Vec<String>,
        /// When it was last synced.
        pub synced_at: DateTime<Utc>,
    }
}

impl SyncLink {
    /// The key that is unique per remote record.
    pub fn remote_key(connection: &str, remote_kind: &str, remote_id: &str) -> String {
        format!("{connection}|{remote_kind}|{remote_id}")
    }

    /// The key that is unique per local record.
    pub fn local_key(connection: &str, local: EntityRef) -> String {
        format!("{connection}|{}|{}", local.kind, local.id)
    }
}

impl_entity! {
    SyncLink, SyncLinkId, SyncLink, custom: false;
    unique: |l| vec![
        UniqueKey::new("remote", SyncLink::remote_key(&l.connection, &l.remote_kind, &l.remote_id)),
        UniqueKey::new("local", SyncLink::local_key(&l.connection, l.local)),
    ];
    fields {
        "connection": Text => |l| l.connection.clone(),
        "local_kind": Text => |l| l.local.kind,
        "local_id": Id => |l| Some(l.local.id),
        "remote_kind": Text => |l| l.remote_kind.clone(),
        "remote_id": Text => |l| l.remote_id.clone(),
        "conflicts": Int => |l| l.conflicts.len() as i64,
        "resolved": Int => |l| l.resolved.len() as i64,
        "synced_at": DateTime => |l| l.synced_at,
    }
}

record! {
    /// A named piece of an integration's state (a cursor, a mailbox's UIDVALIDITY and last UID,
    /// a connection's tokens), as JSON. Keys are unique per tenant.
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    pub struct SyncState(SyncStateId) {
        /// The key, e.g. `xero:2a1f…/cursor/Contacts`.
        pub key: String,
        /// The value.
        pub value: serde_json::Value,
    }
}

impl_entity! {
    SyncState, SyncStateId, SyncState, custom: false;
    unique: |s| vec![UniqueKey::new("key", s.key.clone())];
    fields {
        "key": Text => |s| s.key.clone(),
    }
}
