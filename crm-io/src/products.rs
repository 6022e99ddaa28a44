//! Products from a file: the columns of a catalogue export and how a row becomes a
//! [`NewProduct`].

use crm_core::error::{Error, FieldErrorCode};
use crm_core::ids::ProductId;
use crm_core::model::Product;
use crm_core::money::Currency;
use crm_core::service::{ImportOptions, NewProduct, Session};

use crate::coerce;
use crate::contacts::external_keys;
use crate::import::FileImport;
use crate::kind::{
    Amount, Fut, MatchBy, Reader, add_new, column_basics, create_each, find_external, find_id, sealed::Kind,
};
use crate::lookups::Lookups;
use crate::mapping::{Preset, normalised};

/// An import of products. SKUs are unique: a row repeating one already there is refused,
/// unless the import matches by [`MatchBy::Sku`] to update or skip it.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> crm_io::Result<()> {
/// use crm_core::prelude::*;
/// use crm_io::{MatchBy, OnMatch, ProductImport, Table};
/// let crm = Crm::new(MemoryStore::new());
/// let cx = crm.as_actor(&Actor::system(TenantId::new()));
/// let file = "SKU;Name;Price;Tax rate\nMUG-01;Mug;12,50;20\nTEA-01;Tea;4,00;5\nmug-01;Big mug;14,00;20\n";
/// let report = ProductImport::new()
///     .currency(Currency::EUR)
///     .upsert(MatchBy::Sku, OnMatch::Update)
///     .run(&cx, Table::csv(file.as_bytes())?, |_| {})
///     .await?;
/// assert_eq!((report.imported.len(), report.updated.len()), (2, 1));
/// let mug = cx.products().by_sku("MUG-01").await?.unwrap();
/// assert_eq!((mug.name.as_str(), mug.unit_price.to_string().as_str()), ("Big mug", "14.00 EUR"));
/// # Ok(()) }
/// ```
pub type ProductImport = FileImport<Product>;

/// What a column of a products file fills.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProductColumn {
    /// SKU (product code).
    Sku,
    /// Name.
    Name,
    /// Description.
    Description,
    /// Unit price before tax: `12.50`, or `12.50 EUR` (see [`Currency`](Self::Currency)).
    Price,
    /// The price's currency (ISO 4217 code).
    Currency,
    /// Tax rate in percent.
    TaxRate,
    /// Whether it can be sold (yes/no; default yes).
    Active,
    /// Tags (a multi-value cell adds each).
    Tags,
    /// Its id in this other system, kept among the product's external ids.
    ExternalId(String),
    /// The product's id in this CRM (a UUID), to update it.
    Id,
    /// A custom field, by key.
    Custom(String),
    /// Not imported.
    Ignore,
}

/// What a products row says.
#[derive(Debug)]
pub struct ProductRow {
    product: NewProduct,
    id: Option<ProductId>,
}

impl Kind for Product {
    type Column = ProductColumn;
    type Input = NewProduct;
    type Row = ProductRow;
    const MATCHES: &'static str = "SKU, external id or id";
    const PLURAL: &'static str = "products";
    const UPDATES: bool = true;

    column_basics!(ProductColumn);
    fn missing(columns: &[(String, ProductColumn)]) -> Option<String> {
        let has = |c: ProductColumn| columns.iter().any(|(_, m)| *m == c);
        let lacking: Vec<&str> =
            [(ProductColumn::Sku, "SKU"), (ProductColumn::Name, "name"), (ProductColumn::Price, "price")]
                .into_iter()
                .filter(|(c, _)| !has(c.clone()))
                .map(|(_, n)| n)
                .collect();
        (!lacking.is_empty())
            .then(|| format!("no column gives the product's {}; map one with `map`", lacking.join(", ")))
    }

    fn read(r: &Reader<'_, ProductColumn>, cells: &[String]) -> Result<ProductRow, Error> {
        use ProductColumn as C;
        let mut p = NewProduct::new("", "", crm_core::money::Money::new(rust_decimal::Decimal::ZERO, Currency::USD));
        let mut id = None;
        let mut price: Option<Amount> = None;
        let mut currency = None;
        for cell in r.cells(cells)? {
            match cell.column {
                C::Sku => p.sku = cell.text(),
                C::Name => p.name = cell.text(),
                C::Description => p.description = Some(cell.text()),
                C::Price => price = Some(cell.amount()?),
                C::Currency => currency = Some(cell.currency()?),
                C::TaxRate => p.tax_rate = cell.decimal()?,
                C::Active => p.active = cell.boolean()?,
                C::Tags => p.tags.extend(coerce::multi(cell.v)),
                C::ExternalId(system) => p = p.external_ref(system.clone(), cell.text()),
                C::Id => id = Some(cell.id("product")?),
                C::Custom(key) => {
                    if let Some((k, value)) = r.custom(&cell, key)? {
                        p.custom.insert(k, value);
                    }
                }
                C::Ignore => {}
            }
        }
        p.unit_price = r
            .money(price, currency)?
            .ok_or_else(|| Error::invalid("unit_price", FieldErrorCode::Required, "the row gives no price"))?;
        Ok(ProductRow { product: p, id })
    }

