//! Invoices: what customers owe.

use chrono::{Days, NaiveDate};

use super::Records;
use super::checks::Checks;
use super::lines::{check_line_products, check_lines, document_currency, terms_for, totals};
use super::mirror::{ExternalInvoice, MirrorOutcome, mirror_invoice};
use super::orders::number_from_id;
use super::records::Guard;
use super::uow::Uow;
use crate::error::{Error, FieldErrorCode, Result};
use crate::event::Change;
use crate::ids::{CompanyId, ContactId, DealId, InvoiceId, OrderId};
use crate::macros::new_input;
use crate::model::Entity;
use crate::model::{
    DEFAULT_NET_DAYS, ExternalRef, Invoice, InvoiceStatus, LineItem, Order, OrderStatus, refuse_managed,
};
use crate::money::{Currency, Money};
use crate::query::Filter;
use crate::value::CustomValues;

new_input! {
    /// Input for a new (draft) invoice.
    #[derive(Clone, Debug, Default, PartialEq)]
    pub struct NewInvoice {
        /// Invoice number (default: `INV-` and a unique suffix). Unique per tenant.
        pub number: Option<String> => some number(String),
        /// The billed person.
        pub contact_id: Option<ContactId> => some contact(ContactId),
        /// The billed company.
        pub company_id: Option<CompanyId> => some company(CompanyId),
        /// The order it bills.
        pub order_id: Option<OrderId> => some order(OrderId),
        /// The deal it bills.
        pub deal_id: Option<DealId> => some deal(DealId),
        /// Currency (default: the first line's).
        pub currency: Option<Currency> => some currency(Currency),
        /// What is billed.
        pub lines: Vec<LineItem> => push line(LineItem),
        /// Issue date (default: today).
        pub issue_date: Option<NaiveDate> => some issued(NaiveDate),
        /// Due date (default: issue date + the customer's net days, else 30).
        pub due_date: Option<NaiveDate> => some due(NaiveDate),
        /// Notes.
        pub notes: Option<String> => some notes(String),
        /// Ids in other systems.
        pub external_refs: Vec<ExternalRef> => refs,
        /// Custom field values.
        pub custom: CustomValues => custom,
    }
}

impl NewInvoice {
    /// A draft invoice to a contact.
    pub fn for_contact(contact: ContactId) -> Self {
        Self { contact_id: Some(contact), ..Default::default() }
    }
    /// A draft invoice to a company.
    pub fn for_company(company: CompanyId) -> Self {
        Self { company_id: Some(company), ..Default::default() }
    }
}

fn check_invoice(i: &mut Invoice, ch: &mut Checks) {
    ch.code("number", &mut i.number);
    check_lines(ch, "lines", &mut i.lines, Some(i.currency));
    let t = totals(ch, "lines", &i.lines, i.currency);
    (i.subtotal, i.tax, i.total) = (t.subtotal, t.tax, t.total);
    if i.due_date < i.issue_date {
        ch.push("due_date", FieldErrorCode::OutOfRange, "an invoice cannot fall due before it is issued");
    }
    ch.opt_text("notes", &mut i.notes);
    ch.external_refs(&mut i.external_refs);
}

async fn check_invoice_refs(
    uow: &mut Uow<'_>,
    i: &mut Invoice,
    before: Option<&Invoice>,
    inherited: &[LineItem],
    ch: &mut Checks,
) -> Result<()> {
    ch.customer(i.contact_id, i.company_id);
    uow.check_links(i, before, &mut ch.errs).await?;
    // Lines copied from the billed order may keep products retired since.
    let before_lines = before.map(|b| b.lines.as_slice()).unwrap_or(inherited);
    check_line_products(uow, "lines", &mut i.lines, before_lines, ch).await
}

/// Fields an edit may not change: they move through `send`, `void` and payments.
const GUARD: Guard = Guard {
    fields: &["status", "payments", "amount_paid", "sent_at", "paid_on", "voided_at"],
    through: "send, void and payments",
};

