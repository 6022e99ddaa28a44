//! Cross- and up-sell: which products sell together (association rules mined from the orders'
//! products: support, confidence, lift) and, for each customer, the products customers like
//! them bought and they have not (recommendations, each with the rule behind it).
//!
//! A rule "A → B" reads: of the orders with A, this share also had B (its confidence); B is
//! this many times likelier in an order with A than in any order (its lift; above 1 they go
//! together); the share of all orders with both is its support. Every order placed counts,
//! a customer's or not. Counting takes three
//! aggregates over the orders: orders, orders per product, and orders per pair of products
//! (each order's products crossed with themselves: [`Aggregate::each`] twice), each counting
//! distinct orders, so a product on two lines of one order counts once.
//!
//! ```
//! # futures::executor::block_on(async {
//! use crm_analytics::{BasketOptions, CrossSell};
//! use crm_core::model::LineItem;
//! use crm_core::prelude::*;
//! use crm_core::service::{NewOrder, NewProduct};
//! use rust_decimal::Decimal;
//!
//! let crm = Crm::new(MemoryStore::new());
//! let cx = crm.as_actor(&Actor::system(TenantId::new()));
//! let eur = Money::new(Decimal::new(5, 0), Currency::EUR);
//! let tea = cx.products().create(NewProduct::new("TEA", "Tea", eur)).await?;
//! let pot = cx.products().create(NewProduct::new("POT", "Teapot", eur)).await?;
//! let c = cx.contacts().create(NewContact::new("Ann", "Lee")).await?;
//! for with_pot in [true, true, false] {
//!     let mut order = NewOrder::for_contact(c.id).line(LineItem::for_product(&tea, Decimal::ONE)).placed();
//!     if with_pot {
//!         order = order.line(LineItem::for_product(&pot, Decimal::ONE));
//!     }
//!     cx.orders().create(order).await?;
//! }
//! let o = BasketOptions { min_orders: 2, ..Default::default() };
//! let rules = CrossSell::new(&cx).rules(&o).await?;
//! // Every teapot sold with tea: the rule pot → tea is certain.
//! let pot_tea = rules.rules.iter().find(|r| r.antecedent == pot.id).unwrap();
//! assert_eq!((pot_tea.consequent, pot_tea.confidence), (tea.id, Decimal::ONE));
//! # Ok::<_, Error>(()) }).unwrap();
//! ```

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crm_core::aggregate::Aggregate;
use crm_core::error::{Error, FieldErrorCode, Result};
use crm_core::ids::{ContactId, ProductId};
use crm_core::query::Filter;
use crm_core::service::Session;
use crm_core::value::Value;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::performance::count;
use crate::purchases::{PURCHASED, purchases};
use crate::{Window, share};

/// The most rules a report lists.
pub const MAX_RULES: usize = 10_000;
/// The most recommendations per customer.
pub const MAX_PER_CUSTOMER: usize = 100;

/// Cross-sell analytics for one session.
#[derive(Clone, Copy, Debug)]
pub struct CrossSell<'s> {
    cx: &'s Session,
}

/// Which orders rules are mined from, and which rules are kept.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BasketOptions {
    /// The orders placed in this window (and now placed, paid or fulfilled) count (default:
    /// the trailing 12 months).
    pub window: Option<Window>,
    /// Only the orders this filter selects.
    pub filter: Filter,
    /// A pair must appear together in at least this many orders (default 3): rarer pairs
    /// are chance.
    pub min_orders: u64,
    /// Rules below this confidence, 0–1, are left out (default 0.1).
    pub min_confidence: Decimal,
    /// At most this many rules, the strongest first (default 100; 1–[`MAX_RULES`]).
    pub top: usize,
}

impl Default for BasketOptions {
    fn default() -> Self {
        BasketOptions { window: None, filter: Filter::All, min_orders: 3, min_confidence: Decimal::new(1, 1), top: 100 }
    }
}

/// A rule: orders with `antecedent` tend to have `consequent` too.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    /// The product bought.
    pub antecedent: ProductId,
    /// The product that tends to come with it.
    pub consequent: ProductId,
    /// Orders with both.
    pub orders: u64,
    /// Their share of all orders, 0–1.
    pub support: Decimal,
    /// Their share of the orders with the antecedent, 0–1.
    pub confidence: Decimal,
    /// The confidence over the share of all orders with the consequent: above 1, the two go
    /// together (to four decimals).
    pub lift: Decimal,
}

