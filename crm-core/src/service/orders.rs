use chrono::{DateTime, Utc};

use super::Session;
use super::checks::{Checks, refuse_guarded};
use super::lines::{
    check_credit_limit, check_customer, check_line_products, check_lines, check_links, document_currency, totals,
};
use super::uow::Uow;
use super::uow::{count, list};
use crate::entity::{Entity, EntityKind, EntityRef};
use crate::error::{Error, FieldErrorCode, Result};
use crate::event::Change;
use crate::ids::{CampaignId, CompanyId, ContactId, DealId, OrderId, UserId};
use crate::model::{Deal, DealStatus, ExternalRef, LineItem, Order, OrderStatus, PaymentMethod};
use crate::money::Currency;
use crate::query::{Filter, Page, Query};
use crate::value::{CustomFields, Value};

/// Input for a new order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NewOrder {
    /// Order number (default: `SO-` and a unique suffix). Unique per tenant.
    pub number: Option<String>,
    /// The buying person.
    pub contact_id: Option<ContactId>,
    /// The buying company.
    pub company_id: Option<CompanyId>,
    /// Currency (default: the first line's).
    pub currency: Option<Currency>,
    /// What is bought.
    pub lines: Vec<LineItem>,
    /// How it is paid.
    pub payment_method: Option<PaymentMethod>,
    /// Create it placed rather than draft.
    pub placed: bool,
    /// When it was placed (for importing history; default now). Implies `placed`.
    pub placed_at: Option<DateTime<Utc>>,
    /// The deal it comes from.
    pub deal_id: Option<DealId>,
    /// The campaign it is attributed to.
    pub campaign_id: Option<CampaignId>,
    /// The user responsible.
    pub owner_id: Option<UserId>,
    /// Notes.
    pub notes: Option<String>,
    /// Ids in other systems.
    pub external_refs: Vec<ExternalRef>,
    /// Tags.
    pub tags: Vec<String>,
    /// Custom field values.
    pub custom: CustomFields,
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
    /// Sets the contact.
    pub fn contact(mut self, id: ContactId) -> Self {
        self.contact_id = Some(id);
        self
    }
    /// Sets the company.
    pub fn company(mut self, id: CompanyId) -> Self {
        self.company_id = Some(id);
        self
    }
    /// Sets the order number.
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
    /// Sets the payment method.
    pub fn paid_by(mut self, method: PaymentMethod) -> Self {
        self.payment_method = Some(method);
        self
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
    /// Links the deal it comes from.
    pub fn deal(mut self, id: DealId) -> Self {
        self.deal_id = Some(id);
        self
    }
    /// Attributes it to a campaign.
    pub fn campaign(mut self, id: CampaignId) -> Self {
        self.campaign_id = Some(id);
        self
    }
    /// Sets the owner.
    pub fn owner(mut self, id: UserId) -> Self {
        self.owner_id = Some(id);
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
    /// Adds a tag.
    pub fn tag(mut self, tag: impl Into<String>) -> Self {
        self.tags.push(tag.into());
        self
    }
    /// Sets a custom field value.
    pub fn custom(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.custom.insert(key.into(), value.into());
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
    check_customer(uow, o.contact_id, o.company_id, before.map(|b| (b.contact_id, b.company_id)), true, ch).await?;
    let before_lines = before.map(|b| b.lines.as_slice()).unwrap_or(inherited);
    check_line_products(uow, "lines", &mut o.lines, before_lines, ch).await?;
    let deal = |o: &Order| o.deal_id.map(|d| EntityRef::new(EntityKind::Deal, d));
    let campaign = |o: &Order| o.campaign_id.map(|c| EntityRef::new(EntityKind::Campaign, c));
    check_links(
        uow,
        &[("deal_id", deal(o), before.and_then(deal)), ("campaign_id", campaign(o), before.and_then(campaign))],
        ch,
    )
    .await
}

/// Immediate payment methods: an order paid this way creates no debt, so no credit check.
fn paid_on_the_spot(m: Option<PaymentMethod>) -> bool {
    matches!(m, Some(PaymentMethod::Cash | PaymentMethod::Card | PaymentMethod::PayPal))
}

/// Orders: the purchase history.
#[derive(Clone, Copy, Debug)]
pub struct Orders<'s> {
    pub(crate) s: &'s Session,
}

impl Orders<'_> {
    /// Creates an order, draft or placed. Totals come from the lines. A placed order needs at
    /// least one line, and unless paid on the spot (cash, card, PayPal) must fit within the
    /// customer's credit limit.
    pub async fn create(&self, input: NewOrder) -> Result<Order> {
        let mut uow = Uow::write(self.s).await?;
        let order = new_order(&mut uow, input, &[]).await?;
        uow.commit().await?;
        Ok(order)
    }

    /// Turns a won deal into a placed order for its company (else its first contact): its line
    /// items become the order's lines (or one line for the deal's amount when it has none).
    pub async fn from_deal(&self, deal_id: DealId) -> Result<Order> {
        let mut uow = Uow::write(self.s).await?;
        let deal = uow.tx.require::<Deal>(deal_id).await?;
        if deal.status != DealStatus::Won {
            return Err(Error::InvalidTransition {
                field: "deal_id".into(),
                from: deal.status.to_string(),
                to: "order".into(),
                reason: "only a won deal becomes an order".into(),
            });
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
        let order = new_order(&mut uow, input, &deal.line_items).await?;
        uow.commit().await?;
        Ok(order)
    }

    /// The order with this id.
    pub async fn get(&self, id: OrderId) -> Result<Order> {
        Uow::read(self.s).await?.tx.require::<Order>(id).await
    }

    /// Saves changes to an order read earlier. Lines (and so totals) and currency change only
    /// while it is a draft; status and its times only through the status methods.
    pub async fn update(&self, mut order: Order) -> Result<Order> {
        let mut uow = Uow::write(self.s).await?;
        let before = uow.load_for_update(&order).await?;
        let guarded = [
            ("status", before.status != order.status),
            ("placed_at", before.placed_at != order.placed_at),
            ("paid_at", before.paid_at != order.paid_at),
            ("fulfilled_at", before.fulfilled_at != order.fulfilled_at),
            ("cancelled_at", before.cancelled_at != order.cancelled_at),
            ("returned_at", before.returned_at != order.returned_at),
        ];
        let how = "place, mark_paid, fulfil, cancel or mark_returned";
        refuse_guarded(&guarded, before.status.as_str(), order.status.as_str(), how)?;
        let mut ch = Checks::default();
        if before.status != OrderStatus::Draft && (order.lines != before.lines || order.currency != before.currency) {
            ch.push("lines", FieldErrorCode::ReadOnly, format!("the order is {}; its lines are fixed", before.status));
        }
        check_order(&mut order, &mut ch);
        check_order_refs(&mut uow, &mut order, Some(&before), &[], &mut ch).await?;
        let saved = uow.save(&before, order, ch.errs, &["subtotal", "tax", "total"]).await?;
        uow.commit().await?;
        Ok(saved)
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
        let mut uow = Uow::write(self.s).await?;
        let order = uow.tx.require::<Order>(id).await?;
        let order = set_status(&mut uow, order, to, method).await?;
        uow.commit().await?;
        Ok(order)
    }

    /// A page of orders.
    pub async fn list(&self, query: &Query) -> Result<Page<Order>> {
        list::<Order>(self.s, query).await
    }

    /// How many orders match.
    pub async fn count(&self, filter: &Filter) -> Result<u64> {
        count::<Order>(self.s, filter).await
    }

    /// Deletes a draft or cancelled order at `version` (placed orders are history: cancel them).
    pub async fn delete(&self, id: OrderId, version: u64) -> Result<()> {
        let mut uow = Uow::write(self.s).await?;
        let order = uow.tx.require::<Order>(id).await?;
        if !matches!(order.status, OrderStatus::Draft | OrderStatus::Cancelled) {
            return Err(Error::invalid(
                "status",
                FieldErrorCode::Rule,
                format!("the order is {}; only draft or cancelled orders are deleted", order.status),
            ));
        }
        super::uow::delete_relations(&mut uow, order.entity_ref()).await?;
        uow.remove(&order.into_record(), version).await?;
        uow.commit().await?;
        Ok(())
    }
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
        return Err(Error::InvalidTransition {
            field: "status".into(),
            from: from.to_string(),
            to: to.to_string(),
            reason: format!("an order that is {from} cannot become {to}"),
        });
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
