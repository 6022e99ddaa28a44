//! What an actor may do: the grants of their roles, resolved once per session into
//! [`Access`], and compiled into the [`Filter`]s every read is narrowed by.
//!
//! A user's roles ([`User::roles`](crate::model::User::roles)) grant, per record kind and
//! [`Action`], a [`Scope`](crate::model::Scope). Resolving them for one user turns each scope into the set of owners it
//! reaches (themselves; their team mates; the people under them) or into "every record", and
//! the grants of all their roles add up. A read is then the caller's filter *and* the owner
//! filter, evaluated by the store itself (SQL on SQL stores), so pages and counts stay right;
//! a record out of reach is [`NotFound`](crate::error::Error::NotFound), as if it did not exist.

use std::collections::{BTreeSet, HashMap};

use crate::entity::EntityKind;
use crate::error::Error;
use crate::ids::{ContactId, UserId};
use crate::model::{Action, Entity, FieldAccess, FieldGrant, Permission, Record, governed};
use crate::query::Filter;
use crate::value::Value;
use uuid::Uuid;

/// What a customer ([`Access::customer`]) may do: read these kinds' records of theirs, and open cases.
const CUSTOMER_GRANTS: &[(EntityKind, Action)] = &[
    (EntityKind::Contact, Action::Read),
    (EntityKind::Case, Action::Read),
    (EntityKind::Case, Action::Create),
    (EntityKind::Order, Action::Read),
    (EntityKind::Invoice, Action::Read),
    (EntityKind::Payment, Action::Read),
];

/// Kinds whose drafts a customer does not see: the business is still putting them together.
const CUSTOMER_NO_DRAFTS: &[EntityKind] = &[EntityKind::Order, EntityKind::Invoice];

/// The records of `kind` that are customer `c`'s: the contact itself, or those naming them as
/// `contact_id` (none for a kind without that field), drafts of orders and invoices left out.
fn customer_filter(kind: EntityKind, c: ContactId) -> Filter {
    if kind == EntityKind::Contact {
        return Filter::eq("id", c.as_uuid());
    }
    if !kind.std_fields().iter().any(|f| f.name == "contact_id") {
        return Filter::Not(Box::new(Filter::All));
    }
    let theirs = Filter::eq("contact_id", c.as_uuid());
    match CUSTOMER_NO_DRAFTS.contains(&kind) {
        true => theirs.and(Filter::eq("status", "draft").not()),
        false => theirs,
    }
}

/// How far one action on one kind reaches for one actor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reach {
    /// Every record of the kind.
    All,
    /// The records owned by one of these users (none: no record).
    Owners(BTreeSet<UserId>),
    /// The records of one customer (a contact acting for themselves, [`Actor::customer`](crate::actor::Actor::customer)):
    /// the contact itself, and the records whose `contact_id` names them.
    Customer(ContactId),
}

impl Reach {
    /// Widens this reach with `other`'s.
    fn widen(&mut self, other: Reach) {
        match (&mut *self, other) {
            (Reach::All, _) => {}
            (_, Reach::All) => *self = Reach::All,
            (Reach::Owners(a), Reach::Owners(b)) => a.extend(b),
            // A customer's access holds no owner scopes: nothing to widen.
            (Reach::Customer(_), _) | (_, Reach::Customer(_)) => {}
        }
    }
}

/// What one actor may do, resolved from their roles: see the [module docs](self).
///
/// ```
/// # futures::executor::block_on(async {
/// use crm_core::prelude::*;
/// use crm_core::model::Action;
/// use crm_core::service::NewUser;
/// let crm = Crm::new(MemoryStore::new());
/// let admin = crm.as_actor(&Actor::system(TenantId::new()));
/// let ria = admin.users().create(NewUser::new("Ria Rep", "ria@acme.example").role("sales_rep")).await?;
/// let as_ria = crm.as_actor(&Actor::user(admin.tenant(), ria.id));
/// let access = as_ria.access().await?;
/// assert!(access.may(EntityKind::Deal, Action::Create));
/// assert!(!access.may(EntityKind::Pipeline, Action::Update));
/// # Ok::<_, Error>(()) }).unwrap();
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Access {
    /// The system or an unrestricted integration: everything is allowed.
    unrestricted: bool,
    /// The user acting, if any.
    user: Option<UserId>,
    /// The customer acting, if any (their access is [`Access::customer`]'s, nothing else).
    customer: Option<ContactId>,
    /// The roles resolved, by key.
    roles: Vec<String>,
    reach: HashMap<(EntityKind, Action), Reach>,
    permissions: BTreeSet<Permission>,
    /// Every sensitive field open for editing (administrators).
    every_field: bool,
    /// The sensitive fields opened, by kind and field, the widest access of any role.
    fields: HashMap<(EntityKind, String), FieldAccess>,
    /// Records shared with the actor ([`Share`](crate::model::Share)s), by kind and action:
    /// reading, or reading and updating.
    shared: HashMap<(EntityKind, Action), BTreeSet<Uuid>>,
}

