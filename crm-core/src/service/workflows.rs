//! Workflows: automation rules kept as records and checked when saved (the `crm-automation`
//! crate runs them; their run log is in `workflow_runs`).

use super::Records;
use super::checks::Checks;
use super::records::Guard;
use super::uow::Uow;
use crate::entity::{EntityKind, EntityRef};
use crate::error::{Error, FieldError, FieldErrorCode, Result};
use crate::ids::WorkflowId;
use crate::macros::{new_input, new_record};
use crate::model::{FieldRegistry, Step, Trigger, Workflow, field_type, owned};
use crate::query::{Field, Filter};
use crate::value::ValueType;

/// The most steps a workflow may have.
pub const MAX_STEPS: usize = 20;

/// The most users an assignment step's pool may hold.
pub const MAX_POOL: usize = 100;

/// The kinds of record a workflow may watch: those people and integrations change through
/// the services, whose changes the outbox announces.
pub const WATCHED_KINDS: &[EntityKind] = &[
    EntityKind::Contact,
    EntityKind::Company,
    EntityKind::Deal,
    EntityKind::Activity,
    EntityKind::Product,
    EntityKind::Order,
    EntityKind::Invoice,
    EntityKind::Payment,
    EntityKind::Case,
    EntityKind::Feedback,
    EntityKind::Campaign,
    EntityKind::CampaignMember,
];

/// Kinds whose records have tags and can be changed by a step.
const TAGGED: &[EntityKind] = &[
    EntityKind::Contact,
    EntityKind::Company,
    EntityKind::Deal,
    EntityKind::Product,
    EntityKind::Order,
    EntityKind::Case,
    EntityKind::Campaign,
];

/// Kinds a task can be about: linked to the record itself, or to the record's contact.
pub const TASK_KINDS: &[EntityKind] = &[
    EntityKind::Contact,
    EntityKind::Company,
    EntityKind::Deal,
    EntityKind::Case,
    EntityKind::Order,
    EntityKind::Invoice,
    EntityKind::Payment,
    EntityKind::Feedback,
    EntityKind::CampaignMember,
];

/// Fields a step may not set: the record's identity and bookkeeping.
const IDENTITY: &[&str] = &["id", "tenant_id", "version", "created_at", "updated_at"];

new_input! {
    /// Input for a new workflow. In JSON (what the command line and the HTTP API read), the
    /// fields as named here; only `name`, `entity_kind`, `trigger` and `steps` are required.
    #[derive(Clone, Debug, PartialEq, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct NewWorkflow {
        /// Name (required; unique per tenant, ignoring case).
        pub name: String => manual,
        /// What it is for.
        #[serde(default)]
        pub description: Option<String> => some description(String),
        /// The kind of record it watches.
        pub entity_kind: EntityKind => manual,
        /// What sets it off.
        pub trigger: Trigger => manual,
        /// What the record must match after the change.
        #[serde(default)]
        pub condition: Filter => set condition(Filter),
        /// What the record must have matched before the change.
        #[serde(default)]
        pub was: Option<Filter> => some was(Filter),
        /// Only when the record starts matching `condition` with this change.
        #[serde(default)]
        pub edge: bool => manual,
        /// What it does, in order.
        #[serde(default)]
        pub steps: Vec<Step> => push step(Step),
        /// Whether it runs (default: yes).
        #[serde(default = "yes")]
        pub enabled: bool => manual,
        /// The time zone its dates, delays and schedule are read in (default UTC).
        #[serde(default)]
        pub time_zone: Option<chrono_tz::Tz> => some time_zone(chrono_tz::Tz),
    }
}

fn yes() -> bool {
    true
}

impl NewWorkflow {
    /// A workflow on records of `kind`, set off by `trigger`, with no condition and no steps yet.
    pub fn new(name: impl Into<String>, kind: EntityKind, trigger: Trigger) -> Self {
        Self {
            name: name.into(),
            description: None,
            entity_kind: kind,
            trigger,
            condition: Filter::All,
            was: None,
            edge: false,
            steps: Vec::new(),
            enabled: true,
            time_zone: None,
        }
    }

