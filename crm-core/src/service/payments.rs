//! Payments: money received, applied to invoices.

use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::Records;
use super::checks::Checks;
use super::invoices::emit_status;
use super::mirror::{ExternalPayment, MirrorOutcome, mirror_payment};
use super::orders::set_status;
use super::uow::Uow;
use crate::error::{Error, FieldErrorCode, Result};
use crate::event::Change;
use crate::ids::{CompanyId, ContactId, InvoiceId, PaymentId};
use crate::macros::new_input;
use crate::macros::new_record;
use crate::model::Entity;
use crate::model::{
    AppliedPayment, ExternalRef, Invoice, InvoiceStatus, Order, OrderStatus, Payment, PaymentApplication,
    PaymentMethod, refuse_managed,
};
use crate::money::Money;

new_input! {
    /// Input for a payment received.
    #[derive(Clone, Debug, PartialEq)]
    pub struct NewPayment {
        /// The paying person.
        pub contact_id: Option<ContactId> => some from_contact(ContactId),
        /// The paying company.
        pub company_id: Option<CompanyId> => some from_company(CompanyId),
        /// How much.
        pub amount: Money => manual,
        /// When it was received.
        pub received_on: NaiveDate => manual,
        /// How.
        pub method: PaymentMethod => manual,
        /// Bank or card reference.
        pub reference: Option<String> => some reference(String),
        /// Invoices to apply it to, with how much each; the rest stays as credit (see
        /// [`apply`](Self::apply)).
        pub apply_to: Vec<(InvoiceId, Money)> => manual,
        /// Ids in other systems.
        pub external_refs: Vec<ExternalRef> => refs,
        /// Notes.
        pub notes: Option<String> => some notes(String),
    }
}

impl NewPayment {
    /// A payment of `amount` received on `date` by `method`, from nobody yet (set the payer).
    pub fn new(amount: Money, received_on: NaiveDate, method: PaymentMethod) -> Self {
        Self {
            contact_id: None,
            company_id: None,
            amount,
            received_on,
            method,
            reference: None,
            apply_to: Vec::new(),
            external_refs: Vec::new(),
            notes: None,
        }
    }
    /// Applies `amount` of it to `invoice`.
    pub fn apply(mut self, invoice: InvoiceId, amount: Money) -> Self {
        self.apply_to.push((invoice, amount));
        self
    }
}

/// Payments: money received, applied to invoices; the unapplied rest is the customer's credit.
/// A payment is deleted only while nothing of it is applied, and never one accounting keeps.
///
/// ```
/// # futures::executor::block_on(async {
/// use crm_core::prelude::*;
/// use crm_core::model::{LineItem, PaymentMethod};
/// use rust_decimal::Decimal;
/// let crm = Crm::new(MemoryStore::new());
/// let cx = crm.as_actor(&Actor::system(TenantId::new()));
/// let ann = cx.contacts().create(NewContact::new("Ann", "Lee")).await?;
/// let eur = |n: i64| Money::new(Decimal::from(n), Currency::EUR);
/// let draft = cx.invoices().create(NewInvoice::for_contact(ann.id).line(LineItem::new("Audit", Decimal::ONE, eur(500)))).await?;
/// let invoice = cx.invoices().send(draft.id).await?;
/// let today = cx.now().date_naive();
/// let paid = cx.payments().record(
///     NewPayment::new(eur(800), today, PaymentMethod::BankTransfer).from_contact(ann.id).apply(invoice.id, eur(500)),
/// ).await?;
/// assert_eq!(paid.unapplied(), eur(300)); // Ann's credit
/// assert_eq!(cx.invoices().get(invoice.id).await?.status, InvoiceStatus::Paid);
/// # Ok::<_, Error>(()) }).unwrap();
/// ```
pub type Payments<'s> = Records<'s, Payment>;

impl Records<'_, Payment> {
    /// Records a payment and applies it to the given invoices. Each application must be
    /// positive, in the invoice's currency, to an issued, unsettled invoice of the same
    /// customer, and at most its balance; together they cannot exceed the payment. Nothing is
    /// written if any part is refused. An invoice paid in full becomes paid (and so does its
    /// order, when that order is placed or fulfilled).
    pub async fn record(&self, input: NewPayment) -> Result<Payment> {
        self.write(|uow| {
            Box::pin(async move {
                let mut ch = Checks::default();
                ch.positive("amount", input.amount.amount);
                if input.received_on > uow.now.date_naive() {
                    ch.push("received_on", FieldErrorCode::OutOfRange, "a payment cannot be received in the future");
                }
                ch.customer(input.contact_id, input.company_id);
                let mut payment = new_record!(
                    uow,
                    Payment {
                        contact_id: input.contact_id,
                        company_id: input.company_id,
                        amount: input.amount,
                        received_on: input.received_on,
                        method: input.method,
                        reference: input.reference,
                        applications: Vec::new(),
                        external_refs: input.external_refs,
                        notes: input.notes,
                        managed_by: None,
                    }
                );
                ch.opt_name("reference", &mut payment.reference);
                ch.opt_text("notes", &mut payment.notes);
                ch.external_refs(&mut payment.external_refs);
                uow.check_links(&payment, None, &mut ch.errs).await?;
                Error::check(std::mem::take(&mut ch.errs))?;
                let payment = uow.create(payment, Vec::new()).await?;
                apply_all(uow, payment, &input.apply_to, "apply_to").await
            })
        })
        .await
    }

    /// Applies `amount` of a payment's unapplied credit to an invoice (same rules as
    /// [`record`](Self::record)).
    pub async fn apply(&self, payment: PaymentId, invoice: InvoiceId, amount: Money) -> Result<Payment> {
        self.change(payment, |uow, p| {
            Box::pin(async move {
                refuse_managed("this payment", &p.managed_by)?;
                apply_all(uow, p, &[(invoice, amount)], "apply_to").await
            })
        })
        .await
    }

    /// Writes the CRM's read-only mirror of a payment kept in an accounting system, and lists
    /// it on the mirrored invoices it paid (their totals and status stay as accounting reported
    /// them). Applications must be to invoices mirrored from the same system, of the same
    /// customer and currency, and add up to at most the payment.
    pub async fn mirror(&self, input: ExternalPayment) -> Result<(Payment, MirrorOutcome)> {
        self.write(|uow| Box::pin(async move { mirror_payment(uow, input).await })).await
    }
}

