use chrono::{Days, NaiveDate};
use rust_decimal::Decimal;

use super::Session;
use super::checks::{Checks, refuse_guarded};
use super::lines::{
    check_customer, check_line_products, check_lines, check_links, document_currency, terms_for, totals,
};
use super::mirror::refuse_managed;
use super::orders::{number_from_id, set_status};
use super::uow::Uow;
use super::uow::{count, list};
use crate::entity::{Entity, EntityKind, EntityRef};
use crate::error::{Error, FieldErrorCode, Result};
use crate::event::Change;
use crate::ids::{CompanyId, ContactId, DealId, InvoiceId, OrderId, PaymentId};
use crate::model::{
    AppliedPayment, DEFAULT_NET_DAYS, ExternalRef, Invoice, InvoiceStatus, LineItem, Order, OrderStatus, Payment,
    PaymentApplication, PaymentMethod,
};
use crate::money::{Currency, Money};
use crate::query::{Filter, Page, Query};
use crate::value::{CustomFields, Value};

/// Input for a new (draft) invoice.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NewInvoice {
    /// Invoice number (default: `INV-` and a unique suffix). Unique per tenant.
    pub number: Option<String>,
    /// The billed person.
    pub contact_id: Option<ContactId>,
    /// The billed company.
    pub company_id: Option<CompanyId>,
    /// The order it bills.
    pub order_id: Option<OrderId>,
    /// The deal it bills.
    pub deal_id: Option<DealId>,
    /// Currency (default: the first line's).
    pub currency: Option<Currency>,
    /// What is billed.
    pub lines: Vec<LineItem>,
    /// Issue date (default: today).
    pub issue_date: Option<NaiveDate>,
    /// Due date (default: issue date + the customer's net days, else 30).
    pub due_date: Option<NaiveDate>,
    /// Notes.
    pub notes: Option<String>,
    /// Ids in other systems.
    pub external_refs: Vec<ExternalRef>,
    /// Custom field values.
    pub custom: CustomFields,
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
    /// Sets the contact.
    pub fn contact(mut self, id: ContactId) -> Self {
        self.contact_id = Some(id);
        self
    }
    /// Sets the number.
    pub fn number(mut self, number: impl Into<String>) -> Self {
        self.number = Some(number.into());
        self
    }
    /// Sets the currency.
    pub fn currency(mut self, currency: Currency) -> Self {
        self.currency = Some(currency);
        self
    }
    /// Adds a line.
    pub fn line(mut self, line: LineItem) -> Self {
        self.lines.push(line);
        self
    }
    /// Sets the issue date.
    pub fn issued(mut self, date: NaiveDate) -> Self {
        self.issue_date = Some(date);
        self
    }
    /// Sets the due date.
    pub fn due(mut self, date: NaiveDate) -> Self {
        self.due_date = Some(date);
        self
    }
    /// Links the deal.
    pub fn deal(mut self, id: DealId) -> Self {
        self.deal_id = Some(id);
        self
    }
    /// Sets the notes.
    pub fn notes(mut self, text: impl Into<String>) -> Self {
        self.notes = Some(text.into());
        self
    }
    /// Adds an id in another system.
    pub fn external_ref(mut self, system: impl Into<String>, id: impl Into<String>) -> Self {
        self.external_refs.push(ExternalRef::new(system, id));
        self
    }
    /// Sets a custom field value.
    pub fn custom(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.custom.insert(key.into(), value.into());
        self
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
    check_customer(uow, i.contact_id, i.company_id, before.map(|b| (b.contact_id, b.company_id)), true, ch).await?;
    // Lines copied from the billed order may keep products retired since.
    let before_lines = before.map(|b| b.lines.as_slice()).unwrap_or(inherited);
    check_line_products(uow, "lines", &mut i.lines, before_lines, ch).await?;
    let order = |i: &Invoice| i.order_id.map(|o| EntityRef::new(EntityKind::Order, o));
    let deal = |i: &Invoice| i.deal_id.map(|d| EntityRef::new(EntityKind::Deal, d));
    check_links(uow, &[("order_id", order(i), before.and_then(order)), ("deal_id", deal(i), before.and_then(deal))], ch)
        .await
}

fn refuse(field: &str, from: InvoiceStatus, to: &str, reason: impl Into<String>) -> Error {
    Error::InvalidTransition { field: field.into(), from: from.to_string(), to: to.into(), reason: reason.into() }
}

/// Invoices: what customers owe. Payments are applied through [`Payments`].
#[derive(Clone, Copy, Debug)]
pub struct Invoices<'s> {
    pub(crate) s: &'s Session,
}

