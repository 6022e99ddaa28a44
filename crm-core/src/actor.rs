//! Who performs an operation: [`Actor`].

use crate::ids::{ContactId, TenantId, UserId};

/// Who performs an operation: a tenant, optionally a user, and roles.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    /// The tenant every operation is scoped to.
    pub tenant_id: TenantId,
    /// The user (None for the system or an integration).
    pub user_id: Option<UserId>,
    /// Roles, for extensions and embedders that authorise by role.
    pub roles: Vec<String>,
    /// The customer acting (a contact signed in to a self-service portal), whose access
    /// reaches only their own records.
    pub(crate) customer: Option<ContactId>,
    /// The extension acting, for changes an extension makes in reaction to events.
    pub(crate) origin: Option<String>,
    /// How many extension reactions deep this change is (0 for a user's change).
    pub(crate) depth: u8,
}

impl Actor {
    /// A user of a tenant.
    pub fn user(tenant_id: TenantId, user_id: UserId) -> Self {
        Self { tenant_id, user_id: Some(user_id), roles: Vec::new(), customer: None, origin: None, depth: 0 }
    }

    /// The system itself (imports, automations).
    pub fn system(tenant_id: TenantId) -> Self {
        Self { tenant_id, user_id: None, roles: Vec::new(), customer: None, origin: None, depth: 0 }
    }

    /// A customer of a tenant: the contact `contact`, acting for themselves (in a self-service
    /// portal). They read their own contact record and the cases, orders, invoices and payments
    /// that name them, open cases for themselves and reply to their cases; nothing else. See
    /// [`Portal`](crate::service::Portal) for signing customers in.
    pub fn customer(tenant_id: TenantId, contact: ContactId) -> Self {
        Self { tenant_id, user_id: None, roles: Vec::new(), customer: Some(contact), origin: None, depth: 0 }
    }

    /// The system acting for an automation: `origin` names it (`workflow:<id>`), and `depth`
    /// is how many automated reactions deep its changes are (one more than the change it reacts
    /// to). Both are written on the events of its changes ([`Event::origin`](crate::event::Event::origin)),
    /// which is how a workflow runner tells its own changes apart and stops chains of rules.
    pub fn automation(tenant_id: TenantId, origin: impl Into<String>, depth: u8) -> Self {
        Self { origin: Some(origin.into()), depth, ..Self::system(tenant_id) }
    }

    /// The customer acting, for an actor made by [`Actor::customer`].
    pub fn customer_id(&self) -> Option<ContactId> {
        self.customer
    }

    /// Whether this is the system itself (no user, no customer, no roles): everything is allowed.
    pub fn is_system(&self) -> bool {
        self.user_id.is_none() && self.customer.is_none() && self.roles.is_empty()
    }

    /// The extension this actor is, when an extension reacts to events
    /// ([`EventContext::act_as`](crate::service::extension::EventContext::act_as)).
    pub fn origin(&self) -> Option<&str> {
        self.origin.as_deref()
    }

    /// How many extension reactions deep a change by this actor is (0 for users and the system).
    pub fn depth(&self) -> u8 {
        self.depth
    }

    /// Adds a role.
    pub fn with_role(mut self, role: impl Into<String>) -> Self {
        self.roles.push(role.into());
        self
    }
}
