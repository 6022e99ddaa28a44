//! Invoices and payments kept in an accounting system, mirrored read-only into the CRM.
//!
//! A connector (crm-integrations' Xero and QuickBooks sync) calls [`Invoices::mirror`] and
//! [`Payments::mirror`] with what the accounting system says. The records it writes carry
//! `managed_by` and an external reference; the CRM's own invoice and payment operations
//! refuse to change them, so purchase and payment history stay exactly as accounting has them.

use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::checks::Checks;
use super::invoices::emit_status;
use super::lines::check_lines;
use super::payments::NewPayment;
use super::uow::Uow;
use crate::entity::{EntityKind, EntityRef};
use crate::error::{Error, FieldErrorCode, Result};
use crate::ids::{CompanyId, ContactId, InvoiceId};
use crate::macros::new_record;
use crate::model::Entity;
use crate::model::{AppliedPayment, ExternalRef, Invoice, InvoiceStatus, LineItem, Payment, PaymentApplication};
use crate::money::{Currency, Money};
use crate::query::Filter;
use crate::value::CustomValues;

/// What a mirror call did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MirrorOutcome {
    /// The record was new here and is now written.
    Created,
    /// It existed and changed.
    Updated,
    /// It existed and nothing changed; nothing was written.
    Unchanged,
}

/// An invoice as the accounting system has it.
#[derive(Clone, Debug, PartialEq)]
pub struct ExternalInvoice {
    /// The accounting system, lower case (`xero`, `quickbooks`).
    pub system: String,
    /// Its id there.
    pub external_id: String,
    /// Invoice number.
    pub number: String,
    /// The billed person.
    pub contact_id: Option<ContactId>,
    /// The billed company.
    pub company_id: Option<CompanyId>,
    /// Currency of every amount.
    pub currency: Currency,
    /// The lines as billed.
    pub lines: Vec<LineItem>,
    /// Net total, as the accounting system computed it.
    pub subtotal: Decimal,
    /// Tax, as computed there.
    pub tax: Decimal,
    /// Total (subtotal + tax).
    pub total: Decimal,
    /// Paid so far.
    pub amount_paid: Decimal,
    /// Status, mapped to the CRM's.
    pub status: InvoiceStatus,
    /// Issue date.
    pub issue_date: NaiveDate,
    /// Due date.
    pub due_date: NaiveDate,
    /// When it was paid in full.
    pub paid_on: Option<NaiveDate>,
    /// The accounting system's reference or notes.
    pub notes: Option<String>,
}

/// A payment as the accounting system has it: the payment, as [`NewPayment`] describes one,
/// and where it is kept. Its `apply_to` lists the mirrored invoices it paid, and how much of
/// each; the accounting system's own id is added to its `external_refs`.
///
/// ```
/// use chrono::NaiveDate;
/// use crm_core::{ids::CompanyId, ids::InvoiceId, model::PaymentMethod, money::{Currency, Money}};
/// use crm_core::service::{ExternalPayment, NewPayment};
/// use rust_decimal::Decimal;
/// let usd = |n| Money::new(Decimal::new(n, 0), Currency::USD);
/// let (acme, invoice) = (CompanyId::new(), InvoiceId::new());
/// let on = NaiveDate::from_ymd_opt(2026, 9, 15).unwrap();
/// let paid = NewPayment::new(usd(400), on, PaymentMethod::BankTransfer).from_company(acme).apply(invoice, usd(400));
/// let p = ExternalPayment::new("xero", "p-1", paid);
/// assert_eq!(p.payment.apply_to, vec![(invoice, usd(400))]);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct ExternalPayment {
    /// The accounting system, lower case.
    pub system: String,
    /// Its id there.
    pub external_id: String,
    /// The payment itself.
    pub payment: NewPayment,
}

impl ExternalPayment {
    /// Payment `external_id` of `system`.
    pub fn new(system: impl Into<String>, external_id: impl Into<String>, payment: NewPayment) -> Self {
        Self { system: system.into(), external_id: external_id.into(), payment }
    }
}

/// Refuses a change through the CRM's own operations to a record accounting owns.
fn check_system(ch: &mut Checks, system: &mut String, id: &mut String) {
    *system = system.trim().to_ascii_lowercase();
    ch.code("system", system);
    ch.code("external_id", id);
}

async fn find_mirrored<E: Entity>(uow: &mut Uow<'_>, system: &str, id: &str) -> Result<Option<E>> {
    let key = ExternalRef::new(system, id);
    Ok(uow
        .tx
        .find_all::<E>(Filter::contains("external_refs", format!("{}:{}", key.system, key.id)))
        .await?
        .into_iter()
        .next())
}

fn money_ok(ch: &mut Checks, field: &str, v: Decimal) {
    if v < Decimal::ZERO {
        ch.push(field, FieldErrorCode::OutOfRange, "must not be negative");
    }
}

