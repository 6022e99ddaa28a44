//! Orders from a file: one row per order line, the rows of an order together (the same order
//! number), its customer found by name, its lines' products by SKU.

use crm_core::error::{Error, FieldErrorCode};
use crm_core::ids::OrderId;
use crm_core::model::{LineItem, Order, PaymentMethod};
use crm_core::money::Money;
use crm_core::query::{Filter, Query};
use crm_core::service::{ImportOptions, NewOrder, Session};
use rust_decimal::Decimal;

use crate::coerce;
use crate::contacts::external_keys;
use crate::import::FileImport;
use crate::kind::{
    Amount, Fut, MatchBy, Reader, add_new, column_basics, create_each, find_external, find_id, sealed::Kind,
};
use crate::lookups::{CompanyRef, ContactRef, Lookups};
use crate::mapping::{Preset, normalised};

/// An import of orders, such as a shop's purchase history: one row per line, the rows of one
/// order next to each other with the same number (the first row's other cells describe the
/// order). A line names a catalogue product by SKU (its name, price and tax rate, unless the
/// row gives its own) or gives its name and price. Importing the same file again skips the
/// orders already there with [`MatchBy::Number`] and [`OnMatch::Skip`](crate::OnMatch::Skip).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> crm_io::Result<()> {
/// use crm_core::prelude::*;
/// use crm_io::{OrderImport, Table};
/// use rust_decimal::Decimal;
/// let crm = Crm::new(MemoryStore::new());
/// let cx = crm.as_actor(&Actor::system(TenantId::new()));
/// cx.contacts().create(NewContact::new("Ann", "Lee").email("ann@example.org")).await?;
/// cx.products().create(NewProduct::new("MUG", "Mug", Money::new(Decimal::new(1250, 2), Currency::GBP))).await?;
/// let file = "Order number,Customer email,Placed,SKU,Quantity,Item,Unit price\n\
///             SO-1,ann@example.org,2026-11-02,MUG,2,,\n\
///             SO-1,,,,1,Gift wrap,2.00 GBP\n";
/// let report = OrderImport::new().run(&cx, Table::csv(file.as_bytes())?, |_| {}).await?;
/// let order = cx.orders().get(report.imported[0]).await?;
/// assert_eq!((order.lines.len(), order.total.to_string()), (2, "27.00 GBP".to_owned()));
/// assert_eq!(order.status, OrderStatus::Placed);
/// # Ok(()) }
/// ```
pub type OrderImport = FileImport<Order>;

/// What a column of an orders file fills.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum OrderColumn {
    /// Order number; rows with the same number next to each other are one order's lines.
    Number,
    /// The buying person, by email address or whole name.
    Contact,
    /// The buying person, by their id in this other system.
    ContactExternalId(String),
    /// The buying company, by name: found, or created.
    Company,
    /// The buying company, by its id in this other system.
    CompanyExternalId(String),
    /// The deal it comes from, by name.
    Deal,
    /// Currency of the order and of prices that name none.
    Currency,
    /// When it was placed (a date or date and time, UTC): the order is imported placed.
    PlacedAt,
    /// How it was paid (`card`, `bank transfer`…).
    PaymentMethod,
    /// Notes.
    Notes,
    /// Tags (a multi-value cell adds each).
    Tags,
    /// Its id in this other system, kept among the order's external ids.
    ExternalId(String),
    /// The order's id in this CRM (a UUID), to skip an order already there.
    Id,
    /// The line's product, by SKU.
    Sku,
    /// The line's name (without a SKU, with a unit price).
    LineName,
    /// The line's quantity (default 1).
    Quantity,
    /// The line's unit price: `12.50` or `12.50 EUR` (default: the product's).
    UnitPrice,
    /// The line's discount in percent.
    Discount,
    /// The line's tax rate in percent (default: the product's).
    TaxRate,
    /// A custom field of the order, by key.
    Custom(String),
    /// Not imported.
    Ignore,
}

/// One line as a row gives it.
#[derive(Debug, Default)]
pub struct LineRow {
    sku: Option<(String, String)>,
    name: Option<String>,
    quantity: Option<Decimal>,
    price: Option<Money>,
    discount: Option<Decimal>,
    tax: Option<Decimal>,
}

/// What an order's rows say.
#[derive(Debug)]
pub struct OrderRow {
    order: NewOrder,
    id: Option<OrderId>,
    contact: Option<(String, ContactRef)>,
    company: Option<(String, CompanyRef)>,
    deal: Option<(String, String)>,
    lines: Vec<LineRow>,
}

impl Kind for Order {
    type Column = OrderColumn;
    type Input = NewOrder;
    type Row = OrderRow;
    const MATCHES: &'static str = "number, external id or id";
    const PLURAL: &'static str = "orders";
    const UPDATES: bool = true;

