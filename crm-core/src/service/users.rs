//! Users: the people who work in the CRM, and who they report to.

use std::collections::HashSet;

use super::Records;
use super::checks::Checks;
use super::records::Guard;
use super::uow::Uow;
use crate::error::{Error, FieldErrorCode, Result, ValidationErrors};
use crate::ids::UserId;
use crate::macros::new_input;
use crate::macros::new_record;
use crate::model::{Action, BuiltinRole, Role, User};
use crate::profile::Email;
use crate::query::{Filter, Query};
use crate::store::Transaction;

new_input! {
    /// Input for a new user.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct NewUser {
        /// Display name (required).
        pub name: String => manual,
        /// Email address (required; unique per tenant, ignoring case).
        pub email: String => manual,
        /// Who they report to: an active user of the tenant.
        pub manager_id: Option<UserId> => some manager(UserId),
        /// Job title.
        pub title: Option<String> => some title(String),
        /// A role they hold, by key: a [`BuiltinRole`](crate::model::BuiltinRole) or one of the
        /// tenant's [`Role`](crate::model::Role)s.
        pub roles: Vec<String> => push role(String),
    }
}

impl NewUser {
    /// An active user with this name and address.
    pub fn new(name: impl Into<String>, email: impl Into<String>) -> Self {
        Self { name: name.into(), email: email.into(), manager_id: None, title: None, roles: Vec::new() }
    }
}

/// How many managers up a reporting line is followed before it is called a loop.
const MAX_DEPTH: usize = 1000;

/// The rules of a user: a name, and a manager who is an active user above them (not themselves
/// nor anyone who reports to them, however indirectly).
async fn check_user(uow: &mut Uow<'_>, u: &mut User, before: Option<&User>, ch: &mut Checks) -> Result<()> {
    ch.name("name", &mut u.name, true);
    ch.opt_text("title", &mut u.title);
    ch.duplicates("roles", &u.roles);
    check_roles(uow, &u.roles, before.map(|b| b.roles.as_slice()), ch).await?;
    uow.check_links(u, before, &mut ch.errs).await?;
    let Some(manager) = u.manager_id else { return Ok(()) };
    if manager == u.id {
        ch.push("manager_id", FieldErrorCode::Rule, "a user cannot be their own manager");
        return Ok(());
    }
    let mut seen = HashSet::new();
    let mut up = Some(manager);
    while let Some(id) = up {
        if id == u.id {
            ch.push("manager_id", FieldErrorCode::Rule, format!("user {manager} reports to {} already", u.name));
            return Ok(());
        }
        if !seen.insert(id) || seen.len() > MAX_DEPTH {
            break;
        }
        let above = uow.tx.fetch::<User>(id).await?;
        if id == manager
            && let Some(m) = &above
            && !m.active
            && before.is_none_or(|b| b.manager_id != Some(manager))
        {
            ch.push("manager_id", FieldErrorCode::Rule, format!("user {} is deactivated", m.name));
        }
        up = above.and_then(|m| m.manager_id);
    }
    Ok(())
}

/// Records an error for every role in `roles` (but those in `kept`) that is neither built in
/// nor defined by the tenant.
async fn check_roles(uow: &mut Uow<'_>, roles: &[String], kept: Option<&[String]>, ch: &mut Checks) -> Result<()> {
    let new: Vec<&str> = roles
        .iter()
        .map(String::as_str)
        .filter(|r| BuiltinRole::of(r).is_none() && !kept.is_some_and(|k| k.iter().any(|x| x == r)))
        .collect();
    if new.is_empty() {
        return Ok(());
    }
    let defined = uow.tx.find_all::<Role>(Filter::is_in("key", new.iter().copied())).await?;
    for (i, r) in roles.iter().enumerate() {
        if new.contains(&r.as_str()) && !defined.iter().any(|d| &d.key == r) {
            ch.push(format!("roles[{i}]"), FieldErrorCode::NotFound, format!("no role `{r}` in this tenant"));
        }
    }
    Ok(())
}

