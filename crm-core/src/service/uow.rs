//! The unit of work behind every service call: one store transaction, the events it
//! produces, custom-field validation and extension hooks.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::Session;
use crate::access::Access;
use crate::entity::{EntityKind, EntityRef, Link};
use crate::error::{Error, FieldError, FieldErrorCode, Result};
use crate::event::{Change, Event, FieldChange, StoredEvent};
use crate::ids::{EventId, storage_precision};
use crate::model::{Action, Entity, Record, User};
use crate::model::{CustomField, FieldRegistry, FieldSource, RegisteredField, Relation};
use crate::query::{Filter, Query};
use crate::service::extension::{EventContext, HookContext, MAX_EXTENSION_DEPTH, Snapshot, WriteOp};
use crate::store::{Transaction, TxMode};
use crate::value::Value;

pub(crate) struct Uow<'s> {
    pub(crate) s: &'s Session,
    pub(crate) tx: Box<dyn Transaction>,
    pub(crate) now: DateTime<Utc>,
    /// What the actor may do: every read and write below is narrowed or checked by it.
    pub(crate) access: Arc<Access>,
    /// Set while the rules write records of their own accord (the default pipeline made on
    /// first use, a case's survey answer): those writes are not the actor's and are not checked.
    pub(crate) by_rules: bool,
    events: Vec<Event>,
    registries: HashMap<EntityKind, Arc<FieldRegistry>>,
    /// References seen to exist in this transaction (deletes clear it).
    known: HashSet<EntityRef>,
    /// Records as written, by event, for extensions (kept only when there are extensions).
    snapshots: HashMap<EventId, Snapshot>,
    /// Field changes written but not yet on an event: the next event about the record
    /// carries them (a verb writes, then announces what it did).
    pending: HashMap<EntityRef, Vec<FieldChange>>,
    /// Owners looked up in this unit of work: the name of those deactivated.
    owners: HashMap<crate::ids::UserId, Option<String>>,
    /// Consent ledger entries of this unit of work's changes, written at commit.
    pub(crate) ledger: super::consents::Ledger,
    /// The blocked keys of erased people's email addresses, once read.
    pub(crate) blocked: Option<Arc<HashSet<String>>>,
}

impl<'s> Uow<'s> {
    async fn begin(s: &'s Session, mode: TxMode) -> Result<Self> {
        let mut tx = s.crm.inner.store.begin(s.tenant(), mode).await?;
        let access = s.access_in(&mut *tx).await?;
        let now = storage_precision(s.crm.inner.clock.now());
        Ok(Uow {
            s,
            tx,
            now,
            access,
            by_rules: false,
            events: Vec::new(),
            registries: HashMap::new(),
            known: HashSet::new(),
            snapshots: HashMap::new(),
            pending: HashMap::new(),
            owners: HashMap::new(),
            ledger: Default::default(),
            blocked: None,
        })
    }

    pub(crate) async fn write(s: &'s Session) -> Result<Self> {
        Self::begin(s, TxMode::ReadWrite).await
    }

    pub(crate) async fn read(s: &'s Session) -> Result<Self> {
        Self::begin(s, TxMode::ReadOnly).await
    }

