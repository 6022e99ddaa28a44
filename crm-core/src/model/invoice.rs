use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::product::{ExternalRef, external_keys, external_list};
use crate::entity::{EntityKind, Links, UniqueKey};
use crate::ids::{CompanyId, ContactId, DealId, InvoiceId, OrderId, PaymentId};
use crate::macros::record;
use crate::macros::str_enum;
use crate::model::impl_entity;
use crate::model::{LineItem, PaymentMethod};
use crate::money::{Currency, Money};
use crate::value::CustomValues;

/// What a customer is allowed: how long they have to pay and how much they may owe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreditTerms {
    /// Days from issue to due date ("net 30").
    pub net_days: u32,
    /// The most they may owe at once (None: no limit).
    pub credit_limit: Option<Money>,
}

impl CreditTerms {
    /// Net `days`, no limit.
    pub fn net(days: u32) -> Self {
        Self { net_days: days, credit_limit: None }
    }

    /// Sets a credit limit.
    pub fn limit(mut self, limit: Money) -> Self {
        self.credit_limit = Some(limit);
        self
    }
}

/// What a customer owes as the accounting system reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AccountBalance {
    /// Owed in all (accounts receivable outstanding).
    pub outstanding: Money,
    /// The part of it past due.
    pub overdue: Money,
    /// When the accounting system reported it.
    pub as_of: DateTime<Utc>,
}

/// Net days used when neither the company nor the contact has terms.
pub const DEFAULT_NET_DAYS: u32 = 30;

str_enum! {
    /// Where an invoice is in its life.
    pub enum InvoiceStatus {
        /** Not yet issued; lines may change. */ Draft = "draft",
        /** Issued to the customer. */ Sent = "sent",
        /** Some of it is paid. */ PartiallyPaid = "partially_paid",
        /** Fully paid. */ Paid = "paid",
        /** Past its due date with a balance (set by `mark_overdue`). */ Overdue = "overdue",
        /** Cancelled; nothing is owed. */ Void = "void",
    }
}

impl InvoiceStatus {
    /// Whether the invoice is issued and not settled or void: money is owed on it.
    pub fn is_open(self) -> bool {
        matches!(self, InvoiceStatus::Sent | InvoiceStatus::PartiallyPaid | InvoiceStatus::Overdue)
    }
}

/// A payment applied to an invoice, as the invoice records it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AppliedPayment {
    /// The payment.
    pub payment_id: PaymentId,
    /// When it was received.
    pub paid_on: NaiveDate,
    /// How much of it went to this invoice.
    pub amount: Money,
    /// How it was paid.
    pub method: PaymentMethod,
}

record! {
    /// A bill: what a customer owes, when, and what they have paid against it.
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    pub struct Invoice(InvoiceId) {
        /// Invoice number, unique per tenant.
        pub number: String,
        /// The billed person (at least one of contact and company is set).
        pub contact_id: Option<ContactId>,
        /// The billed company.
        pub company_id: Option<CompanyId>,
        /// The order it bills.
        pub order_id: Option<OrderId>,
        /// The deal it bills.
        pub deal_id: Option<DealId>,
        /// Where it is in its life. Changed only by the invoice service.
        pub status: InvoiceStatus,
        /// The currency of every line and payment.
        #[cfg_attr(feature = "openapi", schema(value_type = String, pattern = "^[A-Z]{3}$", example = "EUR"))]
        pub currency: Currency,
        /// What is billed.
        pub lines: Vec<LineItem>,
        /// Sum of the lines' net totals (computed).
        pub subtotal: Money,
        /// Sum of the lines' taxes (computed).
        pub tax: Money,
        /// Subtotal plus tax (computed).
        pub total: Money,
        /// Sum of the payments applied (computed).
        pub amount_paid: Money,
        /// When it was issued.
        pub issue_date: NaiveDate,
        /// When payment is due.
        pub due_date: NaiveDate,
        /// When it was sent.
        pub sent_at: Option<DateTime<Utc>>,
        /// The day the last payment settled it.
        pub paid_on: Option<NaiveDate>,
        /// When it was voided.
        pub voided_at: Option<DateTime<Utc>>,
        /// Payments applied to it, oldest first.
        pub payments: Vec<AppliedPayment>,
        /// Notes.
        pub notes: Option<String>,
        /// Ids in other systems (the accounting package that owns it).
        pub external_refs: Vec<ExternalRef>,
        /// The accounting system that owns this invoice (e.g. `xero`), when it is a mirror of
        /// one kept there: it is then read-only in the CRM and changed only by
        /// [`Invoices::mirror`](crate::service::Invoices::mirror).
        #[serde(default)]
        pub managed_by: Option<String>,
        /// Custom field values.
        #[cfg_attr(feature = "openapi", schema(value_type = std::collections::BTreeMap<String, crate::value::FieldValue>))]
        pub custom: CustomValues,
    }
}