/// The rules mined from the orders.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BasketReport {
    /// The window the orders were placed in.
    pub window: Window,
    /// Orders with at least one product.
    pub orders: u64,
    /// Products in them.
    pub products: u64,
    /// The rules kept, the highest lift first (then confidence, then orders).
    pub rules: Vec<Rule>,
    /// Why there is no rule, when there is none.
    pub empty_because: Option<String>,
}

/// Whom to recommend to, from which rules.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecommendOptions {
    /// The rules (all of them that pass, not only the top).
    pub basket: BasketOptions,
    /// These customers (default: every contact who bought).
    pub customers: Vec<ContactId>,
    /// At most this many products per customer (default 3; at most [`MAX_PER_CUSTOMER`]).
    pub per_customer: usize,
}

impl Default for RecommendOptions {
    fn default() -> Self {
        RecommendOptions { basket: BasketOptions::default(), customers: Vec::new(), per_customer: 3 }
    }
}

/// A product to offer a customer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Recommendation {
    /// The product.
    pub product_id: ProductId,
    /// How likely they take it: the confidence of the best rule for it, 0–1.
    pub score: Decimal,
    /// That rule's lift.
    pub lift: Decimal,
    /// The product they bought that suggests it.
    pub because: ProductId,
    /// The rule in words.
    pub why: String,
}

/// One customer's recommendations.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CustomerRecommendations {
    /// The contact.
    pub contact_id: ContactId,
    /// The products to offer, the likeliest first.
    pub products: Vec<Recommendation>,
}

impl<'s> CrossSell<'s> {
    /// Cross-sell analytics over the orders `cx`'s actor reads.
    pub fn new(cx: &'s Session) -> Self {
        CrossSell { cx }
    }

    /// The association rules between pairs of products in the window's orders.
    ///
    /// A confidence outside 0–1 is an error naming `min_confidence`; `top` beyond
    /// [`MAX_RULES`], one naming `top`; `min_orders` of 0, one naming `min_orders`.
    pub async fn rules(&self, o: &BasketOptions) -> Result<BasketReport> {
        let all = self.mine(o).await?;
        let (window, orders, products, mut rules) = all;
        let empty_because = rules.is_empty().then(|| {
            if orders == 0 {
                "no order with a product was placed, paid or fulfilled in the window".to_owned()
            } else {
                format!("no two products were ordered together in {} orders or more", o.min_orders)
            }
        });
        rules.truncate(o.top);
        Ok(BasketReport { window, orders, products, rules, empty_because })
    }

    /// For each customer, the products the rules suggest that they have never bought, the
    /// likeliest first (one aggregate over their orders by contact and product besides the
    /// rules').
    pub async fn recommend(&self, o: &RecommendOptions) -> Result<Vec<CustomerRecommendations>> {
        if o.per_customer == 0 || o.per_customer > MAX_PER_CUSTOMER {
            let why = format!("1–{MAX_PER_CUSTOMER} products per customer");
            return Err(Error::invalid("per_customer", FieldErrorCode::OutOfRange, why));
        }
        let (_, _, _, rules) = self.mine(&o.basket).await?;
        let mut by_antecedent: HashMap<ProductId, Vec<&Rule>> = HashMap::new();
        for r in &rules {
            by_antecedent.entry(r.antecedent).or_default().push(r);
        }
        // What each customer ever bought.
        let mut filter = purchases(&Filter::All, "contact_id", None);
        if !o.customers.is_empty() {
            filter = filter.and(Filter::is_in("contact_id", o.customers.iter().map(|c| Value::Id(c.as_uuid()))));
        }
        let bought = Aggregate::new(filter).group_by("contact_id").each("product_ids").count();
        let mut owned: BTreeMap<Uuid, BTreeSet<ProductId>> = BTreeMap::new();
        for r in self.cx.orders().aggregate(&bought).await? {
            if let (Value::Id(c), Value::Id(p)) = (&r.groups[0], &r.groups[1]) {
                owned.entry(*c).or_default().insert(ProductId::from_uuid(*p));
            }
        }
        let mut out = Vec::with_capacity(owned.len());
        for (contact, has) in owned {
            // The best rule for each product they lack (rules come strongest first).
            let mut best: BTreeMap<ProductId, &Rule> = BTreeMap::new();
            for p in &has {
                for r in by_antecedent.get(p).into_iter().flatten() {
                    if has.contains(&r.consequent) {
                        continue;
                    }
                    let e = best.entry(r.consequent).or_insert(r);
                    if (r.confidence, r.lift) > (e.confidence, e.lift) {
                        *e = r;
                    }
                }
            }
            let mut products: Vec<Recommendation> = best
                .into_values()
                .map(|r| Recommendation {
                    product_id: r.consequent,
                    score: r.confidence,
                    lift: r.lift,
                    because: r.antecedent,
                    why: format!(
                        "{} % of the orders with a product they bought also had it ({} orders; {}× as likely as in any order)",
                        (r.confidence * Decimal::ONE_HUNDRED).round_dp(1).normalize(),
                        r.orders,
                        r.lift
                    ),
                })
                .collect();
            products.sort_by(|a, b| (b.score, b.lift).cmp(&(a.score, a.lift)).then(a.product_id.cmp(&b.product_id)));
            products.truncate(o.per_customer);
            if !products.is_empty() {
                out.push(CustomerRecommendations { contact_id: ContactId::from_uuid(contact), products });
            }
        }
        Ok(out)
    }

