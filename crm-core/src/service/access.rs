//! Resolving what the session's actor may do ([`Access`]) from their roles, once per session.

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};

use super::Session;
use super::users::reports_of;
use crate::access::{Access, Reach};
use crate::actor::Actor;
use crate::error::{Error, FieldErrorCode, Result};
use crate::ids::UserId;
use chrono::{DateTime, Utc};

use crate::model::{
    Action, BuiltinRole, Contact, Erasure, FieldGrant, Grant, Permission, Role, Scope, Share, ShareAccess, Team, User,
    owned,
};
use crate::query::Filter;
use crate::store::Transaction;

impl Session {
    /// What this session's actor may do: their roles' grants and the records shared with them,
    /// resolved once per session, and again after any session of this CRM changes users,
    /// teams, roles or shares (another process's changes are seen by new sessions). The system actor may do
    /// everything; a user must be an active user of the tenant, else every call is
    /// [`Forbidden`](Error::Forbidden).
    pub async fn access(&self) -> Result<Arc<Access>> {
        let uow = super::uow::Uow::read(self).await?;
        Ok(uow.access.clone())
    }

    /// The session's access, resolved through `tx` if it is not known yet.
    pub(crate) async fn access_in(&self, tx: &mut (dyn Transaction + '_)) -> Result<Arc<Access>> {
        if self.actor.is_system() {
            static SYSTEM: OnceLock<Arc<Access>> = OnceLock::new();
            return Ok(SYSTEM.get_or_init(|| Arc::new(Access::unrestricted())).clone());
        }
        let epoch = self.crm.inner.access_epoch.load(Ordering::Acquire);
        let known = self.access.lock().ok().and_then(|a| a.clone());
        if let Some((at, known)) = known
            && at == epoch
        {
            return Ok(known);
        }
        let access = Arc::new(resolve(tx, &self.actor, self.crm.inner.clock.now()).await?);
        if let Ok(mut slot) = self.access.lock() {
            *slot = Some((epoch, access.clone()));
        }
        Ok(access)
    }

    /// Makes every session of this CRM resolve its access again (users, teams, roles or
    /// shares changed).
    pub(crate) fn forget_access(&self) {
        self.crm.inner.access_epoch.fetch_add(1, Ordering::AcqRel);
    }
}

/// The access of `actor`: the grants of the roles their user holds plus the roles the actor
/// carries, each scope turned into the owners it reaches.
async fn resolve(tx: &mut (dyn Transaction + '_), actor: &Actor, now: DateTime<Utc>) -> Result<Access> {
    if let Some(c) = actor.customer {
        let erased = !tx.find_all::<Erasure>(Filter::eq("contact_id", c.as_uuid())).await?.is_empty();
        return match tx.fetch::<Contact>(c).await? {
            Some(_) if !erased => Ok(Access::customer(c)),
            Some(_) => Err(Error::Forbidden(format!("contact {c} was erased"))),
            None => Err(Error::Forbidden(format!("contact {c} is not a customer of this tenant"))),
        };
    }
    let mut keys: Vec<String> = Vec::new();
    if let Some(id) = actor.user_id {
        match tx.fetch::<User>(id).await? {
            Some(u) if u.active => keys.extend(u.roles),
            Some(u) => return Err(Error::Forbidden(format!("user {} is deactivated", u.name))),
            None => return Err(Error::Forbidden(format!("user {id} is not a user of this tenant"))),
        }
    }
    for r in &actor.roles {
        if !keys.contains(r) {
            keys.push(r.clone());
        }
    }
    let custom: Vec<&str> = keys.iter().map(String::as_str).filter(|k| BuiltinRole::of(k).is_none()).collect();
    let stored = if custom.is_empty() { Vec::new() } else { tx.find_all::<Role>(Filter::is_in("key", custom)).await? };
    let mut grants: Vec<Grant> = Vec::new();
    let mut permissions: Vec<Permission> = Vec::new();
    let mut fields: Vec<FieldGrant> = Vec::new();
    let mut every_field = false;
    for (i, key) in keys.iter().enumerate() {
        if let Some(b) = BuiltinRole::of(key) {
            grants.extend(b.grants());
            permissions.extend(b.permissions());
            fields.extend(b.field_grants());
            every_field |= b.opens_every_field();
        } else if let Some(r) = stored.iter().find(|r| &r.key == key) {
            grants.extend(r.grants.iter().copied());
            permissions.extend(r.permissions.iter().copied());
            fields.extend(r.fields.iter().cloned());
        } else if let Some(at) = actor.roles.iter().position(|r| r == key) {
            return Err(Error::invalid(
                format!("actor.roles[{at}]"),
                FieldErrorCode::NotFound,
                format!("no role `{key}` in this tenant"),
            ));
        } else {
            // A role is not deleted while a user holds it; this one was, by another writer.
            tracing::warn!(role = key.as_str(), position = i, "a user holds a role that does not exist");
        }
    }
    for p in &permissions {
        for kind in p.manages() {
            for action in [Action::Read, Action::Create, Action::Update, Action::Delete] {
                grants.push(Grant::new(*kind, action, Scope::All));
            }
        }
    }
    let me: BTreeSet<UserId> = actor.user_id.into_iter().collect();
    let uses = |scope: Scope| grants.iter().any(|g| g.scope == scope && owned(g.kind));
    let teams = match actor.user_id {
        Some(id) => tx.find_all::<Team>(Filter::contains("members", id)).await?,
        None => Vec::new(),
    };
    let shares = match actor.user_id {
        Some(id) => {
            let mine = Filter::eq("user_id", id);
            let ours = teams.iter().map(|t| t.id);
            let to = if teams.is_empty() { mine } else { mine.or(Filter::is_in("team_id", ours)) };
            tx.find_all::<Share>(to).await?
        }
        None => Vec::new(),
    };
    let team: BTreeSet<UserId> = match uses(Scope::Team) {
        true => me.iter().copied().chain(teams.into_iter().flat_map(|t| t.members)).collect(),
        false => me.clone(),
    };
    let below = match actor.user_id {
        Some(id) if uses(Scope::Subordinates) => me.iter().copied().chain(reports_of(tx, id).await?).collect(),
        _ => me.clone(),
    };
    let mut access = Access::restricted(actor.user_id, keys.clone());
    for f in &fields {
        access.open_field(f);
    }
    if every_field {
        access.open_every_field();
    }
    for g in grants {
        let reach = match g.scope {
            Scope::None => continue,
            Scope::All => Reach::All,
            // Validated roles never give an owner scope on a kind without owners.
            _ if !owned(g.kind) => continue,
            Scope::Own => Reach::Owners(me.clone()),
            Scope::Team => Reach::Owners(team.clone()),
            Scope::Subordinates => Reach::Owners(below.clone()),
        };
        access.add(g.kind, g.action, reach);
    }
    for p in permissions {
        access.permit(p);
    }
    for s in shares.into_iter().filter(|s| s.expires_at.is_none_or(|at| at > now)) {
        access.share(s.record.kind, Action::Read, s.record.id);
        if s.access == ShareAccess::Edit {
            access.share(s.record.kind, Action::Update, s.record.id);
        }
    }
    Ok(access)
}