/// [`Invoices::mirror`](super::Invoices::mirror), in the caller's unit of work.
pub(super) async fn mirror_invoice(uow: &mut Uow<'_>, mut input: ExternalInvoice) -> Result<(Invoice, MirrorOutcome)> {
    let mut ch = Checks::default();
    check_system(&mut ch, &mut input.system, &mut input.external_id);
    for (f, v) in [("subtotal", input.subtotal), ("tax", input.tax), ("total", input.total)] {
        money_ok(&mut ch, f, v);
    }
    money_ok(&mut ch, "amount_paid", input.amount_paid);
    if input.subtotal.checked_add(input.tax) != Some(input.total) {
        ch.push(
            "total",
            FieldErrorCode::Rule,
            format!("{} + {} tax is not {}", input.subtotal, input.tax, input.total),
        );
    }
    if input.amount_paid > input.total {
        ch.push("amount_paid", FieldErrorCode::OutOfRange, "more than the invoice's total");
    }
    if input.status == InvoiceStatus::Paid && input.amount_paid != input.total {
        ch.push("status", FieldErrorCode::Rule, "a paid invoice has its total paid");
    }
    if input.due_date < input.issue_date {
        ch.push("due_date", FieldErrorCode::OutOfRange, "an invoice cannot fall due before it is issued");
    }
    let existing: Option<Invoice> = find_mirrored(uow, &input.system, &input.external_id).await?;
    if let Some(e) = &existing
        && e.managed_by.as_deref() != Some(input.system.as_str())
    {
        let owner = e.managed_by.as_deref().unwrap_or("the CRM");
        return Err(Error::invalid(
            "external_id",
            FieldErrorCode::Rule,
            format!("invoice {} with this id is kept by {owner}, not {}", e.number, input.system),
        ));
    }
    let money = |v: Decimal| Money::new(v, input.currency);
    let now = uow.now;
    let mut invoice = existing.clone().unwrap_or_else(|| {
        new_record!(
            uow,
            Invoice {
                number: String::new(),
                contact_id: None,
                company_id: None,
                order_id: None,
                deal_id: None,
                status: input.status,
                currency: input.currency,
                lines: Vec::new(),
                subtotal: money(Decimal::ZERO),
                tax: money(Decimal::ZERO),
                total: money(Decimal::ZERO),
                amount_paid: money(Decimal::ZERO),
                issue_date: input.issue_date,
                due_date: input.due_date,
                sent_at: None,
                paid_on: None,
                voided_at: None,
                payments: Vec::new(),
                notes: None,
                external_refs: vec![ExternalRef::new(input.system.clone(), input.external_id.clone())],
                managed_by: Some(input.system.clone()),
                custom: CustomValues::new(),
            }
        )
    });
    let from = invoice.status;
    invoice.number = input.number;
    ch.code("number", &mut invoice.number);
    invoice.contact_id = input.contact_id;
    invoice.company_id = input.company_id;
    invoice.currency = input.currency;
    invoice.lines = input.lines;
    check_lines(&mut ch, "lines", &mut invoice.lines, Some(input.currency));
    (invoice.subtotal, invoice.tax, invoice.total) = (money(input.subtotal), money(input.tax), money(input.total));
    invoice.amount_paid = money(input.amount_paid);
    invoice.status = input.status;
    invoice.issue_date = input.issue_date;
    invoice.due_date = input.due_date;
    invoice.paid_on = if input.status == InvoiceStatus::Paid { input.paid_on.or(invoice.paid_on) } else { None };
    if input.status != InvoiceStatus::Draft && invoice.sent_at.is_none() {
        invoice.sent_at = Some(now);
    }
    if input.status == InvoiceStatus::Void && invoice.voided_at.is_none() {
        invoice.voided_at = Some(now);
    }
    invoice.notes = input.notes;
    ch.opt_text("notes", &mut invoice.notes);
    ch.customer(invoice.contact_id, invoice.company_id);
    uow.check_links(&invoice, existing.as_ref(), &mut ch.errs).await?;
    let outcome = match existing {
        None => {
            let invoice = uow.create(invoice, ch.errs).await?;
            (invoice, MirrorOutcome::Created)
        }
        Some(before) => {
            let saved = uow.save(&before, invoice, std::mem::take(&mut ch.errs), &["status"]).await?;
            if saved.version == before.version {
                return Ok((saved, MirrorOutcome::Unchanged));
            }
            if saved.status != from {
                emit_status(uow, &saved, from);
            }
            (saved, MirrorOutcome::Updated)
        }
    };
    Ok(outcome)
}

