//! Sharing: one record opened to one more user or team, for reading or editing, beyond what
//! their roles' scopes reach (a deal shared with a colleague covering a holiday).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::entity::{EntityKind, EntityRef, Links, UniqueKey};
use crate::ids::{ShareId, TeamId, UserId};
use crate::macros::{record, str_enum};
use crate::model::impl_entity;

str_enum! {
    /// What a share opens.
    pub enum ShareAccess {
        /** Reading the record. */ Read = "read",
        /** Reading and updating it. */ Edit = "edit",
    }
}

record! {
    /// A record shared with a user or a team. A share widens the record rules, never the
    /// roles: it opens the record to those its grantee's roles let read (or update) records of
    /// its kind at some scope, and it opens nothing else (deleting, assigning, exporting).
    #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    pub struct Share(ShareId) {
        /// The record shared: of a kind with owners.
        pub record: EntityRef,
        /// The user it is shared with (or a team).
        pub user_id: Option<UserId>,
        /// The team it is shared with: each member, as they are now (or a user).
        pub team_id: Option<TeamId>,
        /// Read, or edit.
        pub access: ShareAccess,
        /// Who shared it.
        pub shared_by: Option<UserId>,
        /// Why.
        pub note: Option<String>,
        /// When it stops counting (None: until revoked).
        pub expires_at: Option<DateTime<Utc>>,
    }
}

impl Share {
    fn grantee(&self) -> String {
        match (self.user_id, self.team_id) {
            (Some(u), _) => format!("user:{u}"),
            (None, Some(t)) => format!("team:{t}"),
            (None, None) => "nobody".into(),
        }
    }
}

impl_entity! {
    Share, ShareId, Share, custom: false;
    links: |s| Links::default()
        .any("record", s.record)
        .one("user_id", EntityKind::User, s.user_id)
        .one("team_id", EntityKind::Team, s.team_id);
    unique: |s| vec![UniqueKey::new("record", format!("{}:{}:{}", s.record.kind, s.record.id, s.grantee()))];
    deletable: |_s| Err(crate::error::Error::invalid(
        "id",
        crate::error::FieldErrorCode::Rule,
        "a share is revoked through `cx.shares().revoke`, by who may share the record",
    ));
    fields {
        "record_kind": Text => |s| s.record.kind,
        "record_id": Id => |s| Some(s.record.id),
        "user_id": Id => |s| s.user_id,
        "team_id": Id => |s| s.team_id,
        "access": Text => |s| s.access,
        "expires_at": DateTime => |s| s.expires_at,
    }
}