/// Invoices: what customers owe. Payments are applied through [`Payments`](super::Payments).
/// Only a draft is deleted (issued invoices are voided), and never one accounting keeps.
///
/// ```
/// # futures::executor::block_on(async {
/// use crm_core::prelude::*;
/// use crm_core::model::LineItem;
/// use rust_decimal::Decimal;
/// let crm = Crm::new(MemoryStore::new());
/// let cx = crm.as_actor(&Actor::system(TenantId::new()));
/// let ann = cx.contacts().create(NewContact::new("Ann", "Lee")).await?;
/// let line = LineItem::new("Consulting day", Decimal::from(2), Money::new(Decimal::from(600), Currency::EUR));
/// let draft = cx.invoices().create(NewInvoice::for_contact(ann.id).line(line)).await?;
/// let sent = cx.invoices().send(draft.id).await?;
/// assert_eq!(sent.status, InvoiceStatus::Sent);
/// assert_eq!(sent.balance_due().amount, Decimal::from(1200));
/// # Ok::<_, Error>(()) }).unwrap();
/// ```
pub type Invoices<'s> = Records<'s, Invoice>;

impl Records<'_, Invoice> {
    /// Creates a draft invoice. The due date defaults to the customer's terms.
    pub async fn create(&self, input: NewInvoice) -> Result<Invoice> {
        self.write(|uow| Box::pin(async move { new_invoice(uow, input, &[]).await })).await
    }

    /// Creates a draft invoice billing an order's lines to its customer.
    pub async fn from_order(&self, order_id: OrderId) -> Result<Invoice> {
        self.write(|uow| {
            Box::pin(async move {
                let order = uow.tx.require::<Order>(order_id).await?;
                if matches!(order.status, OrderStatus::Draft | OrderStatus::Cancelled | OrderStatus::Returned) {
                    return Err(Error::invalid(
                        "order_id",
                        FieldErrorCode::Rule,
                        format!("order {} is {}; only placed orders are invoiced", order.number, order.status),
                    ));
                }
                let input = NewInvoice {
                    contact_id: order.contact_id,
                    company_id: order.company_id,
                    order_id: Some(order.id),
                    deal_id: order.deal_id,
                    currency: Some(order.currency),
                    lines: order.lines.clone(),
                    ..Default::default()
                };
                new_invoice(uow, input, &order.lines).await
            })
        })
        .await
    }

    /// Saves changes to an invoice read earlier. Lines, currency, customer and dates change
    /// only while it is a draft; status, payments and totals never directly.
    pub async fn update(&self, invoice: Invoice) -> Result<Invoice> {
        self.update_with(invoice, &GUARD, &["subtotal", "tax", "total"], |uow, before, invoice, ch| {
            Box::pin(async move {
                refuse_managed(&format!("invoice {}", before.number), &before.managed_by)?;
                if before.status != InvoiceStatus::Draft {
                    let fixed = [
                        ("lines", before.lines != invoice.lines),
                        ("currency", before.currency != invoice.currency),
                        ("contact_id", before.contact_id != invoice.contact_id),
                        ("company_id", before.company_id != invoice.company_id),
                        ("issue_date", before.issue_date != invoice.issue_date),
                        ("due_date", before.due_date != invoice.due_date),
                        ("number", before.number != invoice.number),
                    ];
                    for (field, _) in fixed.into_iter().filter(|(_, changed)| *changed) {
                        ch.push(
                            field,
                            FieldErrorCode::ReadOnly,
                            format!("the invoice is {}; issued invoices are fixed", before.status),
                        );
                    }
                }
                check_invoice(invoice, ch);
                check_invoice_refs(uow, invoice, Some(before), &[], ch).await
            })
        })
        .await
    }

    /// Issues a draft invoice to the customer. It needs at least one line.
    pub async fn send(&self, id: InvoiceId) -> Result<Invoice> {
        self.change(id, |uow, mut invoice| {
            Box::pin(async move {
                refuse_managed(&format!("invoice {}", invoice.number), &invoice.managed_by)?;
                if invoice.status != InvoiceStatus::Draft {
                    return Err(Error::transition("status", invoice.status, "sent", "only a draft is sent"));
                }
                if invoice.lines.is_empty() {
                    return Err(Error::invalid(
                        "lines",
                        FieldErrorCode::Required,
                        "an invoice needs at least one line",
                    ));
                }
                invoice.status = InvoiceStatus::Sent;
                invoice.sent_at = Some(uow.now);
                let invoice = uow.save_system(invoice).await?;
                emit_status(uow, &invoice, InvoiceStatus::Draft);
                Ok(invoice)
            })
        })
        .await
    }

    /// Voids an invoice nobody has paid anything on.
    pub async fn void(&self, id: InvoiceId) -> Result<Invoice> {
        self.change(id, |uow, mut invoice| {
            Box::pin(async move {
                refuse_managed(&format!("invoice {}", invoice.number), &invoice.managed_by)?;
                let from = invoice.status;
                if from == InvoiceStatus::Void {
                    return Ok(invoice);
                }
                if !invoice.payments.is_empty() {
                    return Err(Error::transition(
                        "status",
                        from,
                        "void",
                        "payments were applied to it; it cannot be voided",
                    ));
                }
                invoice.status = InvoiceStatus::Void;
                invoice.voided_at = Some(uow.now);
                let invoice = uow.save_system(invoice).await?;
                emit_status(uow, &invoice, from);
                Ok(invoice)
            })
        })
        .await
    }

    /// Marks every sent or partially paid invoice past its due date as of `today` overdue;
    /// returns them.
    pub async fn mark_overdue(&self, today: NaiveDate) -> Result<Vec<Invoice>> {
        self.write(|uow| {
            Box::pin(async move {
                let due = Filter::is_in("status", [InvoiceStatus::Sent, InvoiceStatus::PartiallyPaid])
                    .and(Filter::lt("due_date", today));
                let mut out = Vec::new();
                for mut invoice in uow.tx.find_all::<Invoice>(due).await? {
                    if !invoice.is_overdue_on(today) || invoice.managed_by.is_some() {
                        continue;
                    }
                    let from = invoice.status;
                    invoice.status = InvoiceStatus::Overdue;
                    let invoice = uow.save_system(invoice).await?;
                    emit_status(uow, &invoice, from);
                    out.push(invoice);
                }
                Ok(out)
            })
        })
        .await
    }

    /// Writes the CRM's read-only mirror of an invoice kept in an accounting system: creates
    /// it, updates it, or leaves it as it is when nothing changed. The amounts are taken as
    /// given (the accounting system's rounding rules), after checking they add up.
    ///
    /// Refused with a typed error, writing nothing: a bad number, a customer who does not
    /// exist, amounts that don't add up, a record of the same id kept by another system or
    /// by the CRM itself, a number another invoice has.
    pub async fn mirror(&self, input: ExternalInvoice) -> Result<(Invoice, MirrorOutcome)> {
        self.write(|uow| Box::pin(async move { mirror_invoice(uow, input).await })).await
    }
}

