//! Customer lifetime value against an independent implementation of the same models: the
//! purchase history in `tests/reference/clv.json` (400 customers simulated from BG/NBD and
//! Gamma-Gamma over two years) with what the `lifetimes` package fitted and predicted from it
//! (`tests/reference/clv.py` made it). The formulas must agree with the reference's at its
//! parameters to 1e-9 (relative); the library's own fits must reach the likelihood's maximum
//! (no lower than at the reference's parameters) with every parameter within 1e-4 of the
//! reference's; and every store must turn the orders into the reference's histories, and the
//! report its chances alive within 1e-4 and 12-month values within 1e-4 (and half a cent).

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use crm_analytics::{BgNbd, ClvOptions, Customers, GammaGamma, MIN_CUSTOMERS, Purchases};
use crm_core::ids::{ContactId, OrderId};
use crm_core::model::{Entity, OrderStatus, Record};
use crm_core::prelude::*;
use crm_core::store::{Store, TxMode};
use crm_core::testkit::fixtures;
use rust_decimal::Decimal;
use serde::Deserialize;
use uuid::Uuid;

#[derive(Deserialize)]
struct Reference {
    observation_end: NaiveDate,
    bgnbd: HashMap<String, f64>,
    gamma_gamma: HashMap<String, f64>,
    /// (customer, day, amount).
    orders: Vec<(u32, NaiveDate, Decimal)>,
    customers: Vec<RefCustomer>,
}

#[derive(Deserialize)]
struct RefCustomer {
    customer: u32,
    frequency: u32,
    recency: f64,
    #[serde(rename = "T")]
    age: f64,
    monetary_value: f64,
    p_alive: f64,
    expected_30: f64,
    expected_365: f64,
    expected_spend: f64,
    clv_12_months: f64,
}

impl RefCustomer {
    fn purchases(&self) -> Purchases {
        Purchases { repeats: self.frequency, recency: self.recency, age: self.age }
    }
}

static REFERENCE: LazyLock<Reference> =
    LazyLock::new(|| serde_json::from_str(include_str!("../reference/clv.json")).expect("tests/reference/clv.json"));

fn reference_models() -> (BgNbd, GammaGamma) {
    let (b, g) = (&REFERENCE.bgnbd, &REFERENCE.gamma_gamma);
    (BgNbd { r: b["r"], alpha: b["alpha"], a: b["a"], b: b["b"] }, GammaGamma { p: g["p"], q: g["q"], v: g["v"] })
}

/// `got` within `rel` of `want` (relative, or absolute below 1e-9 for values near zero).
fn close(got: f64, want: f64, rel: f64) -> bool {
    (got - want).abs() <= rel * want.abs().max(1e-9)
}

#[test]
fn the_formulas_agree_with_the_reference_at_its_parameters() {
    let (bg, gg) = reference_models();
    for c in &REFERENCE.customers {
        let h = c.purchases();
        assert!(
            close(bg.p_alive(&h), c.p_alive, 1e-9),
            "p_alive of {}: {} vs {}",
            c.customer,
            bg.p_alive(&h),
            c.p_alive
        );
        for (days, want) in [(30.0, c.expected_30), (365.0, c.expected_365)] {
            let got = bg.expected_purchases(&h, days);
            assert!(close(got, want, 1e-9), "purchases of {} in {days} days: {got} vs {want}", c.customer);
        }
        let spend = gg.expected_spend(c.frequency, c.monetary_value).unwrap();
        assert!(close(spend, c.expected_spend, 1e-9), "spend of {}: {spend} vs {}", c.customer, c.expected_spend);
    }
}

#[test]
fn the_fits_reach_the_likelihoods_maximum_near_the_reference() {
    let (ref_bg, ref_gg) = reference_models();
    let histories: Vec<Purchases> = REFERENCE.customers.iter().map(RefCustomer::purchases).collect();
    let (bg, fit) = BgNbd::fit(&histories).expect("a fit");
    assert!(fit.converged, "{fit:?}");
    assert_eq!(fit.customers, 400);
    // The maximum: no lower than at the reference's parameters (it stops a little short).
    let at_reference: f64 = histories.iter().map(|h| ref_bg.log_likelihood(h)).sum();
    assert!(fit.log_likelihood >= at_reference - 1e-6, "{} < {at_reference}", fit.log_likelihood);
    for (name, got, want) in
        [("r", bg.r, ref_bg.r), ("alpha", bg.alpha, ref_bg.alpha), ("a", bg.a, ref_bg.a), ("b", bg.b, ref_bg.b)]
    {
        assert!(close(got, want, 1e-4), "{name}: {got} vs {want}");
    }
    let buyers: Vec<(u32, f64)> =
        REFERENCE.customers.iter().filter(|c| c.frequency > 0).map(|c| (c.frequency, c.monetary_value)).collect();
    let (gg, fit) = GammaGamma::fit(&buyers).expect("a fit");
    assert!(fit.converged, "{fit:?}");
    let at_reference: f64 = buyers.iter().map(|(x, m)| ref_gg.log_likelihood(*x, *m)).sum();
    assert!(fit.log_likelihood >= at_reference - 1e-6, "{} < {at_reference}", fit.log_likelihood);
    for (name, got, want) in [("p", gg.p, ref_gg.p), ("q", gg.q, ref_gg.q), ("v", gg.v, ref_gg.v)] {
        assert!(close(got, want, 1e-4), "{name}: {got} vs {want}");
    }
    // Bad histories fit nothing.
    assert!(BgNbd::fit(&[]).is_none());
    assert!(BgNbd::fit(&[Purchases { repeats: 1, recency: 5.0, age: 2.0 }]).is_none());
    assert!(GammaGamma::fit(&[(0, 10.0)]).is_none());
}

