//! Roles: what users may do with each kind of record, and how far each grant reaches.
//!
//! A role grants, per record kind and [`Action`], a [`Scope`]: no records, the records the user
//! owns, those of their teams, those of the people under them, or all. A user holds several
//! roles and the grants add up (the widest scope wins). Six roles are built in
//! ([`BuiltinRole`]); a tenant defines its own as [`Role`] records.

use serde::{Deserialize, Serialize};

use crate::entity::{EntityKind, OnDelete, UniqueKey};
use crate::ids::RoleId;
use crate::macros::{record, str_enum};
use crate::model::impl_entity;

str_enum! {
    /// What is done to a record.
    #[non_exhaustive]
    pub enum Action {
        /// Get, list, count, search, see in timelines.
        Read = "read",
        /// Create.
        Create = "create",
        /// Change (a user's edit or one of the kind's verbs).
        Update = "update",
        /// Delete.
        Delete = "delete",
        /// Export to a file.
        Export = "export",
        /// Change the owner.
        Assign = "assign",
        /// Merge duplicates into one.
        Merge = "merge",
    }
}

str_enum! {
    /// How far a grant reaches. Records without an owner field (products, invoices, pipelines…)
    /// are granted `none` or `all`; a record with no owner is reached only by `all`.
    pub enum Scope {
        /// No record.
        None = "none",
        /// The records the user owns.
        Own = "own",
        /// The records owned by the user or anyone in a team with them.
        Team = "team",
        /// The records owned by the user or anyone who reports to them, however indirectly.
        Subordinates = "subordinates",
        /// Every record of the tenant.
        All = "all",
    }
}

str_enum! {
    /// A special permission, beyond what a role grants per record.
    #[non_exhaustive]
    pub enum Permission {
        /// Export records to files (with the `export` grant of the kind).
        Export = "export",
        /// Change many records in one call.
        MassUpdate = "mass_update",
        /// Answer privacy requests: export or erase everything held about a person.
        PrivacyRequests = "privacy_requests",
        /// Define, change and remove custom fields.
        ManageCustomFields = "manage_custom_fields",
        /// Create, change and remove pipelines and their stages.
        ManagePipelines = "manage_pipelines",
        /// Create, change and remove automations.
        ManageAutomations = "manage_automations",
        /// Install and configure plugins.
        ManagePlugins = "manage_plugins",
        /// Manage users, teams and roles (who holds which role included).
        ManageUsers = "manage_users",
        /// Read the audit trail of every record and user, and verify it was not edited.
        ReadAudit = "read_audit",
        /// Apply the audit retention policy (drop old values from the history).
        ManageAudit = "manage_audit",
        /// Connect other systems: webhook subscriptions, accounting and mailbox syncs.
        ManageIntegrations = "manage_integrations",
    }
}

impl Permission {
    /// The record kinds this permission lets its holder create, change and delete (all of
    /// them), beyond the role's grants.
    pub fn manages(self) -> &'static [EntityKind] {
        match self {
            Permission::ManageCustomFields => &[EntityKind::CustomField],
            Permission::ManagePipelines => &[EntityKind::Pipeline],
            Permission::ManageAutomations => {
                &[EntityKind::Workflow, EntityKind::WorkflowRun, EntityKind::WorkflowTimer]
            }
            Permission::ManageUsers => &[EntityKind::User, EntityKind::Team, EntityKind::Role, EntityKind::ApiKey],
            _ => &[],
        }
    }
}

/// One grant: `action` on records of `kind`, as far as `scope` reaches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Grant {
    /// The record kind.
    pub kind: EntityKind,
    /// What may be done.
    pub action: Action,
    /// To which records.
    pub scope: Scope,
}

impl Grant {
    /// A grant of `action` on `kind` within `scope`.
    pub fn new(kind: EntityKind, action: Action, scope: Scope) -> Self {
        Grant { kind, action, scope }
    }
}

/// Whether records of `kind` are under access control. The integrations' bookkeeping
/// (sync links and states) and merge records (written and read through the merge verbs, which
/// are checked) are not.
pub fn governed(kind: EntityKind) -> bool {
    !matches!(kind, EntityKind::SyncLink | EntityKind::SyncState | EntityKind::Merge)
}

