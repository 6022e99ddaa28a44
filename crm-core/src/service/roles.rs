//! Roles a tenant defines: grants per record kind and action, and special permissions.

use std::collections::HashSet;

use super::Records;
use super::checks::Checks;
use super::records::Guard;
use super::uow::Uow;
use crate::entity::EntityKind;
use crate::error::{FieldErrorCode, Result};
use crate::macros::{new_input, new_record};
use crate::model::{Action, BuiltinRole, FieldAccess, FieldGrant, Grant, Permission, Role, Scope, governed, owned};
use crate::model::{sensitive_fields, valid_key};

new_input! {
    /// Input for a new role.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct NewRole {
        /// How users name it (required): lower-case letters, digits and `_`, starting with a
        /// letter; unique per tenant and not a built-in role's key.
        pub key: String => manual,
        /// Display name (required).
        pub name: String => manual,
        /// What it is for.
        pub description: Option<String> => some description(String),
        /// What it grants (see [`grant`](Self::grant)).
        pub grants: Vec<Grant> => manual,
        /// A special permission.
        pub permissions: Vec<Permission> => push permission(Permission),
        /// What it opens of the sensitive fields (see [`field`](Self::field)).
        pub fields: Vec<FieldGrant> => manual,
    }
}

impl NewRole {
    /// A role granting nothing yet.
    pub fn new(key: impl Into<String>, name: impl Into<String>) -> Self {
        NewRole {
            key: key.into(),
            name: name.into(),
            description: None,
            grants: Vec::new(),
            permissions: Vec::new(),
            fields: Vec::new(),
        }
    }

    /// Opens the sensitive `field` of `kind` records ([`sensitive_fields`], or `custom.<key>`
    /// of a custom field defined sensitive) for reading, or for reading and editing.
    pub fn field(mut self, kind: EntityKind, field: impl Into<String>, access: FieldAccess) -> Self {
        self.fields.push(FieldGrant::new(kind, field, access));
        self
    }

    /// Grants each of `actions` on records of `kind` within `scope`.
    pub fn grant(mut self, kind: EntityKind, actions: &[Action], scope: Scope) -> Self {
        self.grants.extend(actions.iter().map(|a| Grant::new(kind, *a, scope)));
        self
    }
}

/// The rules of a role: a valid key of its own, a name, grants on governed kinds with scopes
/// their records can have (owner scopes only for kinds with owners), one grant per kind and
/// action, each permission once.
fn check_role(r: &mut Role, ch: &mut Checks) {
    r.key = r.key.trim().to_owned();
    if !valid_key(&r.key) || r.key.contains('.') {
        ch.push(
            "key",
            FieldErrorCode::InvalidFormat,
            "a role key is lower-case letters, digits and `_`, starting with a letter",
        );
    } else if BuiltinRole::of(&r.key).is_some() {
        ch.push("key", FieldErrorCode::Duplicate, format!("`{}` is a built-in role", r.key));
    }
    ch.name("name", &mut r.name, true);
    ch.opt_text("description", &mut r.description);
    let mut seen = HashSet::new();
    for (i, g) in r.grants.iter().enumerate() {
        if !governed(g.kind) {
            ch.push(
                format!("grants[{i}].kind"),
                FieldErrorCode::NotAnOption,
                format!("{} records are not under access control", g.kind),
            );
        } else if !owned(g.kind) && !matches!(g.scope, Scope::None | Scope::All) {
            ch.push(
                format!("grants[{i}].scope"),
                FieldErrorCode::NotAnOption,
                format!("{} records have no owner: the scope is `none` or `all`, not `{}`", g.kind, g.scope),
            );
        }
        if !seen.insert((g.kind, g.action)) {
            ch.push(
                format!("grants[{i}]"),
                FieldErrorCode::Duplicate,
                format!("{} on {} is granted twice", g.action, g.kind),
            );
        }
    }
    ch.duplicates("permissions", &r.permissions);
}

