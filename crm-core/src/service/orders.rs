//! Orders: the purchase history.

use chrono::{DateTime, Utc};

use super::Records;
use super::checks::Checks;
use super::lines::{check_credit_limit, check_line_products, check_lines, document_currency, totals};
use super::records::Guard;
use super::uow::Uow;
use crate::error::{Error, FieldErrorCode, Result};
use crate::event::Change;
use crate::ids::{CampaignId, CompanyId, ContactId, DealId, OrderId, UserId};
use crate::macros::new_input;
use crate::model::Entity;
use crate::model::{Deal, DealStatus, ExternalRef, LineItem, Order, OrderStatus, PaymentMethod};
use crate::money::Currency;
use crate::query::Filter;
use crate::value::CustomValues;

new_input! {
    /// Input for a new order.
    #[derive(Clone, Debug, Default, PartialEq)]
    pub struct NewOrder {
        /// Order number (default: `SO-` and a unique suffix). Unique per tenant.
        pub number: Option<String> => some number(String),
        /// The buying person.
        pub contact_id: Option<ContactId> => some contact(ContactId),
        /// The buying company.
        pub company_id: Option<CompanyId> => some company(CompanyId),
        /// Currency (default: the first line's).
        pub currency: Option<Currency> => some currency(Currency),
        /// What is bought.
        pub lines: Vec<LineItem> => push line(LineItem),
        /// How it is paid.
        pub payment_method: Option<PaymentMethod> => some paid_by(PaymentMethod),
        /// Create it placed (now) rather than draft.
        pub placed: bool => manual,
        /// When it was placed (for importing purchase history; default now). Implies `placed`.
        pub placed_at: Option<DateTime<Utc>> => manual,
        /// The deal it comes from.
        pub deal_id: Option<DealId> => some deal(DealId),
        /// The campaign it is attributed to.
        pub campaign_id: Option<CampaignId> => some campaign(CampaignId),
        /// The user responsible.
        pub owner_id: Option<UserId> => some owner(UserId),
        /// Notes.
        pub notes: Option<String> => some notes(String),
        /// Ids in other systems.
        pub external_refs: Vec<ExternalRef> => refs,
        /// Tags.
        pub tags: Vec<String> => push tag(String),
        /// Custom field values.
        pub custom: CustomValues => custom,
    }
}

impl NewOrder {
    /// A draft order for a contact.
    pub fn for_contact(contact: ContactId) -> Self {
        Self { contact_id: Some(contact), ..Default::default() }
    }
    /// A draft order for a company.
    pub fn for_company(company: CompanyId) -> Self {
        Self { company_id: Some(company), ..Default::default() }
    }
    /// Creates it placed (now).
    pub fn placed(mut self) -> Self {
        self.placed = true;
        self
    }
    /// Creates it placed at `at` (importing purchase history).
    pub fn placed_at(mut self, at: DateTime<Utc>) -> Self {
        self.placed = true;
        self.placed_at = Some(at);
        self
    }
}

/// A document number made from a record id: `prefix-` and the id's last 12 hex digits
/// (the random part of a UUIDv7).
pub(crate) fn number_from_id(prefix: &str, id: uuid::Uuid) -> String {
    let hex = id.simple().to_string().to_ascii_uppercase();
    format!("{prefix}-{}", &hex[hex.len() - 12..])
}

fn check_order(o: &mut Order, ch: &mut Checks) {
    ch.code("number", &mut o.number);
    check_lines(ch, "lines", &mut o.lines, Some(o.currency));
    let t = totals(ch, "lines", &o.lines, o.currency);
    (o.subtotal, o.tax, o.total) = (t.subtotal, t.tax, t.total);
    ch.opt_text("notes", &mut o.notes);
    ch.external_refs(&mut o.external_refs);
    ch.tags(&mut o.tags);
}

/// `inherited`: lines copied from a source document (a won deal), whose products may have been
/// retired since and still carry over.
async fn check_order_refs(
    uow: &mut Uow<'_>,
    o: &mut Order,
    before: Option<&Order>,
    inherited: &[LineItem],
    ch: &mut Checks,
) -> Result<()> {
    ch.customer(o.contact_id, o.company_id);
    uow.check_links(o, before, &mut ch.errs).await?;
    let before_lines = before.map(|b| b.lines.as_slice()).unwrap_or(inherited);
    check_line_products(uow, "lines", &mut o.lines, before_lines, ch).await
}

/// Immediate payment methods: an order paid this way creates no debt, so no credit check.
fn paid_on_the_spot(m: Option<PaymentMethod>) -> bool {
    matches!(m, Some(PaymentMethod::Cash | PaymentMethod::Card | PaymentMethod::PayPal))
}