    /// Fires only when the record starts matching the condition with the change (it did
    /// not match before).
    pub fn on_edge(mut self) -> Self {
        self.edge = true;
        self
    }

    /// Saved switched off.
    pub fn disabled(mut self) -> Self {
        self.enabled = false;
        self
    }
}

/// Automation rules: what happens on its own when records change. Each is checked against
/// the fields of the kind it watches when saved, naming the part that is wrong: a trigger
/// field, a condition, a step's field or value. Running them is the `crm-automation` crate's
/// work; every step it runs is logged as a [`WorkflowRun`](crate::model::WorkflowRun).
///
/// ```
/// # futures::executor::block_on(async {
/// use crm_core::prelude::*;
/// use crm_core::model::{Step, Trigger, Delay};
/// use crm_core::query::Filter;
/// let crm = Crm::new(MemoryStore::new());
/// let cx = crm.as_actor(&Actor::system(TenantId::new()));
/// let flow = cx.workflows().create(
///     NewWorkflow::new("Welcome customers", EntityKind::Contact, Trigger::Updated { fields: vec!["lifecycle_stage".into()] })
///         .condition(Filter::eq("lifecycle_stage", "customer"))
///         .on_edge()
///         .step(Step::CreateTask { title: "Welcome call".into(), due_in: Some("3d".parse().unwrap()), assign_to: None }),
/// ).await?;
/// assert!(flow.enabled);
/// // A condition on a field contacts do not have is refused, naming it.
/// let bad = cx.workflows().create(
///     NewWorkflow::new("Broken", EntityKind::Contact, Trigger::Created)
///         .condition(Filter::eq("budget_code", "x"))
///         .step(Step::AddTags { tags: vec!["new".into()] }),
/// ).await.unwrap_err();
/// assert_eq!(bad.field_errors()[0].field, "condition.budget_code");
/// # Ok::<_, Error>(()) }).unwrap();
/// ```
pub type Workflows<'s> = Records<'s, Workflow>;

impl Records<'_, Workflow> {
    /// Saves a new workflow after checking it against the fields of the kind it watches.
    pub async fn create(&self, input: NewWorkflow) -> Result<Workflow> {
        self.create_with(|uow, ch| {
            Box::pin(async move {
                let mut flow = built(input, uow.new_id(), uow.s.tenant(), uow.now);
                check_workflow(uow, &mut flow, ch).await?;
                Ok(flow)
            })
        })
        .await
    }

    /// Checks a workflow as [`create`](Self::create) would, saving nothing.
    pub async fn check(&self, input: NewWorkflow) -> Result<()> {
        self.check_with(|uow, ch| {
            Box::pin(async move {
                let mut flow = built(input, uow.new_id(), uow.s.tenant(), uow.now);
                check_workflow(uow, &mut flow, ch).await?;
                Ok(flow)
            })
        })
        .await
    }

    /// The workflow `input` describes, unchecked and unsaved: to try it
    /// ([`check`](Self::check) it first), as a dry run does.
    pub fn draft(&self, input: NewWorkflow) -> Workflow {
        let s = self.s;
        let id = WorkflowId::from_uuid(s.crm.inner.ids.next_uuid());
        built(input, id, s.tenant(), crate::ids::storage_precision(s.now()))
    }

    /// Saves changes to a workflow read earlier (a new version: runs name the version they ran).
    pub async fn update(&self, flow: Workflow) -> Result<Workflow> {
        self.update_with(flow, &Guard::NONE, &[], |uow, before, flow, ch| {
            Box::pin(async move {
                // Switched on now: changes from now on are its business.
                flow.enabled_at = match (before.enabled, flow.enabled) {
                    (false, true) => Some(uow.now),
                    _ => before.enabled_at,
                };
                check_workflow(uow, flow, ch).await
            })
        })
        .await
    }

    /// Switches a workflow on or off.
    pub async fn set_enabled(&self, id: WorkflowId, enabled: bool) -> Result<Workflow> {
        let mut flow = self.get(id).await?;
        flow.enabled = enabled;
        self.update(flow).await
    }

    /// The enabled workflows watching records of `kind` (all kinds: `None`).
    pub async fn enabled(&self, kind: Option<EntityKind>) -> Result<Vec<Workflow>> {
        let mut filter = Filter::eq("enabled", true);
        if let Some(k) = kind {
            filter = filter.and(Filter::eq("entity_kind", k));
        }
        let mut uow = Uow::read(self.s).await?;
        uow.find_readable::<Workflow>(&filter).await
    }
}