/// Applies parts of `payment` to invoices, all or nothing (the caller's transaction is dropped
/// on error).
async fn apply_all(
    uow: &mut Uow<'_>,
    mut payment: Payment,
    parts: &[(InvoiceId, Money)],
    field: &str,
) -> Result<Payment> {
    if parts.is_empty() {
        return Ok(payment);
    }
    let mut ch = Checks::default();
    let first_new = payment.applications.len();
    let mut left = payment.unapplied().amount;
    let mut invoices: Vec<(Invoice, InvoiceStatus)> = Vec::new();
    for (i, (invoice_id, amount)) in parts.iter().enumerate() {
        let at = format!("{field}[{i}]");
        let pos = invoices.iter().position(|(inv, _)| inv.id == *invoice_id);
        let pos = match pos {
            Some(p) => p,
            None => match uow.tx.fetch::<Invoice>(*invoice_id).await? {
                Some(inv) => {
                    let st = inv.status;
                    invoices.push((inv, st));
                    invoices.len() - 1
                }
                None => {
                    ch.push(at, FieldErrorCode::NotFound, format!("no invoice with id {invoice_id}"));
                    continue;
                }
            },
        };
        let invoice = &mut invoices[pos].0;
        if let Some(system) = &invoice.managed_by {
            ch.push(
                at,
                FieldErrorCode::ReadOnly,
                format!("invoice {} is kept in {system}; record its payments there", invoice.number),
            );
            continue;
        }
        if amount.amount <= Decimal::ZERO {
            ch.push(format!("{at}.amount"), FieldErrorCode::OutOfRange, "an applied amount must be greater than zero");
            continue;
        }
        if amount.currency != invoice.currency || amount.currency != payment.amount.currency {
            ch.push(
                format!("{at}.amount"),
                FieldErrorCode::CurrencyMismatch,
                format!(
                    "{} cannot pay invoice {} in {} from a payment in {}",
                    amount,
                    invoice.number,
                    invoice.currency.code(),
                    payment.amount.currency.code()
                ),
            );
            continue;
        }
        if !invoice.status.is_open() {
            ch.push(
                at,
                FieldErrorCode::Rule,
                format!("invoice {} is {}; only issued, unsettled invoices are paid", invoice.number, invoice.status),
            );
            continue;
        }
        let same_customer = (invoice.company_id.is_some() && invoice.company_id == payment.company_id)
            || (invoice.contact_id.is_some() && invoice.contact_id == payment.contact_id);
        if !same_customer {
            ch.push(at, FieldErrorCode::Rule, format!("invoice {} belongs to another customer", invoice.number));
            continue;
        }
        let balance = invoice.balance_due().amount;
        if amount.amount > balance {
            ch.push(
                format!("{at}.amount"),
                FieldErrorCode::OutOfRange,
                format!(
                    "{} is more than the {} {} still owed on invoice {}",
                    amount,
                    balance,
                    invoice.currency.code(),
                    invoice.number
                ),
            );
            continue;
        }
        if amount.amount > left {
            ch.push(
                format!("{at}.amount"),
                FieldErrorCode::OutOfRange,
                format!("only {} {} of the payment is left to apply", left, payment.amount.currency.code()),
            );
            continue;
        }
        left -= amount.amount;
        invoice.amount_paid.amount += amount.amount;
        invoice.payments.push(AppliedPayment {
            payment_id: payment.id,
            paid_on: payment.received_on,
            amount: *amount,
            method: payment.method,
        });
        invoice.status = if invoice.balance_due().amount.is_zero() {
            invoice.paid_on = Some(payment.received_on);
            InvoiceStatus::Paid
        } else if invoice.status == InvoiceStatus::Overdue {
            InvoiceStatus::Overdue
        } else {
            InvoiceStatus::PartiallyPaid
        };
        payment.applications.push(PaymentApplication { invoice_id: *invoice_id, amount: *amount });
    }
    Error::check(ch.errs)?;
    let payment = uow.save_system(payment).await?;
    for (invoice, from) in invoices {
        let invoice = uow.save_system(invoice).await?;
        for part in payment.applications[first_new..].iter().filter(|a| a.invoice_id == invoice.id) {
            uow.emit(
                invoice.entity_ref(),
                invoice.related(),
                Change::PaymentApplied { payment_id: payment.id, amount: part.amount },
            );
        }
        if invoice.status != from {
            emit_status(uow, &invoice, from);
        }
        if invoice.status == InvoiceStatus::Paid
            && let Some(order_id) = invoice.order_id
            && let Some(order) = uow.tx.fetch::<Order>(order_id).await?
            && order.status.can_become(OrderStatus::Paid)
        {
            set_status(uow, order, OrderStatus::Paid, Some(payment.method)).await?;
        }
    }
    Ok(payment)
}