/// The rules of a role's field grants: each on a sensitive field of its kind (a built-in one,
/// or a custom field the tenant or an extension defines sensitive), each field once.
async fn check_fields(uow: &mut Uow<'_>, r: &Role, ch: &mut Checks) -> Result<()> {
    let mut seen = HashSet::new();
    for (i, g) in r.fields.iter().enumerate() {
        let sensitive = match g.field.strip_prefix("custom.") {
            Some(key) => uow.registry(g.kind).await?.get(key).is_some_and(|f| f.definition.sensitive),
            None => sensitive_fields(g.kind).contains(&g.field.as_str()),
        };
        if !sensitive {
            let known: Vec<&str> = sensitive_fields(g.kind).to_vec();
            let hint = if known.is_empty() { "none built in".to_owned() } else { known.join(", ") };
            ch.push(
                format!("fields[{i}].field"),
                FieldErrorCode::NotAnOption,
                format!(
                    "`{}` is not a sensitive field of {} records ({hint}; or a custom field defined sensitive)",
                    g.field, g.kind
                ),
            );
        }
        if !seen.insert((g.kind, g.field.as_str())) {
            ch.push(
                format!("fields[{i}]"),
                FieldErrorCode::Duplicate,
                format!("{} of {} is opened twice", g.field, g.kind),
            );
        }
    }
    Ok(())
}

/// Roles the tenant defines beside the [built-in ones](BuiltinRole). A user holds roles by
/// key ([`NewUser::role`](super::NewUser::role)); their grants add up.
///
/// ```
/// # futures::executor::block_on(async {
/// use crm_core::prelude::*;
/// use crm_core::model::{Action, Scope};
/// use crm_core::service::{NewRole, NewUser};
/// let crm = Crm::new(MemoryStore::new());
/// let admin = crm.as_actor(&Actor::system(TenantId::new()));
/// admin.roles().create(
///     NewRole::new("deal_desk", "Deal desk")
///         .grant(EntityKind::Deal, &[Action::Read, Action::Update], Scope::All)
///         .grant(EntityKind::Company, &[Action::Read], Scope::All),
/// ).await?;
/// let dee = admin.users().create(NewUser::new("Dee Desk", "dee@acme.example").role("deal_desk")).await?;
/// let as_dee = crm.as_actor(&Actor::user(admin.tenant(), dee.id));
/// assert!(as_dee.contacts().count(&Filter::All).await.is_err());
/// assert_eq!(as_dee.deals().count(&Filter::All).await?, 0);
/// # Ok::<_, Error>(()) }).unwrap();
/// ```
pub type Roles<'s> = Records<'s, Role>;

impl Records<'_, Role> {
    /// Defines a role.
    pub async fn create(&self, input: NewRole) -> Result<Role> {
        self.create_with(|uow, ch| {
            Box::pin(async move {
                let mut role = new_record!(
                    uow,
                    Role {
                        key: input.key,
                        name: input.name,
                        description: input.description,
                        grants: input.grants,
                        permissions: input.permissions,
                        fields: input.fields,
                    }
                );
                check_role(&mut role, ch);
                check_fields(uow, &role, ch).await?;
                Ok(role)
            })
        })
        .await
    }

    /// Saves changes to a role read earlier (its key never changes). Users holding it get the
    /// new grants from their next session on.
    pub async fn update(&self, role: Role) -> Result<Role> {
        const GUARD: Guard = Guard { fields: &["key"], through: "a new role" };
        self.update_with(role, &GUARD, &[], |uow, _, role, ch| {
            Box::pin(async move {
                check_role(role, ch);
                check_fields(uow, role, ch).await?;
                Ok(())
            })
        })
        .await
    }

    /// The role with this key, if the tenant defined one.
    pub async fn by_key(&self, key: &str) -> Result<Option<Role>> {
        let page = self.list(&crate::query::Query::new(crate::query::Filter::eq("key", key)).limit(1)).await?;
        Ok(page.items.into_iter().next())
    }
}