/// Whether records of `kind` have an owner (`owner_id`), so that `own`, `team` and
/// `subordinates` scopes apply to them.
pub fn owned(kind: EntityKind) -> bool {
    kind.std_fields().iter().any(|f| f.name == "owner_id")
}

record! {
    /// A role a tenant defines: grants per record kind and action, and special permissions.
    /// Its key is how users hold it ([`User::roles`](crate::model::User::roles)); it cannot
    /// change, and a role some user holds cannot be deleted.
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    pub struct Role(RoleId) {
        /// How users name it: lower-case letters, digits and `_`, starting with a letter;
        /// unique per tenant and not a built-in role's key.
        pub key: String,
        /// Display name (required).
        pub name: String,
        /// What it is for.
        pub description: Option<String>,
        /// What it grants, one grant per kind and action.
        pub grants: Vec<Grant>,
        /// Special permissions, each once.
        pub permissions: Vec<Permission>,
        /// What it opens of the sensitive fields, one grant per kind and field.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub fields: Vec<crate::model::FieldGrant>,
    }
}

impl_entity! {
    Role, RoleId, Role, custom: false;
    unique: |r| vec![UniqueKey::new("key", r.key.clone())];
    on_delete: [OnDelete::Restrict {
        kind: EntityKind::User,
        field: "roles",
        by: "key",
        reported: "key",
        what: "users hold this role",
    }];
    fields {
        "key": Text => |r| r.key.clone(),
        "name": Text => |r| r.name.clone(),
    }
}

str_enum! {
    /// The roles every tenant has, by key.
    #[non_exhaustive]
    pub enum BuiltinRole {
        /// Everything, every permission.
        Administrator = "administrator",
        /// Reads all sales records and works those of the people under them; exports, mass
        /// updates, manages pipelines.
        SalesManager = "sales_manager",
        /// Reads the team's sales records and works their own.
        SalesRep = "sales_rep",
        /// Works the team's cases; reads customers and what they bought.
        SupportAgent = "support_agent",
        /// Works campaigns, segments and contacts; exports.
        Marketing = "marketing",
        /// Reads everything, changes nothing.
        ReadOnly = "read_only",
    }
}

/// The sales records: owned, worked by reps.
const SALES: &[EntityKind] =
    &[EntityKind::Contact, EntityKind::Company, EntityKind::Deal, EntityKind::Activity, EntityKind::Order];
/// What every role reads: the tenant's set-up and reference data.
const REFERENCE: &[EntityKind] = &[
    EntityKind::Pipeline,
    EntityKind::Product,
    EntityKind::CustomField,
    EntityKind::User,
    EntityKind::Team,
    EntityKind::Role,
    EntityKind::Relation,
];
const WORK: &[Action] = &[Action::Create, Action::Update, Action::Delete, Action::Assign, Action::Merge];
const EDIT: &[Action] = &[Action::Create, Action::Update, Action::Delete];

/// Grants `actions` on every kind of `kinds` within `scope`.
fn grant(out: &mut Vec<Grant>, kinds: &[EntityKind], actions: &[Action], scope: Scope) {
    for &kind in kinds {
        for &action in actions {
            out.push(Grant { kind, action, scope });
        }
    }
}

impl BuiltinRole {
    /// The role with this key, if it is a built-in one.
    pub fn of(key: &str) -> Option<BuiltinRole> {
        key.parse().ok()
    }

