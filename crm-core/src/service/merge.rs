//! Merging contacts into one survivor, and undoing it ([`Contacts::merge`](super::Contacts::merge),
//! [`Contacts::unmerge`](super::Contacts::unmerge)).

use std::collections::{BTreeSet, HashSet};

use serde_json::{Map, Value as Json};
use uuid::Uuid;

use super::Records;
use super::contacts::save_edit;
use super::uow::Uow;
use crate::entity::EntityKind;
use crate::error::{Error, FieldErrorCode, Result};
use crate::event::Change;
use crate::ids::{ContactId, MergeId};
use crate::macros::new_record;
use crate::model::{Contact, Entity, FieldType, Merge, Record};
use crate::profile::ConsentStatus;
use crate::query::Filter;

/// How long after a merge [`unmerge`](Records::unmerge) can undo it, in days.
pub const UNMERGE_WINDOW_DAYS: i64 = 90;

/// How many contacts at most are merged into one survivor at once.
pub const MAX_MERGED: usize = 4;

/// Which contact a merged field takes its value from, where the default is not wanted.
///
/// By default the survivor keeps its values and takes the first non-empty one of the others
/// (in the order given) for a field it leaves empty; emails, phones, addresses, tags and other
/// lists are united; custom values the survivor lacks are taken; the lifecycle stage is the
/// furthest of all.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MergeChoices {
    /// Field (`family_name`, `lead_source`, `custom.budget`…) and the contact to take it from.
    pub take: Vec<(String, ContactId)>,
}

impl MergeChoices {
    /// The defaults everywhere.
    pub fn new() -> Self {
        Self::default()
    }
    /// Takes `field` from contact `from` (the survivor or one of the merged).
    pub fn take(mut self, field: impl Into<String>, from: ContactId) -> Self {
        self.take.push((field.into(), from));
        self
    }
}

/// What a merge did.
#[derive(Clone, Debug, PartialEq)]
pub struct MergeOutcome {
    /// The survivor as merged.
    pub contact: Contact,
    /// The record that undoes it ([`unmerge`](Records::unmerge)).
    pub merge: MergeId,
    /// How many other records now point at the survivor (or were dropped as duplicates of the
    /// survivor's own: a campaign membership, an accounting link, a relation to itself).
    pub moved: usize,
}

/// The fields that are a record's identity, never merged.
const IDENTITY: [&str; 5] = ["id", "tenant_id", "version", "created_at", "updated_at"];

/// Where other records name a contact: kind, field, and whether the field is a list.
const SITES: [(EntityKind, &str, bool); 11] = [
    (EntityKind::Deal, "contact_ids", true),
    (EntityKind::Activity, "contact_ids", true),
    (EntityKind::Order, "contact_id", false),
    (EntityKind::Invoice, "contact_id", false),
    (EntityKind::Payment, "contact_id", false),
    (EntityKind::Case, "contact_id", false),
    (EntityKind::Feedback, "contact_id", false),
    (EntityKind::CampaignMember, "contact_id", false),
    (EntityKind::Relation, "from_id", false),
    (EntityKind::Relation, "to_id", false),
    (EntityKind::SyncLink, "local_id", false),
];

fn is_empty(v: &Json) -> bool {
    match v {
        Json::Null => true,
        Json::String(s) => s.is_empty(),
        Json::Array(a) => a.is_empty(),
        Json::Object(o) => o.is_empty(),
        _ => false,
    }
}

/// `a` with the elements of `b` it lacks, compared by `key` (whole elements when `None`).
fn unite(a: &mut Vec<Json>, b: &[Json], key: Option<&str>) {
    for x in b {
        let same = |y: &Json| match key {
            Some(k) => y.get(k) == x.get(k),
            None => y == x,
        };
        if !a.iter().any(same) {
            a.push(x.clone());
        }
    }
}

fn as_map(c: &Contact) -> Result<Map<String, Json>> {
    match serde_json::to_value(c) {
        Ok(Json::Object(m)) => Ok(m),
        _ => Err(Error::storage("a contact did not serialize")),
    }
}