    /// The window, the orders with products, the products and every rule that passes, the
    /// strongest first.
    async fn mine(&self, o: &BasketOptions) -> Result<(Window, u64, u64, Vec<Rule>)> {
        if o.min_orders == 0 {
            return Err(Error::invalid("min_orders", FieldErrorCode::OutOfRange, "a pair needs at least 1 order"));
        }
        if o.min_confidence.is_sign_negative() || o.min_confidence > Decimal::ONE {
            return Err(Error::invalid("min_confidence", FieldErrorCode::OutOfRange, "a confidence is 0–1"));
        }
        if o.top == 0 || o.top > MAX_RULES {
            return Err(Error::invalid("top", FieldErrorCode::OutOfRange, format!("1–{MAX_RULES} rules")));
        }
        let window = o.window.unwrap_or_else(|| Window::trailing_months(self.cx.now(), 12));
        window.check()?;
        // Every basket counts, a customer's or not.
        let orders = o
            .filter
            .clone()
            .and(Filter::is_in("status", PURCHASED))
            .and(window.filter("placed_at"))
            .and(Filter::is_null("product_ids").not());
        let n = Aggregate::new(orders.clone()).count_distinct("id");
        let n = self.cx.orders().aggregate(&n).await?.first().map_or(0, |r| count(&r.values[0]));
        let single = Aggregate::new(orders.clone()).each("product_ids").count_distinct("id");
        let mut with: HashMap<Uuid, u64> = HashMap::new();
        for r in self.cx.orders().aggregate(&single).await? {
            if let Value::Id(p) = r.groups[0] {
                with.insert(p, count(&r.values[0]));
            }
        }
        let pairs = Aggregate::new(orders).each("product_ids").each("product_ids").count_distinct("id");
        let mut rules = Vec::new();
        for r in self.cx.orders().aggregate(&pairs).await? {
            let (Value::Id(a), Value::Id(b)) = (&r.groups[0], &r.groups[1]) else { continue };
            let both = count(&r.values[0]);
            if a == b || both < o.min_orders {
                continue;
            }
            let (Some(&na), Some(&nb)) = (with.get(a), with.get(b)) else { continue };
            let Some(confidence) = share(Decimal::from(both), Decimal::from(na)) else { continue };
            if confidence < o.min_confidence {
                continue;
            }
            let lift = (Decimal::from(both) * Decimal::from(n))
                .checked_div(Decimal::from(na) * Decimal::from(nb))
                .map_or(Decimal::ZERO, |l| l.round_dp(4).normalize());
            rules.push(Rule {
                antecedent: ProductId::from_uuid(*a),
                consequent: ProductId::from_uuid(*b),
                orders: both,
                support: share(Decimal::from(both), Decimal::from(n)).unwrap_or_default(),
                confidence,
                lift,
            });
        }
        rules.sort_by(|x, y| {
            (y.lift, y.confidence, y.orders)
                .cmp(&(x.lift, x.confidence, x.orders))
                .then((x.antecedent, x.consequent).cmp(&(y.antecedent, y.consequent)))
        });
        Ok((window, n, with.len() as u64, rules))
    }
}
