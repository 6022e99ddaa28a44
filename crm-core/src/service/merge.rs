//! Merging records of one kind into a survivor, and undoing it: contacts
//! ([`Contacts::merge`](super::Contacts::merge), [`Contacts::unmerge`](super::Contacts::unmerge))
//! and companies ([`Companies::merge`](super::Companies::merge)). The merge is written once; a
//! kind gives where other records name it and its own rules ([`Mergeable`]).

use std::collections::{BTreeSet, HashSet};

use serde_json::{Map, Value as Json};
use uuid::Uuid;

use super::Records;
use super::checks::Checks;
use super::contacts::save_edit;
use super::records::Work;
use super::uow::Uow;
use crate::entity::EntityKind;
use crate::error::{Error, FieldErrorCode, Result};
use crate::event::Change;
use crate::ids::{CompanyId, ContactId, MergeId};
use crate::macros::new_record;
use crate::model::{Action, Company, Contact, Entity, FieldType, Merge, Record};
use crate::profile::ConsentStatus;
use crate::query::Filter;

/// How long after a merge [`unmerge`](Records::unmerge) can undo it, in days.
pub const UNMERGE_WINDOW_DAYS: i64 = 90;

/// How many records at most are merged into one survivor at once.
pub const MAX_MERGED: usize = 4;

/// Which record a merged field takes its value from, where the default is not wanted.
///
/// By default the survivor keeps its values and takes the first non-empty one of the others
/// (in the order given) for a field it leaves empty; emails, phones, addresses, tags and other
/// lists are united; custom values the survivor lacks are taken; a contact's lifecycle stage
/// is the furthest of all.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MergeChoices {
    /// Field (`family_name`, `lead_source`, `custom.budget`…) and the record to take it from.
    pub take: Vec<(String, Uuid)>,
}

impl MergeChoices {
    /// The defaults everywhere.
    pub fn new() -> Self {
        Self::default()
    }
    /// Takes `field` from record `from` (the survivor or one of the merged).
    pub fn take(mut self, field: impl Into<String>, from: impl Into<Uuid>) -> Self {
        self.take.push((field.into(), from.into()));
        self
    }
}

/// What a merge did.
#[derive(Clone, Debug, PartialEq)]
pub struct MergeOutcome<E = Contact> {
    /// The survivor as merged.
    pub survivor: E,
    /// The record that undoes it ([`unmerge`](Records::unmerge)).
    pub merge: MergeId,
    /// How many other records now point at the survivor (or were dropped as duplicates of the
    /// survivor's own: a campaign membership, an accounting link, a relation to itself).
    pub moved: usize,
}

/// The fields that are a record's identity, never merged.
const IDENTITY: [&str; 5] = ["id", "tenant_id", "version", "created_at", "updated_at"];

/// A kind whose records can be merged: where other records name one, and its own rules.
pub(crate) trait Mergeable: Entity + Clone {
    /// Where other records name one: kind, field, and whether the field is a list.
    const SITES: &'static [(EntityKind, &'static str, bool)];

    /// The kind's own rules on the merged fields (`out`), after the defaults and `chosen`
    /// (the fields a [`MergeChoices`] named, with their place in it).
    fn settle(
        _survivor: &Self,
        _others: &[Self],
        _out: &mut Map<String, Json>,
        _chosen: &[(usize, &str)],
    ) -> Result<()> {
        Ok(())
    }

    /// Saves the merged survivor over `before`, checked as an edit.
    fn save<'u>(uow: &'u mut Uow<'_>, before: Self, after: Self) -> Work<'u, Self>;
}

