//! Each installed plugin as a crm-core [`Extension`]: fields, save-path hooks and reactions.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use crm_core::model::FieldDefinition;
use crm_core::{
    entity::EntityKind, entity::EntityRef, error::Error, error::FieldError, error::FieldErrorCode, error::Result,
    event::Change, event::StoredEvent, model::DealStatus, model::Record, service::NewActivity, service::Session,
    service::extension::EventContext, service::extension::Extension, service::extension::HookContext, value::Value,
};

use crate::bindings::wit;
use crate::convert::{
    core_changed, entity_to_wit, kind_from_wit, kind_to_wit, parse_id, ref_from_wit, ref_to_wit, value_from_wit,
};
use crate::error::PluginFailure;
use crate::sandbox::RelatedReader;
use crate::{AppliedAction, HostInner, Installed, Notification, sandbox_trunc};
use uuid::Uuid;

pub(crate) struct PluginExtension {
    pub(crate) host: Arc<HostInner>,
    pub(crate) id: String,
    /// Computed values between a write's `validate` and its `compute`.
    pub(crate) stash: Mutex<Stash>,
}

fn plugin_err(id: &str, f: PluginFailure) -> Error {
    Error::Plugin { plugin: id.to_owned(), message: f.to_string() }
}

// ---- output size accounting (after lifting: a result can be as large as guest memory) ----

fn value_size(v: &wit::FieldValue) -> usize {
    use wit::FieldValue as F;
    match v {
        F::Null | F::Boolean(_) | F::Integer(_) => 8,
        F::Decimal(s) | F::Text(s) | F::Date(s) | F::Datetime(s) | F::Id(s) => s.len(),
        F::Money(m) => m.amount.len() + m.currency.len(),
        F::TextList(l) | F::IdList(l) => l.iter().map(|s| s.len() + 8).sum(),
    }
}

fn field_size(f: &wit::Field) -> usize {
    f.name.len() + value_size(&f.value)
}

pub(crate) fn manifest_size(m: &wit::Manifest) -> usize {
    let opts = |o: &[wit::SelectOption]| o.iter().map(|o| o.value.len() + o.label.len()).sum::<usize>();
    m.id.len()
        + m.name.len()
        + m.version.len()
        + m.fields
            .iter()
            .map(|f| {
                f.name.len()
                    + f.label.len()
                    + f.help.as_ref().map_or(0, String::len)
                    + f.constraints.pattern.as_ref().map_or(0, String::len)
                    + match &f.field_type {
                        wit::FieldType::SingleSelect(o) | wit::FieldType::MultiSelect(o) => opts(o),
                        _ => 0,
                    }
            })
            .sum::<usize>()
        + m.subscriptions.iter().map(|s| 8 + s.kinds.len()).sum::<usize>()
        + m.reads.iter().map(|r| 8 + r.fields.iter().map(|f| f.len() + 8).sum::<usize>()).sum::<usize>()
}

fn action_size(a: &wit::Action) -> usize {
    match a {
        wit::Action::SetField(s) => s.entity.id.len() + field_size(&s.field),
        wit::Action::AddTag(t) => t.entity.id.len() + t.tag.len(),
        wit::Action::CreateTask(t) => t.title.len() + t.on.id.len(),
        wit::Action::Notify(n) => n.message.len() + n.about.as_ref().map_or(0, |r| r.id.len()),
    }
}

fn check_output(host: &HostInner, items: usize, bytes: usize) -> std::result::Result<(), PluginFailure> {
    let c = &host.sandbox.config;
    if items > c.max_output_items {
        return Err(PluginFailure::OutputTooLarge(format!("{items} items; the limit is {}", c.max_output_items)));
    }
    if bytes > c.max_output_bytes {
        return Err(PluginFailure::OutputTooLarge(format!("{bytes} bytes; the limit is {}", c.max_output_bytes)));
    }
    Ok(())
}