    /// What it grants.
    pub fn grants(self) -> Vec<Grant> {
        use Action::*;
        use EntityKind as K;
        let mut g = Vec::new();
        let governed: Vec<EntityKind> = EntityKind::ALL.iter().copied().filter(|k| governed(*k)).collect();
        match self {
            BuiltinRole::Administrator => grant(&mut g, &governed, Action::ALL, Scope::All),
            // Everyone reads their own notifications through `cx.notifications()`; a read-only
            // role does not read everyone's.
            BuiltinRole::ReadOnly => {
                let readable: Vec<EntityKind> = governed.iter().copied().filter(|k| *k != K::Notification).collect();
                grant(&mut g, &readable, &[Read], Scope::All)
            }
            BuiltinRole::SalesManager => {
                grant(&mut g, SALES, &[Read, Export], Scope::All);
                grant(&mut g, SALES, WORK, Scope::Subordinates);
                grant(&mut g, &[K::Case, K::Campaign], &[Read], Scope::All);
                grant(
                    &mut g,
                    &[K::Invoice, K::Payment, K::Feedback, K::CampaignMember, K::Segment],
                    &[Read],
                    Scope::All,
                );
                grant(&mut g, REFERENCE, &[Read], Scope::All);
                grant(&mut g, &[K::Product, K::Relation], EDIT, Scope::All);
                grant(&mut g, &[K::Consent], &[Read, Create], Scope::All);
                grant(&mut g, &[K::Share], &[Create], Scope::All);
            }
            BuiltinRole::SalesRep => {
                grant(&mut g, SALES, &[Read], Scope::Team);
                grant(&mut g, SALES, WORK, Scope::Own);
                grant(&mut g, &[K::Case], &[Read], Scope::Team);
                grant(&mut g, &[K::Campaign], &[Read], Scope::All);
                grant(
                    &mut g,
                    &[K::Invoice, K::Payment, K::Feedback, K::CampaignMember, K::Segment],
                    &[Read],
                    Scope::All,
                );
                grant(&mut g, &[K::Feedback], &[Create], Scope::All);
                grant(&mut g, REFERENCE, &[Read], Scope::All);
                grant(&mut g, &[K::Relation], EDIT, Scope::All);
                grant(&mut g, &[K::Consent], &[Read, Create], Scope::All);
                grant(&mut g, &[K::Share], &[Create], Scope::All);
            }
            BuiltinRole::SupportAgent => {
                grant(&mut g, &[K::Case], &[Read, Update, Assign], Scope::Team);
                grant(&mut g, &[K::Case], &[Create], Scope::Own);
                grant(&mut g, &[K::Contact, K::Company, K::Order], &[Read], Scope::All);
                grant(&mut g, &[K::Contact, K::Company], &[Create, Update], Scope::Own);
                grant(&mut g, &[K::Activity], &[Read], Scope::Team);
                grant(&mut g, &[K::Activity], &[Create, Update], Scope::Own);
                grant(&mut g, &[K::Invoice, K::Payment], &[Read], Scope::All);
                grant(&mut g, &[K::Feedback], &[Read, Create, Update], Scope::All);
                grant(&mut g, REFERENCE, &[Read], Scope::All);
                grant(&mut g, &[K::Relation], EDIT, Scope::All);
                grant(&mut g, &[K::Consent], &[Read, Create], Scope::All);
                grant(&mut g, &[K::Share], &[Create], Scope::All);
            }
            BuiltinRole::Marketing => {
                grant(&mut g, &[K::Campaign], &[Read, Create, Update, Delete, Assign], Scope::All);
                grant(&mut g, &[K::CampaignMember, K::Segment], &[Read, Create, Update, Delete], Scope::All);
                grant(&mut g, &[K::Contact], &[Read, Create, Update, Export], Scope::All);
                grant(&mut g, &[K::Company], &[Read, Export], Scope::All);
                grant(&mut g, &[K::Activity], &[Read], Scope::All);
                grant(&mut g, &[K::Activity], &[Create], Scope::Own);
                grant(&mut g, &[K::Feedback], &[Read], Scope::All);
                grant(&mut g, &[K::Consent], &[Read, Create], Scope::All);
                grant(&mut g, &[K::Share], &[Create], Scope::All);
                grant(&mut g, REFERENCE, &[Read], Scope::All);
            }
        }
        g
    }

    /// Its special permissions.
    pub fn permissions(self) -> Vec<Permission> {
        match self {
            BuiltinRole::Administrator => Permission::ALL.to_vec(),
            BuiltinRole::SalesManager => {
                vec![Permission::Export, Permission::MassUpdate, Permission::ManagePipelines]
            }
            BuiltinRole::Marketing => vec![Permission::Export],
            BuiltinRole::SalesRep | BuiltinRole::SupportAgent | BuiltinRole::ReadOnly => Vec::new(),
        }
    }
}