/// The survivor with the others' values, as [`MergeChoices`] describes.
fn resolve(survivor: &Contact, others: &[Contact], choices: &MergeChoices) -> Result<Contact> {
    let original = as_map(survivor)?;
    let mut out = original.clone();
    let theirs: Vec<Map<String, Json>> = others.iter().map(as_map).collect::<Result<_>>()?;
    let keys: Vec<String> = out.keys().cloned().collect();
    for key in keys.iter().filter(|k| !IDENTITY.contains(&k.as_str())) {
        let Some(mine) = out.get_mut(key) else { continue };
        for other in &theirs {
            let Some(v) = other.get(key) else { continue };
            match (key.as_str(), &mut *mine) {
                ("emails", Json::Array(a)) => unite(a, v.as_array().map_or(&[], Vec::as_slice), Some("address")),
                ("phones", Json::Array(a)) => unite(a, v.as_array().map_or(&[], Vec::as_slice), Some("number")),
                (_, Json::Array(a)) => unite(a, v.as_array().map_or(&[], Vec::as_slice), None),
                ("custom", Json::Object(m)) => {
                    for (k, x) in v.as_object().into_iter().flatten() {
                        m.entry(k.clone()).or_insert_with(|| x.clone());
                    }
                }
                (_, slot) if is_empty(slot) => *slot = v.clone(),
                _ => {}
            }
        }
    }
    let mut stage = others.iter().map(|o| o.lifecycle_stage).fold(survivor.lifecycle_stage, Ord::max);
    // A refusal or withdrawal of marketing consent by any of them stands (the latest one).
    let refused = std::iter::once(survivor)
        .chain(others)
        .map(|c| &c.marketing_consent)
        .filter(|m| matches!(m.status, ConsentStatus::Denied | ConsentStatus::Withdrawn))
        .max_by_key(|m| m.changed_at);
    if let Some(m) = refused {
        out.insert("marketing_consent".into(), serde_json::to_value(m).map_err(|e| Error::storage(e.to_string()))?);
    }
    for (i, (field, from)) in choices.take.iter().enumerate() {
        let source = if *from == survivor.id {
            original.clone()
        } else {
            let Some(at) = others.iter().position(|o| o.id == *from) else {
                return Err(Error::invalid(
                    format!("choices[{i}].from"),
                    FieldErrorCode::NotFound,
                    format!("contact {from} is not one of the contacts merged"),
                ));
            };
            theirs[at].clone()
        };
        if let Some(key) = field.strip_prefix("custom.") {
            let value = source.get("custom").and_then(|c| c.get(key)).cloned();
            if let Some(Json::Object(m)) = out.get_mut("custom") {
                match value {
                    Some(v) => m.insert(key.to_owned(), v),
                    None => m.remove(key),
                };
            }
        } else if IDENTITY.contains(&field.as_str()) || !out.contains_key(field) {
            return Err(Error::invalid(
                format!("choices[{i}].field"),
                FieldErrorCode::UnknownField,
                format!("`{field}` is not a contact field that a merge can take"),
            ));
        } else {
            out.insert(field.clone(), source.get(field).cloned().unwrap_or(Json::Null));
            if field == "lifecycle_stage" {
                stage = serde_json::from_value(out[field].clone()).unwrap_or(stage);
                if stage < survivor.lifecycle_stage {
                    return Err(Error::invalid(
                        format!("choices[{i}].field"),
                        FieldErrorCode::Rule,
                        format!(
                            "a merge does not move the lifecycle back from {} to {stage}; use reset_lifecycle after it",
                            survivor.lifecycle_stage
                        ),
                    ));
                }
            }
        }
    }
    let mut merged: Contact =
        serde_json::from_value(Json::Object(out)).map_err(|e| Error::storage(format!("merged contact: {e}")))?;
    merged.lifecycle_stage = stage;
    Ok(merged)
}