fn code_from_wit(c: wit::ErrorCode) -> FieldErrorCode {
    use wit::ErrorCode as C;
    match c {
        C::Required => FieldErrorCode::Required,
        C::InvalidFormat => FieldErrorCode::InvalidFormat,
        C::OutOfRange => FieldErrorCode::OutOfRange,
        C::NotAnOption => FieldErrorCode::NotAnOption,
        C::Duplicate => FieldErrorCode::Duplicate,
        C::NotFound => FieldErrorCode::NotFound,
        C::CurrencyMismatch => FieldErrorCode::CurrencyMismatch,
        C::Rule => FieldErrorCode::Rule,
    }
}

/// Whether `p` has fields on `kind` (its save-path hooks run only for those records).
fn has_fields_on(p: &Installed, kind: EntityKind) -> bool {
    p.defs.iter().any(|d| d.entity_kind == kind)
}

/// Whether `p` computes fields on `kind`.
fn computes_on(p: &Installed, kind: EntityKind) -> bool {
    p.defs.iter().any(|d| d.entity_kind == kind && d.computed)
}

/// Records per `check-many` call in a batch.
const CHECK_CHUNK: usize = 32;

/// Computed values by bare key.
type Computed = Vec<(String, Value)>;

/// What `check` said about one record: its computed values (namespaced by the caller), a
/// validation error naming the plugin's fields, or the plugin's failure.
type CheckOutcome = Result<Computed>;

/// Runs `check` on each record (with what it was before) on one instance: the plugin's rules
/// and its computed values in one call. Records of a kind the plugin has no fields on pass
/// without a call.
pub(crate) fn check_all(host: &HostInner, p: &Installed, recs: &[(&Record, Option<&Record>)]) -> Vec<CheckOutcome> {
    let id = &p.info.id;
    // The records the plugin is asked about: their kinds and inputs, and where each result goes.
    let mut kinds = Vec::new();
    let mut inputs = Vec::new();
    let called: Vec<bool> = recs
        .iter()
        .map(|(rec, before)| {
            let kind = rec.kind();
            let Some(entity) = has_fields_on(p, kind).then(|| entity_to_wit(rec, id, p.reads(kind))).flatten() else {
                return false;
            };
            kinds.push(kind);
            inputs.push(wit::CheckInput { entity, before: before.and_then(|b| entity_to_wit(b, id, p.reads(kind))) });
            true
        })
        .collect();
    let mut results = host
        .run_chunked(
            p,
            &inputs,
            CHECK_CHUNK,
            |inst, store, part| inst.crm_plugin_plugin().call_check_many(store, part),
            |inst, store, input| inst.crm_plugin_plugin().call_check(store, &input.entity, input.before.as_ref()),
            |i, r: wit::CheckResult| {
                let bytes = r.errors.iter().map(|e| e.field.len() + e.message.len()).sum::<usize>()
                    + r.computed.iter().map(field_size).sum::<usize>();
                check_output(host, r.errors.len() + r.computed.len(), bytes)?;
                if !r.errors.is_empty() {
                    return Ok(Err(r.errors));
                }
                computed_values(p, kinds[i], r.computed).map(Ok)
            },
        )
        .into_iter();
    called
        .into_iter()
        .map(|called| match called.then(|| results.next()).flatten() {
            None => Ok(Vec::new()),
            Some(Err(f)) => Err(plugin_err(id, f)),
            Some(Ok(Err(errors))) => validation_error(id, errors).map(|()| Vec::new()),
            Some(Ok(Ok(values))) => Ok(values),
        })
        .collect()
}