pub(super) fn emit_status(uow: &mut Uow<'_>, invoice: &Invoice, from: InvoiceStatus) {
    uow.emit(
        invoice.entity_ref(),
        invoice.related(),
        Change::StatusChanged { from: from.to_string(), to: invoice.status.to_string() },
    );
}

async fn new_invoice(uow: &mut Uow<'_>, input: NewInvoice, inherited: &[LineItem]) -> Result<Invoice> {
    let mut ch = Checks::default();
    let Some(currency) = document_currency(&mut ch, input.currency, &input.lines) else {
        Error::check(ch.errs)?;
        return Err(Error::invalid("currency", FieldErrorCode::Required, "give a currency or at least one line"));
    };
    let id: InvoiceId = uow.new_id();
    let issue_date = input.issue_date.unwrap_or(uow.now.date_naive());
    let due_date = match input.due_date {
        Some(d) => d,
        None => {
            let net =
                terms_for(uow, input.contact_id, input.company_id).await?.map_or(DEFAULT_NET_DAYS, |t| t.net_days);
            issue_date.checked_add_days(Days::new(u64::from(net))).unwrap_or(issue_date)
        }
    };
    let zero = Money::zero(currency);
    let mut invoice = Invoice {
        id,
        tenant_id: uow.s.tenant(),
        version: 1,
        created_at: uow.now,
        updated_at: uow.now,
        number: input.number.unwrap_or_else(|| number_from_id("INV", id.as_uuid())),
        contact_id: input.contact_id,
        company_id: input.company_id,
        order_id: input.order_id,
        deal_id: input.deal_id,
        status: InvoiceStatus::Draft,
        currency,
        lines: input.lines,
        subtotal: zero,
        tax: zero,
        total: zero,
        amount_paid: zero,
        issue_date,
        due_date,
        sent_at: None,
        paid_on: None,
        voided_at: None,
        payments: Vec::new(),
        notes: input.notes,
        external_refs: input.external_refs,
        managed_by: None,
        custom: input.custom,
    };
    check_invoice(&mut invoice, &mut ch);
    check_invoice_refs(uow, &mut invoice, None, inherited, &mut ch).await?;
    uow.create(invoice, ch.errs).await
}
