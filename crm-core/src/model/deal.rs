use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::entity::{EntityKind, Links};
use crate::ids::{CampaignId, CompanyId, ContactId, DealId, PipelineId, ProductId, StageId, UserId};
use crate::macros::str_enum;
use crate::macros::{new_input, record};
use crate::model::{id_list, impl_entity, text_list};
use crate::money::Money;

str_enum! {
    /// Whether a deal is open, won or lost (follows its stage's kind).
    pub enum DealStatus { /** Being worked. */ Open = "open", /** Won. */ Won = "won", /** Lost. */ Lost = "lost" }
}

new_input! {
    /// A product or service line on a deal, an order or an invoice.
    ///
    /// Totals round per line to the currency's minor unit, half away from zero: first the net
    /// ([`total`](Self::total): quantity × price less the discount), then the tax on the rounded
    /// net ([`tax`](Self::tax)). Document totals are sums of the rounded line figures.
    ///
    /// ```
    /// use crm_core::{money::Currency, model::LineItem, money::Money};
    /// use rust_decimal::Decimal;
    /// let line = LineItem::new("Widget", Decimal::new(3, 0), Money::new(Decimal::new(1999, 2), Currency::EUR))
    ///     .discount(Decimal::new(10, 0))
    ///     .tax_rate(Decimal::new(19, 0));
    /// assert_eq!(line.total().to_string(), "53.97 EUR"); // 59.97 less 10 %
    /// assert_eq!(line.tax().to_string(), "10.25 EUR"); // 19 % of 53.97 = 10.2543
    /// assert_eq!(line.gross().to_string(), "64.22 EUR");
    /// ```
    #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    pub struct LineItem {
        /// The product, if it comes from the catalogue.
        pub product_id: Option<ProductId> => manual,
        /// The product's SKU when the line was made (kept if the product changes later).
        #[serde(default)]
        pub sku: Option<String> => manual,
        /// What is sold.
        pub name: String => manual,
        /// How many (may be fractional, e.g. hours). Must be positive.
        pub quantity: Decimal => manual,
        /// Price of one unit.
        pub unit_price: Money => manual,
        /// Discount in percent (0–100).
        pub discount_percent: Decimal => set discount(Decimal),
        /// Tax rate in percent (0–100), applied to the discounted net.
        #[serde(default)]
        pub tax_rate: Decimal => set tax_rate(Decimal),
    }
}

impl LineItem {
    /// A line without discount.
    pub fn new(name: impl Into<String>, quantity: Decimal, unit_price: Money) -> Self {
        Self {
            product_id: None,
            sku: None,
            name: name.into(),
            quantity,
            unit_price,
            discount_percent: Decimal::ZERO,
            tax_rate: Decimal::ZERO,
        }
    }

    /// A line for `quantity` of a catalogue product at its current price and tax rate.
    pub fn for_product(product: &crate::model::Product, quantity: Decimal) -> Self {
        Self {
            product_id: Some(product.id),
            sku: Some(product.sku.clone()),
            name: product.name.clone(),
            quantity,
            unit_price: product.unit_price,
            discount_percent: Decimal::ZERO,
            tax_rate: product.tax_rate,
        }
    }

    /// `quantity × unit price × (1 − discount)`, rounded to the currency's minor unit.
    pub fn total(&self) -> Money {
        let gross = self.quantity * self.unit_price.amount;
        let net = gross * (Decimal::ONE_HUNDRED - self.discount_percent) / Decimal::ONE_HUNDRED;
        Money::new(net, self.unit_price.currency).rounded()
    }

    /// Tax on the rounded net total, rounded to the currency's minor unit.
    pub fn tax(&self) -> Money {
        let net = self.total();
        Money::new(net.amount * self.tax_rate / Decimal::ONE_HUNDRED, net.currency).rounded()
    }

    /// Net total plus tax.
    pub fn gross(&self) -> Money {
        let (net, tax) = (self.total(), self.tax());
        Money::new(net.amount + tax.amount, net.currency)
    }
}

/// What a list of lines adds up to, in one currency.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    /// Sum of the lines' net totals.
    pub subtotal: Money,
    /// Sum of the lines' taxes.
    pub tax: Money,
    /// Subtotal plus tax.
    pub total: Money,
}