/// The computed values of a `check`: each must be for one of the plugin's computed fields on
/// `kind`. (A value its manifest types differently fails the core's check, and is reported
/// there as this plugin's error.)
fn computed_values(
    p: &Installed,
    kind: EntityKind,
    fields: Vec<wit::Field>,
) -> std::result::Result<Computed, PluginFailure> {
    let mut out = Vec::with_capacity(fields.len());
    for f in fields {
        match p.own_field(kind, &f.name) {
            Some(d) if d.computed => {}
            Some(_) => {
                return Err(PluginFailure::Contract(format!(
                    "computed `{}`, which is not declared computed",
                    sandbox_trunc(&f.name)
                )));
            }
            None => {
                return Err(PluginFailure::Contract(format!(
                    "computed `{}`, which is not one of its {kind} fields",
                    sandbox_trunc(&f.name)
                )));
            }
        }
        let v = value_from_wit(f.value).map_err(|e| PluginFailure::Contract(format!("computed `{}`: {e}", f.name)))?;
        out.push((f.name, v));
    }
    Ok(out)
}

/// The plugin's field errors as the CRM's validation error (`Ok` when there are none).
fn validation_error(id: &str, errors: Vec<wit::FieldError>) -> Result<()> {
    if errors.is_empty() {
        return Ok(());
    }
    let errs = errors
        .into_iter()
        .map(|e| {
            let field = match e.field.as_str() {
                "" => String::new(),
                f => match f.strip_prefix("core.") {
                    Some(std) => std.to_owned(),
                    None => format!("custom.{id}.{f}"),
                },
            };
            FieldError::new(field, code_from_wit(e.code), e.message)
        })
        .collect();
    Err(Error::Validation(crm_core::error::ValidationErrors(errs)))
}

/// Most writes whose computed values are kept between `validate` and `compute`. A write
/// takes its values back right after validating, so only writes refused in between (by
/// another extension's rules) leave values behind, and the oldest are dropped.
const STASHED_WRITES: usize = 64;

/// Computed values that `check` returned during a write's `validate`, kept for its
/// `compute`: by write number ([`HookContext::write`]), then record id.
#[derive(Default)]
pub(crate) struct Stash {
    writes: VecDeque<(u64, HashMap<Uuid, Computed>)>,
}

impl Stash {
    fn put(&mut self, write: u64, values: impl IntoIterator<Item = (Uuid, Computed)>) {
        let at = match self.writes.iter().position(|(w, _)| *w == write) {
            Some(i) => i,
            None => {
                if self.writes.len() >= STASHED_WRITES {
                    self.writes.pop_front();
                }
                self.writes.push_back((write, HashMap::new()));
                self.writes.len() - 1
            }
        };
        self.writes[at].1.extend(values);
    }

    /// Everything kept for `write` (a write computes once per extension, so the values of
    /// records refused since its validation are dropped with the rest).
    fn take_write(&mut self, write: u64) -> HashMap<Uuid, Computed> {
        match self.writes.iter().position(|(w, _)| *w == write) {
            Some(i) => self.writes.remove(i).map(|(_, kept)| kept).unwrap_or_default(),
            None => HashMap::new(),
        }
    }
}

impl PluginExtension {
    /// `validate(_many)`: runs `check` and keeps the computed values of the accepted records
    /// for `compute(_many)`.
    fn validate_and_keep(&self, cx: &HookContext<'_>, recs: &[(&Record, Option<&Record>)]) -> Vec<Result<()>> {
        let Some(p) = self.host.get(&self.id).filter(|p| !p.is_disabled()) else {
            return recs.iter().map(|_| Ok(())).collect();
        };
        let outcomes = check_all(&self.host, &p, recs);
        let mut keep = Vec::new();
        let results = outcomes
            .into_iter()
            .zip(recs)
            .map(|(o, (rec, _))| {
                o.map(|values| {
                    if computes_on(&p, rec.kind()) {
                        keep.push((rec.id(), values));
                    }
                })
            })
            .collect();
        if !keep.is_empty()
            && let Ok(mut stash) = self.stash.lock()
        {
            stash.put(cx.write, keep);
        }
        results
    }

