//! The customer portfolio: where the revenue comes from. Revenue, orders, customers and growth
//! against the window before, per value of any field of the customers (a company's industry,
//! size or country; a contact's RFM segment or lifecycle stage; a custom field), how
//! concentrated the revenue is (the top fifth's share and the Pareto curve), and the most
//! valuable customers.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crm_core::aggregate::Aggregate;
use crm_core::error::{Error, FieldErrorCode, Result};
use crm_core::money::{Currency, Money};
use crm_core::query::{Field, Filter};
use crm_core::value::Value;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::performance::count;
use crate::purchases::{one_currency, purchases};
use crate::window::key_text;
use crate::{Customers, Window, share as ratio};

/// The most customers a portfolio lists as most valuable.
pub const MAX_TOP: usize = 1_000;

/// Who counts as a customer: the contact or the company an order is for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CustomerKind {
    /// People (orders by their `contact_id`): retail.
    #[default]
    Contact,
    /// Organisations (orders by their `company_id`): business to business.
    Company,
}

impl CustomerKind {
    pub(crate) fn order_field(self) -> &'static str {
        match self {
            CustomerKind::Contact => "contact_id",
            CustomerKind::Company => "company_id",
        }
    }
}

/// What a portfolio covers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PortfolioOptions {
    /// Contacts or companies.
    pub customers: CustomerKind,
    /// Broken down by this field of the customers (e.g. `industry`, `size`, `country`,
    /// `rfm_segment`, `custom.region`); `None`: one group.
    pub by: Option<String>,
    /// The orders placed in this window and now placed, paid or fulfilled count (not drafts,
    /// not cancelled or returned ones); growth compares it with the
    /// window of the same length just before ([`Window::previous`]; default: the trailing 12
    /// months).
    pub window: Option<Window>,
    /// The currency revenue is counted in: only orders in it count. Needed when the orders are
    /// in more than one.
    pub currency: Option<Currency>,
    /// Only the orders this filter selects.
    pub filter: Filter,
    /// How many of the most valuable customers to list (at most [`MAX_TOP`]).
    pub top: usize,
}

impl Default for PortfolioOptions {
    fn default() -> Self {
        PortfolioOptions {
            customers: CustomerKind::default(),
            by: None,
            window: None,
            currency: None,
            filter: Filter::All,
            top: 10,
        }
    }
}

/// One group of customers (or all of them).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PortfolioGroup {
    /// The value of the field grouped by, as text (`None`: customers without one, or the
    /// whole portfolio when not broken down).
    pub key: Option<String>,
    /// Customers with an order in the window (a group of customers who bought only before has
    /// none).
    pub customers: u64,
    /// Their orders in the window.
    pub orders: u64,
    /// Revenue in the window (order totals).
    pub revenue: Money,
    /// Revenue in the window before, of the customers in the group today (those who bought
    /// then and not since included: the revenue lost).
    pub previous_revenue: Money,
    /// (revenue − previous) ÷ previous; `None` when there was none before.
    pub growth: Option<Decimal>,
    /// The group's share of the portfolio's revenue, 0–1.
    pub share: Option<Decimal>,
}

/// A share of the customers, best first, and the share of the revenue they bring: the best
/// tenth, two tenths… rounded up to whole customers (so with fewer than ten customers, one
/// point per customer count, at the share it is).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ParetoPoint {
    /// The share of the customers counted, 0–1 (0.1, 0.2… with ten customers or more a
    /// multiple of ten).
    pub customers_share: Decimal,
    /// The share of the revenue they bring, 0–1.
    pub revenue_share: Decimal,
}

/// How much of the revenue few customers bring.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Concentration {
    /// The customers in the top fifth by revenue (rounded up).
    pub top_fifth: u64,
    /// Their share of the revenue; `None` without revenue.
    pub top_fifth_share: Option<Decimal>,
    /// The Pareto curve by tenths of the customers (empty without revenue; fewer points with
    /// fewer than ten customers).
    pub pareto: Vec<ParetoPoint>,
}

/// One of the most valuable customers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ValuableCustomer {
    /// The contact's or company's id.
    pub id: Uuid,
    /// Their name (empty when the reader may not read the record, or it is gone).
    pub name: String,
    /// The group they are in.
    pub key: Option<String>,
    /// Their orders in the window.
    pub orders: u64,
    /// Their revenue in the window.
    pub revenue: Money,
    /// Their share of the portfolio's revenue, 0–1.
    pub share: Option<Decimal>,
}