/// Orders: the purchase history.
/// Draft and cancelled orders may be deleted; placed ones are history (cancel them).
///
/// ```
/// # futures::executor::block_on(async {
/// use crm_core::prelude::*;
/// use crm_core::model::{LineItem, PaymentMethod};
/// use rust_decimal::Decimal;
/// let crm = Crm::new(MemoryStore::new());
/// let cx = crm.as_actor(&Actor::system(TenantId::new()));
/// let ann = cx.contacts().create(NewContact::new("Ann", "Lee")).await?;
/// let mugs = LineItem::new("Mug", Decimal::from(3), Money::new(Decimal::new(1250, 2), Currency::GBP));
/// let order = cx.orders().create(NewOrder::for_contact(ann.id).line(mugs).paid_by(PaymentMethod::Card).placed()).await?;
/// assert_eq!(order.total.amount, Decimal::new(3750, 2));
/// let order = cx.orders().mark_paid(order.id, None).await?;
/// assert_eq!(order.status, OrderStatus::Paid);
/// # Ok::<_, Error>(()) }).unwrap();
/// ```
pub type Orders<'s> = Records<'s, Order>;

/// Fields an edit may not change: they move through the status verbs.
const GUARD: Guard = Guard {
    fields: &["status", "placed_at", "paid_at", "fulfilled_at", "cancelled_at", "returned_at"],
    through: "place, mark_paid, fulfil, cancel or mark_returned",
};

impl Records<'_, Order> {
    /// Creates an order, draft or placed. Totals come from the lines. A placed order needs at
    /// least one line, and unless paid on the spot (cash, card, PayPal) must fit within the
    /// customer's credit limit.
    pub async fn create(&self, input: NewOrder) -> Result<Order> {
        self.write(|uow| Box::pin(async move { new_order(uow, input, &[]).await })).await
    }

    /// Checks `input` exactly as [`create`](Self::create) would, writing nothing.
    pub async fn check(&self, input: NewOrder) -> Result<()> {
        self.dry(|uow| Box::pin(async move { new_order(uow, input, &[]).await })).await
    }

    /// Turns a won deal into a placed order for its company (else its first contact): its line
    /// items become the order's lines (or one line for the deal's amount when it has none).
    pub async fn from_deal(&self, deal_id: DealId) -> Result<Order> {
        self.write(|uow| Box::pin(async move { order_from_deal(uow, deal_id).await })).await
    }

    /// Saves changes to an order read earlier. Lines (and so totals) and currency change only
    /// while it is a draft; status and its times only through the status methods.
    pub async fn update(&self, order: Order) -> Result<Order> {
        self.update_with(order, &GUARD, &["subtotal", "tax", "total"], |uow, before, order, ch| {
            Box::pin(async move {
                if before.status != OrderStatus::Draft
                    && (order.lines != before.lines || order.currency != before.currency)
                {
                    ch.push(
                        "lines",
                        FieldErrorCode::ReadOnly,
                        format!("the order is {}; its lines are fixed", before.status),
                    );
                }
                check_order(order, ch);
                check_order_refs(uow, order, Some(before), &[], ch).await
            })
        })
        .await
    }

    /// Places a draft order.
    pub async fn place(&self, id: OrderId) -> Result<Order> {
        self.transition(id, OrderStatus::Placed, None).await
    }

    /// Records that the order was paid (`method` replaces the recorded method when given).
    pub async fn mark_paid(&self, id: OrderId, method: Option<PaymentMethod>) -> Result<Order> {
        self.transition(id, OrderStatus::Paid, method).await
    }

    /// Records that the order was delivered.
    pub async fn fulfil(&self, id: OrderId) -> Result<Order> {
        self.transition(id, OrderStatus::Fulfilled, None).await
    }

    /// Cancels a draft, placed or paid order.
    pub async fn cancel(&self, id: OrderId) -> Result<Order> {
        self.transition(id, OrderStatus::Cancelled, None).await
    }

    /// Records that a paid or fulfilled order came back.
    pub async fn mark_returned(&self, id: OrderId) -> Result<Order> {
        self.transition(id, OrderStatus::Returned, None).await
    }

    async fn transition(&self, id: OrderId, to: OrderStatus, method: Option<PaymentMethod>) -> Result<Order> {
        self.change(id, |uow, order| Box::pin(async move { set_status(uow, order, to, method).await })).await
    }
}

