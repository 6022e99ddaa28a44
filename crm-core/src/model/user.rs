//! Users: the people who work in the CRM (sales reps, managers, agents), with their manager.

use serde::{Deserialize, Serialize};

use crate::entity::{EntityKind, Links, UniqueKey};
use crate::ids::UserId;
use crate::macros::record;
use crate::model::{impl_entity, text_list};
use crate::profile::Email;

record! {
    /// A user of the CRM: who owns records, works in teams and reports to a manager. Users
    /// are deactivated, not deleted: the records they owned and the history they wrote keep
    /// naming them.
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    pub struct User(UserId) {
        /// Display name (required).
        pub name: String,
        /// Sign-in and notification address (required, unique per tenant).
        pub email: Email,
        /// Whether they can act in the CRM (default true).
        pub active: bool,
        /// Who they report to: a user of the tenant, never themselves or someone under them.
        pub manager_id: Option<UserId>,
        /// Job title.
        pub title: Option<String>,
        /// The keys of the roles they hold ([`BuiltinRole`](crate::model::BuiltinRole)s or the
        /// tenant's [`Role`](crate::model::Role)s), each once. What they may do is what these
        /// grant together; a user without roles may do nothing.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub roles: Vec<String>,
    }
}

impl_entity! {
    User, UserId, User, custom: false;
    links: |u| Links::default().one("manager_id", EntityKind::User, u.manager_id);
    unique: |u| vec![UniqueKey::new("email", u.email.as_str().to_lowercase())];
    deletable: |u| Err(crate::error::Error::invalid(
        "id",
        crate::error::FieldErrorCode::Rule,
        format!("user {} is deactivated, not deleted: the records they own and the history they wrote name them", u.name),
    ));
    fields {
        "name": Text => |u| u.name.clone(),
        "email": Text => |u| u.email.as_str().to_owned(),
        "active": Bool => |u| u.active,
        "manager_id": Id => |u| u.manager_id,
        "roles": TextList => |u| text_list(u.roles.iter().map(String::as_str)),
    }
}
