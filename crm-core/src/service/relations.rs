//! Relations: labelled links between records.

use super::Records;
use super::uow::Uow;
use crate::entity::EntityRef;
use crate::entity::Links;
use crate::error::{Error, FieldError, FieldErrorCode, Result};
use crate::ids::RelationId;
use crate::macros::new_record;
use crate::model::{Relation, RelationLabel};
use crate::query::Filter;

/// Relations: typed, labelled links between records, readable from both ends. Deleting a
/// record deletes the relations at either end of it.
///
/// ```
/// # futures::executor::block_on(async {
/// use crm_core::prelude::*;
/// use crm_core::model::RelationLabel;
/// let crm = Crm::new(MemoryStore::new());
/// let cx = crm.as_actor(&Actor::system(TenantId::new()));
/// let acme = cx.companies().create(NewCompany::new("Acme")).await?;
/// let jane = cx.contacts().create(NewContact::new("Jane", "Doe")).await?;
/// let cfo = cx.relations().link(jane.entity_ref(), acme.entity_ref(), RelationLabel::WorksAt, Some("CFO")).await?;
/// assert_eq!(cx.relations().of(acme.entity_ref()).await?, [cfo.clone()]);
/// cx.relations().unlink(cfo.id, cfo.version).await?;
/// assert!(cx.relations().of(jane.entity_ref()).await?.is_empty());
/// # Ok::<_, Error>(()) }).unwrap();
/// ```
pub type Relations<'s> = Records<'s, Relation>;

impl Records<'_, Relation> {
    /// Links `from` to `to`. The label must allow the two kinds (e.g. `works_at` is contact →
    /// company), both records must exist in this tenant, and the same link may exist once.
    pub async fn link(
        &self,
        from: EntityRef,
        to: EntityRef,
        label: RelationLabel,
        role: Option<&str>,
    ) -> Result<Relation> {
        self.write(|uow| {
            Box::pin(async move {
                let mut errs = Vec::new();
                if !label.allows(from.kind, to.kind) {
                    errs.push(FieldError::new(
                        "label",
                        FieldErrorCode::Rule,
                        format!("`{label}` cannot link a {} to a {}", from.kind, to.kind),
                    ));
                }
                if from == to {
                    errs.push(FieldError::new("to", FieldErrorCode::Rule, "a record cannot be linked to itself"));
                }
                uow.check_refs(Links::default().any("from", from).any("to", to).added_since(None), &mut errs).await?;
                let role = role.map(str::trim).filter(|r| !r.is_empty()).map(str::to_owned);
                if let Some(r) = &role
                    && r.chars().count() > 200
                {
                    errs.push(FieldError::new("role", FieldErrorCode::OutOfRange, "longer than 200 characters"));
                }
                Error::check(errs)?;
                let existing = uow
                    .tx
                    .count(
                        crate::entity::EntityKind::Relation,
                        &Filter::eq("from_id", from.id).and(Filter::eq("to_id", to.id)).and(Filter::eq("label", label)),
                    )
                    .await?;
                // Symmetric links are the same link in either direction.
                let reverse = if label.is_symmetric() {
                    uow.tx
                        .count(
                            crate::entity::EntityKind::Relation,
                            &Filter::eq("from_id", to.id)
                                .and(Filter::eq("to_id", from.id))
                                .and(Filter::eq("label", label)),
                        )
                        .await?
                } else {
                    0
                };
                if existing + reverse > 0 {
                    return Err(Error::invalid(
                        "label",
                        FieldErrorCode::Duplicate,
                        format!("{from} is already linked to {to} as `{label}`"),
                    ));
                }
                let rel = new_record!(uow.new_id(), self.s.tenant(), uow.now, Relation { from, to, label, role });
                let rel = uow.create(rel, Vec::new()).await?;
                Ok(rel)
            })
        })
        .await
    }

    /// Removes a link at `version`.
    pub async fn unlink(&self, id: RelationId, version: u64) -> Result<()> {
        self.delete(id, version).await
    }

    /// Every link with `record` at either end, oldest first.
    pub async fn of(&self, record: EntityRef) -> Result<Vec<Relation>> {
        let mut uow = Uow::read(self.s).await?;
        let all =
            uow.tx.find_all::<Relation>(Filter::eq("from_id", record.id).or(Filter::eq("to_id", record.id))).await?;
        Ok(all.into_iter().filter(|r| r.from == record || r.to == record).collect())
    }
}
