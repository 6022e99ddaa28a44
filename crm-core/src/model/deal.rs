use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::entity::{EntityKind, EntityRef, id_list, impl_entity, text_list};
use crate::ids::{CompanyId, ContactId, DealId, PipelineId, StageId, TenantId, UserId};
use crate::macros::str_enum;
use crate::money::Money;

str_enum! {
    /// Whether a deal is open, won or lost (follows its stage's kind).
    pub enum DealStatus { /** Being worked. */ Open = "open", /** Won. */ Won = "won", /** Lost. */ Lost = "lost" }
}

/// A product or service line on a deal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineItem {
    /// The product, if it comes from a catalogue.
    pub product_id: Option<Uuid>,
    /// What is sold.
    pub name: String,
    /// How many (may be fractional, e.g. hours). Must be positive.
    pub quantity: Decimal,
    /// Price of one unit.
    pub unit_price: Money,
    /// Discount in percent (0–100).
    pub discount_percent: Decimal,
}

impl LineItem {
    /// A line without discount.
    pub fn new(name: impl Into<String>, quantity: Decimal, unit_price: Money) -> Self {
        Self { product_id: None, name: name.into(), quantity, unit_price, discount_percent: Decimal::ZERO }
    }

    /// `quantity × unit price × (1 − discount)`, rounded to the currency's minor unit.
    pub fn total(&self) -> Money {
        let gross = self.quantity * self.unit_price.amount;
        let net = gross * (Decimal::ONE_HUNDRED - self.discount_percent) / Decimal::ONE_HUNDRED;
        Money::new(net, self.unit_price.currency).rounded()
    }
}

/// When a deal entered and left a stage.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageVisit {
    /// The stage.
    pub stage_id: StageId,
    /// When the deal entered it.
    pub entered_at: DateTime<Utc>,
    /// When it left (None while it is still there).
    pub left_at: Option<DateTime<Utc>>,
}

/// A sales opportunity moving through a pipeline.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Deal {
    /// Id (UUIDv7).
    pub id: DealId,
    /// Owning tenant.
    pub tenant_id: TenantId,
    /// Version for optimistic concurrency.
    pub version: u64,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Name, e.g. "Acme — 50 seats".
    pub name: String,
    /// The pipeline. Changed only by the deal service.
    pub pipeline_id: PipelineId,
    /// The current stage. Changed only by `move_to_stage`, `win`, `lose`, `reopen`.
    pub stage_id: StageId,
    /// Open, won or lost (the current stage's kind).
    pub status: DealStatus,
    /// Expected value.
    pub amount: Option<Money>,
    /// When it is expected to close.
    pub expected_close_date: Option<NaiveDate>,
    /// When it was won or lost.
    pub closed_at: Option<DateTime<Utc>>,
    /// The people involved.
    pub contact_ids: Vec<ContactId>,
    /// The buying company.
    pub company_id: Option<CompanyId>,
    /// The user who owns the deal.
    pub owner_id: Option<UserId>,
    /// Products and services on the deal.
    pub line_items: Vec<LineItem>,
    /// Why it was lost (required to lose a deal).
    pub lost_reason: Option<String>,
    /// Every stage the deal has been in, oldest first.
    pub stage_history: Vec<StageVisit>,
    /// Free tags.
    pub tags: Vec<String>,
    /// Custom field values.
    pub custom: crate::value::CustomFields,
}

impl Deal {
    /// When the deal entered its current stage.
    pub fn stage_entered_at(&self) -> DateTime<Utc> {
        self.stage_history.last().map(|v| v.entered_at).unwrap_or(self.created_at)
    }

    /// Sum of the line items' totals, if there are any (refuses mixed currencies).
    pub fn line_items_total(&self) -> crate::Result<Option<Money>> {
        let mut total: Option<Money> = None;
        for item in &self.line_items {
            total = Some(match total {
                None => item.total(),
                Some(t) => t.checked_add(&item.total())?,
            });
        }
        Ok(total)
    }
}

impl_entity! {
    Deal, DealId, Deal, custom: true;
    related: |d| d.contact_ids.iter().map(|c| EntityRef::new(EntityKind::Contact, *c))
        .chain(d.company_id.map(|c| EntityRef::new(EntityKind::Company, c)))
        .collect();
    fields {
        "name": Text => |d| d.name.clone(),
        "pipeline_id": Id => |d| d.pipeline_id,
        "stage_id": Id => |d| d.stage_id,
        "status": Text => |d| d.status,
        "amount": Decimal => |d| d.amount.map(|m| m.amount),
        "currency": Text => |d| d.amount.map(|m| m.currency.code().to_owned()),
        "expected_close_date": Date => |d| d.expected_close_date,
        "closed_at": DateTime => |d| d.closed_at,
        "stage_entered_at": DateTime => |d| d.stage_entered_at(),
        "contact_ids": IdList => |d| id_list(&d.contact_ids),
        "company_id": Id => |d| d.company_id,
        "owner_id": Id => |d| d.owner_id,
        "lost_reason": Text => |d| d.lost_reason.clone(),
        "tags": TextList => |d| text_list(d.tags.iter().map(String::as_str)),
    }
}