impl Mergeable for Contact {
    const SITES: &'static [(EntityKind, &'static str, bool)] = &CONTACT_SITES;

    /// The lifecycle stage is the furthest of all (a chosen one may not be behind the
    /// survivor's); a refusal or withdrawal of marketing consent by any of them stands.
    fn settle(survivor: &Self, others: &[Self], out: &mut Map<String, Json>, chosen: &[(usize, &str)]) -> Result<()> {
        let chose = |f: &str| chosen.iter().find(|(_, x)| *x == f).map(|(i, _)| *i);
        let mut stage = others.iter().map(|o| o.lifecycle_stage).fold(survivor.lifecycle_stage, Ord::max);
        if let Some(i) = chose("lifecycle_stage") {
            stage = out.get("lifecycle_stage").and_then(|v| serde_json::from_value(v.clone()).ok()).unwrap_or(stage);
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
        out.insert("lifecycle_stage".into(), json(&stage)?);
        let refused = std::iter::once(survivor)
            .chain(others)
            .map(|c| &c.marketing_consent)
            .filter(|m| matches!(m.status, ConsentStatus::Denied | ConsentStatus::Withdrawn))
            .max_by_key(|m| m.changed_at);
        if let Some(m) = refused
            && chose("marketing_consent").is_none()
        {
            out.insert("marketing_consent".into(), json(m)?);
        }
        Ok(())
    }

    fn save<'u>(uow: &'u mut Uow<'_>, before: Self, after: Self) -> Work<'u, Self> {
        Box::pin(save_edit(uow, before, after))
    }
}

impl Mergeable for Company {
    const SITES: &'static [(EntityKind, &'static str, bool)] = &COMPANY_SITES;

    fn save<'u>(uow: &'u mut Uow<'_>, before: Self, mut after: Self) -> Work<'u, Self> {
        Box::pin(async move {
            let mut ch = Checks::default();
            super::companies::check_company(&mut after, &mut ch);
            uow.save(&before, after, ch.errs, &[]).await
        })
    }
}

fn json<T: serde::Serialize>(v: &T) -> Result<Json> {
    serde_json::to_value(v).map_err(|e| Error::storage(e.to_string()))
}

/// Where other records name a contact: kind, field, and whether the field is a list.
const CONTACT_SITES: [(EntityKind, &str, bool); 12] = [
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
    (EntityKind::Consent, "contact_id", false),
];