/// `rec` with every mention of a `from` id replaced by `to` (not its own id); lists that
/// gained a second copy of an element keep the first.
fn repointed(rec: &Record, from: &HashSet<String>, to: &str) -> Result<Record> {
    fn walk(v: &mut Json, from: &HashSet<String>, to: &str) -> bool {
        match v {
            Json::String(s) if from.contains(s.as_str()) => {
                *s = to.to_owned();
                true
            }
            Json::Array(items) => {
                let mut hit = false;
                for x in items.iter_mut() {
                    hit |= walk(x, from, to);
                }
                if hit {
                    let mut kept: Vec<Json> = Vec::with_capacity(items.len());
                    for x in items.drain(..) {
                        if !kept.contains(&x) {
                            kept.push(x);
                        }
                    }
                    *items = kept;
                }
                hit
            }
            Json::Object(m) => {
                let mut hit = false;
                for x in m.values_mut() {
                    hit |= walk(x, from, to);
                }
                hit
            }
            _ => false,
        }
    }
    let mut json = serde_json::to_value(rec).map_err(|e| Error::storage(e.to_string()))?;
    // Every field of the record but its own id (a custom id value is `{"id": …}` too).
    if let Some(Json::Object(fields)) = json.get_mut("record") {
        for (k, x) in fields.iter_mut() {
            if k != "id" {
                walk(x, from, to);
            }
        }
    }
    serde_json::from_value(json).map_err(|e| Error::storage(format!("repointed record: {e}")))
}

/// The records of the tenant that name one of `ids` (by the fields in [`SITES`] and custom
/// reference fields to contacts), each once, in a stable order.
async fn naming(uow: &mut Uow<'_>, survivor: Uuid, ids: &[Uuid]) -> Result<Vec<Record>> {
    let mut sites: Vec<(EntityKind, String, bool)> = SITES.iter().map(|(k, f, l)| (*k, (*f).to_owned(), *l)).collect();
    for kind in EntityKind::ALL.iter().copied().filter(|k| k.has_custom_fields()) {
        let reg = uow.registry(kind).await?;
        for f in reg.iter() {
            if matches!(f.definition.field_type, FieldType::Reference { to: EntityKind::Contact }) {
                sites.push((kind, format!("custom.{}", f.definition.key), false));
            }
        }
    }
    // The contacts being merged are handled by the merge itself, not as records naming them.
    let mut seen: BTreeSet<crate::entity::EntityRef> = std::iter::once(survivor)
        .chain(ids.iter().copied())
        .map(|id| crate::entity::EntityRef::new(EntityKind::Contact, id))
        .collect();
    let mut out = Vec::new();
    for (kind, field, list) in sites {
        let any = Filter::Or(
            ids.iter()
                .map(|id| if list { Filter::contains(field.as_str(), *id) } else { Filter::eq(field.as_str(), *id) })
                .collect(),
        );
        for rec in uow.tx.query_all(kind, any).await? {
            if seen.insert(rec.entity_ref()) {
                out.push(rec);
            }
        }
    }
    Ok(out)
}

/// Whether `rec`, now naming the survivor, repeats what the survivor already has: a second
/// membership of one campaign, a second link to one accounting connection, the same relation
/// to the same record again, a relation of the survivor to itself.
async fn redundant(uow: &mut Uow<'_>, rec: &Record, survivor: Uuid) -> Result<bool> {
    Ok(match rec {
        Record::CampaignMember(m) => {
            let same = Filter::eq("campaign_id", m.campaign_id).and(Filter::eq("contact_id", survivor));
            uow.tx.count(EntityKind::CampaignMember, &same).await? > 0
        }
        Record::SyncLink(l) => {
            let same = Filter::eq("connection", l.connection.as_str()).and(Filter::eq("local_id", survivor));
            uow.tx.count(EntityKind::SyncLink, &same).await? > 0
        }
        Record::Relation(r) => {
            let same = Filter::eq("from_id", r.from.id)
                .and(Filter::eq("to_id", r.to.id))
                .and(Filter::eq("label", r.label.as_str()));
            r.from == r.to || uow.tx.count(EntityKind::Relation, &same).await? > 0
        }
        _ => false,
    })
}

