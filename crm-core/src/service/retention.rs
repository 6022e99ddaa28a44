//! Retention policies: people the business no longer has a reason to keep (leads nobody has
//! touched for eighteen months…) found and erased on demand.

use std::collections::HashSet;

use chrono::Duration;

use super::privacy::Privacy;
use super::uow::Uow;
use crate::entity::EntityKind;
use crate::error::{Error, FieldError, FieldErrorCode, Result};
use crate::ids::ContactId;
use crate::model::{Activity, Contact, Deal, Erasure};
use crate::query::{Filter, Query};

/// Contacts whose activities and deals are read per query while candidates are checked.
const CHUNK: usize = 200;

/// The longest a policy may wait: a hundred years.
const MAX_DAYS: u32 = 36_500;

/// A retention policy: the contacts matching `filter` that nobody touched for
/// `untouched_days` (the contact unchanged, no activity with them and no change to a deal of
/// theirs since) are erased, with the policy's name as the reason.
///
/// ```
/// # futures::executor::block_on(async {
/// use crm_core::prelude::*;
/// use crm_core::service::RetentionPolicy;
/// let cx = Crm::new(MemoryStore::new()).as_actor(&Actor::system(TenantId::new()));
/// cx.contacts().create(NewContact::new("Lee", "Fresh")).await?;
/// let stale_leads = RetentionPolicy::contacts("stale leads", Filter::eq("lifecycle_stage", "lead"), 540);
/// assert!(cx.privacy().retention_candidates(&stale_leads).await?.is_empty(), "touched today");
/// let bad = RetentionPolicy::contacts("never", Filter::All, 0);
/// assert!(matches!(cx.privacy().retention_candidates(&bad).await, Err(Error::Validation(_))));
/// # Ok::<_, Error>(()) }).unwrap();
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct RetentionPolicy {
    /// What it is called (the reason its erasures give).
    pub name: String,
    /// Which contacts it is about.
    pub filter: Filter,
    /// How long untouched (1 to 36,500 days).
    pub untouched_days: u32,
}

impl RetentionPolicy {
    /// A policy erasing the contacts matching `filter` untouched for `untouched_days`.
    pub fn contacts(name: impl Into<String>, filter: Filter, untouched_days: u32) -> Self {
        Self { name: name.into(), filter, untouched_days }
    }

    fn check(&self) -> Result<()> {
        let mut errs = Vec::new();
        if self.name.trim().is_empty() {
            errs.push(FieldError::new("name", FieldErrorCode::Required, "a policy needs a name"));
        }
        if !(1..=MAX_DAYS).contains(&self.untouched_days) {
            errs.push(FieldError::new(
                "untouched_days",
                FieldErrorCode::OutOfRange,
                format!("{} days; 1 to {MAX_DAYS}", self.untouched_days),
            ));
        }
        Error::check(errs)
    }
}

impl Privacy<'_> {
    /// The contacts `policy` would erase now, oldest change first: a dry run. Needs
    /// [`Permission::PrivacyRequests`](crate::model::Permission::PrivacyRequests).
    pub async fn retention_candidates(&self, policy: &RetentionPolicy) -> Result<Vec<ContactId>> {
        policy.check()?;
        self.require_permission("apply a retention policy").await?;
        let mut uow = Uow::read(self.s).await?;
        let reg = uow.registry(EntityKind::Contact).await?;
        Query::new(policy.filter.clone()).validate(EntityKind::Contact, &reg)?;
        uow.check_probe(EntityKind::Contact, &policy.filter, &[]).await?;
        let cutoff = uow.now - Duration::days(i64::from(policy.untouched_days));
        let quiet = policy.filter.clone().and(Filter::lt("updated_at", cutoff));
        let mut stale = uow.find_readable::<Contact>(&quiet).await?;
        stale.sort_by_key(|c| (c.updated_at, c.id));
        let mut touched: HashSet<ContactId> = HashSet::new();
        for chunk in stale.chunks(CHUNK) {
            let anyone = chunk.iter().map(|c| Filter::contains("contact_ids", c.id)).reduce(Filter::or);
            let Some(anyone) = anyone else { continue };
            let met = Filter::gte("occurred_at", cutoff).and(anyone.clone());
            for a in uow.tx.find_all::<Activity>(met).await? {
                touched.extend(a.contact_ids);
            }
            for d in uow.tx.find_all::<Deal>(Filter::gte("updated_at", cutoff).and(anyone)).await? {
                touched.extend(d.contact_ids);
            }
        }
        Ok(stale.into_iter().map(|c| c.id).filter(|id| !touched.contains(id)).collect())
    }

    /// Erases the contacts `policy` finds ([`retention_candidates`](Self::retention_candidates))
    /// as [`erase_all`](Self::erase_all) does, the policy's name as the reason; `progress` is
    /// told how many were erased after each.
    pub async fn apply_retention(
        &self,
        policy: &RetentionPolicy,
        progress: impl FnMut(usize) + Send,
    ) -> Result<Vec<Erasure>> {
        let ids = self.retention_candidates(policy).await?;
        let reason = format!("retention policy `{}`", policy.name.trim());
        self.erase_all(&ids, Some(&reason), progress).await
    }
}
