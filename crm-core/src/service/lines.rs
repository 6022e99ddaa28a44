//! Checks shared by everything that carries [`LineItem`]s: deals, orders and invoices.

use std::collections::HashMap;

use super::checks::Checks;
use super::uow::Uow;
use rust_decimal::Decimal;

use crate::error::{FieldErrorCode, Result};
use crate::ids::{CompanyId, ContactId, ProductId};
use crate::model::{Company, Contact, CreditTerms, Invoice, InvoiceStatus, LineItem, Product, Totals};
use crate::money::{Currency, Money};
use crate::query::Filter;

/// Normalises and checks lines: a name, a positive quantity, a non-negative price, discount and
/// tax rate within 0–100 %, and (when given) one currency.
pub(crate) fn check_lines(ch: &mut Checks, field: &str, lines: &mut [LineItem], currency: Option<Currency>) {
    for (i, item) in lines.iter_mut().enumerate() {
        let at = format!("{field}[{i}]");
        ch.name(&format!("{at}.name"), &mut item.name, true);
        if let Some(sku) = &mut item.sku {
            ch.code(&format!("{at}.sku"), sku);
        }
        ch.positive(&format!("{at}.quantity"), item.quantity);
        ch.non_negative(&format!("{at}.unit_price"), item.unit_price.amount);
        ch.percent(&format!("{at}.discount_percent"), item.discount_percent);
        ch.percent(&format!("{at}.tax_rate"), item.tax_rate);
        if let Some(c) = currency
            && c != item.unit_price.currency
        {
            ch.push(
                format!("{at}.unit_price"),
                FieldErrorCode::CurrencyMismatch,
                format!("priced in {}, but the document is in {}", item.unit_price.currency.code(), c.code()),
            );
        }
    }
}

/// Checks the products of new lines: each must exist and be active. A product keeps as many
/// lines as it had in `before` even once retired or deleted, but gets no more. Fills in a
/// missing SKU from the product.
pub(crate) async fn check_line_products(
    uow: &mut Uow<'_>,
    field: &str,
    lines: &mut [LineItem],
    before: &[LineItem],
    ch: &mut Checks,
) -> Result<()> {
    let mut seen: HashMap<ProductId, Option<Product>> = HashMap::new();
    let mut lines_of: HashMap<ProductId, usize> = HashMap::new();
    for (i, item) in lines.iter_mut().enumerate() {
        let Some(pid) = item.product_id else { continue };
        let nth = lines_of.entry(pid).or_default();
        *nth += 1;
        let known = *nth <= before.iter().filter(|b| b.product_id == Some(pid)).count();
        if let std::collections::hash_map::Entry::Vacant(slot) = seen.entry(pid) {
            slot.insert(uow.tx.fetch::<Product>(pid).await?);
        }
        let at = format!("{field}[{i}].product_id");
        match seen.get(&pid).and_then(Option::as_ref) {
            Some(p) => {
                if item.sku.is_none() {
                    item.sku = Some(p.sku.clone());
                }
                if !known && !p.active {
                    ch.push(at, FieldErrorCode::Rule, format!("product `{}` is inactive", p.sku));
                }
            }
            None if !known => ch.push(at, FieldErrorCode::NotFound, format!("no product with id {pid}")),
            None => {}
        }
    }
    Ok(())
}

/// Totals of lines in `currency`; a mismatch is recorded (the lines were checked already, so
/// this only guards against a missing currency check) and zero totals returned.
pub(crate) fn totals(ch: &mut Checks, field: &str, lines: &[LineItem], currency: Currency) -> Totals {
    match Totals::of(lines, currency) {
        Ok(t) => t,
        Err(mut e) => {
            e.field = e.field.replacen("lines", field, 1);
            if !ch.errs.iter().any(|x| x.field == e.field) {
                ch.errs.push(e);
            }
            Totals::zero(currency)
        }
    }
}

/// The currency of a document: the given one, else the first line's.
pub(crate) fn document_currency(ch: &mut Checks, given: Option<Currency>, lines: &[LineItem]) -> Option<Currency> {
    let c = given.or_else(|| lines.first().map(|l| l.unit_price.currency));
    if c.is_none() {
        ch.push("currency", FieldErrorCode::Required, "give a currency or at least one line");
    }
    c
}

/// The credit terms in force for a customer: the company's, else the contact's.
pub(crate) async fn terms_for(
    uow: &mut Uow<'_>,
    contact: Option<ContactId>,
    company: Option<CompanyId>,
) -> Result<Option<CreditTerms>> {
    if let Some(c) = company
        && let Some(t) = uow.tx.fetch::<Company>(c).await?.and_then(|c| c.credit_terms)
    {
        return Ok(Some(t));
    }
    if let Some(c) = contact {
        return Ok(uow.tx.fetch::<Contact>(c).await?.and_then(|c| c.credit_terms));
    }
    Ok(None)
}

/// The filter selecting a customer's documents: by company when there is one, else by contact.
pub(crate) fn customer_filter(contact: Option<ContactId>, company: Option<CompanyId>) -> Option<Filter> {
    match (company, contact) {
        (Some(c), _) => Some(Filter::eq("company_id", c.as_uuid())),
        (None, Some(c)) => Some(Filter::eq("contact_id", c.as_uuid())),
        (None, None) => None,
    }
}

/// What the customer owes on open invoices in `currency`.
pub(crate) async fn outstanding(
    uow: &mut Uow<'_>,
    contact: Option<ContactId>,
    company: Option<CompanyId>,
    currency: Currency,
) -> Result<Decimal> {
    let Some(f) = customer_filter(contact, company) else { return Ok(Decimal::ZERO) };
    let open = Filter::is_in("status", vec![InvoiceStatus::Sent, InvoiceStatus::PartiallyPaid, InvoiceStatus::Overdue]);
    let invoices = uow.tx.find_all::<Invoice>(f.and(open).and(Filter::eq("currency", currency.code()))).await?;
    Ok(invoices.iter().map(|i| i.balance_due().amount).sum())
}

/// Refuses new debt that would take the customer past their credit limit.
pub(crate) async fn check_credit_limit(
    uow: &mut Uow<'_>,
    contact: Option<ContactId>,
    company: Option<CompanyId>,
    new_debt: Money,
    field: &str,
    ch: &mut Checks,
) -> Result<()> {
    let Some(limit) = terms_for(uow, contact, company).await?.and_then(|t| t.credit_limit) else { return Ok(()) };
    if limit.currency != new_debt.currency {
        return Ok(()); // limits apply to debt in their own currency
    }
    let owed = outstanding(uow, contact, company, limit.currency).await?;
    if owed + new_debt.amount > limit.amount {
        ch.push(
            field,
            FieldErrorCode::Rule,
            format!(
                "{} would take the customer past their credit limit of {} ({} {} already owed)",
                new_debt,
                limit,
                owed,
                limit.currency.code()
            ),
        );
    }
    Ok(())
}
