//! The product catalogue.

use rust_decimal::Decimal;

use super::Records;
use super::checks::Checks;
use super::records::Guard;
use super::uow::Uow;
use crate::error::{FieldErrorCode, Result};
use crate::macros::new_input;
use crate::macros::new_record;
use crate::model::{ExternalRef, Product};
use crate::money::Money;
use crate::query::Filter;
use crate::value::CustomValues;

new_input! {
    /// Input for a new product.
    #[derive(Clone, Debug, PartialEq)]
    pub struct NewProduct {
        /// SKU (required, unique per tenant regardless of ASCII case).
        pub sku: String => manual,
        /// Name (required).
        pub name: String => manual,
        /// Description.
        pub description: Option<String> => some description(String),
        /// Price of one unit before tax.
        pub unit_price: Money => manual,
        /// Tax rate in percent (default 0).
        pub tax_rate: Decimal => set tax_rate(Decimal),
        /// Whether it can go on new lines (default true; see [`inactive`](Self::inactive)).
        pub active: bool => manual,
        /// Ids in other systems.
        pub external_refs: Vec<ExternalRef> => refs,
        /// Tags.
        pub tags: Vec<String> => push tag(String),
        /// Custom field values.
        pub custom: CustomValues => custom,
    }
}

impl NewProduct {
    /// An active product with this SKU, name and unit price.
    pub fn new(sku: impl Into<String>, name: impl Into<String>, unit_price: Money) -> Self {
        Self {
            sku: sku.into(),
            name: name.into(),
            description: None,
            unit_price,
            tax_rate: Decimal::ZERO,
            active: true,
            external_refs: Vec::new(),
            tags: Vec::new(),
            custom: CustomValues::new(),
        }
    }
    /// Makes it inactive: it cannot go on new lines.
    pub fn inactive(mut self) -> Self {
        self.active = false;
        self
    }
}

fn check_product(p: &mut Product, ch: &mut Checks) {
    ch.code("sku", &mut p.sku);
    ch.name("name", &mut p.name, true);
    ch.opt_text("description", &mut p.description);
    ch.non_negative("unit_price", p.unit_price.amount);
    ch.percent("tax_rate", p.tax_rate);
    ch.external_refs(&mut p.external_refs);
    ch.tags(&mut p.tags);
}

/// Refuses a SKU another product of the tenant holds (the store enforces it too, under races).
async fn check_sku_free(uow: &mut Uow<'_>, p: &Product, ch: &mut Checks) -> Result<()> {
    if p.sku.is_empty() {
        return Ok(());
    }
    let key = Product::sku_key(&p.sku);
    // `starts_with` ignores ASCII case, so this finds every differently-cased spelling.
    let similar = uow.tx.find_all::<Product>(Filter::starts_with("sku", p.sku.clone())).await?;
    let clash = similar.iter().any(|o| o.id != p.id && Product::sku_key(&o.sku) == key);
    if clash {
        ch.push("sku", FieldErrorCode::Duplicate, format!("another product already has SKU `{}`", p.sku));
    }
    Ok(())
}

/// A new product from its input, with the problems of its fields and a SKU in use.
async fn draft_product(uow: &mut Uow<'_>, ch: &mut Checks, input: NewProduct) -> Result<Product> {
    let mut product = new_record!(
        uow,
        Product {
            sku: input.sku,
            name: input.name,
            description: input.description,
            unit_price: input.unit_price,
            tax_rate: input.tax_rate,
            active: input.active,
            external_refs: input.external_refs,
            tags: input.tags,
            custom: input.custom,
        }
    );
    check_product(&mut product, ch);
    check_sku_free(uow, &product, ch).await?;
    Ok(product)
}

/// Products: the catalogue deals, orders and invoices draw their lines from. Deleting a
/// product leaves the lines that used it as they are (SKU and name included).
///
/// ```
/// # futures::executor::block_on(async {
/// use crm_core::prelude::*;
/// use rust_decimal::Decimal;
/// let crm = Crm::new(MemoryStore::new());
/// let cx = crm.as_actor(&Actor::system(TenantId::new()));
/// let price = Money::new(Decimal::new(1999, 2), Currency::EUR);
/// let mug = cx.products().create(NewProduct::new("MUG-01", "Mug", price).tag("kitchen")).await?;
/// assert_eq!(cx.products().by_sku("mug-01").await?.map(|p| p.id), Some(mug.id));
/// // SKUs are unique per tenant, whatever their case.
/// assert!(cx.products().create(NewProduct::new("mug-01", "Other mug", price)).await.is_err());
/// # Ok::<_, Error>(()) }).unwrap();
/// ```
pub type Products<'s> = Records<'s, Product>;

impl Records<'_, Product> {
    /// Adds a product. Its SKU must not be in use by another product of the tenant.
    pub async fn create(&self, input: NewProduct) -> Result<Product> {
        self.create_with(|uow, ch| Box::pin(draft_product(uow, ch, input))).await
    }

    /// Checks `input` exactly as [`create`](Self::create) would, writing nothing.
    pub async fn check(&self, input: NewProduct) -> Result<()> {
        self.check_with(|uow, ch| Box::pin(draft_product(uow, ch, input))).await
    }

    /// The product with this SKU (ASCII case does not matter), if any.
    pub async fn by_sku(&self, sku: &str) -> Result<Option<Product>> {
        let key = Product::sku_key(sku);
        let mut uow = Uow::read(self.s).await?;
        let found = uow.tx.find_all::<Product>(Filter::starts_with("sku", sku.trim())).await?;
        Ok(found.into_iter().find(|p| Product::sku_key(&p.sku) == key))
    }

    /// Saves changes to a product read earlier. Lines already on deals, orders and invoices
    /// keep the price and name they were made with.
    pub async fn update(&self, product: Product) -> Result<Product> {
        self.update_with(product, &Guard::NONE, &[], |uow, before, product, ch| {
            Box::pin(async move {
                check_product(product, ch);
                if Product::sku_key(&product.sku) != Product::sku_key(&before.sku) {
                    check_sku_free(uow, product, ch).await?;
                }
                Ok(())
            })
        })
        .await
    }
}
