//! Erasure: removing a person from the CRM at their request (GDPR article 17), keeping only
//! what accounting must keep, anonymised.
//!
//! One transaction deletes or anonymises every record about the person and logs the erasure
//! ([`Erasure`]); its events name the fields they changed, never the values. Then the recorded
//! values of every earlier event about those records are scrubbed from the history (the hash
//! chain still verifies, see [`Store::scrub_events`](crate::store::Store::scrub_events)) and
//! the store is asked to purge what it deleted from its files
//! ([`Store::purge`](crate::store::Store::purge)). When a later step fails the log says so
//! (`completed_at` unset) and erasing again finishes it.

use std::collections::HashMap;

use super::privacy::Privacy;
use super::uow::{Uow, delete_attached};
use crate::entity::EntityRef;
use crate::error::Result;
use crate::event::StoredEvent;
use crate::ids::{ContactId, ErasureId};
use crate::macros::new_record;
use crate::model::{
    Action, Activity, ActivityKind, CampaignMember, Case, Consent, Contact, Deal, Entity, Erasure, Feedback, Invoice,
    Merge, Order, Payment, Record, Relation, SyncLink, blocked_key, mask_name,
};
use crate::profile::{Address, ConsentStatus, MarketingConsent};
use crate::query::Filter;

impl Privacy<'_> {
    /// Erases contact `contact` (GDPR's right to erasure). Needs
    /// [`Permission::PrivacyRequests`](crate::model::Permission::PrivacyRequests) and read
    /// access to the contact. In one transaction:
    ///
    /// - deleted: their activities (every email, and any other activity no one else is on),
    ///   cases, feedback, campaign memberships, consent ledger, relations, sync links to other
    ///   systems and merge records (whose undo data holds their old records);
    /// - unlinked: shared activities and deals keep going without them (their participant
    ///   entry is removed);
    /// - anonymised: orders, invoices and payments keep amounts, dates and lines but lose their
    ///   notes, references and custom values; when any name the contact, the contact is kept as
    ///   `Erased` with only the countries of its addresses, its company and its ids in other
    ///   systems; otherwise it is deleted;
    /// - logged: an [`Erasure`] with the masked name, the reason and the keyed hashes of their
    ///   email addresses, which are blocked from then on ([`Privacy::is_blocked`]).
    ///
    /// Then the values recorded by earlier changes of those records are scrubbed from the
    /// history, and the store purges deleted data from its files. Returns the log. Erasing an
    /// erased person again finishes an erasure a failure interrupted, or returns its log.
    pub async fn erase(&self, contact: ContactId, reason: Option<&str>) -> Result<Erasure> {
        let mut logs = self.erase_all(&[contact], reason, |_| {}).await?;
        logs.pop().ok_or_else(|| crate::error::Error::storage("an erasure returned no log"))
    }

    /// [`erase`](Self::erase) for many people, one transaction each, then one scrub of the
    /// history and one purge for all of them; `progress` is told how many were erased after
    /// each. Returns their logs, in order. A failure stops the run: the people erased before it
    /// stay erased, and running it again finishes them and goes on.
    pub async fn erase_all(
        &self,
        contacts: &[ContactId],
        reason: Option<&str>,
        mut progress: impl FnMut(usize) + Send,
    ) -> Result<Vec<Erasure>> {
        self.require_permission("erase a person").await?;
        let mut logs = Vec::with_capacity(contacts.len());
        for (i, id) in contacts.iter().enumerate() {
            let mut uow = Uow::read(self.s).await?;
            let logged = uow.tx.find_all::<Erasure>(Filter::eq("contact_id", *id)).await?.into_iter().next();
            drop(uow);
            logs.push(match logged {
                Some(log) => log,
                None => self.erase_records(*id, reason).await?,
            });
            progress(i + 1);
        }
        let open: Vec<&Erasure> = logs.iter().filter(|l| l.completed_at.is_none()).collect();
        if open.is_empty() {
            return Ok(logs);
        }
        let scrubbed = self.scrub_history(&open).await?;
        self.s.crm.inner.store.purge(self.s.tenant()).await?;
        let mut uow = Uow::write(self.s).await?;
        uow.by_rules = true;
        for log in logs.iter_mut().filter(|l| l.completed_at.is_none()) {
            let mut stored = uow.tx.require::<Erasure>(log.id).await?;
            stored.events_scrubbed += scrubbed.get(&log.id).copied().unwrap_or(0);
            stored.completed_at = Some(uow.now);
            *log = uow.save_system(stored).await?;
        }
        uow.commit().await?;
        Ok(logs)
    }

    /// The transaction that deletes, unlinks and anonymises, and logs the erasure.
    async fn erase_records(&self, id: ContactId, reason: Option<&str>) -> Result<Erasure> {
        let mut uow = Uow::write(self.s).await?;
        let person = uow.load::<Contact>(id, Action::Read).await?;
        uow.by_rules = true;
        uow.ledger.quiet = true;
        let mut work = Work { records: Vec::new(), deleted: 0, anonymised: 0 };
        let emails: Vec<String> = person.emails.iter().map(|e| e.address.as_str().to_lowercase()).collect();

        for a in uow.tx.find_all::<Activity>(Filter::contains("contact_ids", id)).await? {
            let alone = a.contact_ids.iter().all(|c| *c == id);
            if a.kind == ActivityKind::Email || alone {
                work.delete(&mut uow, a.into_record()).await?;
            } else {
                let mut after = a.clone();
                after.contact_ids.retain(|c| *c != id);
                after.participants.retain(|p| {
                    p.contact_id != Some(id)
                        && !p.email.as_ref().is_some_and(|e| emails.contains(&e.as_str().to_lowercase()))
                });
                work.overwrite(&mut uow, a.into_record(), after.into_record()).await?;
            }
        }
        for d in uow.tx.find_all::<Deal>(Filter::contains("contact_ids", id)).await? {
            let mut after = d.clone();
            after.contact_ids.retain(|c| *c != id);
            work.overwrite(&mut uow, d.into_record(), after.into_record()).await?;
        }
        let of = || Filter::eq("contact_id", id);
        let mut gone: Vec<Record> = Vec::new();
        let ends = Filter::eq("from_id", id).or(Filter::eq("to_id", id));
        gone.extend(uow.tx.find_all::<Relation>(ends).await?.into_iter().map(Entity::into_record));
        gone.extend(uow.tx.find_all::<Case>(of()).await?.into_iter().map(Entity::into_record));
        gone.extend(uow.tx.find_all::<Feedback>(of()).await?.into_iter().map(Entity::into_record));
        gone.extend(uow.tx.find_all::<CampaignMember>(of()).await?.into_iter().map(Entity::into_record));
        gone.extend(uow.tx.find_all::<Consent>(of()).await?.into_iter().map(Entity::into_record));
        gone.extend(
            uow.tx.find_all::<SyncLink>(Filter::eq("local_id", id)).await?.into_iter().map(Entity::into_record),
        );
        gone.extend(uow.tx.find_all::<Merge>(Filter::eq("survivor", id)).await?.into_iter().map(Entity::into_record));
        for r in gone {
            work.delete(&mut uow, r).await?;
        }
        let mut kept = 0;
        for o in uow.tx.find_all::<Order>(of()).await? {
            let mut after = o.clone();
            (after.notes, after.custom) = (None, Default::default());
            work.overwrite(&mut uow, o.into_record(), after.into_record()).await?;
            kept += 1;
        }
        for i in uow.tx.find_all::<Invoice>(of()).await? {
            let mut after = i.clone();
            (after.notes, after.custom) = (None, Default::default());
            work.overwrite(&mut uow, i.into_record(), after.into_record()).await?;
            kept += 1;
        }
        for p in uow.tx.find_all::<Payment>(of()).await? {
            let mut after = p.clone();
            (after.notes, after.reference) = (None, None);
            work.overwrite(&mut uow, p.into_record(), after.into_record()).await?;
            kept += 1;
        }
        let masked_name = mask_name(&person.full_name());
        let blocked = emails.iter().map(|e| blocked_key(self.s.tenant(), e)).collect();
        if kept > 0 {
            let stub = anonymised(&person);
            work.overwrite(&mut uow, person.into_record(), stub.into_record()).await?;
        } else {
            work.delete(&mut uow, person.into_record()).await?;
        }
        let log = new_record!(
            uow,
            Erasure {
                contact_id: id,
                masked_name,
                reason: reason.map(str::trim).filter(|r| !r.is_empty()).map(str::to_owned),
                erased_by: self.s.actor.user_id,
                blocked,
                records: work.records,
                deleted: work.deleted,
                anonymised: work.anonymised,
                events_scrubbed: 0,
                completed_at: None,
            }
        );
        let log = uow.create(log, Vec::new()).await?;
        uow.commit().await?;
        Ok(log)
    }

    /// Clears the recorded values of every committed event about a record of one of `logs`;
    /// per log, the events scrubbed.
    async fn scrub_history(&self, logs: &[&Erasure]) -> Result<HashMap<ErasureId, u64>> {
        let mut of: HashMap<EntityRef, Vec<ErasureId>> = HashMap::new();
        for log in logs {
            for r in &log.records {
                of.entry(*r).or_default().push(log.id);
            }
        }
        let whose = |e: &StoredEvent| -> Vec<ErasureId> {
            let mut ids: Vec<ErasureId> = std::iter::once(&e.event.subject)
                .chain(&e.event.related)
                .flat_map(|r| of.get(r))
                .flatten()
                .copied()
                .collect();
            ids.sort();
            ids.dedup();
            ids
        };
        let scrubbed = super::audit::scrub_values(self.s, |e| !whose(e).is_empty()).await?;
        let mut counts: HashMap<ErasureId, u64> = HashMap::new();
        for id in scrubbed.iter().flat_map(whose) {
            *counts.entry(id).or_default() += 1;
        }
        Ok(counts)
    }
}