fn built(
    input: NewWorkflow,
    id: WorkflowId,
    tenant: crate::ids::TenantId,
    at: chrono::DateTime<chrono::Utc>,
) -> Workflow {
    new_record!(
        id,
        tenant,
        at,
        Workflow {
            name: input.name,
            description: input.description,
            enabled: input.enabled,
            entity_kind: input.entity_kind,
            trigger: input.trigger,
            condition: input.condition,
            was: input.was,
            edge: input.edge,
            steps: input.steps,
            enabled_at: input.enabled.then_some(at),
            time_zone: input.time_zone,
        }
    )
}

/// Checks a workflow: its name, the kind it watches, its trigger, conditions and steps.
async fn check_workflow(uow: &mut Uow<'_>, flow: &mut Workflow, ch: &mut Checks) -> Result<()> {
    ch.name("name", &mut flow.name, true);
    ch.opt_text("description", &mut flow.description);
    let kind = flow.entity_kind;
    if !WATCHED_KINDS.contains(&kind) {
        let kinds: Vec<&str> = WATCHED_KINDS.iter().map(EntityKind::as_str).collect();
        ch.push(
            "entity_kind",
            FieldErrorCode::NotAnOption,
            format!("workflows watch {}, not {kind} records", kinds.join(", ")),
        );
        return Ok(());
    }
    let reg = uow.registry(kind).await?;
    check_trigger(flow, &reg, ch);
    for (at, filter) in [("condition", Some(&flow.condition)), ("was", flow.was.as_ref())] {
        if let Some(Err(Error::Validation(v))) = filter.map(|f| f.validate(kind, &reg)) {
            ch.errs.extend(v.0.into_iter().map(|e| renamed(e, at)));
        }
    }
    if flow.steps.is_empty() {
        ch.push("steps", FieldErrorCode::Required, "a workflow does at least one thing");
    }
    if flow.steps.len() > MAX_STEPS {
        ch.push("steps", FieldErrorCode::OutOfRange, format!("a workflow has at most {MAX_STEPS} steps"));
    }
    let mut links = Vec::new();
    for (i, step) in flow.steps.iter().enumerate() {
        if flow.trigger == Trigger::Deleted
            && !matches!(step, Step::CreateTask { .. } | Step::CreateNote { .. } | Step::Notify { owner: false, .. })
        {
            ch.push(
                format!("steps[{i}]"),
                FieldErrorCode::Rule,
                "a deleted record is gone: a workflow set off by deletions can only create tasks and notes, and notify users",
            );
        }
    }
    if matches!(flow.steps.last(), Some(Step::Wait { .. })) {
        ch.push(format!("steps[{}]", flow.steps.len() - 1), FieldErrorCode::Rule, "a wait is followed by a step");
    }
    for (i, step) in flow.steps.iter_mut().enumerate() {
        check_step(kind, &reg, &format!("steps[{i}]"), step, ch, &mut links);
    }
    let mut errs = Vec::new();
    uow.check_refs(links, &mut errs).await?;
    ch.errs.extend(errs);
    Ok(())
}

/// A filter's error (`filter.<field>`) as the part of the workflow holding the filter names it.
fn renamed(mut e: FieldError, at: &str) -> FieldError {
    e.field = match e.field.strip_prefix("filter") {
        Some(rest) => format!("{at}{rest}"),
        None => format!("{at}.{}", e.field),
    };
    e
}

