//! The consent ledger: recording a person's consent per purpose, its history, and what it is
//! now. Every change of a contact's marketing consent, however it is made (a form, an edit,
//! an import, a campaign's unsubscribe link, a merge), adds its entry here in the same
//! transaction.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};

use super::Records;
use super::checks::Checks;
use super::uow::Uow;
use crate::error::{Error, FieldErrorCode, Result};
use crate::event::Change;
use crate::ids::{ContactId, storage_precision};
use crate::macros::{new_input, new_record};
use crate::model::{Action, Consent, ConsentPurpose, Contact, Entity, Record};
use crate::profile::{ConsentMethod, ConsentStatus, MarketingConsent};
use crate::query::Filter;

/// Contacts whose ledger is read per query when a campaign checks its members.
const CHUNK: usize = 500;

new_input! {
    /// A consent to record (see [`Consents::record`]).
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct NewConsent {
        /// The person.
        pub contact_id: ContactId => manual,
        /// What it is about.
        pub purpose: ConsentPurpose => manual,
        /// Granted, denied, withdrawn.
        pub status: ConsentStatus => manual,
        /// How it was given.
        pub method: ConsentMethod => manual,
        /// Where it was given (trimmed; at most 500 characters).
        pub source: Option<String> => some source(String),
        /// When the person gave it (default: now; not in the future).
        pub given_at: Option<DateTime<Utc>> => some_exact given_at(DateTime<Utc>),
    }
}

impl NewConsent {
    /// Consent of `contact` to `purpose`.
    pub fn new(contact: ContactId, purpose: ConsentPurpose, status: ConsentStatus, method: ConsentMethod) -> Self {
        Self { contact_id: contact, purpose, status, method, source: None, given_at: None }
    }
}

/// The consent ledger. Entries are added, never edited or deleted (erasing the person removes
/// them); the latest entry of a purpose, by the time it was given, is the person's consent to
/// it now. A contact's [`marketing_consent`](Contact::marketing_consent) follows their
/// [`MarketingEmail`](ConsentPurpose::MarketingEmail) entries, and any change of it adds one.
/// Campaigns check the purpose their channel needs ([`ConsentPurpose::for_channel`]).
///
/// ```
/// # futures::executor::block_on(async {
/// use crm_core::prelude::*;
/// use crm_core::model::ConsentPurpose;
/// use crm_core::profile::{ConsentMethod, ConsentStatus};
/// use crm_core::service::NewConsent;
/// let crm = Crm::new(MemoryStore::new());
/// let cx = crm.as_actor(&Actor::system(TenantId::new()));
/// let ada = cx.contacts().create(NewContact::new("Ada", "Lovelace")).await?;
/// let sms = |status| NewConsent::new(ada.id, ConsentPurpose::MarketingSms, status, ConsentMethod::WebForm);
/// cx.consents().record(sms(ConsentStatus::Granted).source("pricing page")).await?;
/// cx.consents().record(sms(ConsentStatus::Withdrawn)).await?;
/// assert_eq!(cx.consents().status(ada.id, ConsentPurpose::MarketingSms).await?, ConsentStatus::Withdrawn);
/// assert_eq!(cx.consents().history(ada.id).await?.len(), 2);
/// // Marketing email consent is also the contact's own field.
/// cx.consents()
///     .record(NewConsent::new(ada.id, ConsentPurpose::MarketingEmail, ConsentStatus::Granted, ConsentMethod::DoubleOptIn))
///     .await?;
/// assert_eq!(cx.contacts().get(ada.id).await?.marketing_consent.status, ConsentStatus::Granted);
/// # Ok::<_, Error>(()) }).unwrap();
/// ```
pub type Consents<'s> = Records<'s, Consent>;