impl Invoices<'_> {
    /// Creates a draft invoice. The due date defaults to the customer's terms.
    pub async fn create(&self, input: NewInvoice) -> Result<Invoice> {
        let mut uow = Uow::write(self.s).await?;
        let invoice = new_invoice(&mut uow, input, &[]).await?;
        uow.commit().await?;
        Ok(invoice)
    }

    /// Creates a draft invoice billing an order's lines to its customer.
    pub async fn from_order(&self, order_id: OrderId) -> Result<Invoice> {
        let mut uow = Uow::write(self.s).await?;
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
        let invoice = new_invoice(&mut uow, input, &order.lines).await?;
        uow.commit().await?;
        Ok(invoice)
    }

    /// The invoice with this id.
    pub async fn get(&self, id: InvoiceId) -> Result<Invoice> {
        Uow::read(self.s).await?.tx.require::<Invoice>(id).await
    }

    /// Saves changes to an invoice read earlier. Lines, currency, customer and dates change
    /// only while it is a draft; status, payments and totals never directly.
    pub async fn update(&self, mut invoice: Invoice) -> Result<Invoice> {
        let mut uow = Uow::write(self.s).await?;
        let before = uow.load_for_update(&invoice).await?;
        refuse_managed(&format!("invoice {}", before.number), &before.managed_by)?;
        let guarded = [
            ("status", before.status != invoice.status),
            ("payments", before.payments != invoice.payments),
            ("amount_paid", before.amount_paid != invoice.amount_paid),
            ("sent_at", before.sent_at != invoice.sent_at),
            ("paid_on", before.paid_on != invoice.paid_on),
            ("voided_at", before.voided_at != invoice.voided_at),
        ];
        refuse_guarded(&guarded, before.status.as_str(), invoice.status.as_str(), "send, void and payments")?;
        let mut ch = Checks::default();
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
            for (field, changed) in fixed {
                if changed {
                    ch.push(
                        field,
                        FieldErrorCode::ReadOnly,
                        format!("the invoice is {}; issued invoices are fixed", before.status),
                    );
                }
            }
        }
        check_invoice(&mut invoice, &mut ch);
        check_invoice_refs(&mut uow, &mut invoice, Some(&before), &[], &mut ch).await?;
        let saved = uow.save(&before, invoice, ch.errs, &["subtotal", "tax", "total"]).await?;
        uow.commit().await?;
        Ok(saved)
    }

    /// Issues a draft invoice to the customer. It needs at least one line.
    pub async fn send(&self, id: InvoiceId) -> Result<Invoice> {
        let mut uow = Uow::write(self.s).await?;
        let mut invoice = uow.tx.require::<Invoice>(id).await?;
        refuse_managed(&format!("invoice {}", invoice.number), &invoice.managed_by)?;
        if invoice.status != InvoiceStatus::Draft {
            return Err(refuse("status", invoice.status, "sent", "only a draft is sent"));
        }
        if invoice.lines.is_empty() {
            return Err(Error::invalid("lines", FieldErrorCode::Required, "an invoice needs at least one line"));
        }
        invoice.status = InvoiceStatus::Sent;
        invoice.sent_at = Some(uow.now);
        let invoice = uow.save_system(invoice).await?;
        emit_status(&mut uow, &invoice, InvoiceStatus::Draft);
        uow.commit().await?;
        Ok(invoice)
    }

    /// Voids an invoice nobody has paid anything on.
    pub async fn void(&self, id: InvoiceId) -> Result<Invoice> {
        let mut uow = Uow::write(self.s).await?;
        let mut invoice = uow.tx.require::<Invoice>(id).await?;
        refuse_managed(&format!("invoice {}", invoice.number), &invoice.managed_by)?;
        let from = invoice.status;
        if from == InvoiceStatus::Void {
            return Ok(invoice);
        }
        if !invoice.payments.is_empty() {
            return Err(refuse("status", from, "void", "payments were applied to it; it cannot be voided"));
        }
        invoice.status = InvoiceStatus::Void;
        invoice.voided_at = Some(uow.now);
        let invoice = uow.save_system(invoice).await?;
        emit_status(&mut uow, &invoice, from);
        uow.commit().await?;
        Ok(invoice)
    }

    /// Marks every sent or partially paid invoice past its due date as of `today` overdue;
    /// returns them.
    pub async fn mark_overdue(&self, today: NaiveDate) -> Result<Vec<Invoice>> {
        let mut uow = Uow::write(self.s).await?;
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
            emit_status(&mut uow, &invoice, from);
            out.push(invoice);
        }
        uow.commit().await?;
        Ok(out)
    }

    /// A page of invoices.
    pub async fn list(&self, query: &Query) -> Result<Page<Invoice>> {
        list::<Invoice>(self.s, query).await
    }

    /// How many invoices match.
    pub async fn count(&self, filter: &Filter) -> Result<u64> {
        count::<Invoice>(self.s, filter).await
    }

    /// Deletes a draft invoice at `version` (issued invoices are voided, not deleted).
    pub async fn delete(&self, id: InvoiceId, version: u64) -> Result<()> {
        let mut uow = Uow::write(self.s).await?;
        let invoice = uow.tx.require::<Invoice>(id).await?;
        refuse_managed(&format!("invoice {}", invoice.number), &invoice.managed_by)?;
        if invoice.status != InvoiceStatus::Draft {
            return Err(Error::invalid(
                "status",
                FieldErrorCode::Rule,
                "only a draft invoice is deleted; void it instead",
            ));
        }
        super::uow::delete_relations(&mut uow, invoice.entity_ref()).await?;
        uow.remove(&invoice.into_record(), version).await?;
        uow.commit().await?;
        Ok(())
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

/// Input for a payment received.
#[derive(Clone, Debug, PartialEq)]
pub struct NewPayment {
    /// The paying person.
    pub contact_id: Option<ContactId>,
    /// The paying company.
    pub company_id: Option<CompanyId>,
    /// How much.
    pub amount: Money,
    /// When it was received.
    pub received_on: NaiveDate,
    /// How.
    pub method: PaymentMethod,
    /// Bank or card reference.
    pub reference: Option<String>,
    /// Invoices to apply it to, with how much each; the rest stays as credit.
    pub apply_to: Vec<(InvoiceId, Money)>,
    /// Ids in other systems.
    pub external_refs: Vec<ExternalRef>,
    /// Notes.
    pub notes: Option<String>,
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
    /// Sets the paying contact.
    pub fn from_contact(mut self, id: ContactId) -> Self {
        self.contact_id = Some(id);
        self
    }
    /// Sets the paying company.
    pub fn from_company(mut self, id: CompanyId) -> Self {
        self.company_id = Some(id);
        self
    }
    /// Applies `amount` of it to `invoice`.
    pub fn apply(mut self, invoice: InvoiceId, amount: Money) -> Self {
        self.apply_to.push((invoice, amount));
        self
    }
    /// Sets the reference.
    pub fn reference(mut self, text: impl Into<String>) -> Self {
        self.reference = Some(text.into());
        self
    }
    /// Adds an id in another system.
    pub fn external_ref(mut self, system: impl Into<String>, id: impl Into<String>) -> Self {
        self.external_refs.push(ExternalRef::new(system, id));
        self
    }
}

/// Payments: money received, applied to invoices; the unapplied rest is the customer's credit.
#[derive(Clone, Copy, Debug)]
pub struct Payments<'s> {
    pub(crate) s: &'s Session,
}