fn check_trigger(flow: &Workflow, reg: &FieldRegistry, ch: &mut Checks) {
    let kind = flow.entity_kind;
    match &flow.trigger {
        Trigger::Updated { fields } => {
            for (i, f) in fields.iter().enumerate() {
                if field_type(kind, reg, &Field::parse(f)).is_none() {
                    ch.push(
                        format!("trigger.fields[{i}]"),
                        FieldErrorCode::UnknownField,
                        format!("{kind} records have no field `{f}`"),
                    );
                }
            }
        }
        Trigger::Deleted => {
            if flow.condition != Filter::All || flow.was.is_some() || flow.edge {
                ch.push(
                    "condition",
                    FieldErrorCode::Rule,
                    "a deleted record is gone: a workflow set off by deletions has no conditions",
                );
            }
        }
        Trigger::Date { field, before, after, yearly, at } => {
            match field_type(kind, reg, &Field::parse(field)) {
                None => ch.push(
                    "trigger.field",
                    FieldErrorCode::UnknownField,
                    format!("{kind} records have no field `{field}`"),
                ),
                Some(ValueType::Date) => {}
                Some(ValueType::DateTime) if *yearly || at.is_some() => ch.push(
                    if *yearly { "trigger.yearly" } else { "trigger.at" },
                    FieldErrorCode::Rule,
                    format!("`{field}` is a time, not a date: it has no anniversary and no time of day to choose"),
                ),
                Some(ValueType::DateTime) => {}
                Some(_) => {
                    ch.push("trigger.field", FieldErrorCode::TypeMismatch, format!("`{field}` is not a date or a time"))
                }
            }
            if before.is_some() && after.is_some() {
                ch.push("trigger.after", FieldErrorCode::Rule, "a time is before the field's or after it, not both");
            }
            for (name, d) in [("trigger.before", before), ("trigger.after", after)] {
                let max = if *yearly { 366 } else { u64::from(crate::model::MAX_DELAY_DAYS) };
                if d.is_some_and(|d| d.days() > max) {
                    ch.push(name, FieldErrorCode::OutOfRange, format!("at most {max} days"));
                }
            }
            no_before_state(
                flow,
                ch,
                "a time trigger fires on the record as it is: there is no change to compare with",
            );
        }
        Trigger::Schedule { cron } => {
            match crate::model::parse_cron(cron) {
                Err(m) => ch.push("trigger.cron", FieldErrorCode::InvalidFormat, m),
                Ok(c) => {
                    let tz = flow.tz();
                    let now = chrono::Utc::now().with_timezone(&tz);
                    if c.find_next_occurrence(&now, false).is_err() {
                        ch.push("trigger.cron", FieldErrorCode::Rule, format!("`{cron}` never fires"));
                    }
                }
            }
            no_before_state(flow, ch, "a schedule runs on the records as they are: there is no change to compare with");
        }
        Trigger::Created | Trigger::Manual => {
            let why = "a new record, or one run by hand, has no state before the change";
            if flow.was.is_some() {
                ch.push("was", FieldErrorCode::Rule, why);
            }
            if flow.edge {
                ch.push("edge", FieldErrorCode::Rule, why);
            }
        }
        Trigger::Event { event } => {
            if !event.kinds().contains(&kind) {
                let kinds: Vec<&str> = event.kinds().iter().map(EntityKind::as_str).collect();
                ch.push(
                    "trigger.event",
                    FieldErrorCode::Rule,
                    format!("`{event}` happens to {} records, not {kind} ones", kinds.join(", ")),
                );
            }
        }
    }
}

/// Refuses `was` and `edge` on a trigger that is not a change.
fn no_before_state(flow: &Workflow, ch: &mut Checks, why: &str) {
    if flow.was.is_some() {
        ch.push("was", FieldErrorCode::Rule, why);
    }
    if flow.edge {
        ch.push("edge", FieldErrorCode::Rule, why);
    }
}