#[test]
fn many_histories_are_fitted_to_the_likelihoods_maximum() {
    // 12,000 histories (each reference customer observed on thirty later days): the fit must
    // end at the likelihood's maximum over all of them.
    let histories: Vec<Purchases> = REFERENCE
        .customers
        .iter()
        .flat_map(|c| (0..30).map(move |k| Purchases { age: c.age + f64::from(k), ..c.purchases() }))
        .collect();
    let (m, fit) = BgNbd::fit(&histories).unwrap();
    assert!(fit.converged, "{m:?} {fit:?}");
    let ll = |m: &BgNbd| histories.iter().map(|h| m.log_likelihood(h)).sum::<f64>();
    let best = ll(&m);
    assert!((best - fit.log_likelihood).abs() < 1e-6 * best.abs(), "{best} {fit:?}");
    // No step along any parameter gains.
    for i in 0..4 {
        for step in [1.001, 0.999] {
            let mut p = [m.r, m.alpha, m.a, m.b];
            p[i] *= step;
            let moved = BgNbd { r: p[0], alpha: p[1], a: p[2], b: p[3] };
            assert!(ll(&moved) <= best + 1e-6, "parameter {i} × {step}: {} > {best}", ll(&moved));
        }
    }
}

fn customer(i: u32) -> ContactId {
    ContactId::from_uuid(Uuid::from_u128(0x0195_0000_0000_7000_8000_0000_0000_0000 + u128::from(i)))
}

/// The reference's orders as placed orders at noon UTC of their day, written straight into
/// the store (and one cancelled order and one in dollars, which must not count).
async fn load(store: &Arc<dyn Store>, t: TenantId) {
    let noon = |d: NaiveDate| Utc.from_utc_datetime(&d.and_hms_opt(12, 0, 0).unwrap());
    let order = |i: usize, who: u32, day: NaiveDate, amount: Decimal, currency: Currency, status: OrderStatus| {
        let mut o = fixtures::order(t, customer(who), &format!("SO-{i}"));
        o.id = OrderId::from_uuid(Uuid::from_u128(0x0196_0000_0000_7000_8000_0000_0000_0000 + i as u128));
        let total = Money::new(amount, currency);
        (o.status, o.placed_at, o.payment_method, o.currency) = (status, Some(noon(day)), None, currency);
        (o.lines, o.subtotal, o.tax, o.total) = (Vec::new(), total, Money::zero(currency), total);
        (o.created_at, o.updated_at) = (noon(day), noon(day));
        o.into_record()
    };
    let mut records: Vec<Record> = REFERENCE
        .orders
        .iter()
        .enumerate()
        .map(|(i, (who, day, amount))| order(i, *who, *day, *amount, Currency::EUR, OrderStatus::Paid))
        .collect();
    let n = records.len();
    let day = REFERENCE.observation_end;
    records.push(order(n, 1, day, Decimal::new(999, 0), Currency::EUR, OrderStatus::Cancelled));
    records.push(order(n + 1, 2, day, Decimal::new(999, 0), Currency::USD, OrderStatus::Paid));
    let mut tx = store.begin(t, TxMode::ReadWrite).await.unwrap();
    tx.insert_many(&records).await.unwrap();
    tx.commit().await.unwrap();
}

fn end() -> DateTime<Utc> {
    Utc.from_utc_datetime(&REFERENCE.observation_end.succ_opt().unwrap().and_hms_opt(0, 0, 0).unwrap())
}

