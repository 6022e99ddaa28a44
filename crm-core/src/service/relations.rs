use super::Session;
use super::uow::{Uow, delete};
use crate::entity::EntityRef;
use crate::error::{Error, FieldError, FieldErrorCode, Result};
use crate::ids::RelationId;
use crate::model::{Relation, RelationLabel};
use crate::query::Filter;

/// Relations: typed, labelled links between records, readable from both ends.
#[derive(Clone, Copy, Debug)]
pub struct Relations<'s> {
    pub(crate) s: &'s Session,
}

impl Relations<'_> {
    /// Links `from` to `to`. The label must allow the two kinds (e.g. `works_at` is contact →
    /// company), both records must exist in this tenant, and the same link may exist once.
    pub async fn link(
        &self,
        from: EntityRef,
        to: EntityRef,
        label: RelationLabel,
        role: Option<&str>,
    ) -> Result<Relation> {
        let mut uow = Uow::write(self.s).await?;
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
        uow.check_refs(&[("from".into(), from), ("to".into(), to)], &mut errs).await?;
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
                crate::EntityKind::Relation,
                &Filter::eq("from_id", from.id).and(Filter::eq("to_id", to.id)).and(Filter::eq("label", label)),
            )
            .await?;
        // Symmetric links are the same link in either direction.
        let reverse = if label.is_symmetric() {
            uow.tx
                .count(
                    crate::EntityKind::Relation,
                    &Filter::eq("from_id", to.id).and(Filter::eq("to_id", from.id)).and(Filter::eq("label", label)),
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
        let rel = Relation {
            id: uow.new_id(),
            tenant_id: self.s.tenant(),
            version: 1,
            created_at: uow.now,
            updated_at: uow.now,
            from,
            to,
            label,
            role,
        };
        let rel = uow.create(rel, Vec::new()).await?;
        uow.commit().await?;
        Ok(rel)
    }

    /// Removes a link at `version`.
    pub async fn unlink(&self, id: RelationId, version: u64) -> Result<()> {
        delete::<Relation>(self.s, id, version).await
    }

    /// Every link with `record` at either end, oldest first.
    pub async fn of(&self, record: EntityRef) -> Result<Vec<Relation>> {
        let mut uow = Uow::read(self.s).await?;
        let all =
            uow.tx.find_all::<Relation>(Filter::eq("from_id", record.id).or(Filter::eq("to_id", record.id))).await?;
        Ok(all.into_iter().filter(|r| r.from == record || r.to == record).collect())
    }

    /// The link with this id.
    pub async fn get(&self, id: RelationId) -> Result<Relation> {
        Uow::read(self.s).await?.tx.require::<Relation>(id).await
    }
}