/// The customer portfolio.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Portfolio {
    /// The window revenue was counted in.
    pub window: Window,
    /// The window before it, growth is measured against.
    pub previous: Window,
    /// The currency (`None` when no order counted in either window).
    pub currency: Option<Currency>,
    /// The whole portfolio.
    pub total: PortfolioGroup,
    /// One group per value of the field broken down by, by revenue, largest first (empty when
    /// not broken down).
    pub groups: Vec<PortfolioGroup>,
    /// How concentrated the revenue is.
    pub concentration: Concentration,
    /// The most valuable customers, by revenue.
    pub most_valuable: Vec<ValuableCustomer>,
    /// Why the portfolio is empty, when it is.
    pub empty_because: Option<String>,
}

/// A customer's orders and revenue in one window.
#[derive(Clone, Copy, Default)]
struct Bought {
    orders: u64,
    revenue: Decimal,
}

fn too_large() -> Error {
    Error::invalid("total", FieldErrorCode::OutOfRange, "the revenue exceeds the largest decimal")
}

impl Customers<'_> {
    /// The portfolio of the customers the reader sees, from the orders they read.
    pub async fn portfolio(&self, o: &PortfolioOptions) -> Result<Portfolio> {
        if o.top > MAX_TOP {
            return Err(Error::invalid("top", FieldErrorCode::OutOfRange, format!("at most {MAX_TOP} customers")));
        }
        let window = o.window.unwrap_or_else(|| Window::trailing_months(self.cx.now(), 12));
        window.check()?;
        let previous = window.previous();
        let (now, currency) = self.bought(o, &window, None).await?;
        let (before, earlier) = self.bought(o, &previous, currency.or(o.currency)).await?;
        let keys = self.keys(o).await?;
        let key_of = |id: &Uuid| keys.get(id).cloned().flatten();

        let mut groups: BTreeMap<Option<String>, (u64, Bought, Decimal)> = BTreeMap::new();
        let mut total = (0u64, Bought::default(), Decimal::ZERO);
        for (id, b) in &now {
            let g = groups.entry(key_of(id)).or_default();
            for (n, sums) in [(&mut g.0, &mut g.1), (&mut total.0, &mut total.1)] {
                *n += 1;
                sums.orders += b.orders;
                sums.revenue = sums.revenue.checked_add(b.revenue).ok_or_else(too_large)?;
            }
        }
        for (id, b) in &before {
            let g = groups.entry(key_of(id)).or_default();
            g.2 = g.2.checked_add(b.revenue).ok_or_else(too_large)?;
            total.2 = total.2.checked_add(b.revenue).ok_or_else(too_large)?;
        }
        // Without any order, amounts are zeros in a currency of no consequence.
        let cur = currency.or(o.currency).or(earlier).unwrap_or(Currency::EUR);
        let group = |key: Option<String>, (customers, b, prev): (u64, Bought, Decimal)| PortfolioGroup {
            key,
            customers,
            orders: b.orders,
            revenue: Money::new(b.revenue, cur),
            previous_revenue: Money::new(prev, cur),
            growth: ratio(b.revenue - prev, prev),
            share: ratio(b.revenue, total.1.revenue),
        };
        let mut out: Vec<PortfolioGroup> = match o.by {
            Some(_) => groups.into_iter().map(|(k, v)| group(k, v)).collect(),
            None => Vec::new(),
        };
        out.sort_by(|a, b| b.revenue.amount.cmp(&a.revenue.amount).then_with(|| a.key.cmp(&b.key)));

        let mut ranked: Vec<(&Uuid, &Bought)> = now.iter().collect();
        ranked.sort_by(|a, b| b.1.revenue.cmp(&a.1.revenue).then_with(|| a.0.cmp(b.0)));
        let concentration = concentration(&ranked, total.1.revenue)?;
        let mut most_valuable = Vec::new();
        for (id, b) in ranked.iter().take(o.top) {
            most_valuable.push(ValuableCustomer {
                id: **id,
                name: self.name(o.customers, **id).await?,
                key: key_of(id),
                orders: b.orders,
                revenue: Money::new(b.revenue, cur),
                share: ratio(b.revenue, total.1.revenue),
            });
        }
        let empty_because = now.is_empty().then(|| {
            let which = o.currency.map(|c| format!(" in {}", c.code())).unwrap_or_default();
            format!(
                "no order for a {} was placed, paid or fulfilled{which} in the window",
                match o.customers {
                    CustomerKind::Contact => "contact",
                    CustomerKind::Company => "company",
                }
            )
        });
        Ok(Portfolio {
            window,
            previous,
            currency: currency.or(o.currency).or(earlier).filter(|_| !(now.is_empty() && before.is_empty())),
            total: group(None, total),
            groups: out,
            concentration,
            most_valuable,
            empty_because,
        })
    }

    /// Each customer's orders and revenue in `window`, and the currency they are in (refusing
    /// several unless one is chosen: `only`, else the options').
    async fn bought(
        &self,
        o: &PortfolioOptions,
        window: &Window,
        only: Option<Currency>,
    ) -> Result<(HashMap<Uuid, Bought>, Option<Currency>)> {
        let field = o.customers.order_field();
        let filter = purchases(&o.filter, field, only.or(o.currency)).and(window.filter("placed_at"));
        let a = Aggregate::new(filter).group_by(field).currency("total").count().sum("total");
        let mut out = HashMap::new();
        let mut currencies = BTreeSet::new();
        for r in self.cx.orders().aggregate(&a).await? {
            let (Value::Id(id), Value::Money(m)) = (&r.groups[0], &r.values[1]) else { continue };
            currencies.insert(m.currency);
            out.insert(*id, Bought { orders: count(&r.values[0]), revenue: m.amount });
        }
        Ok((out, one_currency(currencies, "to count revenue in")?))
    }

    /// Each customer's value of the field broken down by (none when not broken down).
    async fn keys(&self, o: &PortfolioOptions) -> Result<HashMap<Uuid, Option<String>>> {
        let Some(by) = &o.by else { return Ok(HashMap::new()) };
        let field = Field::parse(by);
        let a = Aggregate::new(Filter::All).group_by("id").group_by(field).count();
        let rows = match o.customers {
            CustomerKind::Contact => self.cx.contacts().aggregate(&a).await,
            CustomerKind::Company => self.cx.companies().aggregate(&a).await,
        }
        .map_err(|e| rename(e, "group_by[1]", "by"))?;
        Ok(rows
            .into_iter()
            .filter_map(|r| match &r.groups[0] {
                Value::Id(id) => Some((*id, key_text(&r.groups[1]))),
                _ => None,
            })
            .collect())
    }

    /// The customer's name: empty when the reader may not read the record or it is gone.
    async fn name(&self, kind: CustomerKind, id: Uuid) -> Result<String> {
        let name = match kind {
            CustomerKind::Contact => self.cx.contacts().get(id.into()).await.map(|c| c.full_name()),
            CustomerKind::Company => self.cx.companies().get(id.into()).await.map(|c| c.name),
        };
        match name {
            Err(Error::NotFound { .. } | Error::Forbidden(_)) => Ok(String::new()),
            other => other,
        }
    }
}

