//! Field-level security in the unit of work: which sensitive fields the actor may not read or
//! edit ([`crate::model::field_security`]), withheld from what they read, kept or refused in
//! what they write, refused in their filters and sorts.

use std::collections::{BTreeSet, HashMap};

use super::uow::Uow;
use crate::entity::EntityKind;
use crate::error::{Error, FieldError, FieldErrorCode, Result};
use crate::event::StoredEvent;
use crate::model::field_security::{clear_field, copy_field, value_of};
use crate::model::{FieldAccess, Record, sensitive_fields};
use crate::query::{Field, Filter};

impl Uow<'_> {
    /// The sensitive fields of `kind` with the actor's access to each (None: withheld), built-in
    /// and custom (`custom.<key>`); empty when every field is open to them.
    pub(crate) async fn sensitive(&mut self, kind: EntityKind) -> Result<Vec<(String, Option<FieldAccess>)>> {
        if self.access.opens_every_field() || self.by_rules {
            return Ok(Vec::new());
        }
        let mut out: Vec<(String, Option<FieldAccess>)> =
            sensitive_fields(kind).iter().map(|f| (f.to_string(), self.access.field(kind, f))).collect();
        if kind.has_custom_fields() {
            let reg = self.registry(kind).await?;
            for f in reg.iter().filter(|f| f.definition.sensitive) {
                let name = format!("custom.{}", f.definition.key);
                let access = self.access.field(kind, &name);
                out.push((name, access));
            }
        }
        Ok(out)
    }

    /// The fields of `kind` withheld from the actor.
    pub(crate) async fn withheld(&mut self, kind: EntityKind) -> Result<Vec<String>> {
        Ok(self.sensitive(kind).await?.into_iter().filter(|(_, a)| a.is_none()).map(|(f, _)| f).collect())
    }

    /// The withheld fields of every kind that has some.
    pub(crate) async fn withheld_by_kind(&mut self) -> Result<HashMap<EntityKind, Vec<String>>> {
        self.withheld_of(EntityKind::ALL).await
    }

    /// The withheld fields of those of `kinds` that have some.
    pub(crate) async fn withheld_of(&mut self, kinds: &[EntityKind]) -> Result<HashMap<EntityKind, Vec<String>>> {
        let mut out = HashMap::new();
        if self.access.opens_every_field() || self.by_rules {
            return Ok(out);
        }
        for kind in kinds.iter().copied() {
            if !out.contains_key(&kind) && (kind.has_custom_fields() || !sensitive_fields(kind).is_empty()) {
                let hidden = self.withheld(kind).await?;
                if !hidden.is_empty() {
                    out.insert(kind, hidden);
                }
            }
        }
        Ok(out)
    }

    /// `records` as the actor may see them: withheld fields cleared.
    pub(crate) async fn redact<T: Redact>(&mut self, kind: EntityKind, records: &mut [T]) -> Result<()> {
        let hidden = self.withheld(kind).await?;
        if !hidden.is_empty() {
            for r in records {
                r.redact(&hidden);
            }
        }
        Ok(())
    }

    /// A user's write of sensitive fields (`before` None: a new record): a withheld field they
    /// send back empty keeps its stored value (they never saw it); setting or changing a field
    /// they may not edit is an error naming it.
    pub(crate) async fn guard_fields(
        &mut self,
        before: Option<&Record>,
        rec: &mut Record,
        errs: &mut Vec<FieldError>,
    ) -> Result<()> {
        for (field, access) in self.sensitive(rec.kind()).await? {
            if access == Some(FieldAccess::Edit) {
                continue;
            }
            let changed = match before {
                None => !value_of(rec, &field).is_null(),
                Some(b) if access.is_none() && value_of(rec, &field).is_null() => {
                    copy_field(rec, b, &field);
                    false
                }
                Some(b) => value_of(b, &field) != value_of(rec, &field),
            };
            if changed {
                let why = if access.is_none() { "withheld from" } else { "read-only for" };
                errs.push(FieldError::new(
                    field.as_str(),
                    FieldErrorCode::ReadOnly,
                    format!("`{field}` is {why} {}: their roles do not open it for editing", self.access.who()),
                ));
            }
        }
        Ok(())
    }

    /// Refuses a query that filters, sorts, groups or measures on a field withheld from the
    /// actor (it would tell what the field holds); `also` are the fields it uses beside its filter.
    pub(crate) async fn check_probe(&mut self, kind: EntityKind, filter: &Filter, also: &[&Field]) -> Result<()> {
        let hidden = self.withheld(kind).await?;
        if hidden.is_empty() {
            return Ok(());
        }
        let mut used = BTreeSet::new();
        fields_of(filter, &mut used);
        used.extend(also.iter().map(|f| f.path()));
        let errs: Vec<FieldError> = used
            .into_iter()
            .filter(|f| hidden.contains(f))
            .map(|f| {
                let message = format!(
                    "`{f}` is withheld from {}: it cannot be filtered, sorted or aggregated on",
                    self.access.who()
                );
                FieldError::new(f, FieldErrorCode::ReadOnly, message)
            })
            .collect();
        if errs.is_empty() { Ok(()) } else { Err(Error::Validation(crate::error::ValidationErrors(errs))) }
    }
}