/// What an erasure has done so far.
struct Work {
    records: Vec<EntityRef>,
    deleted: u64,
    anonymised: u64,
}

impl Work {
    async fn delete(&mut self, uow: &mut Uow<'_>, rec: Record) -> Result<()> {
        let r = rec.entity_ref();
        delete_attached(uow, r).await?;
        let v = rec.version();
        uow.remove(&rec, v).await?;
        self.records.push(r);
        self.deleted += 1;
        Ok(())
    }

    async fn overwrite(&mut self, uow: &mut Uow<'_>, before: Record, after: Record) -> Result<()> {
        self.records.push(before.entity_ref());
        uow.overwrite(&before, after).await?;
        self.anonymised += 1;
        Ok(())
    }
}

/// The contact kept for accounting: its identity, company, owner and ids in other systems,
/// the countries of its addresses; nothing that names or reaches the person.
fn anonymised(c: &Contact) -> Contact {
    let mut s = c.clone();
    s.given_name = "Erased".into();
    s.family_name = String::new();
    s.emails.clear();
    s.phones.clear();
    s.addresses = c
        .addresses
        .iter()
        .filter_map(|a| a.country.clone())
        .map(|country| Address {
            label: None,
            lines: Vec::new(),
            city: None,
            region: None,
            postal_code: None,
            country: Some(country),
        })
        .collect();
    s.website = None;
    s.social_profiles.clear();
    s.preferred_channel = None;
    s.birthday = None;
    s.important_dates.clear();
    s.family_notes = None;
    s.hobbies.clear();
    s.memberships.clear();
    s.marketing_consent = MarketingConsent { status: ConsentStatus::Withdrawn, changed_at: None, method: None };
    s.tags.clear();
    s.job_title = None;
    s.department = None;
    s.rfm = None;
    s.custom = Default::default();
    s
}