    column_basics!(OrderColumn);
    fn missing(columns: &[(String, OrderColumn)]) -> Option<String> {
        use OrderColumn as C;
        let customer = columns.iter().any(|(_, c)| {
            matches!(c, C::Contact | C::ContactExternalId(_) | C::Company | C::CompanyExternalId(_) | C::Deal)
        });
        (!customer).then(|| "no column gives the order's customer (a contact or a company); map one with `map`".into())
    }

    fn read(r: &Reader<'_, OrderColumn>, cells: &[String]) -> Result<OrderRow, Error> {
        use OrderColumn as C;
        let mut row = OrderRow {
            order: NewOrder::default(),
            id: None,
            contact: None,
            company: None,
            deal: None,
            lines: Vec::new(),
        };
        let mut line = LineRow::default();
        let mut price: Option<Amount> = None;
        for cell in r.cells(cells)? {
            let h = || cell.header.to_owned();
            match cell.column {
                C::Number => row.order.number = Some(cell.text()),
                C::Contact => row.contact = Some((h(), ContactRef::Text(cell.text()))),
                C::ContactExternalId(system) => {
                    row.contact = Some((h(), ContactRef::External(system.clone(), cell.text())))
                }
                C::Company => row.company = Some((h(), CompanyRef::Name(cell.text()))),
                C::CompanyExternalId(system) => {
                    row.company = Some((h(), CompanyRef::External(system.clone(), cell.text())))
                }
                C::Deal => row.deal = Some((h(), cell.text())),
                C::Currency => row.order.currency = Some(cell.currency()?),
                C::PlacedAt => row.order = row.order.placed_at(cell.datetime(r.dates)?),
                C::PaymentMethod => {
                    row.order.payment_method = Some(cell.option::<PaymentMethod>(&[
                        ("credit_card", "card"),
                        ("debit_card", "card"),
                        ("transfer", "bank_transfer"),
                        ("check", "cheque"),
                    ])?)
                }
                C::Notes => row.order.notes = Some(cell.text()),
                C::Tags => row.order.tags.extend(coerce::multi(cell.v)),
                C::ExternalId(system) => row.order = row.order.external_ref(system.clone(), cell.text()),
                C::Id => row.id = Some(cell.id("order")?),
                C::Sku => line.sku = Some((h(), cell.text())),
                C::LineName => line.name = Some(cell.text()),
                C::Quantity => line.quantity = Some(cell.decimal()?),
                C::UnitPrice => price = Some(cell.amount()?),
                C::Discount => line.discount = Some(cell.decimal()?),
                C::TaxRate => line.tax = Some(cell.decimal()?),
                C::Custom(key) => {
                    if let Some((k, value)) = r.custom(&cell, key)? {
                        row.order.custom.insert(k, value);
                    }
                }
                C::Ignore => {}
            }
        }
        line.price = r.money(price, row.order.currency)?;
        if line.sku.is_some() || line.name.is_some() || line.price.is_some() {
            row.lines.push(line);
        }
        Ok(row)
    }

    fn continues(open: &OrderRow, next: &OrderRow) -> bool {
        fn number(r: &OrderRow) -> Option<&str> {
            r.order.number.as_deref().map(str::trim).filter(|n| !n.is_empty())
        }
        number(open).is_some() && number(open) == number(next)
    }
    fn absorb(open: &mut OrderRow, next: OrderRow) {
        open.lines.extend(next.lines);
    }
    fn group_key(r: &Reader<'_, OrderColumn>, cells: &[String]) -> Option<String> {
        let at = r.columns.iter().position(|(_, c)| *c == OrderColumn::Number)?;
        cells.get(at).map(|c| c.trim().to_owned()).filter(|n| !n.is_empty())
    }

