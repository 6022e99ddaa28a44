//! Signing customers in to a self-service portal with one-time links sent by email.
//!
//! The business's system issues a link for an email address ([`Portal::issue_link`]); whoever
//! opens it redeems its token once ([`Crm::sign_in_customer`]) and acts as that customer
//! ([`Actor::customer`]): their own contact record, cases, orders, invoices and payments, and
//! cases they open or reply to. Tokens are random, kept only as digests (beside the CRM's sync
//! state), expire after [`SIGN_IN_LINK_TTL`] and work once.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::uow::Uow;
use super::{Crm, Session};
use crate::actor::Actor;
use crate::error::{Error, Result};
use crate::ids::{ContactId, TenantId};
use crate::macros::new_record;
use crate::model::{Contact, Entity, SyncState};
use crate::profile::Email;
use crate::query::{Filter, Query};

/// How long a sign-in link works.
pub const SIGN_IN_LINK_TTL: Duration = Duration::minutes(15);

/// How many unused, unexpired links one customer may hold; more are refused until one expires
/// (so that a form cannot flood someone's mailbox).
pub const MAX_OPEN_LINKS: usize = 3;

/// The sync-state keys of the links: `portal-link/<contact>/<digest of the token>`.
const PREFIX: &str = "portal-link/";

/// What a link's state keeps.
#[derive(Serialize, Deserialize)]
struct Kept {
    expires_at: DateTime<Utc>,
}

/// A sign-in link issued for one customer: send [`token`](Self::token) to
/// [`email`](Self::email) inside a link to the portal. The token is not kept and cannot be
/// shown again.
#[derive(Clone, PartialEq)]
pub struct SignInLink {
    /// The customer it signs in.
    pub contact: Contact,
    /// The address it was asked for (one of the customer's).
    pub email: Email,
    /// The secret to put in the link (URL-safe).
    pub token: String,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
}

impl std::fmt::Debug for SignInLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignInLink")
            .field("contact", &self.contact.id)
            .field("email", &self.email)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// What asking for a sign-in link gave. A portal answers all three alike, so that its form
/// tells nobody who is a customer.
#[derive(Clone, Debug, PartialEq)]
#[allow(clippy::large_enum_variant)]
pub enum LinkRequest {
    /// A link to send.
    Issued(SignInLink),
    /// No contact has this address, or more than one does.
    Unknown,
    /// The customer holds [`MAX_OPEN_LINKS`] unused links already; the next may be asked for
    /// after `retry_at`.
    TooMany {
        /// When the oldest open link expires.
        retry_at: DateTime<Utc>,
    },
}

/// Sign-in links for customers: a one-time link per request, sent by the caller to the address asked for,
/// redeemed with [`Crm::sign_in_customer`].
///
/// ```
/// # futures::executor::block_on(async {
/// use crm_core::prelude::*;
/// use crm_core::service::LinkRequest;
/// let crm = Crm::new(MemoryStore::new());
/// let system = crm.as_actor(&Actor::system(TenantId::new()));
/// let ann = system.contacts().create(NewContact::new("Ann", "Lee").email("ann@example.com")).await?;
/// let LinkRequest::Issued(link) = system.portal().issue_link("Ann@Example.com").await? else { panic!() };
/// let ann_cx = crm.sign_in_customer(&link.token).await?;
/// assert_eq!(ann_cx.actor().customer_id(), Some(ann.id));
/// assert!(crm.sign_in_customer(&link.token).await.is_err(), "a link works once");
/// # Ok::<_, Error>(()) }).unwrap();
/// ```
#[derive(Debug)]
pub struct Portal<'s> {
    s: &'s Session,
}

impl Session {
    /// Signing customers in to a self-service portal.
    pub fn portal(&self) -> Portal<'_> {
        Portal { s: self }
    }
}