/// Users: who works in the CRM. A user's email address is unique in the tenant; their manager
/// is another active user, never someone who reports to them. Users are deactivated, not
/// deleted.
///
/// ```
/// # futures::executor::block_on(async {
/// use crm_core::prelude::*;
/// use crm_core::service::NewUser;
/// let crm = Crm::new(MemoryStore::new());
/// let cx = crm.as_actor(&Actor::system(TenantId::new()));
/// let sam = cx.users().create(NewUser::new("Sam Boss", "sam@acme.example")).await?;
/// let ria = cx.users().create(NewUser::new("Ria Rep", "ria@acme.example").manager(sam.id)).await?;
/// assert_eq!(cx.users().subordinates(sam.id).await?, [ria.id]);
/// assert!(cx.users().create(NewUser::new("Other Ria", "RIA@acme.example")).await.is_err());
/// assert!(!cx.users().deactivate(ria.id).await?.active);
/// # Ok::<_, Error>(()) }).unwrap();
/// ```
pub type Users<'s> = Records<'s, User>;

impl Records<'_, User> {
    /// Adds an active user.
    pub async fn create(&self, input: NewUser) -> Result<User> {
        self.create_with(|uow, ch| {
            Box::pin(async move {
                let email = ch.parse("email", &input.email, Email::parse);
                let Some(email) = email else {
                    let mut name = input.name;
                    ch.name("name", &mut name, true);
                    return Err(Error::Validation(ValidationErrors(std::mem::take(&mut ch.errs))));
                };
                let mut user = new_record!(
                    uow,
                    User {
                        name: input.name,
                        email,
                        active: true,
                        manager_id: input.manager_id,
                        title: input.title,
                        roles: input.roles,
                    }
                );
                check_user(uow, &mut user, None, ch).await?;
                Ok(user)
            })
        })
        .await
    }

    /// Saves changes to a user read earlier (`active` changes through
    /// [`deactivate`](Self::deactivate) and [`reactivate`](Self::reactivate)).
    pub async fn update(&self, user: User) -> Result<User> {
        const GUARD: Guard = Guard { fields: &["active"], through: "deactivate or reactivate" };
        self.update_with(user, &GUARD, &[], |uow, before, user, ch| {
            Box::pin(async move { check_user(uow, user, Some(before), ch).await })
        })
        .await
    }

    /// Stops user `id` from acting in the CRM; the records they own keep naming them.
    pub async fn deactivate(&self, id: UserId) -> Result<User> {
        self.set_active(id, false).await
    }

    /// Lets a deactivated user act again.
    pub async fn reactivate(&self, id: UserId) -> Result<User> {
        self.set_active(id, true).await
    }

    async fn set_active(&self, id: UserId, active: bool) -> Result<User> {
        self.change(id, |uow, mut user| {
            Box::pin(async move {
                if user.active == active {
                    return Ok(user);
                }
                let before = user.clone();
                user.active = active;
                uow.save(&before, user, Vec::new(), &[]).await
            })
        })
        .await
    }

    /// The user with this email address (any case), if any.
    pub async fn by_email(&self, email: &str) -> Result<Option<User>> {
        let email = Email::parse(email).map_err(|m| Error::invalid("email", FieldErrorCode::InvalidFormat, m))?;
        let page = self.list(&Query::new(Filter::eq("email", email.as_str())).limit(1)).await?;
        Ok(page.items.into_iter().next())
    }

    /// Everyone who reports to user `id`, directly or through others, nearest first.
    pub async fn subordinates(&self, id: UserId) -> Result<Vec<UserId>> {
        let mut uow = Uow::read(self.s).await?;
        uow.load::<User>(id, Action::Read).await?;
        reports_of(&mut *uow.tx, id).await
    }
}

/// Everyone who reports to user `id`, directly or through others, nearest first.
pub(crate) async fn reports_of(tx: &mut (dyn Transaction + '_), id: UserId) -> Result<Vec<UserId>> {
    let mut out: Vec<UserId> = Vec::new();
    let mut level = vec![id];
    while !level.is_empty() && out.len() <= MAX_DEPTH * 10 {
        let any = Filter::is_in("manager_id", level.iter().copied());
        let below: Vec<UserId> = tx.find_all::<User>(any).await?.into_iter().map(|u| u.id).collect();
        level = below.into_iter().filter(|u| *u != id && !out.contains(u)).collect();
        out.extend(&level);
    }
    Ok(out)
}