    /// `compute(_many)`: the values `validate` kept, else (a record validated in another
    /// write, or values dropped) a fresh `check`.
    fn computed(&self, cx: &HookContext<'_>, recs: &[&Record]) -> Vec<Result<Vec<(String, Value)>>> {
        let mut kept = self.stash.lock().map(|mut s| s.take_write(cx.write)).unwrap_or_default();
        let Some(p) = self.host.get(&self.id).filter(|p| !p.is_disabled()) else {
            return recs.iter().map(|_| Ok(Vec::new())).collect();
        };
        let mut out: Vec<Option<CheckOutcome>> = recs
            .iter()
            .map(|rec| match computes_on(&p, rec.kind()) {
                false => Some(Ok(Vec::new())),
                true => kept.remove(&rec.id()).map(Ok),
            })
            .collect();
        let missing: Vec<(&Record, Option<&Record>)> =
            recs.iter().zip(&out).filter(|(_, o)| o.is_none()).map(|(r, _)| (*r, cx.before)).collect();
        if !missing.is_empty() {
            let mut fresh = check_all(&self.host, &p, &missing).into_iter();
            for o in out.iter_mut().filter(|o| o.is_none()) {
                *o = fresh.next();
            }
        }
        out.into_iter().map(|o| o.unwrap_or_else(|| Ok(Vec::new()))).collect()
    }
}

#[async_trait]
impl Extension for PluginExtension {
    fn id(&self) -> &str {
        &self.id
    }

    fn fields(&self) -> Vec<FieldDefinition> {
        self.host.get(&self.id).map(|p| p.defs.clone()).unwrap_or_default()
    }

    fn validate(&self, cx: &HookContext<'_>, record: &Record) -> Result<()> {
        self.validate_and_keep(cx, &[(record, cx.before)]).pop().unwrap_or(Ok(()))
    }

    fn validate_many(&self, cx: &HookContext<'_>, records: &[&Record]) -> Vec<Result<()>> {
        let recs: Vec<(&Record, Option<&Record>)> = records.iter().map(|r| (*r, cx.before)).collect();
        self.validate_and_keep(cx, &recs)
    }

    fn compute(&self, cx: &HookContext<'_>, record: &Record) -> Result<Vec<(String, Value)>> {
        self.computed(cx, &[record]).pop().unwrap_or(Ok(Vec::new()))
    }

    fn compute_many(&self, cx: &HookContext<'_>, records: &[&Record]) -> Vec<Result<Vec<(String, Value)>>> {
        self.computed(cx, records)
    }

    async fn on_events(&self, cx: &EventContext<'_>, events: &[StoredEvent]) -> Result<()> {
        let Some(p) = self.host.get(&self.id) else { return Ok(()) };
        if p.is_disabled() {
            return Ok(());
        }
        let session = cx.crm().as_actor(cx.actor());
        for ev in events {
            let Some(event) = self.to_wit_event(cx, &session, &p, ev).await? else { continue };
            let outcome = self.call_on_event(cx, &p, event).await;
            match outcome {
                Ok(Ok(actions)) => self.apply(cx, &p, actions).await,
                Ok(Err(message)) => {
                    tracing::warn!(plugin = %self.id, error = %sandbox_trunc(&message), "plugin on-event returned an error")
                }
                Err(f) => {
                    tracing::warn!(plugin = %self.id, error = %f, "plugin on-event failed; its actions are skipped")
                }
            }
        }
        Ok(())
    }
}

fn subscribed(p: &Installed, ev: wit::EventKind, kind: EntityKind) -> bool {
    let Some(k) = kind_to_wit(kind) else { return false };
    p.subscriptions.iter().any(|s| s.event == ev && (s.kinds.is_empty() || s.kinds.contains(&k)))
}