    /// Building new records at this unit of work's time.
    pub(crate) fn draft(&self) -> super::import::Draft<'s> {
        super::import::Draft { s: self.s, now: self.now }
    }

    pub(crate) fn new_id<I: From<Uuid>>(&self) -> I {
        self.draft().new_id()
    }

    pub(crate) fn default_region(&self) -> Option<&'s str> {
        self.draft().default_region()
    }

    pub(crate) fn emit(&mut self, subject: EntityRef, related: Vec<EntityRef>, change: Change) {
        let event = Event {
            id: self.new_id::<EventId>(),
            tenant_id: self.s.tenant(),
            occurred_at: self.now,
            actor: self.s.actor.user_id,
            values: self.pending.remove(&subject).unwrap_or_default(),
            subject,
            related,
            change,
            origin: self.s.actor.origin.clone(),
            depth: self.s.actor.depth,
        };
        self.events.push(event);
    }

    /// Keeps the field changes of a write of `subject` for the event that announces it.
    pub(crate) fn stage_values(&mut self, subject: EntityRef, values: Vec<FieldChange>) {
        if values.is_empty() {
            return;
        }
        let staged = self.pending.entry(subject).or_default();
        for v in values {
            match staged.iter_mut().find(|s| s.field == v.field) {
                Some(s) => s.new = v.new,
                None => staged.push(v),
            }
        }
        staged.retain(|s| s.old != s.new);
    }

    /// Keeps the records the last emitted event is about, for extensions' `on_events`.
    fn snapshot(&mut self, before: Option<&Record>, after: &Record) {
        if self.s.crm.inner.extensions.is_empty() {
            return;
        }
        if let Some(e) = self.events.last() {
            self.snapshots.insert(
                e.id,
                Snapshot { before: before.map(|b| Box::new(b.clone())), after: Some(Box::new(after.clone())) },
            );
        }
    }

    /// Custom fields in force for `kind`: the tenant's definitions plus the extensions'.
    pub(crate) async fn registry(&mut self, kind: EntityKind) -> Result<Arc<FieldRegistry>> {
        if let Some(r) = self.registries.get(&kind) {
            return Ok(r.clone());
        }
        let mut reg = FieldRegistry::with_region(self.s.crm.inner.default_region.clone());
        for ext in &self.s.crm.inner.extensions {
            for mut def in ext.fields() {
                if def.entity_kind == kind {
                    def.key = format!("{}.{}", ext.id(), def.key);
                    reg.insert(RegisteredField {
                        definition: def,
                        source: FieldSource::Extension(ext.id().to_owned()),
                    });
                }
            }
        }
        let defs = self.tx.find_all::<CustomField>(Filter::eq("entity_kind", kind)).await?;
        for d in defs {
            reg.insert(RegisteredField { definition: d.definition, source: FieldSource::Tenant });
        }
        let reg = Arc::new(reg);
        self.registries.insert(kind, reg.clone());
        Ok(reg)
    }

    pub(crate) fn forget_registry(&mut self, kind: EntityKind) {
        self.registries.remove(&kind);
    }

    /// The name of user `id` if they are deactivated (asked once per unit of work: an import
    /// gives thousands of records the same few owners).
    async fn inactive_user(&mut self, id: crate::ids::UserId) -> Result<Option<String>> {
        if let Some(known) = self.owners.get(&id) {
            return Ok(known.clone());
        }
        let inactive = self.tx.fetch::<User>(id).await?.filter(|u| !u.active).map(|u| u.name);
        self.owners.insert(id, inactive.clone());
        Ok(inactive)
    }

    /// Whether the record `r` exists and the actor may read it (a record out of their reach
    /// cannot be linked to, as if it did not exist). Users and teams are the directory: anyone
    /// may name one (an owner, a team member) whether or not their roles let them read it.
    pub(crate) async fn exists(&mut self, r: EntityRef) -> Result<bool> {
        if self.known.contains(&r) {
            return Ok(true);
        }
        let directory = matches!(r.kind, EntityKind::User | EntityKind::Team);
        let found =
            self.tx.get(r.kind, r.id).await?.is_some_and(|rec| directory || self.access.allows(Action::Read, &rec));
        if found {
            self.known.insert(r);
        }
        Ok(found)
    }

    /// Record `id` for `action`: [`Error::NotFound`] when it does not exist or is out of the
    /// actor's read reach, [`Error::Forbidden`] when they see it but may not do `action` to it.
    pub(crate) async fn load<E: Entity>(&mut self, id: E::Id, action: Action) -> Result<E> {
        let record = self.tx.require::<E>(id).await?;
        self.access.check(action, &record)?;
        Ok(record)
    }

    /// [`load`](Self::load) for a record of any kind.
    pub(crate) async fn load_record(&mut self, r: EntityRef, action: Action) -> Result<Record> {
        let record = self.tx.get(r.kind, r.id).await?.ok_or(Error::NotFound { kind: r.kind, id: r.id })?;
        self.access.check_record(action, &record)?;
        Ok(record)
    }

    /// `query` narrowed to the records the actor may read.
    pub(crate) fn readable(&self, kind: EntityKind, query: &Query) -> Query {
        let mut q = query.clone();
        if let Some(f) = self.access.filter(kind, Action::Read) {
            q.filter = std::mem::take(&mut q.filter).and(f);
        }
        q
    }

    /// `filter` narrowed to the records the actor may read.
    pub(crate) fn readable_filter(&self, kind: EntityKind, filter: &Filter) -> Filter {
        match self.access.filter(kind, Action::Read) {
            Some(f) => filter.clone().and(f),
            None => filter.clone(),
        }
    }

    /// Every readable record of `E` matching `filter`.
    pub(crate) async fn find_readable<E: Entity>(&mut self, filter: &Filter) -> Result<Vec<E>> {
        let f = self.readable_filter(E::KIND, filter);
        self.tx.find_all::<E>(f).await
    }

    /// A new record as the actor creates it: owned by them when it has an owner field left
    /// empty, and refused unless their roles let them create it.
    fn admit(&self, rec: &mut Record) -> Result<()> {
        if self.access.is_unrestricted() || self.by_rules {
            return Ok(());
        }
        if rec.owner().is_none()
            && let Some(me) = self.access.user()
            && crate::model::owned(rec.kind())
        {
            rec.set_owner(Some(me));
        }
        self.access.check_new(rec)
    }

    /// Records an error for every record `after` newly names (see [`Links::added_since`]) that
    /// does not exist in this tenant.
    pub(crate) async fn check_links<E: Entity>(
        &mut self,
        after: &E,
        before: Option<&E>,
        errs: &mut Vec<FieldError>,
    ) -> Result<()> {
        let links = after.links().added_since(before.map(E::links).as_ref());
        self.check_refs(links, errs).await
    }

    /// Records an error for every link to a record that does not exist in this tenant.
    pub(crate) async fn check_refs(&mut self, links: Vec<Link>, errs: &mut Vec<FieldError>) -> Result<()> {
        for Link { field, to } in links {
            if !self.exists(to).await? {
                errs.push(FieldError::new(
                    field,
                    FieldErrorCode::NotFound,
                    format!("no {} with id {}", to.kind, to.id),
                ));
            }
        }
        Ok(())
    }

    /// Custom values against their definitions and the references they make. Fails with every
    /// field error found; on success, the registry the record was checked against.
    async fn check(
        &mut self,
        before: Option<&Record>,
        rec: &mut Record,
        mut errs: Vec<FieldError>,
    ) -> Result<Arc<FieldRegistry>> {
        let nul = super::checks::nul_fields(rec);
        errs.extend(nul.into_iter().filter(|n| !errs.iter().any(|e| e.field == n.field)).collect::<Vec<_>>());
        self.guard_fields(before, rec, &mut errs).await?;
        super::privacy::check_blocked(self, before, rec, &mut errs).await?;
        let owner = rec.owner();
        if let Some(o) = owner
            && before.is_none_or(|b| b.owner() != owner)
            && let Some(inactive) = self.inactive_user(o).await?
        {
            errs.push(FieldError::new("owner_id", FieldErrorCode::Rule, format!("user {inactive} is deactivated")));
        }
        let kind = rec.kind();
        let reg = self.registry(kind).await?;
        if let Some(custom) = rec.custom_mut() {
            let (custom_errs, refs) = reg.validate(custom);
            let old = before.and_then(Record::custom);
            let unchanged = |field: &str| {
                let key = field.strip_prefix("custom.").unwrap_or(field);
                old.and_then(|o| o.get(key)).is_some_and(|v| custom.get(key) == Some(v))
            };
            // Values whose definition was removed stay as they were; new unknown keys are refused.
            errs.extend(
                custom_errs.into_iter().filter(|e| !(e.code == FieldErrorCode::UnknownField && unchanged(&e.field))),
            );
            // Computed values are the extensions' to set; a user may only pass them back unchanged.
            for (key, _) in custom.iter() {
                if let Some(f) = reg.get(key)
                    && f.definition.computed
                    && !unchanged(key)
                {
                    errs.push(FieldError::new(
                        format!("custom.{key}"),
                        FieldErrorCode::ReadOnly,
                        format!("`{}` is computed and cannot be set", f.definition.label),
                    ));
                }
            }
            // Only new references are checked (as for `company_id` or `contact_ids`): a stored one
            // may point at a record deleted since, which must not block unrelated changes.
            let refs = refs.into_iter().filter(|(field, _)| !unchanged(field)).map(|(field, to)| Link { field, to });
            self.check_refs(refs.collect(), &mut errs).await?;
        }
        Error::check(errs)?;
        Ok(reg)
    }

    /// Custom values, then extension rules and computed fields. Fails with every field error found.
    async fn prepare(
        &mut self,
        op: WriteOp,
        before: Option<&Record>,
        rec: &mut Record,
        errs: Vec<FieldError>,
    ) -> Result<()> {
        let reg = self.check(before, rec, errs).await?;
        if rec.custom().is_none() {
            return Ok(());
        }
        let inner = self.s.crm.inner.clone();
        let cx = HookContext { actor: &self.s.actor, now: self.now, op, before, write: HookContext::next_write() };
        for ext in &inner.extensions {
            ext.validate(&cx, rec).map_err(|e| plugin_error(ext.id(), e))?;
        }
        for ext in &inner.extensions {
            let values = ext.compute(&cx, rec).map_err(|e| plugin_error(ext.id(), e))?;
            apply_computed(&reg, ext.id(), rec, values)?;
        }
        Ok(())
    }

    /// [`prepare`](Self::prepare) for many new records at once: each extension sees the
    /// records that are still valid in one [`validate_many`](crate::service::extension::Extension::validate_many)
    /// and one [`compute_many`](crate::service::extension::Extension::compute_many) call. A record an extension
    /// refuses gets that error in `out` and leaves the batch (`None` in `recs`).
    fn hooks_many(&self, reg: &FieldRegistry, recs: &mut [Option<Record>], out: &mut [Result<()>]) {
        let inner = self.s.crm.inner.clone();
        let cx = HookContext {
            actor: &self.s.actor,
            now: self.now,
            op: WriteOp::Create,
            before: None,
            write: HookContext::next_write(),
        };
        for ext in &inner.extensions {
            for (i, r) in run_batch(ext.id(), recs, |batch| ext.validate_many(&cx, batch)) {
                if let Err(e) = r {
                    out[i] = Err(plugin_error(ext.id(), e));
                    recs[i] = None;
                }
            }
        }
        for ext in &inner.extensions {
            for (i, r) in run_batch(ext.id(), recs, |batch| ext.compute_many(&cx, batch)) {
                let applied = r.map_err(|e| plugin_error(ext.id(), e)).and_then(|values| match recs[i].as_mut() {
                    Some(rec) => apply_computed(reg, ext.id(), rec, values),
                    None => Ok(()),
                });
                if let Err(e) = applied {
                    out[i] = Err(e);
                    recs[i] = None;
                }
            }
        }
    }

    /// Validates and inserts a new record, emitting `Created`.
    pub(crate) async fn create<E: Entity>(&mut self, entity: E, errs: Vec<FieldError>) -> Result<E> {
        self.create_with(entity, errs, Change::Created).await
    }

    /// Validates and inserts a new record, emitting `change`.
    pub(crate) async fn create_with<E: Entity>(
        &mut self,
        entity: E,
        errs: Vec<FieldError>,
        change: Change,
    ) -> Result<E> {
        let mut rec = entity.into_record();
        self.admit(&mut rec)?;
        self.prepare(WriteOp::Create, None, &mut rec, errs).await?;
        self.tx.insert(rec.clone()).await?;
        super::consents::follow(self, None, &rec);
        self.emit(rec.entity_ref(), rec.related(), change);
        self.snapshot(None, &rec);
        E::from_record(rec).ok_or_else(|| Error::storage("record kind changed during create"))
    }

    /// Validates each new record and inserts the valid ones in one batched write, emitting
    /// `Created` for each. Extensions see the batch at once (`validate_many`, `compute_many`).
    /// Per item: the record as written, or why it was refused (validation and plugin rules);
    /// any other failure fails the whole call.
    pub(crate) async fn create_many<E: Entity>(&mut self, items: Vec<(E, Vec<FieldError>)>) -> Result<Vec<Result<E>>> {
        let mut out: Vec<Result<()>> = Vec::with_capacity(items.len());
        let mut recs: Vec<Option<Record>> = Vec::with_capacity(items.len());
        let mut reg = None;
        for (entity, errs) in items {
            let mut rec = entity.into_record();
            if let Err(e) = self.admit(&mut rec) {
                recs.push(None);
                out.push(Err(e));
                continue;
            }
            match self.check(None, &mut rec, errs).await {
                Ok(r) => {
                    reg.get_or_insert(r);
                    recs.push(Some(rec));
                    out.push(Ok(()));
                }
                Err(e @ (Error::Validation(_) | Error::InvalidTransition { .. } | Error::Plugin { .. })) => {
                    recs.push(None);
                    out.push(Err(e));
                }
                Err(e) => return Err(e),
            }
        }
        if let Some(reg) = reg {
            self.hooks_many(&reg, &mut recs, &mut out);
        }
        let valid: Vec<Record> = recs.into_iter().flatten().collect();
        if !self.s.crm.inner.extensions.is_empty() {
            self.snapshots.reserve(valid.len());
        }
        for rec in &valid {
            super::consents::follow(self, None, rec);
            self.emit(rec.entity_ref(), rec.related(), Change::Created);
            self.snapshot(None, rec);
        }
        self.tx.insert_many(&valid).await?;
        let mut written = valid.into_iter();
        out.into_iter()
            .map(|r| match r {
                Ok(()) => written
                    .next()
                    .and_then(E::from_record)
                    .map(Ok)
                    .ok_or_else(|| Error::storage("record kind changed during create")),
                Err(e) => Ok(Err(e)),
            })
            .collect()
    }

    /// Validates and writes a user's change to `before`, emitting `Updated` with the changed
    /// fields other than `quiet` ones (which have their own events). A no-op writes nothing.
    pub(crate) async fn save<E: Entity>(
        &mut self,
        before: &E,
        mut after: E,
        errs: Vec<FieldError>,
        quiet: &[&str],
    ) -> Result<E> {
        after.keep_identity(before);
        let rec = self.save_record(&before.clone().into_record(), after.into_record(), errs, quiet).await?;
        E::from_record(rec).ok_or_else(|| Error::storage("record kind changed during update"))
    }

    /// [`save`](Self::save) for a record of any kind (identity fields already kept).
    pub(crate) async fn save_record(
        &mut self,
        before_rec: &Record,
        mut rec: Record,
        errs: Vec<FieldError>,
        quiet: &[&str],
    ) -> Result<Record> {
        if rec.owner() != before_rec.owner() {
            self.access.check_record(Action::Assign, before_rec)?;
        }
        self.prepare(WriteOp::Update, Some(before_rec), &mut rec, errs).await?;
        let values = field_changes(before_rec, &rec);
        if values.is_empty() {
            return Ok(before_rec.clone());
        }
        let announced: Vec<String> =
            values.iter().map(|v| v.field.clone()).filter(|f| !quiet.contains(&f.as_str())).collect();
        let rec = self.put(rec).await?;
        super::consents::follow(self, Some(before_rec), &rec);
        self.stage_values(rec.entity_ref(), values);
        if !announced.is_empty() {
            self.emit(rec.entity_ref(), rec.related(), Change::Updated { fields: announced });
            self.snapshot(Some(before_rec), &rec);
        }
        Ok(rec)
    }

    /// Writes a change made by the rules themselves (no validation hooks, no `Updated` event).
    /// The fields it changes go to the audit trail with the next event about the record.
    pub(crate) async fn save_system<E: Entity>(&mut self, after: E) -> Result<E> {
        let after = after.into_record();
        let before = self.tx.get(after.kind(), after.id()).await?;
        let values = before.as_ref().map(|b| field_changes(b, &after)).unwrap_or_default();
        let rec = self.put(after).await?;
        super::consents::follow(self, before.as_ref(), &rec);
        self.stage_values(rec.entity_ref(), values);
        E::from_record(rec).ok_or_else(|| Error::storage("record kind changed during update"))
    }

    /// Writes figures the library derived itself (scores) over `before`: no validation hooks
    /// (nothing the actor typed is checked), an `Updated` event naming the fields changed, with
    /// their values in the audit trail. Writes nothing when nothing changed; true when it wrote.
    pub(crate) async fn save_derived<E: Entity>(&mut self, before: &E, after: E) -> Result<bool> {
        let before = before.clone().into_record();
        let after = after.into_record();
        let values = field_changes(&before, &after);
        if values.is_empty() {
            return Ok(false);
        }
        let fields = values.iter().map(|v| v.field.clone()).collect();
        let rec = self.put(after).await?;
        self.stage_values(rec.entity_ref(), values);
        self.emit(rec.entity_ref(), rec.related(), Change::Updated { fields });
        self.snapshot(Some(&before), &rec);
        Ok(true)
    }

    /// Writes `rec` over its stored version `before` with an `Updated` event naming the fields
    /// changed but not their values: for erasure, whose old values must not be kept.
    pub(crate) async fn overwrite(&mut self, before: &Record, rec: Record) -> Result<Record> {
        let fields: Vec<String> = field_changes(before, &rec).into_iter().map(|v| v.field).collect();
        if fields.is_empty() {
            return Ok(rec);
        }
        let rec = self.put(rec).await?;
        self.emit(rec.entity_ref(), rec.related(), Change::Updated { fields });
        Ok(rec)
    }

    async fn put(&mut self, mut rec: Record) -> Result<Record> {
        rec.set_version(rec.version() + 1);
        rec.set_updated_at(self.now);
        self.tx.update(rec.clone()).await?;
        Ok(rec)
    }

    /// Deletes a record at `version`, emitting `Deleted`.
    pub(crate) async fn remove(&mut self, rec: &Record, version: u64) -> Result<()> {
        self.known.clear();
        self.tx.delete(rec.kind(), rec.id(), version).await?;
        self.emit(rec.entity_ref(), rec.related(), Change::Deleted);
        Ok(())
    }

    /// Loads a record for a user's update and checks they saw the current version.
    pub(crate) async fn load_for_update<E: Entity>(&mut self, changed: &E) -> Result<E> {
        let current = self.load::<E>(changed.id(), Action::Update).await?;
        if current.version() != changed.version() {
            return Err(Error::Conflict {
                kind: E::KIND,
                id: changed.id().into(),
                expected: changed.version(),
                found: Some(current.version()),
            });
        }
        Ok(current)
    }

    /// Appends the events, commits, then lets extensions see what was committed.
    pub(crate) async fn commit(mut self) -> Result<Vec<StoredEvent>> {
        super::consents::flush(&mut self).await?;
        // Changes announced before they were written join the record's last event.
        for (subject, values) in std::mem::take(&mut self.pending) {
            if let Some(e) = self.events.iter_mut().rev().find(|e| e.subject == subject) {
                e.values.extend(values);
            }
        }
        if let Some(run) = self.s.receipt.clone().and_then(|slot| slot.take(&self)) {
            self.access.check_kind(EntityKind::WorkflowRun, Action::Create)?;
            self.tx.insert(run).await?;
        }
        let events = std::mem::take(&mut self.events);
        if !events.is_empty() {
            self.tx.append_events(events).await?;
        }
        let stored = self.tx.commit().await?;
        if stored.iter().any(|e| {
            matches!(
                e.event.subject.kind,
                EntityKind::User | EntityKind::Team | EntityKind::Role | EntityKind::Share | EntityKind::ApiKey
            )
        }) {
            self.s.forget_access();
        }
        let actor = &self.s.actor;
        if !stored.is_empty() && !self.s.crm.inner.extensions.is_empty() {
            if actor.depth >= MAX_EXTENSION_DEPTH {
                tracing::warn!(
                    extension = actor.origin.as_deref().unwrap_or(""),
                    depth = actor.depth,
                    "events of an extension's change are not dispatched: the reaction depth limit is reached"
                );
                return Ok(stored);
            }
            let cx = EventContext { crm: &self.s.crm, actor, snapshots: &self.snapshots };
            for ext in &self.s.crm.inner.extensions {
                if actor.origin.as_deref() == Some(ext.id()) {
                    continue;
                }
                if let Err(e) = ext.on_events(&cx, &stored).await {
                    tracing::warn!(extension = ext.id(), error = %e, "extension failed to handle committed events");
                }
            }
        }
        Ok(stored)
    }
}