impl Payments<'_> {
    /// Records a payment and applies it to the given invoices. Each application must be
    /// positive, in the invoice's currency, to an issued, unsettled invoice of the same
    /// customer, and at most its balance; together they cannot exceed the payment. Nothing is
    /// written if any part is refused. An invoice paid in full becomes paid (and so does its
    /// order, when that order is placed or fulfilled).
    pub async fn record(&self, input: NewPayment) -> Result<Payment> {
        let mut uow = Uow::write(self.s).await?;
        let mut ch = Checks::default();
        ch.positive("amount", input.amount.amount);
        if input.received_on > uow.now.date_naive() {
            ch.push("received_on", FieldErrorCode::OutOfRange, "a payment cannot be received in the future");
        }
        check_customer(&mut uow, input.contact_id, input.company_id, None, true, &mut ch).await?;
        let mut payment = Payment {
            id: uow.new_id(),
            tenant_id: self.s.tenant(),
            version: 1,
            created_at: uow.now,
            updated_at: uow.now,
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
        };
        ch.opt_name("reference", &mut payment.reference);
        ch.opt_text("notes", &mut payment.notes);
        ch.external_refs(&mut payment.external_refs);
        Error::check(std::mem::take(&mut ch.errs))?;
        let payment = uow.create(payment, Vec::new()).await?;
        let payment = apply_all(&mut uow, payment, &input.apply_to, "apply_to").await?;
        uow.commit().await?;
        Ok(payment)
    }

    /// Applies `amount` of a payment's unapplied credit to an invoice (same rules as
    /// [`record`](Self::record)).
    pub async fn apply(&self, payment: PaymentId, invoice: InvoiceId, amount: Money) -> Result<Payment> {
        let mut uow = Uow::write(self.s).await?;
        let p = uow.tx.require::<Payment>(payment).await?;
        refuse_managed("this payment", &p.managed_by)?;
        let p = apply_all(&mut uow, p, &[(invoice, amount)], "apply_to").await?;
        uow.commit().await?;
        Ok(p)
    }

    /// The payment with this id.
    pub async fn get(&self, id: PaymentId) -> Result<Payment> {
        Uow::read(self.s).await?.tx.require::<Payment>(id).await
    }

    /// A page of payments.
    pub async fn list(&self, query: &Query) -> Result<Page<Payment>> {
        list::<Payment>(self.s, query).await
    }

    /// How many payments match.
    pub async fn count(&self, filter: &Filter) -> Result<u64> {
        count::<Payment>(self.s, filter).await
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