impl Totals {
    /// Zero in `currency`.
    pub fn zero(currency: crate::money::Currency) -> Self {
        let z = Money::zero(currency);
        Self { subtotal: z, tax: z, total: z }
    }

    /// Adds up `lines` in `currency`. Fails naming the first line priced in another currency
    /// (`lines[i].unit_price`).
    pub fn of(lines: &[LineItem], currency: crate::money::Currency) -> Result<Self, crate::error::FieldError> {
        let mut t = Totals::zero(currency);
        for (i, line) in lines.iter().enumerate() {
            if line.unit_price.currency != currency {
                return Err(crate::error::FieldError::new(
                    format!("lines[{i}].unit_price"),
                    crate::error::FieldErrorCode::CurrencyMismatch,
                    format!(
                        "priced in {}, but the document is in {}",
                        line.unit_price.currency.code(),
                        currency.code()
                    ),
                ));
            }
            t.subtotal.amount += line.total().amount;
            t.tax.amount += line.tax().amount;
        }
        t.total.amount = t.subtotal.amount + t.tax.amount;
        Ok(t)
    }
}

/// When a deal entered and left a stage.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StageVisit {
    /// The stage.
    pub stage_id: StageId,
    /// When the deal entered it.
    pub entered_at: DateTime<Utc>,
    /// When it left (None while it is still there).
    pub left_at: Option<DateTime<Utc>>,
}

record! {
    /// A sales opportunity moving through a pipeline.
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    pub struct Deal(DealId) {
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
        /// The win probability in percent a user set for this deal, in place of its stage's
        /// (forecasts weigh its amount by it; lead scoring never overwrites it).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub probability: Option<u8>,
        /// The forecast category a user set for this deal, in place of its stage's.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub forecast_category: Option<crate::model::ForecastCategory>,
        /// Where the deal came from (by default its first contact's lead source when it was created).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub lead_source: Option<crate::profile::LeadSource>,
        /// The campaign credited with the deal.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub campaign_id: Option<CampaignId>,
        /// Free tags.
        pub tags: Vec<String>,
        /// Ids in other systems (the deal's id in the CRM it came from), unique per tenant.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub external_refs: Vec<crate::model::ExternalRef>,
        /// Custom field values.
        #[cfg_attr(feature = "openapi", schema(value_type = std::collections::BTreeMap<String, crate::value::FieldValue>))]
        pub custom: crate::value::CustomValues,
    }
}

impl Deal {
    /// Every stage the deal has been in, once each, in the order it first entered them.
    pub fn visited_stages(&self) -> Vec<StageId> {
        let mut out: Vec<StageId> = Vec::new();
        for v in &self.stage_history {
            if !out.contains(&v.stage_id) {
                out.push(v.stage_id);
            }
        }
        out
    }

    /// When the deal entered its current stage.
    pub fn stage_entered_at(&self) -> DateTime<Utc> {
        self.stage_history.last().map(|v| v.entered_at).unwrap_or(self.created_at)
    }

    /// Sum of the line items' totals, if there are any (refuses mixed currencies).
    pub fn line_items_total(&self) -> crate::error::Result<Option<Money>> {
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
    owner: owner_id;
    links: |d| Links::default()
        .each("contact_ids", EntityKind::Contact, &d.contact_ids)
        .one("company_id", EntityKind::Company, d.company_id)
        .one("campaign_id", EntityKind::Campaign, d.campaign_id);
    unique: |d| crate::model::product::external_keys(&d.external_refs);
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
        "probability": Int => |d| d.probability.map(i64::from),
        "forecast_category": Text => |d| d.forecast_category,
        "lead_source": Text => |d| d.lead_source,
        "campaign_id": Id => |d| d.campaign_id,
        "days_to_close": Int => |d| d.closed_at.map(|c| (c - d.created_at).num_days()),
        "visited_stage_ids": IdList => |d| id_list(&d.visited_stages()),
        "tags": TextList => |d| text_list(d.tags.iter().map(String::as_str)),
        "external_refs": TextList => |d| crate::model::product::external_list(&d.external_refs),
    }
}