pub(crate) async fn clv_matches_the_reference(store: Arc<dyn Store>) {
    let t = TenantId::new();
    load(&store, t).await;
    let crm = crm_core::service::CrmBuilder::from_arc(store).build().unwrap();
    let cx = crm.as_actor(&Actor::system(t));
    let o = ClvOptions { until: Some(end()), currency: Some(Currency::EUR), ..Default::default() };
    let report = Customers::new(&cx).clv(&o).await.unwrap();
    assert_eq!(report.last_day, REFERENCE.observation_end);
    assert_eq!(report.customers.len(), REFERENCE.customers.len());
    let models = report.models.as_ref().expect("models");
    assert!(models.purchases_fit.converged && models.spend_fit.converged);
    // The histories are the reference's, so the fits are the ones made from them directly.
    let histories: Vec<Purchases> = REFERENCE.customers.iter().map(RefCustomer::purchases).collect();
    assert_eq!(BgNbd::fit(&histories).unwrap().0, models.purchases);
    let by_id: HashMap<ContactId, &crm_analytics::CustomerClv> =
        report.customers.iter().map(|c| (c.contact_id, c)).collect();
    let mut total = Decimal::ZERO;
    for r in &REFERENCE.customers {
        let c = by_id[&customer(r.customer)];
        assert_eq!(c.purchases, r.purchases(), "customer {}", r.customer);
        let own =
            c.average_repeat_spend.map_or(0.0, |m| rust_decimal::prelude::ToPrimitive::to_f64(&m.amount).unwrap());
        assert!(
            (own - r.monetary_value).abs() <= 0.005 + 1e-9,
            "spend of {}: {own} vs {}",
            r.customer,
            r.monetary_value
        );
        let predicted = rust_decimal::prelude::ToPrimitive::to_f64(&c.predicted.unwrap().amount).unwrap();
        assert!(
            (predicted - r.clv_12_months).abs() <= 0.005 + 1e-4 * r.clv_12_months,
            "value of {}: {predicted} vs {}",
            r.customer,
            r.clv_12_months
        );
        assert!(close(c.p_alive.unwrap(), r.p_alive, 1e-4), "p_alive of {}", r.customer);
        total += c.revenue.amount;
    }
    // The cancelled order and the dollar order did not count; revenue adds up exactly.
    let orders: Decimal = REFERENCE.orders.iter().map(|o| o.2).sum();
    assert_eq!((total, report.revenue.unwrap().amount), (orders, orders));
    // The most valuable first.
    let values: Vec<Decimal> = report.customers.iter().map(|c| c.predicted.unwrap().amount).collect();
    assert!(values.windows(2).all(|w| w[0] >= w[1]));

    // The spread of values drawn: ten bands, the last open-ended.
    #[cfg(feature = "charts")]
    {
        let svg = crm_analytics::charts::clv_distribution(&report).unwrap();
        assert!(svg.contains("Predicted value over 12 months") && svg.contains("≥ "), "{svg}");
        assert_eq!(svg.matches(" EUR").count(), 10, "{svg}");
    }

    // Dollars too, without a currency chosen: refused, naming the currency.
    let mixed = Customers::new(&cx).clv(&ClvOptions { until: Some(end()), ..Default::default() }).await.unwrap_err();
    assert_eq!(mixed.field_errors()[0].field, "currency");
    // Only the dollar buyer: one customer, too few to fit; the history is still reported.
    let usd = ClvOptions { until: Some(end()), currency: Some(Currency::USD), ..Default::default() };
    let report = Customers::new(&cx).clv(&usd).await.unwrap();
    assert_eq!(report.customers.len(), 1);
    assert_eq!(report.revenue, Some(Money::new(Decimal::new(999, 0), Currency::USD)));
    assert!(report.models.is_none() && report.predicted.is_none() && report.customers[0].predicted.is_none());
    assert!(report.not_predicted_because.unwrap().contains(&format!("at least {MIN_CUSTOMERS} customers")));
    // Before the first order: empty, saying why.
    let before = Utc.with_ymd_and_hms(2023, 1, 1, 0, 0, 0).unwrap();
    let empty = Customers::new(&cx).clv(&ClvOptions { until: Some(before), ..Default::default() }).await.unwrap();
    assert!(empty.customers.is_empty() && empty.empty_because.is_some() && empty.revenue.is_none());
    // Out-of-range options name the option.
    for (bad, field) in [
        (ClvOptions { horizon_months: 0, ..Default::default() }, "horizon_months"),
        (ClvOptions { horizon_months: 121, ..Default::default() }, "horizon_months"),
        (ClvOptions { monthly_discount: Decimal::ONE, ..Default::default() }, "monthly_discount"),
        (ClvOptions { monthly_discount: Decimal::new(-1, 2), ..Default::default() }, "monthly_discount"),
    ] {
        let e = Customers::new(&cx).clv(&bad).await.unwrap_err();
        assert_eq!(e.field_errors()[0].field, field);
    }
}

macro_rules! clv_suite {
    ($make:path) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn clv_matches_the_reference() {
            let (store, _dir) = $make().await;
            super::clv_matches_the_reference(store).await
        }
    };
}

mod memory {
    clv_suite!(crate::memory);
}

mod sqlite {
    clv_suite!(crate::sqlite);
}

mod postgres {
    clv_suite!(crate::postgres);
}