fn check_step(
    kind: EntityKind,
    reg: &FieldRegistry,
    at: &str,
    step: &mut Step,
    ch: &mut Checks,
    links: &mut Vec<crate::entity::Link>,
) {
    let changes_record = matches!(
        step,
        Step::Update { .. }
            | Step::AddTags { .. }
            | Step::RemoveTags { .. }
            | Step::AssignOwner { .. }
            | Step::Assign { .. }
    );
    if changes_record && !super::field_patch::UPDATABLE.contains(&kind) {
        ch.push(
            at,
            FieldErrorCode::Rule,
            format!("a workflow does not change {kind} records: it can create tasks and notify"),
        );
        return;
    }
    let user = |field: &str, id: crate::ids::UserId| crate::entity::Link {
        field: format!("{at}.{field}"),
        to: EntityRef::new(EntityKind::User, id),
    };
    match step {
        Step::Update { fields } => {
            if fields.is_empty() {
                ch.push(format!("{at}.fields"), FieldErrorCode::Required, "say which fields to set");
            }
            for (name, value) in fields.iter() {
                let path = format!("{at}.fields.{name}");
                let field = Field::parse(name);
                if matches!(&field, Field::Std(n) if IDENTITY.contains(&n.as_str())) {
                    ch.push(path, FieldErrorCode::ReadOnly, "a record's identity is not changed");
                    continue;
                }
                if matches!(&field, Field::Std(n) if super::derived(kind, n)) {
                    ch.push(
                        path,
                        FieldErrorCode::ReadOnly,
                        format!("`{name}` is worked out from other fields: set those"),
                    );
                    continue;
                }
                match field_type(kind, reg, &field) {
                    None => {
                        ch.push(path, FieldErrorCode::UnknownField, format!("{kind} records have no field `{name}`"))
                    }
                    Some(ty) if !fits(ty, value) => ch.push(
                        path,
                        FieldErrorCode::TypeMismatch,
                        format!("`{value}` is not a value of this field ({})", format!("{ty:?}").to_lowercase()),
                    ),
                    Some(_) => {}
                }
            }
        }
        Step::AddTags { tags } | Step::RemoveTags { tags } => {
            if !TAGGED.contains(&kind) {
                ch.push(format!("{at}.tags"), FieldErrorCode::Rule, format!("{kind} records have no tags"));
            } else if tags.is_empty() {
                ch.push(format!("{at}.tags"), FieldErrorCode::Required, "say which tags");
            } else {
                let mut sub = Checks::default();
                sub.tags(tags);
                ch.errs.extend(sub.errs.into_iter().map(|mut e| {
                    e.field = format!("{at}.{}", e.field);
                    e
                }));
            }
        }
        Step::Assign { pool, open, .. } => {
            if !owned(kind) {
                ch.push(format!("{at}.pool"), FieldErrorCode::Rule, format!("{kind} records have no owner"));
            }
            if pool.is_empty() || pool.len() > MAX_POOL {
                ch.push(format!("{at}.pool"), FieldErrorCode::OutOfRange, format!("a pool has 1–{MAX_POOL} users"));
            }
            let mut seen = Vec::new();
            for (j, a) in pool.iter().enumerate() {
                let here = format!("{at}.pool[{j}]");
                if seen.contains(&a.user_id) {
                    ch.push(format!("{here}.user_id"), FieldErrorCode::Duplicate, "the user is in the pool already");
                }
                seen.push(a.user_id);
                links.push(user(&format!("pool[{j}].user_id"), a.user_id));
                if !(1..=100).contains(&a.weight) {
                    ch.push(format!("{here}.weight"), FieldErrorCode::OutOfRange, "a weight is 1–100");
                }
                if a.capacity == Some(0) {
                    ch.push(format!("{here}.capacity"), FieldErrorCode::OutOfRange, "a capacity of 0 takes nothing");
                }
                if let Some(Err(Error::Validation(v))) = a.territory.as_ref().map(|f| f.validate(kind, reg)) {
                    ch.errs.extend(v.0.into_iter().map(|e| renamed(e, &format!("{here}.territory"))));
                }
            }
            if let Some(Err(Error::Validation(v))) = open.as_ref().map(|f| f.validate(kind, reg)) {
                ch.errs.extend(v.0.into_iter().map(|e| renamed(e, &format!("{at}.open"))));
            }
        }
        Step::AssignOwner { user_id } => {
            if !owned(kind) {
                ch.push(format!("{at}.user_id"), FieldErrorCode::Rule, format!("{kind} records have no owner"));
            }
            links.push(user("user_id", *user_id));
        }
        Step::CreateTask { title, assign_to, due_in } => {
            ch.name(&format!("{at}.title"), title, true);
            if due_in.is_some_and(|d| d.days() > u64::from(crate::model::MAX_DELAY_DAYS)) {
                let max = crate::model::MAX_DELAY_DAYS;
                ch.push(format!("{at}.due_in"), FieldErrorCode::OutOfRange, format!("at most {max} days"));
            }
            if !TASK_KINDS.contains(&kind) {
                ch.push(at, FieldErrorCode::Rule, format!("a task cannot be about {kind} records"));
            }
            if let Some(u) = assign_to {
                links.push(user("assign_to", *u));
            }
        }
        Step::CreateNote { text } => {
            ch.text(&format!("{at}.text"), text);
            if text.trim().is_empty() {
                ch.push(format!("{at}.text"), FieldErrorCode::Required, "say something");
            }
            if !TASK_KINDS.contains(&kind) {
                ch.push(at, FieldErrorCode::Rule, format!("a note cannot be about {kind} records"));
            }
        }
        Step::AddToCampaign { campaign_id } => {
            if kind != EntityKind::Contact && kind.std_field("contact_id").is_none() {
                ch.push(format!("{at}.campaign_id"), FieldErrorCode::Rule, format!("{kind} records name no contact"));
            }
            links.push(crate::entity::Link {
                field: format!("{at}.campaign_id"),
                to: EntityRef::new(EntityKind::Campaign, *campaign_id),
            });
        }
        Step::Wait { delay } => {
            if delay.amount == 0 {
                ch.push(format!("{at}.delay"), FieldErrorCode::OutOfRange, "wait for at least a minute");
            }
            if delay.days() > u64::from(crate::model::MAX_DELAY_DAYS) {
                let max = crate::model::MAX_DELAY_DAYS;
                ch.push(format!("{at}.delay"), FieldErrorCode::OutOfRange, format!("wait at most {max} days"));
            }
        }
        Step::Notify { message, users, owner } => {
            let mut sub = Checks::default();
            sub.text("message", message);
            if message.trim().is_empty() {
                sub.push("message", FieldErrorCode::Required, "say something");
            } else if message.chars().count() > super::MAX_MESSAGE_CHARS {
                sub.push(
                    "message",
                    FieldErrorCode::OutOfRange,
                    format!("at most {} characters", super::MAX_MESSAGE_CHARS),
                );
            }
            ch.errs.extend(sub.errs.into_iter().map(|mut e| {
                e.field = format!("{at}.{}", e.field);
                e
            }));
            if users.is_empty() && !*owner {
                ch.push(format!("{at}.users"), FieldErrorCode::Required, "tell someone: users, or the owner");
            }
            if *owner && !owned(kind) {
                ch.push(format!("{at}.owner"), FieldErrorCode::Rule, format!("{kind} records have no owner"));
            }
            for (j, u) in users.iter().enumerate() {
                links.push(user(&format!("users[{j}]"), *u));
            }
        }
    }
}