impl Portal<'_> {
    /// Issues a one-time sign-in link for the customer with the email address `email` (any
    /// of a contact's addresses, compared as [`Email`] normalises them). Only the system
    /// may ([`Error::Forbidden`] otherwise); a malformed address is refused naming `email`.
    /// Links of the customer that have expired are deleted meanwhile.
    pub async fn issue_link(&self, email: &str) -> Result<LinkRequest> {
        if !self.s.actor.is_system() {
            return Err(Error::Forbidden("only the system issues customers' sign-in links".into()));
        }
        let email =
            Email::parse(email).map_err(|m| Error::invalid("email", crate::error::FieldErrorCode::InvalidFormat, m))?;
        let mut random = [0u8; 32];
        getrandom::fill(&mut random).map_err(|e| Error::storage(format!("no randomness for a link: {e}")))?;
        let mut uow = Uow::write(self.s).await?;
        let q = Query::new(Filter::contains("emails", email.as_str())).limit(2);
        let mut found = uow.tx.find::<Contact>(&q).await?.items;
        if found.len() != 1 {
            return Ok(LinkRequest::Unknown);
        }
        let contact = found.remove(0);
        let now = uow.now;
        let mut open = Vec::new();
        let of_contact = Filter::starts_with("key", format!("{PREFIX}{}/", contact.id.as_uuid().simple()));
        for state in uow.tx.find_all::<SyncState>(of_contact).await? {
            match serde_json::from_value::<Kept>(state.value.clone()) {
                Ok(k) if k.expires_at > now => open.push(k.expires_at),
                _ => uow.tx.delete(SyncState::KIND, state.id.into(), state.version).await?,
            }
        }
        if open.len() >= MAX_OPEN_LINKS {
            uow.commit().await?;
            let retry_at = open.into_iter().min().unwrap_or(now);
            return Ok(LinkRequest::TooMany { retry_at });
        }
        let token = format!(
            "cpl_{}_{}_{}",
            self.s.tenant().as_uuid().simple(),
            contact.id.as_uuid().simple(),
            hex::encode(random)
        );
        let expires_at = now + SIGN_IN_LINK_TTL;
        let value = serde_json::to_value(Kept { expires_at }).map_err(|e| Error::storage(e.to_string()))?;
        let state =
            new_record!(uow.new_id(), self.s.tenant(), now, SyncState { key: state_key(contact.id, &token), value });
        uow.tx.insert(state.into_record()).await?;
        uow.commit().await?;
        Ok(LinkRequest::Issued(SignInLink { contact, email, token, expires_at }))
    }
}

/// The sync-state key of `token`, a link for `contact`.
fn state_key(contact: ContactId, token: &str) -> String {
    format!("{PREFIX}{}/{}", contact.as_uuid().simple(), hex::encode(Sha256::digest(token.as_bytes())))
}

/// The tenant and contact a token names, if it is shaped like one.
fn parse_token(token: &str) -> Option<(TenantId, ContactId)> {
    let mut parts = token.strip_prefix("cpl_")?.split('_');
    let (tenant, contact, random) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || random.len() != 64 || !random.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let tenant = uuid::Uuid::try_parse(tenant).ok()?;
    let contact = uuid::Uuid::try_parse(contact).ok()?;
    Some((TenantId::from_uuid(tenant), ContactId::from_uuid(contact)))
}

impl Crm {
    /// Redeems a sign-in link's token ([`Portal::issue_link`]): the session of the customer it
    /// was issued for. The token works once; one that is malformed, unknown, used or expired
    /// is [`Error::Forbidden`], saying only that the link is not valid.
    pub async fn sign_in_customer(&self, token: &str) -> Result<Session> {
        let refused = || Error::Forbidden("the sign-in link is not valid (unknown, used or expired)".into());
        let (tenant, contact) = parse_token(token.trim()).ok_or_else(refused)?;
        let system = self.as_actor(&Actor::system(tenant));
        let mut uow = Uow::write(&system).await?;
        let key = state_key(contact, token.trim());
        let Some(state) = uow.tx.find_all::<SyncState>(Filter::eq("key", key)).await?.into_iter().next() else {
            return Err(refused());
        };
        // Used up whatever happens next: deleted at the version read, so that of two redeeming
        // at once, one fails to delete.
        uow.tx.delete(SyncState::KIND, state.id.into(), state.version).await.map_err(|e| match e {
            Error::Conflict { .. } | Error::NotFound { .. } => refused(),
            e => e,
        })?;
        let live = serde_json::from_value::<Kept>(state.value).is_ok_and(|k| k.expires_at > uow.now);
        uow.commit().await?;
        if !live {
            return Err(refused());
        }
        // Still a customer: a contact of the tenant, not erased since.
        let session = self.as_actor(&Actor::customer(tenant, contact));
        match session.access().await {
            Ok(_) => Ok(session),
            Err(Error::Forbidden(_)) => Err(refused()),
            Err(e) => Err(e),
        }
    }
}
