//! Notifications: short messages to a user of the CRM (a rule fired, a case is about to breach
//! its SLA), read or unread.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::entity::{EntityKind, EntityRef, Links};
use crate::ids::{NotificationId, UserId};
use crate::macros::record;
use crate::model::impl_entity;

record! {
    /// A message to user `user_id`, about a record when `link` names one.
    #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    pub struct Notification(NotificationId) {
        /// Who it is for.
        pub user_id: UserId,
        /// What it says.
        pub message: String,
        /// The record it is about.
        pub link: Option<EntityRef>,
        /// What sent it: `workflow:<id>` for an automation, an extension's id; None for a person
        /// or the system.
        pub source: Option<String>,
        /// When its user read it (None: unread).
        pub read_at: Option<DateTime<Utc>>,
    }
}

impl_entity! {
    Notification, NotificationId, Notification, custom: false;
    links: |n| Links::default().one("user_id", EntityKind::User, Some(n.user_id));
    fields {
        "user_id": Id => |n| Some(n.user_id),
        "record_id": Id => |n| n.link.map(|l| l.id),
        "source": Text => |n| n.source.clone(),
        "read_at": DateTime => |n| n.read_at,
    }
}