    fn resolve<'a>(
        cx: &'a Session,
        lookups: &'a mut Lookups,
        row: OrderRow,
    ) -> Fut<'a, Result<(NewOrder, Option<OrderId>), Error>> {
        Box::pin(async move {
            let mut o = row.order;
            if let Some(who) = &row.contact {
                o.contact_id = Some(lookups.contact_ref(cx, who).await?);
            }
            if let Some((header, name)) = &row.deal {
                o.deal_id = Some(lookups.deal(cx, header, name).await?);
            }
            for (i, l) in row.lines.into_iter().enumerate() {
                let quantity = l.quantity.unwrap_or(Decimal::ONE);
                let mut item = match (&l.sku, &l.name, l.price) {
                    (Some((header, sku)), _, _) => {
                        LineItem::for_product(&lookups.product(cx, header, sku).await?, quantity)
                    }
                    (None, Some(name), Some(price)) => LineItem::new(name.clone(), quantity, price),
                    _ => {
                        return Err(Error::invalid(
                            format!("lines[{i}]"),
                            FieldErrorCode::Required,
                            format!("order line {} names no product (SKU) and gives no name and price", i + 1),
                        ));
                    }
                };
                if let Some(name) = l.name {
                    item.name = name;
                }
                if let Some(price) = l.price {
                    item.unit_price = price;
                }
                if let Some(d) = l.discount {
                    item.discount_percent = d;
                }
                if let Some(t) = l.tax {
                    item.tax_rate = t;
                }
                o.lines.push(item);
            }
            // What may refuse the row is looked up before a missing company is created.
            if let Some(company) = &row.company {
                o.company_id = lookups.company_ref(cx, company).await?;
            }
            Ok((o, row.id))
        })
    }

    fn matches(by: &MatchBy) -> bool {
        matches!(by, MatchBy::Number | MatchBy::ExternalId(_) | MatchBy::Id)
    }
    fn keys(by: &MatchBy, input: &NewOrder, id: Option<OrderId>) -> Vec<String> {
        match by {
            MatchBy::Number => Self::taken_keys(input),
            MatchBy::ExternalId(system) => external_keys(&input.external_refs, system),
            _ => id.map(|i| i.to_string()).into_iter().collect(),
        }
    }
    fn taken_keys(input: &NewOrder) -> Vec<String> {
        input.number.as_deref().map(str::trim).filter(|n| !n.is_empty()).map(str::to_owned).into_iter().collect()
    }
    fn find<'a>(cx: &'a Session, by: &'a MatchBy, key: &'a str) -> Fut<'a, Result<Option<OrderId>, Error>> {
        Box::pin(async move {
            match by {
                MatchBy::Number => {
                    let page = cx.orders().list(&Query::new(Filter::eq("number", key)).limit(1)).await?;
                    Ok(page.items.first().map(|o| o.id))
                }
                MatchBy::ExternalId(system) => find_external::<Order>(cx, system, key).await,
                _ => find_id::<Order>(cx, key).await,
            }
        })
    }
    /// The notes and payment method the row gives replace the stored ones, its tags and
    /// external ids are added, custom values replace; a draft order takes the file's lines
    /// (a placed order's lines are history and stay).
    fn apply<'a>(
        cx: &'a Session,
        id: OrderId,
        input: NewOrder,
        _columns: &'a [(String, OrderColumn)],
    ) -> Fut<'a, Result<OrderId, Error>> {
        Box::pin(async move {
            let mut o = cx.orders().get(id).await?;
            if input.notes.is_some() {
                o.notes = input.notes;
            }
            if input.payment_method.is_some() {
                o.payment_method = input.payment_method;
            }
            add_new(&mut o.tags, input.tags);
            add_new(&mut o.external_refs, input.external_refs);
            o.custom.extend(input.custom);
            if o.status == crm_core::model::OrderStatus::Draft && !input.lines.is_empty() {
                o.lines = input.lines;
            }
            cx.orders().update(o).await.map(|o| o.id)
        })
    }
    fn create<'a>(
        cx: &'a Session,
        inputs: Vec<NewOrder>,
        _options: &'a ImportOptions,
    ) -> Fut<'a, Result<Vec<Result<OrderId, Error>>, Error>> {
        let orders = cx.orders();
        Box::pin(create_each(inputs, move |o| async move { orders.create(o).await.map(|o| o.id) }))
    }
    fn check<'a>(cx: &'a Session, input: NewOrder) -> Fut<'a, Result<(), Error>> {
        Box::pin(async move { cx.orders().check(input).await })
    }
}

/// No vendor export of orders is known.
fn preset_columns(_preset: Preset) -> Vec<(&'static str, OrderColumn)> {
    Vec::new()
}

/// The column an obvious header names.
fn obvious(header: &str) -> Option<OrderColumn> {
    use OrderColumn as C;
    Some(match normalised(header).as_str() {
        "number" | "ordernumber" | "orderno" | "order" | "orderid" => C::Number,
        "contact" | "customer" | "customeremail" | "email" | "customername" | "contactemail" => C::Contact,
        "company" | "companyname" | "organization" | "organisation" | "account" => C::Company,
        "deal" | "dealname" => C::Deal,
        "currency" | "currencycode" => C::Currency,
        "placed" | "placedat" | "orderdate" | "date" | "createdat" => C::PlacedAt,
        "paymentmethod" | "paidby" | "payment" => C::PaymentMethod,
        "notes" | "note" => C::Notes,
        "tags" | "tag" => C::Tags,
        "sku" | "productcode" | "productsku" => C::Sku,
        "item" | "product" | "productname" | "linename" | "description" => C::LineName,
        "quantity" | "qty" => C::Quantity,
        "unitprice" | "price" => C::UnitPrice,
        "discount" | "discountpercent" => C::Discount,
        "taxrate" | "tax" | "vat" => C::TaxRate,
        _ => None?,
    })
}