impl Records<'_, Consent> {
    /// Adds an entry to the ledger. A [`MarketingEmail`](ConsentPurpose::MarketingEmail)
    /// entry that is the latest also sets the contact's marketing consent. Needs the right to
    /// create consents and to read the contact.
    pub async fn record(&self, input: NewConsent) -> Result<Consent> {
        self.write(|uow| {
            Box::pin(async move {
                uow.load::<Contact>(input.contact_id, Action::Read).await?;
                let mut ch = Checks::default();
                let mut source = input.source;
                ch.opt_text("source", &mut source);
                if source.as_ref().is_some_and(|s| s.chars().count() > 500) {
                    ch.push("source", FieldErrorCode::OutOfRange, "at most 500 characters");
                }
                let given_at = input.given_at.map(storage_precision).unwrap_or(uow.now);
                if given_at > uow.now {
                    ch.push("given_at", FieldErrorCode::OutOfRange, "consent cannot be given in the future");
                }
                let entry = new_record!(
                    uow,
                    Consent {
                        contact_id: input.contact_id,
                        purpose: input.purpose,
                        status: input.status,
                        method: input.method,
                        source,
                        given_at,
                        recorded_by: uow.s.actor.user_id,
                    }
                );
                let entry = uow.create(entry, ch.errs).await?;
                if entry.purpose == ConsentPurpose::MarketingEmail {
                    mirror(uow, &entry).await?;
                }
                Ok(entry)
            })
        })
        .await
    }

    /// The ledger of a contact, all purposes, in the order consent was given.
    pub async fn history(&self, contact: ContactId) -> Result<Vec<Consent>> {
        let mut uow = Uow::read(self.s).await?;
        uow.load::<Contact>(contact, Action::Read).await?;
        let mut all = uow.find_readable::<Consent>(&Filter::eq("contact_id", contact)).await?;
        all.sort_by_key(|c| (c.given_at, c.created_at, c.id));
        Ok(all)
    }

    /// A contact's consent to each purpose now: the latest entry of each purpose in the
    /// ledger (marketing email falls back on the contact's field, for consent given before
    /// the ledger).
    pub async fn current(&self, contact: ContactId) -> Result<BTreeMap<ConsentPurpose, ConsentStatus>> {
        let mut uow = Uow::read(self.s).await?;
        let c = uow.load::<Contact>(contact, Action::Read).await?;
        let entries = uow.find_readable::<Consent>(&Filter::eq("contact_id", contact)).await?;
        let mut out: BTreeMap<ConsentPurpose, ConsentStatus> =
            latest(entries).into_iter().map(|((_, purpose), e)| (purpose, e.status)).collect();
        // The contact's field is the marketing email consent now, with or without entries.
        if c.marketing_consent.status != ConsentStatus::Unknown || out.contains_key(&ConsentPurpose::MarketingEmail) {
            out.insert(ConsentPurpose::MarketingEmail, c.marketing_consent.status);
        }
        Ok(out)
    }

    /// A contact's consent to `purpose` now ([`ConsentStatus::Unknown`] when never asked).
    pub async fn status(&self, contact: ContactId, purpose: ConsentPurpose) -> Result<ConsentStatus> {
        Ok(self.current(contact).await?.get(&purpose).copied().unwrap_or(ConsentStatus::Unknown))
    }
}

/// Entries waiting for the end of a unit of work, and where the changes come from.
#[derive(Debug, Default)]
pub(crate) struct Ledger {
    pending: Vec<Consent>,
    /// The source written on the entries of this unit of work's consent changes.
    pub(crate) source: Option<String>,
    /// Set while a contact's consent changes without an entry of its own: the ledger sets it
    /// from an entry it has, or an erasure removes the person.
    pub(crate) quiet: bool,
}

