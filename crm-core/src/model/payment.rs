//! Payments: money received from customers, applied to invoices.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::invoice::refuse_managed;
use super::product::{ExternalRef, external_keys, external_list};
use crate::entity::{EntityKind, Links};
use crate::ids::{CompanyId, ContactId, InvoiceId, PaymentId};
use crate::macros::record;
use crate::model::PaymentMethod;
use crate::model::impl_entity;
use crate::money::Money;

/// Part of a payment applied to one invoice.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PaymentApplication {
    /// The invoice.
    pub invoice_id: InvoiceId,
    /// How much went to it.
    pub amount: Money,
}

record! {
    /// Money received from a customer, applied to invoices; what is not applied is the customer's
    /// credit.
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    pub struct Payment(PaymentId) {
        /// The paying person (at least one of contact and company is set).
        pub contact_id: Option<ContactId>,
        /// The paying company.
        pub company_id: Option<CompanyId>,
        /// How much was received.
        pub amount: Money,
        /// When it was received.
        pub received_on: NaiveDate,
        /// How it was paid.
        pub method: PaymentMethod,
        /// The bank or card reference.
        pub reference: Option<String>,
        /// Where it went, oldest first.
        pub applications: Vec<PaymentApplication>,
        /// Ids in other systems.
        pub external_refs: Vec<ExternalRef>,
        /// Notes.
        pub notes: Option<String>,
        /// The accounting system that owns this payment, when it is a mirror of one kept there
        /// (read-only in the CRM; see [`Payments::mirror`](crate::service::Payments::mirror)).
        #[serde(default)]
        pub managed_by: Option<String>,
    }
}

impl Payment {
    /// The part not yet applied to an invoice (the customer's credit).
    pub fn unapplied(&self) -> Money {
        let applied: Decimal = self.applications.iter().map(|a| a.amount.amount).sum();
        Money::new(self.amount.amount - applied, self.amount.currency)
    }
}

impl_entity! {
    Payment, PaymentId, Payment, custom: false;
    links: |p| Links::default()
        .customer(p.contact_id, p.company_id)
        .each_in("applications", "invoice_id", EntityKind::Invoice, &p.applications, |a| Some(a.invoice_id));
    unique: |p| external_keys(&p.external_refs);
    deletable: |p| {
        refuse_managed("this payment", &p.managed_by)?;
        if !p.applications.is_empty() {
            return Err(crate::error::Error::invalid(
                "applications",
                crate::error::FieldErrorCode::Rule,
                format!("the payment is applied to {} invoices; only an unapplied payment is deleted", p.applications.len()),
            ));
        }
        Ok(())
    };
    fields {
        "contact_id": Id => |p| p.contact_id,
        "company_id": Id => |p| p.company_id,
        "amount": Decimal => |p| p.amount.amount,
        "currency": Text => |p| p.amount.currency.code().to_owned(),
        "unapplied": Decimal => |p| p.unapplied().amount,
        "received_on": Date => |p| p.received_on,
        "method": Text => |p| p.method,
        "reference": Text => |p| p.reference.clone(),
        "invoice_ids": IdList => |p| crate::value::Value::List(
            p.applications.iter().map(|a| crate::value::Value::Id(a.invoice_id.into())).collect()),
        "external_refs": TextList => |p| external_list(&p.external_refs),
        "managed_by": Text => |p| p.managed_by.clone(),
    }
}
