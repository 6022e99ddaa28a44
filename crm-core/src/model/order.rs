use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::product::{ExternalRef, external_keys, external_list};
use crate::entity::{EntityKind, Links, UniqueKey};
use crate::ids::{CampaignId, CompanyId, ContactId, DealId, OrderId, UserId};
use crate::macros::record;
use crate::macros::str_enum;
use crate::model::LineItem;
use crate::model::{impl_entity, text_list};
use crate::money::{Currency, Money};
use crate::value::CustomValues;

str_enum! {
    /// How a customer paid.
    #[non_exhaustive]
    pub enum PaymentMethod {
        /** Cash. */ Cash = "cash", /** Credit or debit card. */ Card = "card",
        /** Bank transfer. */ BankTransfer = "bank_transfer", /** Cheque. */ Cheque = "cheque",
        /** PayPal. */ PayPal = "paypal", /** Anything else. */ Other = "other",
    }
}

str_enum! {
    /// Where an order is in its life.
    ///
    /// `draft → placed → paid → fulfilled`; `placed → fulfilled → paid` for customers on
    /// terms; `cancelled` from draft, placed or paid; `returned` after paid or fulfilled.
    /// Cancelled and returned are final.
    pub enum OrderStatus {
        /** Being put together; lines may change. */ Draft = "draft",
        /** Placed by the customer; lines are fixed. */ Placed = "placed",
        /** Paid. */ Paid = "paid",
        /** Delivered. */ Fulfilled = "fulfilled",
        /** Called off. */ Cancelled = "cancelled",
        /** Sent back. */ Returned = "returned",
    }
}

impl OrderStatus {
    /// Whether an order may move from `self` to `to`.
    pub fn can_become(self, to: OrderStatus) -> bool {
        use OrderStatus::*;
        matches!(
            (self, to),
            (Draft, Placed | Cancelled)
                | (Placed, Paid | Fulfilled | Cancelled)
                | (Paid, Fulfilled | Returned | Cancelled)
                | (Fulfilled, Paid | Returned)
        )
    }

    /// Whether orders in this status count as revenue (placed, paid, fulfilled).
    pub fn counts_as_revenue(self) -> bool {
        matches!(self, OrderStatus::Placed | OrderStatus::Paid | OrderStatus::Fulfilled)
    }
}

record! {
    /// A purchase: what a customer bought, for how much, and how it went.
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    pub struct Order(OrderId) {
        /// Order number, unique per tenant.
        pub number: String,
        /// The buying person (at least one of contact and company is set).
        pub contact_id: Option<ContactId>,
        /// The buying company.
        pub company_id: Option<CompanyId>,
        /// Where it is in its life. Changed only by the order service's status methods.
        pub status: OrderStatus,
        /// The currency every line is priced in.
        #[cfg_attr(feature = "openapi", schema(value_type = String, pattern = "^[A-Z]{3}$", example = "EUR"))]
        pub currency: Currency,
        /// What was bought.
        pub lines: Vec<LineItem>,
        /// Sum of the lines' net totals (computed).
        pub subtotal: Money,
        /// Sum of the lines' taxes (computed).
        pub tax: Money,
        /// Subtotal plus tax (computed).
        pub total: Money,
        /// How it was (or will be) paid.
        pub payment_method: Option<PaymentMethod>,
        /// When it was placed.
        pub placed_at: Option<DateTime<Utc>>,
        /// When it was paid.
        pub paid_at: Option<DateTime<Utc>>,
        /// When it was delivered.
        pub fulfilled_at: Option<DateTime<Utc>>,
        /// When it was cancelled.
        pub cancelled_at: Option<DateTime<Utc>>,
        /// When it came back.
        pub returned_at: Option<DateTime<Utc>>,
        /// The deal it came from.
        pub deal_id: Option<DealId>,
        /// The campaign it is attributed to.
        pub campaign_id: Option<CampaignId>,
        /// The user responsible.
        pub owner_id: Option<UserId>,
        /// Notes.
        pub notes: Option<String>,
        /// Ids in other systems.
        pub external_refs: Vec<ExternalRef>,
        /// Free tags.
        pub tags: Vec<String>,
        /// Custom field values.
        #[cfg_attr(feature = "openapi", schema(value_type = std::collections::BTreeMap<String, crate::value::FieldValue>))]
        pub custom: CustomValues,
    }
}

impl_entity! {
    Order, OrderId, Order, custom: true;
    owner: owner_id;
    links: |o| Links::default()
        .customer(o.contact_id, o.company_id)
        .one("deal_id", EntityKind::Deal, o.deal_id)
        .one("campaign_id", EntityKind::Campaign, o.campaign_id);
    unique: |o| {
        let mut keys = vec![UniqueKey::new("number", o.number.clone())];
        keys.extend(external_keys(&o.external_refs));
        keys
    };
    deletable: |o| match o.status {
        OrderStatus::Draft | OrderStatus::Cancelled => Ok(()),
        other => Err(crate::error::Error::invalid(
            "status",
            crate::error::FieldErrorCode::Rule,
            format!("the order is {other}; only draft or cancelled orders are deleted (placed orders are history: cancel them)"),
        )),
    };
    fields {
        "number": Text => |o| o.number.clone(),
        "contact_id": Id => |o| o.contact_id,
        "company_id": Id => |o| o.company_id,
        "status": Text => |o| o.status,
        "currency": Text => |o| o.currency.code().to_owned(),
        "subtotal": Decimal => |o| o.subtotal.amount,
        "tax": Decimal => |o| o.tax.amount,
        "total": Decimal => |o| o.total.amount,
        "payment_method": Text => |o| o.payment_method,
        "placed_at": DateTime => |o| o.placed_at,
        "paid_at": DateTime => |o| o.paid_at,
        "fulfilled_at": DateTime => |o| o.fulfilled_at,
        "deal_id": Id => |o| o.deal_id,
        "campaign_id": Id => |o| o.campaign_id,
        "owner_id": Id => |o| o.owner_id,
        "product_ids": IdList => |o| crate::value::Value::List(
            o.lines.iter().filter_map(|l| l.product_id).map(|p| crate::value::Value::Id(p.into())).collect()),
        "external_refs": TextList => |o| external_list(&o.external_refs),
        "tags": TextList => |o| text_list(o.tags.iter().map(String::as_str)),
    }
}