/// Runs one extension hook over the records still in a batch (those with custom fields):
/// each record's position and result, or an error for every one of them when the extension
/// answered for another number of records.
fn run_batch<T>(
    ext: &str,
    recs: &[Option<Record>],
    hook: impl FnOnce(&[&Record]) -> Vec<Result<T>>,
) -> Vec<(usize, Result<T>)> {
    let idx: Vec<usize> = (0..recs.len()).filter(|&i| recs[i].as_ref().is_some_and(|r| r.custom().is_some())).collect();
    if idx.is_empty() {
        return Vec::new();
    }
    let batch: Vec<&Record> = idx.iter().filter_map(|&i| recs[i].as_ref()).collect();
    let results = hook(&batch);
    let (got, want) = (results.len(), batch.len());
    if got != want {
        let miscount =
            || Error::Plugin { plugin: ext.to_owned(), message: format!("returned {got} results for {want} records") };
        return idx.into_iter().map(|i| (i, Err(miscount()))).collect();
    }
    idx.into_iter().zip(results).collect()
}

/// Type-checks an extension's computed values against its own field definitions and stores
/// them in the record (a null value removes the field).
fn apply_computed(reg: &FieldRegistry, ext: &str, rec: &mut Record, values: Vec<(String, Value)>) -> Result<()> {
    for (key, mut value) in values {
        let full = format!("{ext}.{key}");
        match reg.get(&full) {
            Some(f) if matches!(&f.source, FieldSource::Extension(id) if id == ext) => {}
            _ => {
                return Err(Error::Plugin {
                    plugin: ext.to_owned(),
                    message: format!("computed `{key}`, which is not one of its fields"),
                });
            }
        }
        reg.check(&full, &mut value)
            .map_err(|e| Error::Plugin { plugin: ext.to_owned(), message: format!("computed a bad value: {e}") })?;
        if let Some(custom) = rec.custom_mut() {
            if value.is_null() {
                custom.remove(&full);
            } else {
                custom.insert(full, value);
            }
        }
    }
    Ok(())
}