impl Records<'_, Contact> {
    /// Merges `others` (one to four contacts) into `survivor`, in one transaction: the
    /// survivor's fields are resolved as [`MergeChoices`] says; every deal, activity, order,
    /// invoice, payment, case, feedback, relation, campaign membership, accounting link and
    /// custom reference naming one of the others then names the survivor (a membership or link
    /// the survivor already has is dropped instead); the others are deleted. Each change emits
    /// its event. What it changed is kept in a [`Merge`] record so that
    /// [`unmerge`](Self::unmerge) can undo it within [`UNMERGE_WINDOW_DAYS`].
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// use crm_core::prelude::*;
    /// use crm_core::service::MergeChoices;
    /// let crm = Crm::new(MemoryStore::new());
    /// let cx = crm.as_actor(&Actor::system(TenantId::new()));
    /// let jane = cx.contacts().create(NewContact::new("Jane", "Doe").email("jane@acme.com")).await?;
    /// let twin = cx.contacts().create(NewContact::new("Jane", "Doe-Smith").email("jd@home.org").tag("vip")).await?;
    /// let deal = cx.deals().create(NewDeal::new("Renewal").contact(twin.id)).await?;
    /// let done = cx.contacts().merge(jane.id, &[twin.id], &MergeChoices::new().take("family_name", twin.id)).await?;
    /// assert_eq!((done.contact.family_name.as_str(), done.contact.emails.len()), ("Doe-Smith", 2));
    /// assert_eq!(cx.deals().get(deal.id).await?.contact_ids, [jane.id]);
    /// cx.contacts().unmerge(done.merge).await?;
    /// assert_eq!(cx.deals().get(deal.id).await?.contact_ids, [twin.id]);
    /// # Ok::<_, Error>(()) }).unwrap();
    /// ```
    pub async fn merge(
        &self,
        survivor: ContactId,
        others: &[ContactId],
        choices: &MergeChoices,
    ) -> Result<MergeOutcome> {
        if others.is_empty() || others.len() > MAX_MERGED {
            return Err(Error::invalid(
                "others",
                FieldErrorCode::OutOfRange,
                format!("{} contacts given; merge 1 to {MAX_MERGED} into the survivor", others.len()),
            ));
        }
        for (i, id) in others.iter().enumerate() {
            if *id == survivor || others[..i].contains(id) {
                return Err(Error::invalid(format!("others[{i}]"), FieldErrorCode::Duplicate, "named twice"));
            }
        }
        let others = others.to_vec();
        let choices = choices.clone();
        self.write(|uow| {
            Box::pin(async move {
                let before = uow.tx.require::<Contact>(survivor).await?;
                let mut merged = Vec::with_capacity(others.len());
                for (i, id) in others.iter().enumerate() {
                    match uow.tx.fetch::<Contact>(*id).await? {
                        Some(c) => merged.push(c),
                        None => {
                            return Err(Error::invalid(
                                format!("others[{i}]"),
                                FieldErrorCode::NotFound,
                                format!("no contact {id}"),
                            ));
                        }
                    }
                }
                let ids: Vec<Uuid> = others.iter().map(|&i| i.into()).collect();
                let from: HashSet<String> = ids.iter().map(|u| u.hyphenated().to_string()).collect();
                let to = Uuid::from(survivor).hyphenated().to_string();
                // The survivor's own references to the others (a custom "referred by") now name it.
                let resolved = repointed(&resolve(&before, &merged, &choices)?.into_record(), &from, &to)?;
                let resolved = Contact::from_record(resolved).ok_or_else(|| Error::storage("not a contact"))?;
                let mut moved_before = Vec::new();
                let mut after = Vec::new();
                // The others go first, so that the survivor can take their external ids (unique
                // per tenant); then the survivor, so that the records moved to it see it as it is.
                for c in &merged {
                    uow.remove(&c.clone().into_record(), c.version).await?;
                }
                let contact = save_edit(uow, before.clone(), resolved).await?;
                after.push((contact.entity_ref(), contact.version));
                for rec in naming(uow, survivor.into(), &ids).await? {
                    let moved = repointed(&rec, &from, &to)?;
                    if redundant(uow, &moved, survivor.into()).await? {
                        uow.remove(&rec, rec.version()).await?;
                    } else {
                        let saved = uow.save_record(&rec, moved, Vec::new(), &[]).await?;
                        after.push((saved.entity_ref(), saved.version()));
                    }
                    moved_before.push(rec);
                }
                let moved = moved_before.len();
                let mut all_before = vec![before.into_record()];
                all_before.extend(merged.into_iter().map(Entity::into_record));
                let journal = new_record!(
                    uow,
                    Merge {
                        kind: EntityKind::Contact,
                        survivor: survivor.into(),
                        merged: ids,
                        before: all_before,
                        moved: moved_before,
                        after,
                        merged_by: uow.s.actor().user_id,
                        undone_at: None,
                    }
                );
                let journal = uow.create(journal, Vec::new()).await?;
                Ok(MergeOutcome { contact, merge: journal.id, moved })
            })
        })
        .await
    }

    /// Undoes merge `merge`: the survivor gets back its fields, the merged contacts come back
    /// with their ids, and every record the merge moved or dropped is as it was — in one
    /// transaction, each change with its event. Refused (nothing written) when the merge was
    /// already undone or is older than [`UNMERGE_WINDOW_DAYS`] (a validation error on
    /// `merge`), or when a record it changed has changed since ([`Error::Conflict`] naming it).
    pub async fn unmerge(&self, merge: MergeId) -> Result<Contact> {
        self.write(|uow| {
            Box::pin(async move {
                let mut m = uow.tx.require::<Merge>(merge).await?;
                let refuse = |why: String| Err(Error::invalid("merge", FieldErrorCode::Rule, why));
                if m.kind != EntityKind::Contact {
                    return refuse(format!("merge {merge} is of {} records", m.kind));
                }
                if m.undone_at.is_some() {
                    return refuse(format!("merge {merge} was already undone"));
                }
                if uow.now - m.created_at > chrono::Duration::days(UNMERGE_WINDOW_DAYS) {
                    return refuse(format!("merge {merge} is older than {UNMERGE_WINDOW_DAYS} days"));
                }
                for (r, version) in &m.after {
                    let found = uow.tx.get(r.kind, r.id).await?.map(|x| x.version());
                    if found != Some(*version) {
                        return Err(Error::Conflict { kind: r.kind, id: r.id, expected: *version, found });
                    }
                }
                // The survivor first (it gives back what it took, external ids included), then
                // the merged contacts, then the records that named them.
                let (survivor, merged) = m.before.split_first().ok_or_else(|| Error::storage("empty merge"))?;
                let restored = restore(uow, survivor).await?;
                for rec in merged {
                    if let Some(now) = uow.tx.get(rec.kind(), rec.id()).await? {
                        return Err(Error::Conflict {
                            kind: rec.kind(),
                            id: rec.id(),
                            expected: 0,
                            found: Some(now.version()),
                        });
                    }
                    reinsert(uow, rec).await?;
                }
                for rec in &m.moved {
                    match uow.tx.get(rec.kind(), rec.id()).await? {
                        Some(_) => {
                            restore(uow, rec).await?;
                        }
                        None => reinsert(uow, rec).await?,
                    }
                }
                m.undone_at = Some(uow.now);
                uow.save_system(m).await?;
                Contact::from_record(restored).ok_or_else(|| Error::storage("the survivor is not a contact"))
            })
        })
        .await
    }
}

/// Inserts a record the merge deleted, as it was (a store numbers a new record's versions
/// from 1 again), emitting `Created`.
async fn reinsert(uow: &mut Uow<'_>, rec: &Record) -> Result<()> {
    let mut back = rec.clone();
    back.set_version(1);
    back.set_updated_at(uow.now);
    uow.tx.insert(back.clone()).await?;
    uow.emit(back.entity_ref(), back.related(), Change::Created);
    Ok(())
}

/// Writes `before`'s content over the current version of its record, as an update (the
/// snapshot was valid when the merge took it, and the records it names come back with it, so
/// it is written as it was, not checked again).
async fn restore(uow: &mut Uow<'_>, before: &Record) -> Result<Record> {
    let current = uow
        .tx
        .get(before.kind(), before.id())
        .await?
        .ok_or(Error::NotFound { kind: before.kind(), id: before.id() })?;
    let mut back = before.clone();
    back.set_version(current.version() + 1);
    back.set_updated_at(uow.now);
    uow.tx.update(back.clone()).await?;
    let fields = super::uow::changed_fields(&current, &back);
    if !fields.is_empty() {
        uow.emit(back.entity_ref(), back.related(), Change::Updated { fields });
    }
    Ok(back)
}