/// `records` of `kind` with the fields `hidden` withholds for it cleared.
pub(crate) fn redact_in<T: Redact>(hidden: &HashMap<EntityKind, Vec<String>>, kind: EntityKind, records: &mut [T]) {
    if let Some(h) = hidden.get(&kind) {
        records.iter_mut().for_each(|r| r.redact(h));
    }
}

/// `events` without the values of fields withheld (`hidden`, by the kind of the event's subject).
pub(crate) fn strip_values(events: &mut [StoredEvent], hidden: &HashMap<EntityKind, Vec<String>>) {
    if hidden.is_empty() {
        return;
    }
    for e in events {
        if let Some(h) = hidden.get(&e.event.subject.kind) {
            e.event.values.retain(|v| !h.contains(&v.field));
        }
    }
}

/// The fields a filter names, as written in queries.
fn fields_of(filter: &Filter, out: &mut BTreeSet<String>) {
    let mut put = |f: &Field| {
        out.insert(f.path());
    };
    match filter {
        Filter::All => {}
        Filter::And(fs) | Filter::Or(fs) => fs.iter().for_each(|f| fields_of(f, out)),
        Filter::Not(f) => fields_of(f, out),
        Filter::Cmp { field, .. }
        | Filter::In { field, .. }
        | Filter::Contains { field, .. }
        | Filter::StartsWith { field, .. }
        | Filter::IsNull { field } => put(field),
    }
}

/// What can have withheld fields cleared: a record, typed or not.
pub(crate) trait Redact {
    /// Clears `fields`.
    fn redact(&mut self, fields: &[String]);
}

impl Redact for Record {
    fn redact(&mut self, fields: &[String]) {
        for f in fields {
            clear_field(self, f);
        }
    }
}

impl<E: crate::model::Entity> Redact for E {
    fn redact(&mut self, fields: &[String]) {
        let mut rec = self.clone().into_record();
        rec.redact(fields);
        if let Some(e) = E::from_record(rec) {
            *self = e;
        }
    }
}

/// What a write returns, shown to its actor: every record in it with its kind's withheld
/// fields cleared.
pub(crate) trait Shown {
    /// The kinds of the records in it (only theirs need their withheld fields worked out).
    fn kinds(&self, _out: &mut Vec<EntityKind>) {}

    /// Clears the fields `hidden` withholds, by kind.
    fn hide(&mut self, hidden: &HashMap<EntityKind, Vec<String>>);
}

impl<E: crate::model::Entity> Shown for E {
    fn kinds(&self, out: &mut Vec<EntityKind>) {
        out.push(E::KIND);
    }

    fn hide(&mut self, hidden: &HashMap<EntityKind, Vec<String>>) {
        if let Some(h) = hidden.get(&E::KIND) {
            self.redact(h);
        }
    }
}

impl<T: Shown> Shown for Vec<T> {
    fn kinds(&self, out: &mut Vec<EntityKind>) {
        self.iter().for_each(|t| t.kinds(out));
    }

    fn hide(&mut self, hidden: &HashMap<EntityKind, Vec<String>>) {
        self.iter_mut().for_each(|t| t.hide(hidden));
    }
}

impl<A: Shown> Shown for (A, super::MirrorOutcome) {
    fn kinds(&self, out: &mut Vec<EntityKind>) {
        self.0.kinds(out);
    }

    fn hide(&mut self, hidden: &HashMap<EntityKind, Vec<String>>) {
        self.0.hide(hidden);
    }
}

impl Shown for u64 {
    fn hide(&mut self, _: &HashMap<EntityKind, Vec<String>>) {}
}

impl<E: crate::model::Entity> Shown for super::MergeOutcome<E> {
    fn kinds(&self, out: &mut Vec<EntityKind>) {
        out.push(E::KIND);
    }

    fn hide(&mut self, hidden: &HashMap<EntityKind, Vec<String>>) {
        self.survivor.hide(hidden);
    }
}