    fn resolve<'a>(
        _cx: &'a Session,
        _lookups: &'a mut Lookups,
        row: ProductRow,
    ) -> Fut<'a, Result<(NewProduct, Option<ProductId>), Error>> {
        Box::pin(std::future::ready(Ok((row.product, row.id))))
    }

    fn matches(by: &MatchBy) -> bool {
        matches!(by, MatchBy::Sku | MatchBy::ExternalId(_) | MatchBy::Id)
    }
    fn keys(by: &MatchBy, input: &NewProduct, id: Option<ProductId>) -> Vec<String> {
        match by {
            MatchBy::Sku => Self::taken_keys(input),
            MatchBy::ExternalId(system) => external_keys(&input.external_refs, system),
            _ => id.map(|i| i.to_string()).into_iter().collect(),
        }
    }
    fn taken_keys(input: &NewProduct) -> Vec<String> {
        let sku = input.sku.trim();
        if sku.is_empty() { Vec::new() } else { vec![sku.to_ascii_lowercase()] }
    }
    fn find<'a>(cx: &'a Session, by: &'a MatchBy, key: &'a str) -> Fut<'a, Result<Option<ProductId>, Error>> {
        Box::pin(async move {
            match by {
                MatchBy::Sku => Ok(cx.products().by_sku(key).await?.map(|p| p.id)),
                MatchBy::ExternalId(system) => find_external::<Product>(cx, system, key).await,
                _ => find_id::<Product>(cx, key).await,
            }
        })
    }
    /// The row's name and price replace the stored ones, and its SKU unless only its case differs; its description when given; its
    /// tax rate and active flag when the file has those columns; tags and external ids are
    /// added; custom values replace.
    fn apply<'a>(
        cx: &'a Session,
        id: ProductId,
        input: NewProduct,
        columns: &'a [(String, ProductColumn)],
    ) -> Fut<'a, Result<ProductId, Error>> {
        Box::pin(async move {
            let mut p = cx.products().get(id).await?;
            let has = |c: ProductColumn| columns.iter().any(|(_, m)| *m == c);
            if !p.sku.eq_ignore_ascii_case(input.sku.trim()) {
                p.sku = input.sku;
            }
            p.name = input.name;
            p.unit_price = input.unit_price;
            if input.description.is_some() {
                p.description = input.description;
            }
            if has(ProductColumn::TaxRate) {
                p.tax_rate = input.tax_rate;
            }
            if has(ProductColumn::Active) {
                p.active = input.active;
            }
            add_new(&mut p.tags, input.tags);
            add_new(&mut p.external_refs, input.external_refs);
            p.custom.extend(input.custom);
            cx.products().update(p).await.map(|p| p.id)
        })
    }
    fn create<'a>(
        cx: &'a Session,
        inputs: Vec<NewProduct>,
        _options: &'a ImportOptions,
    ) -> Fut<'a, Result<Vec<Result<ProductId, Error>>, Error>> {
        let products = cx.products();
        Box::pin(create_each(inputs, move |p| async move { products.create(p).await.map(|p| p.id) }))
    }
    fn check<'a>(cx: &'a Session, input: NewProduct) -> Fut<'a, Result<(), Error>> {
        Box::pin(async move { cx.products().check(input).await })
    }
}

/// The vendors' products export columns.
fn preset_columns(preset: Preset) -> Vec<(&'static str, ProductColumn)> {
    use ProductColumn as C;
    let ext = |system: &str| C::ExternalId(system.into());
    match preset {
        Preset::HubSpot => vec![
            ("Name", C::Name),
            ("SKU", C::Sku),
            ("Unit price", C::Price),
            ("Description", C::Description),
            ("Record ID", ext("hubspot")),
        ],
        Preset::Salesforce => vec![
            ("Product Name", C::Name),
            ("Product Code", C::Sku),
            ("Product Description", C::Description),
            ("Active", C::Active),
            ("List Price", C::Price),
            ("Product Currency", C::Currency),
            ("Product ID", ext("salesforce")),
        ],
        Preset::Pipedrive => vec![
            ("Product - Name", C::Name),
            ("Product - Product code", C::Sku),
            ("Product - Description", C::Description),
            ("Product - Tax", C::TaxRate),
            ("Product - Active", C::Active),
            ("Product - ID", ext("pipedrive")),
        ],
        Preset::Zoho => vec![
            ("Product Name", C::Name),
            ("Product Code", C::Sku),
            ("Unit Price", C::Price),
            ("Description", C::Description),
            ("Product Active", C::Active),
            ("Tax", C::TaxRate),
            ("Record Id", ext("zoho")),
        ],
    }
}

/// The column an obvious header names.
fn obvious(header: &str) -> Option<ProductColumn> {
    use ProductColumn as C;
    Some(match normalised(header).as_str() {
        "sku" | "productcode" | "code" | "itemcode" | "articlenumber" => C::Sku,
        "name" | "productname" | "title" | "item" => C::Name,
        "description" | "productdescription" => C::Description,
        "price" | "unitprice" | "listprice" => C::Price,
        "currency" | "currencycode" => C::Currency,
        "taxrate" | "tax" | "vat" | "vatrate" => C::TaxRate,
        "active" | "enabled" | "forsale" => C::Active,
        "tags" | "tag" | "labels" | "category" => C::Tags,
        _ => return None,
    })
}