fn plugin_error(id: &str, e: Error) -> Error {
    match e {
        e @ (Error::Validation(_) | Error::InvalidTransition { .. } | Error::Plugin { .. }) => e,
        other => Error::Plugin { plugin: id.to_owned(), message: other.to_string() },
    }
}

/// The fields whose serialized value differs, with both values (`custom.<key>` for custom
/// values), in field order.
pub(crate) fn field_changes(before: &Record, after: &Record) -> Vec<FieldChange> {
    let (Ok(serde_json::Value::Object(mut a)), Ok(serde_json::Value::Object(mut b))) =
        (serde_json::to_value(before), serde_json::to_value(after))
    else {
        return Vec::new();
    };
    let (Some(serde_json::Value::Object(a)), Some(serde_json::Value::Object(b))) =
        (a.remove("record"), b.remove("record"))
    else {
        return Vec::new();
    };
    let skip = ["id", "tenant_id", "version", "created_at", "updated_at"];
    let mut out = Vec::new();
    let null = serde_json::Value::Null;
    let change = |field: String, old: Option<&serde_json::Value>, new: Option<&serde_json::Value>| FieldChange {
        field,
        old: old.unwrap_or(&null).clone(),
        new: new.unwrap_or(&null).clone(),
    };
    let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    for k in keys {
        if skip.contains(&k.as_str()) || a.get(k) == b.get(k) {
            continue;
        }
        if k == "custom" {
            let empty = serde_json::Map::new();
            let ca = a.get(k).and_then(|v| v.as_object()).unwrap_or(&empty);
            let cb = b.get(k).and_then(|v| v.as_object()).unwrap_or(&empty);
            let ck: std::collections::BTreeSet<&String> = ca.keys().chain(cb.keys()).collect();
            out.extend(
                ck.into_iter()
                    .filter(|c| ca.get(*c) != cb.get(*c))
                    .map(|c| change(format!("custom.{c}"), ca.get(c), cb.get(c))),
            );
        } else {
            out.push(change(k.clone(), a.get(k), b.get(k)));
        }
    }
    out
}

/// Deletes what belongs to `r` alone, before `r` is deleted: every relation with it at either
/// end, and its shares.
pub(crate) async fn delete_attached(uow: &mut Uow<'_>, r: EntityRef) -> Result<()> {
    let rels = uow.tx.find_all::<Relation>(Filter::eq("from_id", r.id).or(Filter::eq("to_id", r.id))).await?;
    let rels = rels.into_iter().filter(|x| x.from == r || x.to == r).map(Entity::into_record);
    let shared = Filter::eq("record_kind", r.kind).and(Filter::eq("record_id", r.id));
    let shares = uow.tx.find_all::<crate::model::Share>(shared).await?.into_iter().map(Entity::into_record);
    for rec in rels.chain(shares).collect::<Vec<_>>() {
        let v = rec.version();
        uow.remove(&rec, v).await?;
    }
    Ok(())
}