/// Whether a JSON value can be a value of a field of type `ty` (null clears any field; text
/// is read as the field's type, as imports read it).
fn fits(ty: ValueType, v: &serde_json::Value) -> bool {
    use serde_json::Value as J;
    match (ty, v) {
        (_, J::Null) => true,
        (ValueType::Bool, J::Bool(_)) => true,
        (ValueType::Int, J::Number(n)) => n.is_i64(),
        (ValueType::Decimal, J::Number(_)) => true,
        (t, J::String(s)) => t.read_text(s).is_ok(),
        (t, J::Array(items)) if t.is_list() => items.iter().all(|i| matches!(i, J::String(_))),
        (ValueType::Money, J::Object(_)) => serde_json::from_value::<crate::money::Money>(v.clone()).is_ok(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_fit_their_fields() {
        assert!(fits(ValueType::Text, &json!("x")));
        assert!(fits(ValueType::Int, &json!(3)));
        assert!(!fits(ValueType::Int, &json!(3.5)));
        assert!(!fits(ValueType::Bool, &json!("maybe")));
        assert!(fits(ValueType::Date, &json!("2026-02-28")));
        assert!(!fits(ValueType::Date, &json!("2026-02-30")));
        assert!(fits(ValueType::Date, &json!(null)));
    }
}