impl PluginExtension {
    /// The contract's view of a committed event, when the plugin subscribed to it.
    async fn to_wit_event(
        &self,
        cx: &EventContext<'_>,
        session: &Session,
        p: &Installed,
        ev: &StoredEvent,
    ) -> Result<Option<wit::Event>> {
        let subject = ev.event.subject;
        let id = &p.info.id;
        let current = |r: Option<&Record>| r.and_then(|r| entity_to_wit(r, id, p.reads(r.kind())));
        Ok(match &ev.event.change {
            Change::Created if subscribed(p, wit::EventKind::Created, subject.kind) => {
                let rec = match cx.after(ev) {
                    Some(r) => Some(r.clone()),
                    None => session.record(subject).await?,
                };
                current(rec.as_ref()).map(wit::Event::Created)
            }
            Change::Updated { fields } if subscribed(p, wit::EventKind::Updated, subject.kind) => {
                let (Some(old), Some(new)) = (cx.before(ev), cx.after(ev)) else { return Ok(None) };
                let (Some(before), Some(after)) = (current(Some(old)), current(Some(new))) else {
                    return Ok(None);
                };
                // The standard fields it reads that differ (compared as it sees them: a contact's
                // `city` is stored in its addresses), then its own custom fields that changed.
                let own = format!("custom.{id}.");
                let changed_fields = p
                    .reads(subject.kind)
                    .iter()
                    .filter(|name| core_changed(old, new, name))
                    .map(|name| (*name).to_owned())
                    .chain(fields.iter().filter_map(|f| f.strip_prefix(&own).map(|k| format!("custom.{k}"))))
                    .collect();
                Some(wit::Event::Updated(wit::EntityUpdate { before, after, changed_fields }))
            }
            Change::StageChanged { pipeline_id, from, to }
                if subscribed(p, wit::EventKind::DealStageChanged, subject.kind) =>
            {
                let Some(Record::Deal(deal)) = session.record(subject).await? else { return Ok(None) };
                let pipeline = session.pipelines().get(*pipeline_id).await?;
                let stage = |sid: crm_core::ids::StageId| wit::Stage {
                    id: sid.to_string(),
                    name: pipeline.stage(sid).map(|s| s.name.clone()).unwrap_or_default(),
                };
                let to_status = match deal.status {
                    DealStatus::Won => wit::DealStatus::Won,
                    DealStatus::Lost => wit::DealStatus::Lost,
                    _ => wit::DealStatus::Open,
                };
                let (from_stage, to_stage) = (stage(*from), stage(*to));
                current(Some(&Record::Deal(deal))).map(|deal| {
                    wit::Event::DealStageChanged(wit::StageChange { deal, from_stage, to_stage, to_status })
                })
            }
            Change::OrderPlaced { .. } if subscribed(p, wit::EventKind::OrderPlaced, subject.kind) => {
                current(session.record(subject).await?.as_ref()).map(wit::Event::OrderPlaced)
            }
            Change::Deleted if subscribed(p, wit::EventKind::Deleted, subject.kind) => {
                ref_to_wit(subject).map(wit::Event::Deleted)
            }
            _ => None,
        })
    }