/// Where other records name a company.
const COMPANY_SITES: [(EntityKind, &str, bool); 11] = [
    (EntityKind::Contact, "company_id", false),
    (EntityKind::Deal, "company_id", false),
    (EntityKind::Activity, "company_ids", true),
    (EntityKind::Order, "company_id", false),
    (EntityKind::Invoice, "company_id", false),
    (EntityKind::Payment, "company_id", false),
    (EntityKind::Case, "company_id", false),
    (EntityKind::Feedback, "company_id", false),
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

fn as_map<E: Entity>(c: &E) -> Result<Map<String, Json>> {
    match serde_json::to_value(c) {
        Ok(Json::Object(m)) => Ok(m),
        _ => Err(Error::storage(format!("a {} did not serialize", E::KIND))),
    }
}

/// The survivor with the others' values, as [`MergeChoices`] describes, then the kind's rules.
fn resolve<E: Mergeable>(survivor: &E, others: &[E], choices: &MergeChoices) -> Result<E> {
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
    let mut chosen = Vec::with_capacity(choices.take.len());
    for (i, (field, from)) in choices.take.iter().enumerate() {
        let source = if *from == survivor.id().into() {
            original.clone()
        } else {
            let Some(at) = others.iter().position(|o| o.id().into() == *from) else {
                return Err(Error::invalid(
                    format!("choices[{i}].from"),
                    FieldErrorCode::NotFound,
                    format!("{} {from} is not one of the {}s merged", E::KIND, E::KIND),
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
                format!("`{field}` is not a {} field that a merge can take", E::KIND),
            ));
        } else {
            out.insert(field.clone(), source.get(field).cloned().unwrap_or(Json::Null));
            chosen.push((i, field.as_str()));
        }
    }
    E::settle(survivor, others, &mut out, &chosen)?;
    serde_json::from_value(Json::Object(out)).map_err(|e| Error::storage(format!("merged {}: {e}", E::KIND)))
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

/// The records of the tenant that name one of `ids` (by the kind's [`Mergeable::SITES`] and
/// custom reference fields to the kind), each once, in a stable order.
async fn naming<E: Mergeable>(uow: &mut Uow<'_>, survivor: Uuid, ids: &[Uuid]) -> Result<Vec<Record>> {
    let mut sites: Vec<(EntityKind, String, bool)> =
        E::SITES.iter().map(|(k, f, l)| (*k, (*f).to_owned(), *l)).collect();
    for kind in EntityKind::ALL.iter().copied().filter(|k| k.has_custom_fields()) {
        let reg = uow.registry(kind).await?;
        for f in reg.iter() {
            if matches!(f.definition.field_type, FieldType::Reference { to } if to == E::KIND) {
                sites.push((kind, format!("custom.{}", f.definition.key), false));
            }
        }
    }
    // The records being merged are handled by the merge itself, not as records naming them.
    let mut seen: BTreeSet<crate::entity::EntityRef> = std::iter::once(survivor)
        .chain(ids.iter().copied())
        .map(|id| crate::entity::EntityRef::new(E::KIND, id))
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
    /// assert_eq!((done.survivor.family_name.as_str(), done.survivor.emails.len()), ("Doe-Smith", 2));
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
    ) -> Result<MergeOutcome<Contact>> {
        merge_into(*self, survivor, others, choices).await
    }

    /// Undoes merge `merge`: the survivor gets back its fields, the merged contacts come back
    /// with their ids, and every record the merge moved or dropped is as it was — in one
    /// transaction, each change with its event. Refused (nothing written) when the merge was
    /// already undone or is older than [`UNMERGE_WINDOW_DAYS`] (a validation error on
    /// `merge`), or when a record it changed has changed since ([`Error::Conflict`] naming it).
    pub async fn unmerge(&self, merge: MergeId) -> Result<Contact> {
        unmerge_of(*self, merge).await
    }
}

impl Records<'_, Company> {
    /// Merges `others` (one to four companies) into `survivor`, as
    /// [`Contacts::merge`](super::Contacts::merge) merges contacts: fields resolved as
    /// [`MergeChoices`] says (phones, addresses, tags and external ids united); every contact,
    /// deal, activity, order, invoice, payment, case, feedback, relation, accounting link and
    /// custom reference naming one of the others then names the survivor; the others are
    /// deleted; undone by [`unmerge`](Self::unmerge) within [`UNMERGE_WINDOW_DAYS`].
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// use crm_core::prelude::*;
    /// use crm_core::service::MergeChoices;
    /// let crm = Crm::new(MemoryStore::new());
    /// let cx = crm.as_actor(&Actor::system(TenantId::new()));
    /// let acme = cx.companies().create(NewCompany::new("Acme").domain("acme.com")).await?;
    /// let twin = cx.companies().create(NewCompany::new("ACME Ltd").industry("Tools").tag("vip")).await?;
    /// let ann = cx.contacts().create(NewContact::new("Ann", "Lee").company(twin.id)).await?;
    /// let done = cx.companies().merge(acme.id, &[twin.id], &MergeChoices::new()).await?;
    /// assert_eq!((done.survivor.name.as_str(), done.survivor.industry.as_deref()), ("Acme", Some("Tools")));
    /// assert_eq!(cx.contacts().get(ann.id).await?.company_id, Some(acme.id));
    /// cx.companies().unmerge(done.merge).await?;
    /// assert_eq!(cx.contacts().get(ann.id).await?.company_id, Some(twin.id));
    /// # Ok::<_, Error>(()) }).unwrap();
    /// ```
    pub async fn merge(
        &self,
        survivor: CompanyId,
        others: &[CompanyId],
        choices: &MergeChoices,
    ) -> Result<MergeOutcome<Company>> {
        merge_into(*self, survivor, others, choices).await
    }

    /// Undoes company merge `merge`, as [`Contacts::unmerge`](super::Contacts::unmerge) does.
    pub async fn unmerge(&self, merge: MergeId) -> Result<Company> {
        unmerge_of(*self, merge).await
    }
}

/// Merges `others` into `survivor` (see [`Contacts::merge`](super::Contacts::merge)).
async fn merge_into<E: Mergeable>(
    records: Records<'_, E>,
    survivor: E::Id,
    others: &[E::Id],
    choices: &MergeChoices,
) -> Result<MergeOutcome<E>> {
    if others.is_empty() || others.len() > MAX_MERGED {
        return Err(Error::invalid(
            "others",
            FieldErrorCode::OutOfRange,
            format!("{} {}s given; merge 1 to {MAX_MERGED} into the survivor", others.len(), E::KIND),
        ));
    }
    for (i, id) in others.iter().enumerate() {
        if *id == survivor || others[..i].contains(id) {
            return Err(Error::invalid(format!("others[{i}]"), FieldErrorCode::Duplicate, "named twice"));
        }
    }
    let others = others.to_vec();
    let choices = choices.clone();
    records
        .write(|uow| {
            Box::pin(async move {
                // The merged people's consent entries move to the survivor, whose consent the
                // merge derives from them: no entry of its own (and none for an unmerge).
                uow.ledger.quiet = true;
                let before = uow.load::<E>(survivor, Action::Merge).await?;
                let mut merged = Vec::with_capacity(others.len());
                for (i, id) in others.iter().enumerate() {
                    match uow.tx.fetch::<E>(*id).await? {
                        Some(c) if uow.access.check(Action::Read, &c).is_ok() => {
                            uow.access.check(Action::Merge, &c)?;
                            merged.push(c)
                        }
                        _ => {
                            let id: Uuid = (*id).into();
                            return Err(Error::invalid(
                                format!("others[{i}]"),
                                FieldErrorCode::NotFound,
                                format!("no {} {id}", E::KIND),
                            ));
                        }
                    }
                }
                let ids: Vec<Uuid> = others.iter().map(|&i| i.into()).collect();
                let me: Uuid = survivor.into();
                let from: HashSet<String> = ids.iter().map(|u| u.hyphenated().to_string()).collect();
                let to = me.hyphenated().to_string();
                // The survivor's own references to the others (a custom "referred by") now name it.
                let resolved = repointed(&resolve(&before, &merged, &choices)?.into_record(), &from, &to)?;
                let resolved = E::from_record(resolved).ok_or_else(|| Error::storage("the merged kind changed"))?;
                let mut moved_before = Vec::new();
                let mut after = Vec::new();
                // The others go first, so that the survivor can take their external ids (unique
                // per tenant); then the survivor, so that the records moved to it see it as it is.
                for c in &merged {
                    let rec = c.clone().into_record();
                    let version = rec.version();
                    uow.remove(&rec, version).await?;
                }
                let kept = E::save(uow, before.clone(), resolved).await?;
                let kept_rec = kept.clone().into_record();
                after.push((kept_rec.entity_ref(), kept_rec.version()));
                for rec in naming::<E>(uow, me, &ids).await? {
                    let moved = repointed(&rec, &from, &to)?;
                    if redundant(uow, &moved, me).await? {
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
                        kind: E::KIND,
                        survivor: me,
                        merged: ids,
                        before: all_before,
                        moved: moved_before,
                        after,
                        merged_by: uow.s.actor().user_id,
                        undone_at: None,
                    }
                );
                let journal = uow.create(journal, Vec::new()).await?;
                Ok(MergeOutcome { survivor: kept, merge: journal.id, moved })
            })
        })
        .await
}

/// Undoes merge `merge` of records of kind `E` (see [`Contacts::unmerge`](super::Contacts::unmerge)).
async fn unmerge_of<E: Mergeable>(records: Records<'_, E>, merge: MergeId) -> Result<E> {
    records
        .write(|uow| {
            Box::pin(async move {
                uow.ledger.quiet = true;
                let mut m = uow.tx.require::<Merge>(merge).await?;
                let refuse = |why: String| Err(Error::invalid("merge", FieldErrorCode::Rule, why));
                if m.kind != E::KIND {
                    return refuse(format!("merge {merge} is of {} records", m.kind));
                }
                uow.load::<E>(E::Id::from(m.survivor), Action::Merge).await?;
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
                // the merged records, then the records that named them.
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
                E::from_record(restored).ok_or_else(|| Error::storage("the survivor changed kind"))
            })
        })
        .await
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
    let values = super::uow::field_changes(&current, &back);
    if !values.is_empty() {
        let fields = values.iter().map(|v| v.field.clone()).collect();
        uow.stage_values(back.entity_ref(), values);
        uow.emit(back.entity_ref(), back.related(), Change::Updated { fields });
    }
    Ok(back)
}
