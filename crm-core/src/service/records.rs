//! The service skeleton: what the service of every record kind shares, written once.
//!
//! [`Records<E>`](Records) is the handle a [`Session`] gives for the records of one kind
//! (`cx.orders()` is a `Records<'_, Order>`, also named [`Orders`](super::Orders)). Reading,
//! listing, counting and deleting are the same for every kind; the kind's own file adds its
//! rules and verbs (`create`, `update`, `place`, `win`…) in an `impl Records<'_, Kind>` block,
//! built on the plumbing here: [`write`](Records::write) for one unit of work,
//! [`update_with`](Records::update_with) for a user's edit behind a [`Guard`], and
//! [`change`](Records::change) for a verb that moves one record.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;

use super::Session;
use super::checks::Checks;
use super::field_security::Shown;
use super::uow::{Uow, delete_attached};
use crate::aggregate::{Aggregate, AggregateRow, GroupBy, Measure};
use crate::entity::OnDelete;
use crate::error::{Error, FieldErrorCode, Result};
use crate::model::{Action, Entity};
use crate::query::{Field, Filter, Page, Query};

/// The records of one kind as one [`Session`] sees them: every call is scoped to the
/// session's tenant and runs as its actor, who sees and changes only what their roles reach
/// ([`Access`](crate::access::Access)): a record out of reach is [`Error::NotFound`], an action
/// their roles do not allow on a record they see is [`Error::Forbidden`].
///
/// Every kind's handle reads, lists, counts and deletes the same way:
///
/// ```
/// # futures::executor::block_on(async {
/// use crm_core::prelude::*;
/// use crm_core::query::{Filter, Query};
/// let crm = Crm::new(MemoryStore::new());
/// let cx = crm.as_actor(&Actor::system(TenantId::new()));
/// let ada = cx.contacts().create(NewContact::new("Ada", "Lovelace")).await?;
/// assert_eq!(cx.contacts().get(ada.id).await?.family_name, "Lovelace");
/// assert_eq!(cx.contacts().count(&Filter::eq("family_name", "Lovelace")).await?, 1);
/// let page = cx.contacts().list(&Query::new(Filter::eq("given_name", "Ada")).limit(10)).await?;
/// assert_eq!(page.items.len(), 1);
/// cx.contacts().delete(ada.id, ada.version).await?;
/// assert!(matches!(cx.contacts().get(ada.id).await, Err(Error::NotFound { .. })));
/// # Ok::<_, Error>(()) }).unwrap();
/// ```
pub struct Records<'s, E> {
    pub(crate) s: &'s Session,
    kind: PhantomData<fn() -> E>,
}

impl<E> Clone for Records<'_, E> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<E> Copy for Records<'_, E> {}

impl<E: Entity> fmt::Debug for Records<'_, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Records").field("kind", &E::KIND).field("tenant", &self.s.tenant()).finish()
    }
}

impl<'s, E: Entity> Records<'s, E> {
    pub(crate) fn new(s: &'s Session) -> Self {
        Records { s, kind: PhantomData }
    }

