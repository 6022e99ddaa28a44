//! API keys: how a program outside (another language, the HTTP API) acts as a user of the
//! CRM. The secret is shown once; only its hash is kept.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::entity::{EntityKind, Links, UniqueKey};
use crate::ids::{ApiKeyId, UserId};
use crate::macros::record;
use crate::model::impl_entity;

record! {
    /// An API key: a secret that acts as user `user_id` (their roles apply) until it expires or
    /// is revoked. Keys are revoked, not deleted, so the history of what they did names them.
    #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    pub struct ApiKey(ApiKeyId) {
        /// What it is for (`accounting sync`).
        pub name: String,
        /// The user it acts as.
        pub user_id: UserId,
        /// The secret's first characters, to tell keys apart (`crm_01a24d82…_Xy3k`).
        pub prefix: String,
        /// SHA-256 of the secret, hex.
        pub hash: String,
        /// When it stops working (None: until revoked).
        pub expires_at: Option<DateTime<Utc>>,
        /// When it was revoked.
        pub revoked_at: Option<DateTime<Utc>>,
    }
}

impl_entity! {
    ApiKey, ApiKeyId, ApiKey, custom: false;
    links: |k| Links::default().one("user_id", EntityKind::User, Some(k.user_id));
    unique: |k| vec![UniqueKey::new("hash", k.hash.clone())];
    deletable: |_k| Err(crate::error::Error::invalid(
        "id",
        crate::error::FieldErrorCode::Rule,
        "API keys are revoked (`cx.api_keys().revoke`), not deleted",
    ));
    fields {
        "name": Text => |k| k.name.clone(),
        "user_id": Id => |k| Some(k.user_id),
        "hash": Text => |k| k.hash.clone(),
        "expires_at": DateTime => |k| k.expires_at,
        "revoked_at": DateTime => |k| k.revoked_at,
    }
}