/// `e` with its field errors about `from` said of `to` (the option the caller set).
fn rename(e: Error, from: &str, to: &str) -> Error {
    match e {
        Error::Validation(mut v) => {
            for f in &mut v.0 {
                if f.field == from {
                    f.field = to.to_owned();
                }
            }
            Error::Validation(v)
        }
        e => e,
    }
}

/// The top fifth's share and the Pareto curve of customers ranked by revenue, largest first.
fn concentration(ranked: &[(&Uuid, &Bought)], total: Decimal) -> Result<Concentration> {
    let n = ranked.len();
    if n == 0 || total.is_zero() {
        return Ok(Concentration::default());
    }
    // The revenue of the best k customers, for every k.
    let mut running = Vec::with_capacity(n);
    let mut sum = Decimal::ZERO;
    for (_, b) in ranked {
        sum = sum.checked_add(b.revenue).ok_or_else(too_large)?;
        running.push(sum);
    }
    let top_fifth = n.div_ceil(5);
    // The best tenth, two tenths… (rounded up to whole customers: with fewer than ten
    // customers, each point is a whole number of them and says which share that is).
    let mut ks: Vec<usize> = (1..=10).map(|t| (n * t).div_ceil(10).max(1)).collect();
    ks.dedup();
    let share = |k: usize| ratio(Decimal::from(k as u64), Decimal::from(n as u64)).unwrap_or_default();
    let pareto = ks
        .into_iter()
        .map(|k| ParetoPoint {
            customers_share: share(k),
            revenue_share: ratio(running[k - 1], total).unwrap_or_default(),
        })
        .collect();
    Ok(Concentration { top_fifth: top_fifth as u64, top_fifth_share: ratio(running[top_fifth - 1], total), pareto })
}
