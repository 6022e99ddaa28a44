use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::entity::UniqueKey;
use crate::ids::ProductId;
use crate::macros::record;
use crate::model::{impl_entity, text_list};
use crate::money::Money;
use crate::value::CustomValues;

/// An id a record has in another system (an accounting package, a shop), so that system can
/// own the record and a sync can find it again.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ExternalRef {
    /// The system, e.g. `xero` or `quickbooks` (lower case).
    pub system: String,
    /// The record's id there.
    pub id: String,
}

impl ExternalRef {
    /// A reference to record `id` in `system`.
    pub fn new(system: impl Into<String>, id: impl Into<String>) -> Self {
        Self { system: system.into(), id: id.into() }
    }
}

/// Unique keys for a record's external references: one per (system, id).
pub(crate) fn external_keys(refs: &[ExternalRef]) -> Vec<UniqueKey> {
    refs.iter().map(|r| UniqueKey::new("external_refs", format!("{}:{}", r.system, r.id))).collect()
}

/// Text form of external references for filters: `system:id`.
pub(crate) fn external_list(refs: &[ExternalRef]) -> crate::value::Value {
    let items: Vec<String> = refs.iter().map(|r| format!("{}:{}", r.system, r.id)).collect();
    text_list(items.iter().map(String::as_str))
}

record! {
    /// Something the business sells: a catalogue entry with a SKU unique within the tenant.
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    pub struct Product(ProductId) {
        /// Stock-keeping unit: unique per tenant, compared without regard to ASCII case.
        pub sku: String,
        /// Name (required).
        pub name: String,
        /// Description.
        pub description: Option<String>,
        /// Price of one unit, before tax.
        pub unit_price: Money,
        /// Tax rate in percent (0–100).
        pub tax_rate: Decimal,
        /// Whether it can be put on new lines.
        pub active: bool,
        /// Ids in other systems.
        pub external_refs: Vec<ExternalRef>,
        /// Free tags.
        pub tags: Vec<String>,
        /// Custom field values.
        #[cfg_attr(feature = "openapi", schema(value_type = std::collections::BTreeMap<String, crate::value::FieldValue>))]
        pub custom: CustomValues,
    }
}

impl Product {
    /// The normalised SKU the uniqueness rule compares (trimmed, ASCII upper case).
    pub fn sku_key(sku: &str) -> String {
        sku.trim().to_ascii_uppercase()
    }
}

impl_entity! {
    Product, ProductId, Product, custom: true;
    unique: |p| {
        let mut keys = vec![UniqueKey::new("sku", Product::sku_key(&p.sku))];
        keys.extend(external_keys(&p.external_refs));
        keys
    };
    fields {
        "sku": Text => |p| p.sku.clone(),
        "name": Text => |p| p.name.clone(),
        "unit_price": Decimal => |p| p.unit_price.amount,
        "currency": Text => |p| p.unit_price.currency.code().to_owned(),
        "tax_rate": Decimal => |p| p.tax_rate,
        "active": Bool => |p| p.active,
        "external_refs": TextList => |p| external_list(&p.external_refs),
        "tags": TextList => |p| text_list(p.tags.iter().map(String::as_str)),
    }
}