    /// Calls `on-event` on a blocking thread, so `get-related` can read through the CRM.
    async fn call_on_event(
        &self,
        cx: &EventContext<'_>,
        p: &Arc<Installed>,
        event: wit::Event,
    ) -> std::result::Result<std::result::Result<Vec<wit::Action>, String>, PluginFailure> {
        let host = self.host.clone();
        let plugin = p.clone();
        let session = cx.crm().as_actor(cx.actor());
        let run = move |reader: RelatedReader| {
            host.run(
                &plugin,
                Some(reader),
                |inst, store| inst.crm_plugin_plugin().call_on_event(store, &event),
                |r: std::result::Result<Vec<wit::Action>, String>| {
                    match &r {
                        Ok(actions) => check_output(&host, actions.len(), actions.iter().map(action_size).sum())?,
                        Err(m) => check_output(&host, 1, m.len())?,
                    }
                    Ok(r)
                },
            )
        };
        let shown = p.clone();
        let reader_for = move |block: Arc<dyn Fn(EntityRef) -> Result<Option<Record>> + Send + Sync>| -> RelatedReader {
            let p = shown.clone();
            let mut reads = 0u32;
            Box::new(move |kind, rid| {
                reads += 1;
                if reads > 100 {
                    return Err("at most 100 reads per call".into());
                }
                let r = EntityRef::new(kind_from_wit(kind), parse_id(rid)?);
                match block(r) {
                    Ok(rec) => Ok(rec.and_then(|rec| entity_to_wit(&rec, &p.info.id, p.reads(rec.kind())))),
                    Err(e) => Err(e.to_string()),
                }
            })
        };
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                let read: Arc<dyn Fn(EntityRef) -> Result<Option<Record>> + Send + Sync> =
                    Arc::new(move |r| handle.block_on(session.record(r)));
                let reader = reader_for(read);
                tokio::task::spawn_blocking(move || run(reader))
                    .await
                    .unwrap_or_else(|e| Err(PluginFailure::Trap(format!("the call's thread failed: {e}"))))
            }
            Err(_) => {
                let read: Arc<dyn Fn(EntityRef) -> Result<Option<Record>> + Send + Sync> =
                    Arc::new(move |r| futures::executor::block_on(session.record(r)));
                let reader = reader_for(read);
                std::thread::scope(|s| {
                    s.spawn(move || run(reader))
                        .join()
                        .unwrap_or_else(|_| Err(PluginFailure::Trap("the call's thread failed".into())))
                })
            }
        }
    }

    /// Applies the valid actions in order, as the plugin's own actor.
    async fn apply(&self, cx: &EventContext<'_>, p: &Installed, actions: Vec<wit::Action>) {
        let id = &p.info.id;
        let session = cx.act_as(id);
        let mut violated = None;
        for a in actions {
            let (desc, outcome) = self.apply_one(&session, p, a).await;
            if let Err(Violation::Contract(m)) = &outcome {
                violated.get_or_insert_with(|| m.clone());
            }
            self.host.record_action(AppliedAction {
                plugin: id.clone(),
                action: desc,
                outcome: outcome.map_err(|v| match v {
                    Violation::Contract(m) => format!("contract violation: {m}"),
                    Violation::Refused(m) => m,
                }),
            });
        }
        if let Some(m) = violated {
            // A reaction that breaks the contract counts as a failed call.
            self.host.failed(p, &PluginFailure::Contract(m));
        }
    }

    async fn apply_one(
        &self,
        session: &Session,
        p: &Installed,
        a: wit::Action,
    ) -> (String, std::result::Result<(), Violation>) {
        let id = &p.info.id;
        match a {
            wit::Action::SetField(s) => {
                let desc = format!(
                    "set-field {} on {:?} {}",
                    sandbox_trunc(&s.field.name),
                    s.entity.kind,
                    sandbox_trunc(&s.entity.id)
                );
                let r = match ref_from_wit(&s.entity) {
                    Err(e) => Err(Violation::Contract(e)),
                    Ok(r) => match p.own_field(r.kind, &s.field.name) {
                        None => Err(Violation::Contract(format!(
                            "`{}` is not one of its {} fields",
                            sandbox_trunc(&s.field.name),
                            r.kind
                        ))),
                        Some(d) if d.computed => {
                            Err(Violation::Contract(format!("`{}` is computed; set-field cannot write it", d.key)))
                        }
                        Some(d) => match value_from_wit(s.field.value) {
                            Err(e) => Err(Violation::Contract(e)),
                            Ok(v) => session
                                .set_custom_value(r, &format!("{id}.{}", d.key), v)
                                .await
                                .map(|_| ())
                                .map_err(|e| Violation::Refused(e.to_string())),
                        },
                    },
                };
                (desc, r)
            }
            wit::Action::AddTag(t) => {
                let desc = format!(
                    "add-tag `{}` on {:?} {}",
                    sandbox_trunc(&t.tag),
                    t.entity.kind,
                    sandbox_trunc(&t.entity.id)
                );
                let tag = t.tag.trim();
                let r = if tag.is_empty() || tag.chars().count() > 64 {
                    Err(Violation::Contract("a tag is 1–64 characters".into()))
                } else {
                    match ref_from_wit(&t.entity) {
                        Err(e) => Err(Violation::Contract(e)),
                        Ok(r) => {
                            session.add_tag(r, tag).await.map(|_| ()).map_err(|e| Violation::Refused(e.to_string()))
                        }
                    }
                };
                (desc, r)
            }
            wit::Action::CreateTask(t) => {
                let desc = format!("create-task `{}` due in {} days", sandbox_trunc(&t.title), t.due_in_days);
                (desc, self.create_task(session, t).await)
            }
            wit::Action::Notify(n) => {
                let desc = format!("notify `{}`", sandbox_trunc(&n.message));
                let r = if n.message.trim().is_empty() || n.message.chars().count() > 1_000 {
                    Err(Violation::Contract("a notification is 1–1,000 characters".into()))
                } else {
                    match n.about.as_ref().map(ref_from_wit).transpose() {
                        Err(e) => Err(Violation::Contract(e)),
                        Ok(about) => {
                            crate::keep(
                                &self.host.notifications,
                                [Notification { plugin: id.clone(), message: n.message, about }],
                            );
                            Ok(())
                        }
                    }
                };
                (desc, r)
            }
        }
    }

    async fn create_task(&self, session: &Session, t: wit::CreateTask) -> std::result::Result<(), Violation> {
        if t.due_in_days > 3_650 {
            return Err(Violation::Contract("due-in-days is at most 3,650".into()));
        }
        let on = ref_from_wit(&t.on).map_err(Violation::Contract)?;
        let record = session
            .record(on)
            .await
            .map_err(|e| Violation::Refused(e.to_string()))?
            .ok_or_else(|| Violation::Refused(format!("no {} with id {}", on.kind, on.id)))?;
        let due = chrono::Utc::now() + chrono::Duration::days(i64::from(t.due_in_days));
        let mut task = NewActivity::task(t.title, due);
        match &record {
            Record::Deal(d) => {
                task = task.deal(d.id);
                if let Some(o) = d.owner_id {
                    task = task.owner(o);
                }
            }
            Record::Contact(c) => {
                task = task.contact(c.id);
                if let Some(o) = c.owner_id {
                    task = task.owner(o);
                }
            }
            Record::Company(c) => {
                task = task.company(c.id);
                if let Some(o) = c.owner_id {
                    task = task.owner(o);
                }
            }
            other => task = task.body(format!("About {} {}", other.kind(), other.id())),
        }
        session.activities().log(task).await.map(|_| ()).map_err(|e| Violation::Refused(e.to_string()))
    }
}