    /// The record with this id, or [`Error::NotFound`].
    //
    // The shared operations name their futures `Send` instead of being `async fn`s: a future
    // that holds one across an await of its own (an extension's `on_events`, a server's
    // handler) is then `Send` without the compiler having to see through a generic future,
    // which it cannot always do for references held across the await.
    pub fn get(&self, id: E::Id) -> impl Future<Output = Result<E>> + Send + 's {
        let s = self.s;
        async move {
            let mut uow = Uow::read(s).await?;
            let mut record = uow.load::<E>(id, Action::Read).await?;
            uow.redact(E::KIND, std::slice::from_mut(&mut record)).await?;
            Ok(record)
        }
    }

    /// A page of records. The filter's and sort's fields and operands are checked against the
    /// kind's standard and custom fields first; see [`Query`]. Only the records the actor may
    /// read are listed (and a kind their roles do not let them read at all is
    /// [`Error::Forbidden`]).
    pub fn list<'q>(&self, query: &'q Query) -> impl Future<Output = Result<Page<E>>> + Send + use<'s, 'q, E> {
        let s = self.s;
        async move {
            let mut uow = Uow::read(s).await?;
            let reg = uow.registry(E::KIND).await?;
            query.validate(E::KIND, &reg)?;
            uow.access.check_kind(E::KIND, Action::Read)?;
            let sorted: Vec<&Field> = query.sort.iter().map(|s| &s.field).collect();
            uow.check_probe(E::KIND, &query.filter, &sorted).await?;
            let query = uow.readable(E::KIND, query);
            let mut page = uow.tx.find::<E>(&query).await?;
            uow.redact(E::KIND, &mut page.items).await?;
            Ok(page)
        }
    }

    /// How many records match `filter` (checked as [`list`](Self::list) checks it).
    pub fn count<'f>(&self, filter: &'f Filter) -> impl Future<Output = Result<u64>> + Send + use<'s, 'f, E> {
        let s = self.s;
        async move {
            let mut uow = Uow::read(s).await?;
            let reg = uow.registry(E::KIND).await?;
            filter.validate(E::KIND, &reg)?;
            uow.access.check_kind(E::KIND, Action::Read)?;
            uow.check_probe(E::KIND, filter, &[]).await?;
            let filter = uow.readable_filter(E::KIND, filter);
            uow.tx.count(E::KIND, &filter).await
        }
    }

    /// The rows of an aggregate ([`crate::aggregate`]) over the records the actor may read:
    /// its fields, types and bounds checked first ([`Aggregate::plan`]), a field withheld from
    /// the actor refused as it is in a filter, and the work done by the store.
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// use crm_core::prelude::*;
    /// use crm_core::aggregate::Aggregate;
    /// let crm = Crm::new(MemoryStore::new());
    /// let cx = crm.as_actor(&Actor::system(TenantId::new()));
    /// cx.contacts().create(NewContact::new("Ada", "Lovelace")).await?;
    /// cx.contacts().create(NewContact::new("Alan", "Turing")).await?;
    /// let rows = cx.contacts().aggregate(&Aggregate::default().group_by("lifecycle_stage").count()).await?;
    /// assert_eq!(rows.len(), 1);
    /// assert_eq!(rows[0].values[0], Value::Int(2));
    /// # Ok::<_, Error>(()) }).unwrap();
    /// ```
    pub fn aggregate<'a>(
        &self,
        aggregate: &'a Aggregate,
    ) -> impl Future<Output = Result<Vec<AggregateRow>>> + Send + use<'s, 'a, E> {
        let s = self.s;
        async move {
            let mut uow = Uow::read(s).await?;
            let reg = uow.registry(E::KIND).await?;
            let mut plan = aggregate.plan(E::KIND, &reg)?;
            uow.access.check_kind(E::KIND, Action::Read)?;
            let used: Vec<&Field> = aggregate
                .group_by
                .iter()
                .map(GroupBy::field)
                .chain(aggregate.measures.iter().filter_map(Measure::field))
                .collect();
            uow.check_probe(E::KIND, &aggregate.filter, &used).await?;
            plan.aggregate.filter = uow.readable_filter(E::KIND, &aggregate.filter);
            uow.tx.aggregate(&plan).await
        }
    }

    /// Deletes the record at `version` (else [`Error::Conflict`]) with the relations at either
    /// end of it. The kind's rules come first: some records are history and are not deleted
    /// (a placed order, an issued invoice: [`Entity::check_delete`]), and records that others
    /// depend on are refused or take their dependents with them ([`Entity::ON_DELETE`]).
    /// A refused delete writes nothing.
    pub fn delete(&self, id: E::Id, version: u64) -> impl Future<Output = Result<()>> + Send + 's {
        let s = self.s;
        async move {
            let mut uow = Uow::write(s).await?;
            let record = uow.load::<E>(id, Action::Delete).await?;
            record.check_delete()?;
            let me = record.entity_ref();
            for rule in E::ON_DELETE {
                match *rule {
                    OnDelete::Cascade { kind, field } => {
                        for dep in uow.tx.query_all(kind, Filter::eq(field, me.id)).await? {
                            let v = dep.version();
                            uow.remove(&dep, v).await?;
                        }
                    }
                    OnDelete::Restrict { kind, field, by, reported, what } => {
                        let held = record.std_field(by).unwrap_or(crate::value::Value::Null);
                        let n = uow.tx.count(kind, &Filter::is_in(field, [held])).await?;
                        if n > 0 {
                            return Err(Error::invalid(reported, FieldErrorCode::Rule, format!("{n} {what}")));
                        }
                    }
                }
            }
            delete_attached(&mut uow, me).await?;
            uow.remove(&record.into_record(), version).await?;
            uow.commit().await?;
            Ok(())
        }
    }

    /// Runs `work` in one writing unit of work and commits it: everything `work` wrote, or
    /// nothing when it fails. `work` returns its future boxed and `Send`
    /// (`|uow| Box::pin(async move { … })`), so that every service call stays `Send` for the
    /// callers that need it, whatever it borrows.
    /// What it returns is shown to the actor as a read would show it (withheld fields cleared).
    pub(crate) async fn write<T: Shown>(&self, work: impl for<'u> FnOnce(&'u mut Uow<'s>) -> Work<'u, T>) -> Result<T> {
        let mut uow = Uow::write(self.s).await?;
        let mut out = work(&mut uow).await?;
        let mut kinds = Vec::new();
        out.kinds(&mut kinds);
        let hidden = uow.withheld_of(&kinds).await?;
        uow.commit().await?;
        out.hide(&hidden);
        Ok(out)
    }

    /// Creates one record: `build` makes it from the input and collects the problems with its
    /// standard fields; custom values, extensions and the `Created` event follow.
    pub(crate) async fn create_with(
        &self,
        build: impl for<'u> FnOnce(&'u mut Uow<'s>, &'u mut Checks) -> Work<'u, E>,
    ) -> Result<E> {
        let mut uow = Uow::write(self.s).await?;
        let mut ch = Checks::default();
        let record = build(&mut uow, &mut ch).await?;
        let record = uow.create(record, ch.errs).await?;
        commit_shown(uow, record).await
    }

    /// [`create_with`](Self::create_with) that writes nothing: `build` and every check of a
    /// create run in a unit of work that is then rolled back.
    pub(crate) async fn check_with(
        &self,
        build: impl for<'u> FnOnce(&'u mut Uow<'s>, &'u mut Checks) -> Work<'u, E>,
    ) -> Result<()> {
        let mut uow = Uow::write(self.s).await?;
        let mut ch = Checks::default();
        let record = build(&mut uow, &mut ch).await?;
        uow.create(record, ch.errs).await?;
        uow.tx.rollback().await
    }

    /// Runs `work` in a writing unit of work that is then rolled back: every check of a write,
    /// nothing written. The dry run of a kind whose create is a whole unit of work.
    pub(crate) async fn dry<T>(&self, work: impl for<'u> FnOnce(&'u mut Uow<'s>) -> Work<'u, T>) -> Result<()> {
        let mut uow = Uow::write(self.s).await?;
        work(&mut uow).await?;
        uow.tx.rollback().await
    }

    /// Saves a user's edit of a record read earlier: refuses a stale version
    /// ([`Error::Conflict`]) and a change to a field `guard` keeps for the kind's own verbs,
    /// then `rules` normalise and check the edit (seeing the stored version), and the change is
    /// written with an `Updated` event naming the fields changed (but `quiet` ones).
    pub(crate) async fn update_with(
        &self,
        mut changed: E,
        guard: &Guard,
        quiet: &[&str],
        rules: impl for<'u> FnOnce(&'u mut Uow<'s>, &'u E, &'u mut E, &'u mut Checks) -> Work<'u, ()>,
    ) -> Result<E> {
        let mut uow = Uow::write(self.s).await?;
        let before = uow.load_for_update(&changed).await?;
        guard.check(&before, &changed)?;
        let mut ch = Checks::default();
        rules(&mut uow, &before, &mut changed, &mut ch).await?;
        let saved = uow.save(&before, changed, ch.errs, quiet).await?;
        commit_shown(uow, saved).await
    }

    /// Applies a verb to the current version of record `id` in one unit of work.
    pub(crate) async fn change(
        &self,
        id: E::Id,
        verb: impl for<'u> FnOnce(&'u mut Uow<'s>, E) -> Work<'u, E>,
    ) -> Result<E> {
        let mut uow = Uow::write(self.s).await?;
        let record = uow.load::<E>(id, Action::Update).await?;
        let out = verb(&mut uow, record).await?;
        commit_shown(uow, out).await
    }
}

