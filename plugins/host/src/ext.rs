//! Each installed plugin as a crm-core [`Extension`]: fields, save-path hooks and reactions.

use std::sync::Arc;

use async_trait::async_trait;
use crm_core::model::FieldDefinition;
use crm_core::{
    Change, DealStatus, EntityKind, EntityRef, Error, EventContext, Extension, FieldError, FieldErrorCode, HookContext,
    NewActivity, Record, Result, Session, StoredEvent, Value,
};

use crate::bindings::wit;
use crate::convert::{entity_to_wit, kind_from_wit, kind_to_wit, parse_id, ref_from_wit, ref_to_wit, value_from_wit};
use crate::error::PluginFailure;
use crate::sandbox::RelatedReader;
use crate::{AppliedAction, HostInner, Installed, MAX_KEPT, Notification, sandbox_trunc};

pub(crate) struct PluginExtension {
    pub(crate) host: Arc<HostInner>,
    pub(crate) id: String,
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

/// Runs `validate`; plugin errors become a validation error naming `custom.<plugin>.<key>`
/// (or the standard field for `core.<name>`).
pub(crate) fn validate(host: &HostInner, p: &Installed, rec: &Record, before: Option<&Record>) -> Result<()> {
    validate_all(host, p, &[(rec, before)]).pop().unwrap_or(Ok(()))
}

/// [`validate`] for many records (with what each was before) on one instance; records of a
/// kind the plugin has no fields on pass without a call.
fn validate_all(host: &HostInner, p: &Installed, recs: &[(&Record, Option<&Record>)]) -> Vec<Result<()>> {
    let id = &p.info.id;
    let entities: Vec<Option<(wit::Entity, Option<wit::Entity>)>> = recs
        .iter()
        .map(|(rec, before)| {
            let entity = has_fields_on(p, rec.kind()).then(|| entity_to_wit(rec, id)).flatten()?;
            Some((entity, before.and_then(|b| entity_to_wit(b, id))))
        })
        .collect();
    let calls: Vec<&(wit::Entity, Option<wit::Entity>)> = entities.iter().flatten().collect();
    let mut results = host
        .run_many(
            p,
            None,
            &calls,
            |inst, store, (entity, before)| inst.crm_plugin_plugin().call_validate(store, entity, before.as_ref()),
            |errs: Vec<wit::FieldError>| {
                let bytes = errs.iter().map(|e| e.field.len() + e.message.len()).sum();
                check_output(host, errs.len(), bytes)?;
                Ok(errs)
            },
        )
        .into_iter();
    entities
        .iter()
        .map(|e| match e.as_ref().and_then(|_| results.next()) {
            None => Ok(()),
            Some(Err(f)) => Err(plugin_err(id, f)),
            Some(Ok(errors)) => validation_error(id, errors),
        })
        .collect()
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
    Err(Error::Validation(crm_core::ValidationErrors(errs)))
}

/// Runs `compute` on many records on one instance; every value must be for one of the
/// plugin's computed fields on that kind. Records of a kind without computed fields of the
/// plugin get no values, without a call.
fn compute_all(host: &HostInner, p: &Installed, recs: &[&Record]) -> Vec<Result<Vec<(String, Value)>>> {
    let id = &p.info.id;
    let entities: Vec<Option<(EntityKind, wit::Entity)>> = recs
        .iter()
        .map(|rec| {
            let kind = rec.kind();
            let computes = p.defs.iter().any(|d| d.entity_kind == kind && d.computed);
            Some((kind, computes.then(|| entity_to_wit(rec, id)).flatten()?))
        })
        .collect();
    let calls: Vec<&(EntityKind, wit::Entity)> = entities.iter().flatten().collect();
    let mut results = host
        .run_many(
            p,
            None,
            &calls,
            |inst, store, (kind, entity)| Ok((*kind, inst.crm_plugin_plugin().call_compute(store, entity)?)),
            |(kind, fields): (EntityKind, Vec<wit::Field>)| {
                check_output(host, fields.len(), fields.iter().map(field_size).sum())?;
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
                    let v = value_from_wit(f.value)
                        .map_err(|e| PluginFailure::Contract(format!("computed `{}`: {e}", f.name)))?;
                    out.push((f.name, v));
                }
                // A value the plugin's manifest types differently fails the core's check and
                // is reported there as this plugin's error.
                Ok(out)
            },
        )
        .into_iter();
    entities
        .iter()
        .map(|e| match e.as_ref().and_then(|_| results.next()) {
            None => Ok(Vec::new()),
            Some(r) => r.map_err(|f| plugin_err(id, f)),
        })
        .collect()
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
        match self.host.get(&self.id) {
            Some(p) if !p.is_disabled() => validate(&self.host, &p, record, cx.before),
            _ => Ok(()),
        }
    }

    fn validate_many(&self, _cx: &HookContext<'_>, records: &[&Record]) -> Vec<Result<()>> {
        match self.host.get(&self.id) {
            Some(p) if !p.is_disabled() => {
                let recs: Vec<(&Record, Option<&Record>)> = records.iter().map(|r| (*r, None)).collect();
                validate_all(&self.host, &p, &recs)
            }
            _ => records.iter().map(|_| Ok(())).collect(),
        }
    }

    fn compute(&self, _cx: &HookContext<'_>, record: &Record) -> Result<Vec<(String, Value)>> {
        match self.host.get(&self.id) {
            Some(p) if !p.is_disabled() => compute_all(&self.host, &p, &[record]).pop().unwrap_or(Ok(Vec::new())),
            _ => Ok(Vec::new()),
        }
    }

    fn compute_many(&self, _cx: &HookContext<'_>, records: &[&Record]) -> Vec<Result<Vec<(String, Value)>>> {
        match self.host.get(&self.id) {
            Some(p) if !p.is_disabled() => compute_all(&self.host, &p, records),
            _ => records.iter().map(|_| Ok(Vec::new())).collect(),
        }
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
        let current = |r: Option<&Record>| r.and_then(|r| entity_to_wit(r, id));
        Ok(match &ev.event.change {
            Change::Created if subscribed(p, wit::EventKind::Created, subject.kind) => {
                let rec = match cx.after(ev) {
                    Some(r) => Some(r.clone()),
                    None => session.record(subject).await?,
                };
                current(rec.as_ref()).map(wit::Event::Created)
            }
            Change::Updated { fields } if subscribed(p, wit::EventKind::Updated, subject.kind) => {
                let (Some(before), Some(after)) = (current(cx.before(ev)), current(cx.after(ev))) else {
                    return Ok(None);
                };
                let own = format!("custom.{id}.");
                let changed_fields = fields
                    .iter()
                    .filter_map(|f| match f.strip_prefix(&own) {
                        Some(k) => Some(format!("custom.{k}")),
                        None if f.starts_with("custom.") => None,
                        None => Some(f.clone()),
                    })
                    .collect();
                Some(wit::Event::Updated(wit::EntityUpdate { before, after, changed_fields }))
            }
            Change::StageChanged { pipeline_id, from, to }
                if subscribed(p, wit::EventKind::DealStageChanged, subject.kind) =>
            {
                let Some(Record::Deal(deal)) = session.record(subject).await? else { return Ok(None) };
                let pipeline = session.pipelines().get(*pipeline_id).await?;
                let stage = |sid: crm_core::StageId| wit::Stage {
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
        let id = p.info.id.clone();
        let reader_for = move |block: Arc<dyn Fn(EntityRef) -> Result<Option<Record>> + Send + Sync>| -> RelatedReader {
            let id = id.clone();
            let mut reads = 0u32;
            Box::new(move |kind, rid| {
                reads += 1;
                if reads > 100 {
                    return Err("at most 100 reads per call".into());
                }
                let r = EntityRef::new(kind_from_wit(kind), parse_id(rid)?);
                match block(r) {
                    Ok(rec) => Ok(rec.and_then(|rec| entity_to_wit(&rec, &id))),
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
                            if let Ok(mut q) = self.host.notifications.lock() {
                                if q.len() >= MAX_KEPT {
                                    q.pop_front();
                                }
                                q.push_back(Notification { plugin: id.clone(), message: n.message, about });
                            }
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
