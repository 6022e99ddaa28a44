//! Cross-sell on every store: a tea shop's orders, the rules they make (support, confidence
//! and lift worked out by hand), and what each customer is offered.

use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use crm_analytics::{BasketOptions, CrossSell, RecommendOptions, Window};
use crm_core::ids::{ManualClock, ProductId};
use crm_core::model::{LineItem, Product};
use crm_core::prelude::*;
use crm_core::service::{NewOrder, NewProduct};
use crm_core::store::Store;
use rust_decimal::Decimal;

fn at(m: u32, d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, m, d, 12, 0, 0).unwrap()
}

fn dec(s: &str) -> Decimal {
    s.parse().unwrap()
}

fn basket() -> BasketOptions {
    let window = Window { from: at(1, 1), to: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap() };
    BasketOptions { window: Some(window), ..Default::default() }
}

pub(crate) async fn rules_and_recommendations(store: Arc<dyn Store>) {
    let clock = Arc::new(ManualClock::new(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()));
    let crm = crm_core::service::CrmBuilder::from_arc(store).clock(clock).build().unwrap();
    let cx = crm.as_actor(&Actor::system(TenantId::new()));
    let mut product = Vec::new();
    for (sku, name) in [("TEA", "Tea"), ("POT", "Teapot"), ("CUP", "Cup"), ("CAKE", "Cake")] {
        let price = Money::new(Decimal::new(5, 0), Currency::EUR);
        product.push(cx.products().create(NewProduct::new(sku, name, price)).await.unwrap());
    }
    let [tea, pot, cup, cake]: [Product; 4] = product.try_into().unwrap();
    let mut people = Vec::new();
    for name in ["Ann", "Bob", "Cat", "Dan", "Eve", "Fay"] {
        people.push(cx.contacts().create(NewContact::new(name, "Buyer")).await.unwrap().id);
    }
    let [ann, bob, cat, dan, eve, fay]: [ContactId; 6] = people.try_into().unwrap();
    let order = |who: ContactId, items: &[&Product], day: u32| {
        let mut o = NewOrder::for_contact(who).currency(Currency::EUR).placed_at(at(6, day));
        for p in items {
            o = o.line(LineItem::for_product(p, Decimal::ONE));
        }
        o
    };
    let baskets: Vec<(ContactId, Vec<&Product>, u32)> = [
        (dan, vec![&tea, &pot], 6),
        (cat, vec![&tea, &pot, &cup], 2),
        (ann, vec![&tea], 4),
        (eve, vec![&cake, &cup], 3),
        (bob, vec![&cake], 1),
        // Tea on two lines counts once.
        (fay, vec![&tea, &tea, &cup], 1),
    ]
    .into_iter()
    .flat_map(|(who, items, n)| (0..n).map(move |i| (who, items.clone(), i + 1)))
    .collect();
    for (who, items, day) in &baskets {
        cx.orders().create(order(*who, items, *day)).await.unwrap();
    }
    // Cancelled: not a purchase, so Ann never bought a teapot.
    let cancelled = cx.orders().create(order(ann, &[&pot, &cake], 9)).await.unwrap();
    cx.orders().cancel(cancelled.id).await.unwrap();

    let report = CrossSell::new(&cx).rules(&basket()).await.unwrap();
    assert_eq!((report.orders, report.products), (17, 4));
    let rules: Vec<(ProductId, ProductId, u64, Decimal, Decimal, Decimal)> =
        report.rules.iter().map(|r| (r.antecedent, r.consequent, r.orders, r.support, r.confidence, r.lift)).collect();
    // Tea 13 orders, teapot 8, cup 6, cake 4 of 17; together: tea and teapot 8, tea and cup 3,
    // cake and cup 3 (teapot and cup, 2, is below three orders).
    assert_eq!(
        rules,
        vec![
            (cake.id, cup.id, 3, dec("0.176471"), dec("0.75"), dec("2.125")),
            (cup.id, cake.id, 3, dec("0.176471"), dec("0.5"), dec("2.125")),
            (pot.id, tea.id, 8, dec("0.470588"), dec("1"), dec("1.3077")),
            (tea.id, pot.id, 8, dec("0.470588"), dec("0.615385"), dec("1.3077")),
            (cup.id, tea.id, 3, dec("0.176471"), dec("0.5"), dec("0.6538")),
            (tea.id, cup.id, 3, dec("0.176471"), dec("0.230769"), dec("0.6538")),
        ]
    );
    // Stricter: two rules of confidence 0.75 or more, and the top one only.
    let strict = BasketOptions { min_confidence: dec("0.75"), top: 1, ..basket() };
    let r = CrossSell::new(&cx).rules(&strict).await.unwrap();
    assert_eq!(r.rules.iter().map(|r| (r.antecedent, r.consequent)).collect::<Vec<_>>(), vec![(cake.id, cup.id)]);

    let recs = CrossSell::new(&cx)
        .recommend(&RecommendOptions { basket: basket(), per_customer: 2, ..Default::default() })
        .await
        .unwrap();
    let offered = |who: ContactId| -> Vec<(ProductId, Decimal, ProductId)> {
        recs.iter()
            .find(|c| c.contact_id == who)
            .map(|c| c.products.iter().map(|p| (p.product_id, p.score, p.because)).collect())
            .unwrap_or_default()
    };
    assert_eq!(offered(ann), vec![(pot.id, dec("0.615385"), tea.id), (cup.id, dec("0.230769"), tea.id)]);
    assert_eq!(offered(bob), vec![(cup.id, dec("0.75"), cake.id)]);
    assert_eq!(offered(cat), vec![(cake.id, dec("0.5"), cup.id)]);
    assert_eq!(offered(dan), vec![(cup.id, dec("0.230769"), tea.id)]);
    assert_eq!(offered(eve), vec![(tea.id, dec("0.5"), cup.id)]);
    assert_eq!(offered(fay), vec![(pot.id, dec("0.615385"), tea.id), (cake.id, dec("0.5"), cup.id)]);
    let ann_pot = &recs.iter().find(|c| c.contact_id == ann).unwrap().products[0];
    assert!(
        ann_pot.why.starts_with("61.5 % of the orders with a product they bought also had it (8 orders"),
        "{}",
        ann_pot.why
    );
    // One customer, one product.
    let o = RecommendOptions { basket: basket(), customers: vec![ann], per_customer: 1 };
    let only = CrossSell::new(&cx).recommend(&o).await.unwrap();
    assert_eq!((only.len(), only[0].contact_id, only[0].products.len()), (1, ann, 1));

    // Refusals name the option.
    for (bad, field) in [
        (BasketOptions { min_orders: 0, ..basket() }, "min_orders"),
        (BasketOptions { min_confidence: dec("1.5"), ..basket() }, "min_confidence"),
        (BasketOptions { top: crm_analytics::MAX_RULES + 1, ..basket() }, "top"),
    ] {
        let e = CrossSell::new(&cx).rules(&bad).await.unwrap_err();
        assert_eq!(e.field_errors()[0].field, field);
    }
    let e =
        CrossSell::new(&cx).recommend(&RecommendOptions { per_customer: 0, ..Default::default() }).await.unwrap_err();
    assert_eq!(e.field_errors()[0].field, "per_customer");
    // A window without orders: no rule, saying why.
    let empty = BasketOptions { window: Some(Window { from: at(1, 1), to: at(2, 1) }), ..basket() };
    let r = CrossSell::new(&cx).rules(&empty).await.unwrap();
    assert!(r.rules.is_empty() && r.orders == 0 && r.empty_because.unwrap().contains("no order"));
}

macro_rules! cross_sell_suite {
    ($make:path) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn rules_and_recommendations() {
            let (store, _dir) = $make().await;
            super::rules_and_recommendations(store).await
        }
    };
}

mod memory {
    cross_sell_suite!(crate::memory);
}

mod sqlite {
    cross_sell_suite!(crate::sqlite);
}

mod postgres {
    cross_sell_suite!(crate::postgres);
}