/// Adds a ledger entry when a write changed a contact's marketing consent (or created a contact
/// with one).
pub(crate) fn follow(uow: &mut Uow<'_>, before: Option<&Record>, after: &Record) {
    let Some(c) = Contact::from_record_ref(after) else { return };
    if uow.ledger.quiet {
        return;
    }
    let old = before.and_then(Contact::from_record_ref).map(|b| &b.marketing_consent);
    let new = &c.marketing_consent;
    let changed = match old {
        Some(o) => o.status != new.status || o.method != new.method,
        None => new.status != ConsentStatus::Unknown,
    };
    if !changed {
        return;
    }
    let entry = new_record!(
        uow,
        Consent {
            contact_id: c.id,
            purpose: ConsentPurpose::MarketingEmail,
            status: new.status,
            method: new.method.unwrap_or(ConsentMethod::Other),
            source: uow.ledger.source.clone(),
            given_at: new.changed_at.map(storage_precision).unwrap_or(uow.now).min(uow.now),
            recorded_by: uow.s.actor.user_id,
        }
    );
    uow.ledger.pending.push(entry);
}

/// Writes the entries [`follow`] collected, each with its `Created` event.
pub(crate) async fn flush(uow: &mut Uow<'_>) -> Result<()> {
    let entries = std::mem::take(&mut uow.ledger.pending);
    if entries.is_empty() {
        return Ok(());
    }
    let recs: Vec<Record> = entries.into_iter().map(Entity::into_record).collect();
    for r in &recs {
        uow.emit(r.entity_ref(), r.related(), Change::Created);
    }
    uow.tx.insert_many(&recs).await
}

/// Sets the contact's marketing consent from `entry` when it is the latest one.
async fn mirror(uow: &mut Uow<'_>, entry: &Consent) -> Result<()> {
    let mut c = uow.tx.require::<Contact>(entry.contact_id).await?;
    let newer = c.marketing_consent.changed_at.is_some_and(|at| at > entry.given_at);
    if newer {
        return Ok(());
    }
    let before = c.marketing_consent.clone();
    c.marketing_consent =
        MarketingConsent { status: entry.status, changed_at: Some(entry.given_at), method: Some(entry.method) };
    if c.marketing_consent == before {
        return Ok(());
    }
    uow.ledger.quiet = true;
    let saved = uow.save_system(c).await;
    uow.ledger.quiet = false;
    let c = saved?;
    uow.emit(c.entity_ref(), c.related(), Change::Updated { fields: vec!["marketing_consent".into()] });
    Ok(())
}

/// The latest entry per contact and purpose.
fn latest(entries: Vec<Consent>) -> HashMap<(ContactId, ConsentPurpose), Consent> {
    let mut out: HashMap<(ContactId, ConsentPurpose), Consent> = HashMap::new();
    for e in entries {
        let key = (e.contact_id, e.purpose);
        match out.get(&key) {
            Some(o) if (o.given_at, o.created_at, o.id) >= (e.given_at, e.created_at, e.id) => {}
            _ => {
                out.insert(key, e);
            }
        }
    }
    out
}

/// Which of `contacts` refused or withdrew consent to `purpose` (for a campaign's members).
pub(crate) async fn refusing(
    uow: &mut Uow<'_>,
    purpose: ConsentPurpose,
    contacts: &[&Contact],
) -> Result<HashSet<ContactId>> {
    let refused = |s: ConsentStatus| matches!(s, ConsentStatus::Denied | ConsentStatus::Withdrawn);
    if purpose == ConsentPurpose::MarketingEmail {
        return Ok(contacts.iter().filter(|c| refused(c.marketing_consent.status)).map(|c| c.id).collect());
    }
    let mut out = HashSet::new();
    for chunk in contacts.chunks(CHUNK) {
        let ids: Vec<ContactId> = chunk.iter().map(|c| c.id).collect();
        let f = Filter::eq("purpose", purpose).and(Filter::is_in("contact_id", ids));
        let entries = uow.tx.find_all::<Consent>(f).await?;
        out.extend(latest(entries).into_iter().filter(|(_, e)| refused(e.status)).map(|((c, _), _)| c));
    }
    Ok(out)
}

/// The error for adding `c`, who refused `purpose`, to a campaign.
pub(crate) fn refused_error(c: &Contact, purpose: ConsentPurpose) -> Error {
    Error::invalid(
        "contact_id",
        FieldErrorCode::Rule,
        format!("{} refused or withdrew {purpose} consent", c.full_name()),
    )
}