async fn order_from_deal(uow: &mut Uow<'_>, deal_id: DealId) -> Result<Order> {
    let deal = uow.tx.require::<Deal>(deal_id).await?;
    if deal.status != DealStatus::Won {
        return Err(Error::transition("deal_id", deal.status, "order", "only a won deal becomes an order"));
    }
    let existing = uow.tx.find_all::<Order>(Filter::eq("deal_id", deal_id.as_uuid())).await?;
    if let Some(o) = existing.iter().find(|o| o.status != OrderStatus::Cancelled) {
        return Err(Error::invalid(
            "deal_id",
            FieldErrorCode::Duplicate,
            format!("the deal already became order {}", o.number),
        ));
    }
    let lines = if deal.line_items.is_empty() {
        match deal.amount {
            Some(a) => vec![LineItem::new(deal.name.clone(), rust_decimal::Decimal::ONE, a)],
            None => {
                return Err(Error::invalid("amount", FieldErrorCode::Required, "the deal has no amount or lines"));
            }
        }
    } else {
        deal.line_items.clone()
    };
    let input = NewOrder {
        contact_id: deal.contact_ids.first().copied(),
        company_id: deal.company_id,
        currency: deal.amount.map(|a| a.currency),
        lines,
        placed: true,
        deal_id: Some(deal.id),
        owner_id: deal.owner_id,
        ..Default::default()
    };
    new_order(uow, input, &deal.line_items).await
}

pub(crate) async fn new_order(uow: &mut Uow<'_>, input: NewOrder, inherited: &[LineItem]) -> Result<Order> {
    let mut ch = Checks::default();
    let currency = document_currency(&mut ch, input.currency, &input.lines);
    let Some(currency) = currency else {
        Error::check(ch.errs)?;
        return Err(Error::invalid("currency", FieldErrorCode::Required, "give a currency or at least one line"));
    };
    let id: OrderId = uow.new_id();
    let placed = input.placed || input.placed_at.is_some();
    let zero = crate::money::Money::zero(currency);
    let mut order = Order {
        id,
        tenant_id: uow.s.tenant(),
        version: 1,
        created_at: uow.now,
        updated_at: uow.now,
        number: input.number.unwrap_or_else(|| number_from_id("SO", id.as_uuid())),
        contact_id: input.contact_id,
        company_id: input.company_id,
        status: OrderStatus::Draft,
        currency,
        lines: input.lines,
        subtotal: zero,
        tax: zero,
        total: zero,
        payment_method: input.payment_method,
        placed_at: None,
        paid_at: None,
        fulfilled_at: None,
        cancelled_at: None,
        returned_at: None,
        deal_id: input.deal_id,
        campaign_id: input.campaign_id,
        owner_id: input.owner_id,
        notes: input.notes,
        external_refs: input.external_refs,
        tags: input.tags,
        custom: input.custom,
    };
    check_order(&mut order, &mut ch);
    check_order_refs(uow, &mut order, None, inherited, &mut ch).await?;
    if placed {
        if let Some(at) = input.placed_at
            && at > uow.now
        {
            ch.push("placed_at", FieldErrorCode::OutOfRange, "an order cannot be placed in the future");
        }
        check_placeable(uow, &order, &mut ch).await?;
        order.status = OrderStatus::Placed;
        order.placed_at = Some(input.placed_at.map(crate::ids::storage_precision).unwrap_or(uow.now));
    }
    let order = uow.create(order, ch.errs).await?;
    if placed {
        uow.emit(order.entity_ref(), order.related(), Change::OrderPlaced { total: order.total });
    }
    Ok(order)
}

async fn check_placeable(uow: &mut Uow<'_>, o: &Order, ch: &mut Checks) -> Result<()> {
    if o.lines.is_empty() {
        ch.push("lines", FieldErrorCode::Required, "an order needs at least one line to be placed");
    }
    if !paid_on_the_spot(o.payment_method) {
        check_credit_limit(uow, o.contact_id, o.company_id, o.total, "total", ch).await?;
    }
    Ok(())
}

/// Moves an order to `to`, stamping the time and emitting the event.
pub(crate) async fn set_status(
    uow: &mut Uow<'_>,
    mut order: Order,
    to: OrderStatus,
    method: Option<PaymentMethod>,
) -> Result<Order> {
    let from = order.status;
    if from == to {
        return Ok(order);
    }
    if !from.can_become(to) {
        return Err(Error::transition("status", from, to, format!("an order that is {from} cannot become {to}")));
    }
    let now = uow.now;
    match to {
        OrderStatus::Placed => {
            let mut ch = Checks::default();
            check_placeable(uow, &order, &mut ch).await?;
            Error::check(ch.errs)?;
            order.placed_at = Some(now);
        }
        OrderStatus::Paid => {
            order.paid_at = Some(now);
            if method.is_some() {
                order.payment_method = method;
            }
        }
        OrderStatus::Fulfilled => order.fulfilled_at = Some(now),
        OrderStatus::Cancelled => order.cancelled_at = Some(now),
        OrderStatus::Returned => order.returned_at = Some(now),
        OrderStatus::Draft => {}
    }
    order.status = to;
    let order = uow.save_system(order).await?;
    let change = if to == OrderStatus::Placed {
        Change::OrderPlaced { total: order.total }
    } else {
        Change::StatusChanged { from: from.to_string(), to: to.to_string() }
    };
    uow.emit(order.entity_ref(), order.related(), change);
    Ok(order)
}
