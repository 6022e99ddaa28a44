use rust_decimal::Decimal;

use super::Session;
use super::checks::Checks;
use super::uow::Uow;
use super::uow::{count, delete, list};
use crate::error::{FieldErrorCode, Result};
use crate::ids::ProductId;
use crate::model::{ExternalRef, Product};
use crate::money::Money;
use crate::query::{Filter, Page, Query};
use crate::value::{CustomFields, Value};

/// Input for a new product.
#[derive(Clone, Debug, PartialEq)]
pub struct NewProduct {
    /// SKU (required, unique per tenant regardless of ASCII case).
    pub sku: String,
    /// Name (required).
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// Price of one unit before tax.
    pub unit_price: Money,
    /// Tax rate in percent (default 0).
    pub tax_rate: Decimal,
    /// Whether it can go on new lines (default true).
    pub active: bool,
    /// Ids in other systems.
    pub external_refs: Vec<ExternalRef>,
    /// Tags.
    pub tags: Vec<String>,
    /// Custom field values.
    pub custom: CustomFields,
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
            custom: CustomFields::new(),
        }
    }
    /// Sets the description.
    pub fn description(mut self, text: impl Into<String>) -> Self {
        self.description = Some(text.into());
        self
    }
    /// Sets the tax rate in percent.
    pub fn tax_rate(mut self, percent: Decimal) -> Self {
        self.tax_rate = percent;
        self
    }
    /// Makes it inactive.
    pub fn inactive(mut self) -> Self {
        self.active = false;
        self
    }
    /// Adds an id in another system.
    pub fn external_ref(mut self, system: impl Into<String>, id: impl Into<String>) -> Self {
        self.external_refs.push(ExternalRef::new(system, id));
        self
    }
    /// Adds a tag.
    pub fn tag(mut self, tag: impl Into<String>) -> Self {
        self.tags.push(tag.into());
        self
    }
    /// Sets a custom field value.
    pub fn custom(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.custom.insert(key.into(), value.into());
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

/// Products: the catalogue deals, orders and invoices draw their lines from.
#[derive(Clone, Copy, Debug)]
pub struct Products<'s> {
    pub(crate) s: &'s Session,
}

impl Products<'_> {
    /// Adds a product. Its SKU must not be in use by another product of the tenant.
    pub async fn create(&self, input: NewProduct) -> Result<Product> {
        let mut uow = Uow::write(self.s).await?;
        let mut product = Product {
            id: uow.new_id(),
            tenant_id: self.s.tenant(),
            version: 1,
            created_at: uow.now,
            updated_at: uow.now,
            sku: input.sku,
            name: input.name,
            description: input.description,
            unit_price: input.unit_price,
            tax_rate: input.tax_rate,
            active: input.active,
            external_refs: input.external_refs,
            tags: input.tags,
            custom: input.custom,
        };
        let mut ch = Checks::default();
        check_product(&mut product, &mut ch);
        check_sku_free(&mut uow, &product, &mut ch).await?;
        let product = uow.create(product, ch.errs).await?;
        uow.commit().await?;
        Ok(product)
    }

    /// The product with this id.
    pub async fn get(&self, id: ProductId) -> Result<Product> {
        Uow::read(self.s).await?.tx.require::<Product>(id).await
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
    pub async fn update(&self, mut product: Product) -> Result<Product> {
        let mut uow = Uow::write(self.s).await?;
        let before = uow.load_for_update(&product).await?;
        let mut ch = Checks::default();
        check_product(&mut product, &mut ch);
        if Product::sku_key(&product.sku) != Product::sku_key(&before.sku) {
            check_sku_free(&mut uow, &product, &mut ch).await?;
        }
        let saved = uow.save(&before, product, ch.errs, &[]).await?;
        uow.commit().await?;
        Ok(saved)
    }

    /// Deletes a product at `version`. Lines that used it keep its SKU and name.
    pub async fn delete(&self, id: ProductId, version: u64) -> Result<()> {
        delete::<Product>(self.s, id, version).await
    }

    /// A page of products.
    pub async fn list(&self, query: &Query) -> Result<Page<Product>> {
        list::<Product>(self.s, query).await
    }

    /// How many products match.
    pub async fn count(&self, filter: &Filter) -> Result<u64> {
        count::<Product>(self.s, filter).await
    }
}