/// [`Payments::mirror`](super::Payments::mirror), in the caller's unit of work.
pub(super) async fn mirror_payment(uow: &mut Uow<'_>, input: ExternalPayment) -> Result<(Payment, MirrorOutcome)> {
    let ExternalPayment { mut system, mut external_id, payment: input } = input;
    let mut ch = Checks::default();
    check_system(&mut ch, &mut system, &mut external_id);
    ch.positive("amount", input.amount.amount);
    let existing: Option<Payment> = find_mirrored(uow, &system, &external_id).await?;
    if let Some(e) = &existing
        && e.managed_by.as_deref() != Some(system.as_str())
    {
        return Err(Error::invalid(
            "external_id",
            FieldErrorCode::Rule,
            format!("a payment with this id is kept by {}", e.managed_by.as_deref().unwrap_or("the CRM")),
        ));
    }
    ch.customer(input.contact_id, input.company_id);
    let mut applied = Decimal::ZERO;
    let mut invoices: Vec<Invoice> = Vec::new();
    for (i, (invoice_id, amount)) in input.apply_to.iter().enumerate() {
        let at = format!("applications[{i}]");
        let Some(inv) = uow.tx.fetch::<Invoice>(*invoice_id).await? else {
            ch.push(at, FieldErrorCode::NotFound, format!("no invoice with id {invoice_id}"));
            continue;
        };
        if inv.managed_by.as_deref() != Some(system.as_str()) {
            ch.push(at, FieldErrorCode::Rule, format!("invoice {} is not kept in {system}", inv.number));
        } else if amount.currency != inv.currency || amount.currency != input.amount.currency {
            ch.push(format!("{at}.amount"), FieldErrorCode::CurrencyMismatch, "payment and invoice currencies differ");
        } else if amount.amount <= Decimal::ZERO {
            ch.push(format!("{at}.amount"), FieldErrorCode::OutOfRange, "must be greater than zero");
        } else if !((inv.company_id.is_some() && inv.company_id == input.company_id)
            || (inv.contact_id.is_some() && inv.contact_id == input.contact_id))
        {
            ch.push(at, FieldErrorCode::Rule, format!("invoice {} belongs to another customer", inv.number));
        }
        applied = applied.checked_add(amount.amount).unwrap_or(Decimal::MAX);
        if !invoices.iter().any(|x| x.id == inv.id) {
            invoices.push(inv);
        }
    }
    if applied > input.amount.amount {
        ch.push("applications", FieldErrorCode::OutOfRange, "more is applied than was paid");
    }
    let mut payment = existing.clone().unwrap_or_else(|| {
        new_record!(
            uow,
            Payment {
                contact_id: None,
                company_id: None,
                amount: input.amount,
                received_on: input.received_on,
                method: input.method,
                reference: None,
                applications: Vec::new(),
                external_refs: Vec::new(),
                notes: None,
                managed_by: Some(system.clone()),
            }
        )
    });
    let old_invoices: Vec<InvoiceId> = payment.applications.iter().map(|a| a.invoice_id).collect();
    payment.contact_id = input.contact_id;
    payment.company_id = input.company_id;
    payment.amount = input.amount;
    payment.received_on = input.received_on;
    payment.method = input.method;
    payment.reference = input.reference;
    payment.notes = input.notes;
    payment.external_refs = input.external_refs;
    payment.external_refs.insert(0, ExternalRef::new(system.clone(), external_id.clone()));
    ch.opt_name("reference", &mut payment.reference);
    ch.opt_text("notes", &mut payment.notes);
    ch.external_refs(&mut payment.external_refs);
    // The invoices applied to were checked above, so before the new applications are set.
    uow.check_links(&payment, existing.as_ref(), &mut ch.errs).await?;
    payment.applications = input
        .apply_to
        .iter()
        .map(|(invoice_id, amount)| PaymentApplication { invoice_id: *invoice_id, amount: *amount })
        .collect();
    Error::check(std::mem::take(&mut ch.errs))?;
    let (payment, outcome) = match &existing {
        None => (uow.create(payment, Vec::new()).await?, MirrorOutcome::Created),
        Some(before) => {
            let saved = uow.save(before, payment, Vec::new(), &[]).await?;
            if saved.version == before.version {
                return Ok((saved, MirrorOutcome::Unchanged));
            }
            (saved, MirrorOutcome::Updated)
        }
    };
    // The invoices it no longer pays lose their entry; the ones it pays list it.
    for id in old_invoices {
        if !invoices.iter().any(|i| i.id == id)
            && let Some(inv) = uow.tx.fetch::<Invoice>(id).await?
        {
            invoices.push(inv);
        }
    }
    for mut inv in invoices {
        let before = inv.payments.clone();
        inv.payments.retain(|p| p.payment_id != payment.id);
        for a in payment.applications.iter().filter(|a| a.invoice_id == inv.id) {
            inv.payments.push(AppliedPayment {
                payment_id: payment.id,
                paid_on: payment.received_on,
                amount: a.amount,
                method: payment.method,
            });
        }
        inv.payments.sort_by_key(|p| (p.paid_on, p.payment_id));
        if inv.payments != before {
            let subject = EntityRef::new(EntityKind::Invoice, inv.id);
            let related = inv.related();
            uow.save_system(inv).await?;
            uow.emit(subject, related, crate::event::Change::Updated { fields: vec!["payments".into()] });
        }
    }
    Ok((payment, outcome))
}
