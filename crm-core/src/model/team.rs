//! Teams: groups of users who share records (a sales region, a support queue).

use serde::{Deserialize, Serialize};

use crate::entity::{EntityKind, Links, UniqueKey};
use crate::ids::{TeamId, UserId};
use crate::macros::record;
use crate::model::{id_list, impl_entity};

record! {
    /// A team of users.
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    pub struct Team(TeamId) {
        /// Name (required, unique per tenant ignoring case).
        pub name: String,
        /// What it does.
        pub description: Option<String>,
        /// Its members: users of the tenant, each once.
        pub members: Vec<UserId>,
    }
}

impl_entity! {
    Team, TeamId, Team, custom: false;
    links: |t| Links::default().each("members", EntityKind::User, &t.members);
    unique: |t| vec![UniqueKey::new("name", t.name.to_lowercase())];
    fields {
        "name": Text => |t| t.name.clone(),
        "members": IdList => |t| id_list(&t.members),
    }
}