/// Commits `uow` and returns `record` as its actor may see it (withheld fields cleared).
async fn commit_shown<E: Entity>(mut uow: Uow<'_>, mut record: E) -> Result<E> {
    let hidden = uow.withheld(E::KIND).await?;
    uow.commit().await?;
    super::field_security::Redact::redact(&mut record, &hidden);
    Ok(record)
}

/// Adds to `to` the `items` it does not hold yet, in order: how an `apply` or a merge adds a
/// list's new entries (tags, emails, external ids) to a stored record.
pub(crate) fn add_new<T: PartialEq>(to: &mut Vec<T>, items: impl IntoIterator<Item = T>) {
    for x in items {
        if !to.contains(&x) {
            to.push(x);
        }
    }
}

/// The boxed, `Send` future of a service's part of a unit of work.
pub(crate) type Work<'u, T> = Pin<Box<dyn Future<Output = Result<T>> + Send + 'u>>;

/// Fields of a kind that a user's `update` may not change: they move only through the kind's
/// own verbs (an order's status and its times through `place`, `mark_paid`…). A change to one
/// is refused as [`Error::InvalidTransition`] of that field, from its stored value to the new one.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Guard {
    /// The guarded fields, by their serialized names.
    pub(crate) fields: &'static [&'static str],
    /// The verbs that change them, for the error's reason.
    pub(crate) through: &'static str,
}

impl Guard {
    /// No field is guarded.
    pub(crate) const NONE: Guard = Guard { fields: &[], through: "" };

    /// Refuses `after` when it changed a guarded field of `before` (the first one, in the
    /// declared order).
    pub(crate) fn check<E: Entity>(&self, before: &E, after: &E) -> Result<()> {
        if self.fields.is_empty() {
            return Ok(());
        }
        let (Ok(old), Ok(new)) = (serde_json::to_value(before), serde_json::to_value(after)) else {
            return Err(Error::storage("a record did not serialize"));
        };
        for field in self.fields {
            let (a, b) = (old.get(field), new.get(field));
            if a != b {
                return Err(Error::transition(
                    *field,
                    shown(a),
                    shown(b),
                    format!("changes only through {}", self.through),
                ));
            }
        }
        Ok(())
    }
}

/// A field's value as an error shows it: text as it is, nothing as `none`, anything else as
/// compact JSON, cut at 80 characters.
fn shown(v: Option<&serde_json::Value>) -> String {
    const MAX: usize = 80;
    let s = match v {
        None | Some(serde_json::Value::Null) => return "none".into(),
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    };
    if s.chars().count() > MAX { format!("{}…", s.chars().take(MAX).collect::<String>()) } else { s }
}