impl Access {
    /// Everything allowed: the system actor's access.
    pub fn unrestricted() -> Access {
        Access {
            unrestricted: true,
            user: None,
            customer: None,
            roles: Vec::new(),
            reach: HashMap::new(),
            permissions: Permission::ALL.iter().copied().collect(),
            every_field: true,
            fields: HashMap::new(),
            shared: HashMap::new(),
        }
    }

    /// Nothing allowed yet, for `user` holding `roles`; grants are added with [`add`](Self::add).
    pub(crate) fn restricted(user: Option<UserId>, roles: Vec<String>) -> Access {
        Access {
            unrestricted: false,
            user,
            customer: None,
            roles,
            reach: HashMap::new(),
            permissions: BTreeSet::new(),
            every_field: false,
            fields: HashMap::new(),
            shared: HashMap::new(),
        }
    }

    /// The access of a customer, the contact `contact` acting for themselves: reading their
    /// own contact record and the cases, orders, invoices and payments that name them as
    /// `contact_id` (orders and invoices once no longer drafts), and opening cases for themselves. Nothing else, not even records of the
    /// kinds that no role governs.
    pub fn customer(contact: ContactId) -> Access {
        let mut access = Access::restricted(None, Vec::new());
        access.customer = Some(contact);
        for (kind, action) in CUSTOMER_GRANTS {
            access.add(*kind, *action, Reach::Customer(contact));
        }
        access
    }

    /// The customer acting, for a customer's access.
    pub fn customer_id(&self) -> Option<ContactId> {
        self.customer
    }

    /// Opens record `id` of `kind` for `action` beyond the scopes (a share). Counted only
    /// while the roles grant `action` on the kind at some scope.
    pub(crate) fn share(&mut self, kind: EntityKind, action: Action, id: Uuid) {
        self.shared.entry((kind, action)).or_default().insert(id);
    }

    /// The records shared with the actor for `action` on `kind`, where the roles let them count.
    fn shared(&self, kind: EntityKind, action: Action) -> Option<&BTreeSet<Uuid>> {
        self.reach.get(&(kind, action))?;
        self.shared.get(&(kind, action)).filter(|s| !s.is_empty())
    }

    /// Opens a sensitive field (the widest grant wins).
    pub(crate) fn open_field(&mut self, g: &FieldGrant) {
        let slot = self.fields.entry((g.kind, g.field.clone())).or_insert(g.access);
        if g.access == FieldAccess::Edit {
            *slot = FieldAccess::Edit;
        }
    }

    /// Opens every sensitive field for editing.
    pub(crate) fn open_every_field(&mut self) {
        self.every_field = true;
    }

    /// How far the sensitive field `field` of `kind` is open to this actor (None: withheld).
    /// Fields that are not sensitive follow the record's access alone.
    pub fn field(&self, kind: EntityKind, field: &str) -> Option<FieldAccess> {
        if self.unrestricted || self.every_field {
            return Some(FieldAccess::Edit);
        }
        self.fields.get(&(kind, field.to_owned())).copied()
    }

    /// Whether every sensitive field is open for editing (nothing to withhold or protect).
    pub(crate) fn opens_every_field(&self) -> bool {
        self.unrestricted || self.every_field
    }

    pub(crate) fn add(&mut self, kind: EntityKind, action: Action, reach: Reach) {
        match self.reach.get_mut(&(kind, action)) {
            Some(r) => r.widen(reach),
            None => {
                self.reach.insert((kind, action), reach);
            }
        }
    }

    pub(crate) fn permit(&mut self, p: Permission) {
        self.permissions.insert(p);
    }

    /// Whether everything is allowed (the system actor).
    pub fn is_unrestricted(&self) -> bool {
        self.unrestricted
    }

    /// The user acting, if any.
    pub fn user(&self) -> Option<UserId> {
        self.user
    }

    /// The keys of the roles this access comes from.
    pub fn roles(&self) -> &[String] {
        &self.roles
    }

    /// How far `action` on `kind` reaches (None: not at all).
    pub fn reach(&self, kind: EntityKind, action: Action) -> Option<Reach> {
        if self.unrestricted || (!governed(kind) && self.customer.is_none()) {
            return Some(Reach::All);
        }
        self.reach.get(&(kind, action)).cloned()
    }

    /// Whether `action` on some records of `kind` is allowed.
    pub fn may(&self, kind: EntityKind, action: Action) -> bool {
        match self.reach(kind, action) {
            None => false,
            Some(Reach::All | Reach::Customer(_)) => true,
            Some(Reach::Owners(o)) => !o.is_empty(),
        }
    }

    /// Whether the special permission `p` is held.
    pub fn has(&self, p: Permission) -> bool {
        self.unrestricted || self.permissions.contains(&p)
    }