impl Invoice {
    /// What is still owed: total less payments (zero when void).
    pub fn balance_due(&self) -> Money {
        if self.status == InvoiceStatus::Void {
            return Money::zero(self.currency);
        }
        Money::new(self.total.amount - self.amount_paid.amount, self.currency)
    }

    /// Whether money is owed on it past its due date, as of `today`.
    pub fn is_overdue_on(&self, today: NaiveDate) -> bool {
        self.status.is_open() && self.due_date < today && self.balance_due().amount > Decimal::ZERO
    }

    /// Days from issue to settlement, once paid.
    pub fn days_to_pay(&self) -> Option<i64> {
        match (self.status, self.paid_on) {
            (InvoiceStatus::Paid, Some(on)) => Some((on - self.issue_date).num_days()),
            _ => None,
        }
    }
}

impl_entity! {
    Invoice, InvoiceId, Invoice, custom: true;
    links: |i| Links::default()
        .customer(i.contact_id, i.company_id)
        .one("order_id", EntityKind::Order, i.order_id)
        .one("deal_id", EntityKind::Deal, i.deal_id);
    unique: |i| {
        let mut keys = vec![UniqueKey::new("number", i.number.clone())];
        keys.extend(external_keys(&i.external_refs));
        keys
    };
    deletable: |i| {
        refuse_managed(&format!("invoice {}", i.number), &i.managed_by)?;
        if i.status != InvoiceStatus::Draft {
            return Err(crate::error::Error::invalid(
                "status",
                crate::error::FieldErrorCode::Rule,
                "only a draft invoice is deleted; void it instead",
            ));
        }
        Ok(())
    };
    fields {
        "number": Text => |i| i.number.clone(),
        "contact_id": Id => |i| i.contact_id,
        "company_id": Id => |i| i.company_id,
        "order_id": Id => |i| i.order_id,
        "deal_id": Id => |i| i.deal_id,
        "status": Text => |i| i.status,
        "currency": Text => |i| i.currency.code().to_owned(),
        "total": Decimal => |i| i.total.amount,
        "amount_paid": Decimal => |i| i.amount_paid.amount,
        "balance_due": Decimal => |i| i.balance_due().amount,
        "issue_date": Date => |i| i.issue_date,
        "due_date": Date => |i| i.due_date,
        "paid_on": Date => |i| i.paid_on,
        "external_refs": TextList => |i| external_list(&i.external_refs),
        "managed_by": Text => |i| i.managed_by.clone(),
    }
}

/// Refuses a change to a record an accounting system keeps (`managed_by`): it is changed there,
/// and the next sync brings the change here.
pub(crate) fn refuse_managed(what: &str, managed_by: &Option<String>) -> crate::error::Result<()> {
    match managed_by {
        Some(system) => Err(crate::error::Error::invalid(
            "managed_by",
            crate::error::FieldErrorCode::ReadOnly,
            format!("{what} is kept in {system}; change it there (the next sync brings the change here)"),
        )),
        None => Ok(()),
    }
}