enum Violation {
    /// The plugin asked for something the contract forbids.
    Contract(String),
    /// The CRM refused the change (validation, a missing record…).
    Refused(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(n: i64) -> Vec<(String, Value)> {
        vec![("score".to_owned(), Value::Int(n))]
    }

    #[test]
    fn the_stash_gives_each_write_its_own_values_once() {
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let mut stash = Stash::default();
        stash.put(1, [(a, values(1))]);
        stash.put(2, [(a, values(3))]);
        stash.put(1, [(b, values(2))]);
        let two = stash.take_write(2);
        assert_eq!(two.get(&a), Some(&values(3)), "the same record in another write keeps its own values");
        assert_eq!(two.len(), 1);
        let one = stash.take_write(1);
        assert_eq!((one.get(&a), one.get(&b)), (Some(&values(1)), Some(&values(2))));
        assert!(stash.take_write(1).is_empty(), "taken once, with the values of records never computed");
        assert!(stash.writes.is_empty());
    }

    #[test]
    fn the_stash_keeps_only_the_latest_writes() {
        let id = Uuid::now_v7();
        let mut stash = Stash::default();
        for w in 0..(STASHED_WRITES as u64 + 10) {
            stash.put(w, [(id, values(w as i64))]);
        }
        assert_eq!(stash.writes.len(), STASHED_WRITES);
        assert!(stash.take_write(0).is_empty(), "the oldest were dropped");
        let last = STASHED_WRITES as u64 + 9;
        assert_eq!(stash.take_write(last).get(&id), Some(&values(last as i64)));
    }
}
