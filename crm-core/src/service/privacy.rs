//! Privacy requests: what is held about a person ([`Privacy::subject_access`]), erasing them
//! ([`Privacy::erase`]), and keeping an erased person's addresses out of the CRM afterwards.
//!
//! The erasure and the export are in their own files ([`erasure`](super::erasure),
//! [`subject_access`](super::subject_access)); this one holds the handle, its permission and
//! the blocklist.

use std::collections::HashSet;
use std::sync::Arc;

use super::Session;
use super::uow::Uow;
use crate::error::{Error, FieldError, FieldErrorCode, Result};
use crate::ids::ContactId;
use crate::model::{Contact, Entity, Erasure, Permission, Record, blocked_key};
use crate::profile::Email;
use crate::query::Filter;

/// Privacy requests, from [`Session::privacy`]: a subject access export and erasure, both
/// needing [`Permission::PrivacyRequests`], and the blocklist of erased people's addresses.
///
/// ```
/// # futures::executor::block_on(async {
/// use crm_core::prelude::*;
/// let cx = Crm::new(MemoryStore::new()).as_actor(&Actor::system(TenantId::new()));
/// let zed = cx.contacts().create(NewContact::new("Zed", "Quartz").email("zed@example.org")).await?;
/// let export = cx.privacy().subject_access(zed.id).await?;
/// assert!(export.document().contains("Zed Quartz"));
/// let log = cx.privacy().erase(zed.id, Some("request #42")).await?;
/// assert_eq!(log.masked_name, "Z** Q*****");
/// assert!(matches!(cx.contacts().get(zed.id).await, Err(Error::NotFound { .. })));
/// assert!(cx.privacy().is_blocked("Zed@Example.org").await?);
/// // The address cannot come back.
/// let again = cx.contacts().create(NewContact::new("Zed", "Quartz").email("zed@example.org")).await;
/// assert!(matches!(again, Err(Error::Validation(_))));
/// # Ok::<_, Error>(()) }).unwrap();
/// ```
pub struct Privacy<'s> {
    pub(crate) s: &'s Session,
}

impl Session {
    /// Privacy requests: subject access, erasure, the blocklist.
    pub fn privacy(&self) -> Privacy<'_> {
        Privacy { s: self }
    }
}

impl Privacy<'_> {
    /// Refuses unless the actor holds [`Permission::PrivacyRequests`].
    pub(crate) async fn require_permission(&self, what: &str) -> Result<()> {
        let access = self.s.access().await?;
        if access.has(Permission::PrivacyRequests) {
            return Ok(());
        }
        Err(Error::Forbidden(format!("{} may not {what}: it needs the `privacy_requests` permission", access.who())))
    }

    /// Whether `email` belongs to a person erased at their request: such an address is
    /// refused on contacts ([`FieldErrorCode::Blocked`]) and mail from it is not filed.
    pub async fn is_blocked(&self, email: &str) -> Result<bool> {
        let email = Email::parse(email).map_err(|m| Error::invalid("email", FieldErrorCode::InvalidFormat, m))?;
        let mut uow = Uow::read(self.s).await?;
        let blocked = blocked_keys(&mut uow).await?;
        Ok(blocked.contains(&blocked_key(self.s.tenant(), email.as_str())))
    }

    /// Which of `emails` belong to erased people, in order (an address that does not parse is
    /// not blocked): one read for a whole message's addresses.
    pub async fn blocked_among(&self, emails: &[&str]) -> Result<Vec<bool>> {
        let mut uow = Uow::read(self.s).await?;
        let blocked = blocked_keys(&mut uow).await?;
        let t = self.s.tenant();
        Ok(emails
            .iter()
            .map(|e| Email::parse(e).is_ok_and(|e| blocked.contains(&blocked_key(t, e.as_str()))))
            .collect())
    }

    /// The log of the erasure of `contact`, if they were erased.
    pub async fn erasure_of(&self, contact: ContactId) -> Result<Option<Erasure>> {
        self.require_permission("read the erasure log").await?;
        let mut uow = Uow::read(self.s).await?;
        Ok(uow.tx.find_all::<Erasure>(Filter::eq("contact_id", contact)).await?.into_iter().next())
    }
}

/// The blocked keys of the tenant, read once per unit of work.
pub(crate) async fn blocked_keys(uow: &mut Uow<'_>) -> Result<Arc<HashSet<String>>> {
    if let Some(b) = &uow.blocked {
        return Ok(b.clone());
    }
    let erasures = uow.tx.find_all::<Erasure>(Filter::All).await?;
    let keys: HashSet<String> = erasures.into_iter().flat_map(|e| e.blocked).collect();
    let keys = Arc::new(keys);
    uow.blocked = Some(keys.clone());
    Ok(keys)
}

/// An error for each email address a contact write adds that belongs to an erased person.
pub(crate) async fn check_blocked(
    uow: &mut Uow<'_>,
    before: Option<&Record>,
    rec: &Record,
    errs: &mut Vec<FieldError>,
) -> Result<()> {
    let Some(c) = Contact::from_record_ref(rec) else { return Ok(()) };
    let old: Vec<&str> = before
        .and_then(Contact::from_record_ref)
        .map(|b| b.emails.iter().map(|e| e.address.as_str()).collect())
        .unwrap_or_default();
    let added: Vec<(usize, &str)> =
        c.emails.iter().map(|e| e.address.as_str()).enumerate().filter(|(_, e)| !old.contains(e)).collect();
    if added.is_empty() {
        return Ok(());
    }
    let blocked = blocked_keys(uow).await?;
    if blocked.is_empty() {
        return Ok(());
    }
    for (i, e) in added {
        if blocked.contains(&blocked_key(uow.s.tenant(), e)) {
            errs.push(FieldError::new(
                format!("emails[{i}]"),
                FieldErrorCode::Blocked,
                "belongs to a person erased at their request: they may not be added again",
            ));
        }
    }
    Ok(())
}