    /// The predicate a query for `action` on `kind` is narrowed by (None: no narrowing): the
    /// owners the scopes reach, or a record shared with the actor.
    pub fn filter(&self, kind: EntityKind, action: Action) -> Option<Filter> {
        let owners = match self.reach(kind, action) {
            Some(Reach::All) => return None,
            Some(Reach::Owners(o)) if !o.is_empty() => Some(Filter::is_in("owner_id", o)),
            Some(Reach::Customer(c)) => Some(customer_filter(kind, c)),
            _ => None,
        };
        let shared = self.shared(kind, action).map(|ids| Filter::is_in("id", ids.iter().copied()));
        match (owners, shared) {
            (Some(o), Some(s)) => Some(o.or(s)),
            (Some(f), None) | (None, Some(f)) => Some(f),
            (None, None) => Some(Filter::Not(Box::new(Filter::All))),
        }
    }

    /// Whether `action` on `record` is allowed.
    pub fn allows(&self, action: Action, record: &Record) -> bool {
        self.allows_fields(record.kind(), action, record.id(), |f| record.std_field(f))
    }

    /// Whether `action` on record `id` of `kind` is allowed, reading its `owner_id` (or, for a
    /// customer, its `contact_id`) through `field`.
    fn allows_fields(&self, kind: EntityKind, action: Action, id: Uuid, field: impl Fn(&str) -> Option<Value>) -> bool {
        match self.reach(kind, action) {
            None => false,
            Some(Reach::All) => true,
            Some(Reach::Owners(o)) => {
                matches!(field("owner_id"), Some(Value::Id(u)) if o.contains(&UserId::from(u)))
                    || self.shared(kind, action).is_some_and(|s| s.contains(&id))
            }
            Some(Reach::Customer(c)) => match kind {
                EntityKind::Contact => id == c.as_uuid(),
                _ => {
                    matches!(field("contact_id"), Some(Value::Id(u)) if u == c.as_uuid())
                        && !(CUSTOMER_NO_DRAFTS.contains(&kind)
                            && matches!(field("status"), Some(Value::Text(s)) if s == "draft"))
                }
            },
        }
    }

    /// Refuses `action` on `record` unless allowed: [`Error::NotFound`] when the record is out of
    /// the actor's read reach (it cannot be probed), [`Error::Forbidden`] when they see it but
    /// may not do this.
    pub(crate) fn check<E: Entity>(&self, action: Action, record: &E) -> Result<(), Error> {
        self.check_parts(E::KIND, record.id().into(), |f| record.std_field(f), action)
    }

    /// [`check`](Self::check) for a record of any kind.
    pub(crate) fn check_record(&self, action: Action, record: &Record) -> Result<(), Error> {
        self.check_parts(record.kind(), record.id(), |f| record.std_field(f), action)
    }

    fn check_parts(
        &self,
        kind: EntityKind,
        id: uuid::Uuid,
        field: impl Fn(&str) -> Option<Value>,
        action: Action,
    ) -> Result<(), Error> {
        if self.unrestricted || (!governed(kind) && self.customer.is_none()) {
            return Ok(());
        }
        if !self.allows_fields(kind, Action::Read, id, &field) {
            return Err(Error::NotFound { kind, id });
        }
        if action == Action::Read || self.allows_fields(kind, action, id, &field) {
            return Ok(());
        }
        let reason = if self.may(kind, action) { "it is out of their reach" } else { "their roles do not allow it" };
        Err(Error::Forbidden(format!("{} may not {action} {kind} {id}: {reason}", self.who())))
    }

    /// Refuses to create `record` unless the actor may create such a record (with its owner).
    pub(crate) fn check_new(&self, record: &Record) -> Result<(), Error> {
        let kind = record.kind();
        if self.allows(Action::Create, record) {
            return Ok(());
        }
        match record.owner() {
            Some(owner) if self.may(kind, Action::Create) => {
                Err(Error::Forbidden(format!("{} may not create {kind} records owned by user {owner}", self.who())))
            }
            _ => Err(Error::Forbidden(format!("{} may not create {kind} records", self.who()))),
        }
    }

    /// Refuses `action` on records of `kind` unless some are allowed.
    pub(crate) fn check_kind(&self, kind: EntityKind, action: Action) -> Result<(), Error> {
        if self.may(kind, action) {
            return Ok(());
        }
        Err(Error::Forbidden(format!("{} may not {action} {kind} records", self.who())))
    }

    /// The actor as refusals name them: the user and their roles.
    pub(crate) fn who(&self) -> String {
        if let Some(c) = self.customer {
            return format!("customer {c}");
        }
        let roles = if self.roles.is_empty() { "no role".to_owned() } else { self.roles.join(", ") };
        match self.user {
            Some(u) => format!("user {u} ({roles})"),
            None => format!("this actor ({roles})"),
        }
    }

    /// Refuses the special permission `p` unless held.
    pub fn require(&self, p: Permission) -> Result<(), Error> {
        if self.has(p) {
            return Ok(());
        }
        Err(Error::Forbidden(format!("{} lacks the permission `{p}`", self.who())))
    }
}
