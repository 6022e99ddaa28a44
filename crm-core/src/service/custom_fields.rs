use super::Records;
use super::Session;
use super::uow::Uow;
use crate::entity::EntityKind;
use crate::error::{Error, FieldErrorCode, Result};
use crate::ids::CustomFieldId;
use crate::macros::new_record;
use crate::model::{CustomField, FieldDefinition, RegisteredField};
use crate::query::Filter;

/// Custom field definitions of the tenant (plus those extensions register).
///
/// ```
/// # futures::executor::block_on(async {
/// use crm_core::prelude::*;
/// use crm_core::model::{FieldDefinition, FieldType};
/// let crm = Crm::new(MemoryStore::new());
/// let cx = crm.as_actor(&Actor::system(TenantId::new()));
/// cx.custom_fields().define(FieldDefinition::new(EntityKind::Contact, "shoe_size", "Shoe size", FieldType::Number)).await?;
/// let ada = cx.contacts().create(NewContact::new("Ada", "Lovelace").custom("shoe_size", 38)).await?;
/// assert_eq!(ada.custom.get("shoe_size"), Some(&Value::Int(38)));
/// // Values are checked against their definition.
/// assert!(cx.contacts().create(NewContact::new("Bob", "Jones").custom("shoe_size", "big")).await.is_err());
/// # Ok::<_, Error>(()) }).unwrap();
/// ```
#[derive(Clone, Copy, Debug)]
pub struct CustomFields<'s> {
    pub(crate) s: &'s Session,
}

impl CustomFields<'_> {
    /// Defines a custom field. Keys are unique per entity kind; `.` is reserved for extensions.
    pub async fn define(&self, mut definition: FieldDefinition) -> Result<CustomField> {
        let mut uow = Uow::write(self.s).await?;
        definition.label = definition.label.trim().to_owned();
        let mut errs = definition.validate("");
        if definition.key.contains('.') {
            errs.push(crate::error::FieldError::new(
                "key",
                FieldErrorCode::InvalidFormat,
                "`namespace.key` keys are reserved for extensions",
            ));
        }
        if definition.computed {
            errs.push(crate::error::FieldError::new(
                "computed",
                FieldErrorCode::Rule,
                "only an extension's own fields can be computed (by its `compute`)",
            ));
        }
        Error::check(errs)?;
        let taken = uow.registry(definition.entity_kind).await?.get(&definition.key).is_some();
        if taken {
            return Err(Error::invalid(
                "key",
                FieldErrorCode::Duplicate,
                format!("{} already has a custom field `{}`", definition.entity_kind, definition.key),
            ));
        }
        let kind = definition.entity_kind;
        let field = new_record!(uow.new_id(), self.s.tenant(), uow.now, CustomField { definition });
        let field = uow.create(field, Vec::new()).await?;
        uow.forget_registry(kind);
        uow.commit().await?;
        if field.definition.indexed {
            self.s.crm.inner.store.ensure_custom_index(kind, &field.definition.key).await?;
        }
        Ok(field)
    }

    /// The fields in force for `kind`: the tenant's and the extensions'.
    pub async fn registered(&self, kind: EntityKind) -> Result<Vec<RegisteredField>> {
        let mut uow = Uow::read(self.s).await?;
        Ok(uow.registry(kind).await?.iter().cloned().collect())
    }

    /// The tenant's own definitions for `kind`.
    pub async fn list(&self, kind: EntityKind) -> Result<Vec<CustomField>> {
        let mut uow = Uow::read(self.s).await?;
        uow.tx.find_all::<CustomField>(Filter::eq("entity_kind", kind)).await
    }

    /// Removes a definition at `version`. Values already stored are kept as they are (and
    /// survive later updates of their records) but new values for the key are refused.
    pub async fn remove(&self, id: CustomFieldId, version: u64) -> Result<()> {
        Records::<CustomField>::new(self.s).delete(id, version).await
    }
}
