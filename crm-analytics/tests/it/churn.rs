//! Churn risk on every store: two dozen steady customers and a few who faded, one who stopped buying, one who is
//! unhappy (open cases, one past its SLA, a low rating, business lost to a competitor, an
//! overdue invoice, fewer calls), and one who bought once — each scored with the factors that
//! explain it.

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use crm_analytics::{ChurnBand, ChurnFactor, ChurnOptions, ChurnWeights, CustomerChurn, Customers};
use crm_core::ids::ManualClock;
use crm_core::model::{CaseChannel, CaseType, LineItem};
use crm_core::prelude::*;
use crm_core::service::{NewActivity, NewCase, NewFeedback, NewInvoice, NewOrder};
use crm_core::store::Store;
use rust_decimal::Decimal;

fn at(y: i32, m: u32, d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, 12, 0, 0).unwrap()
}

fn until() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
}

fn points(c: &CustomerChurn, f: ChurnFactor) -> Decimal {
    c.factors.iter().find(|x| x.factor == f).unwrap().points
}

fn why(c: &CustomerChurn, f: ChurnFactor) -> &str {
    &c.factors.iter().find(|x| x.factor == f).unwrap().why
}

pub(crate) async fn churn_risk_is_scored_and_explained(store: Arc<dyn Store>) {
    // The year's history entered on new year's day.
    let clock = Arc::new(ManualClock::new(until()));
    let crm = crm_core::service::CrmBuilder::from_arc(store).clock(clock.clone()).build().unwrap();
    let t = TenantId::new();
    let cx = crm.as_actor(&Actor::system(t));
    let buy = |who: ContactId, when: DateTime<Utc>| {
        let line = LineItem::new("Tea", Decimal::ONE, Money::new(Decimal::new(25, 0), Currency::EUR));
        NewOrder::for_contact(who).currency(Currency::EUR).line(line).placed_at(when)
    };
    // Steady customers, each at their own pace (every 30 days for the first two), up to
    // date; and some who faded after a few purchases.
    let mut steady = Vec::new();
    for i in 0..24i64 {
        let c = cx.contacts().create(NewContact::new(format!("Steady{i}"), "Buyer")).await.unwrap();
        let every = if i < 2 { 30 } else { 15 + (i * 11) % 40 };
        let mut when = at(2025, 1, 2) + Duration::days(i);
        while when < until() - Duration::days(every) {
            cx.orders().create(buy(c.id, when)).await.unwrap();
            when += Duration::days(every);
        }
        steady.push(c.id);
    }
    for j in 0..6i64 {
        let c = cx.contacts().create(NewContact::new(format!("Faded{j}"), "Buyer")).await.unwrap();
        for k in 0..(2 + j) {
            cx.orders().create(buy(c.id, at(2025, 1, 5) + Duration::days(k * (20 + 6 * j)))).await.unwrap();
        }
    }
    let lapsed = cx.contacts().create(NewContact::new("Lapsed", "Buyer")).await.unwrap().id;
    for m in 1..=5 {
        cx.orders().create(buy(lapsed, at(2025, m, 3))).await.unwrap();
    }
    let once = cx.contacts().create(NewContact::new("Once", "Buyer")).await.unwrap().id;
    cx.orders().create(buy(once, at(2025, 12, 1))).await.unwrap();
    let unhappy = steady[0];
    // Four calls in the quarter before the last, one in the last.
    for day in [at(2025, 7, 10), at(2025, 8, 10), at(2025, 9, 1), at(2025, 9, 20), at(2025, 11, 15)] {
        cx.activities().create(NewActivity::call("Check-in").contact(unhappy).at(day)).await.unwrap();
    }
    // A note is no interaction with the customer.
    cx.activities().create(NewActivity::note("Internal").contact(steady[1]).at(at(2025, 8, 1))).await.unwrap();
    // Two cases opened in December, both still open and past their SLA; and one of another
    // customer's opened in June, open and past its SLA, but not within the lookback.
    for (who, subject, month, day) in
        [(unhappy, "Broken lid", 12, 1), (unhappy, "Late delivery", 12, 2), (steady[2], "Old question", 6, 1)]
    {
        let case =
            NewCase::new(subject, CaseType::Problem, CaseChannel::Email).contact(who).opened_at(at(2025, month, day));
        cx.cases().create(case).await.unwrap();
    }
    let flagged = cx.cases().flag_breaches().await.unwrap();
    assert_eq!(flagged.len(), 3);
    cx.feedback()
        .create(NewFeedback::survey(Some(1), None).contact(unhappy).received_at(at(2025, 12, 5)))
        .await
        .unwrap();
    cx.feedback()
        .create(NewFeedback::lost_to("Acme", "price").contact(unhappy).received_at(at(2025, 12, 6)))
        .await
        .unwrap();
    // A rating of 4 is no complaint.
    cx.feedback()
        .create(NewFeedback::survey(Some(4), None).contact(steady[1]).received_at(at(2025, 12, 5)))
        .await
        .unwrap();
    let line = LineItem::new("Tea", Decimal::ONE, Money::new(Decimal::new(25, 0), Currency::EUR));
    let invoice = NewInvoice::for_contact(unhappy)
        .line(line)
        .issued(at(2025, 11, 1).date_naive())
        .due(at(2025, 11, 15).date_naive());
    let invoice = cx.invoices().create(invoice).await.unwrap();
    cx.invoices().send(invoice.id).await.unwrap();
    assert_eq!(cx.invoices().mark_overdue(until().date_naive()).await.unwrap().len(), 1);

    let report = Customers::new(&cx).churn(&ChurnOptions::default()).await.unwrap();
    assert_eq!(report.until, until());
    assert_eq!(report.customers.len(), 32);
    assert!(
        report.purchases.is_some() && report.purchases_fit.as_ref().unwrap().converged,
        "{:?} {:?}",
        report.purchases,
        report.purchases_fit
    );
    assert_eq!(report.bands.iter().sum::<u64>(), 32);
    let of = |id: ContactId| report.customers.iter().find(|c| c.contact_id == id).unwrap();
    for c in &report.customers {
        // The points add up to the score; every factor is listed, the most points first.
        assert_eq!(c.score, c.factors.iter().map(|f| f.points).sum::<Decimal>());
        assert_eq!(c.factors.len(), 6);
        assert!(c.factors.windows(2).all(|w| w[0].points >= w[1].points));
        assert_eq!(c.band, ChurnBand::of(c.score));
    }
    // The highest risk first; the one who stopped buying and the unhappy one above every
    // steady customer.
    assert!(report.customers.windows(2).all(|w| w[0].score >= w[1].score));
    let l = of(lapsed);
    assert_eq!(l.factors[0].factor, ChurnFactor::NotAlive, "{l:?}");
    assert!(l.factors[0].risk > 0.8, "{l:?}");
    assert_eq!(points(l, ChurnFactor::OverduePurchase), Decimal::from(20), "{l:?}");
    assert!(why(l, ChurnFactor::OverduePurchase).contains("usually every 30 days"), "{l:?}");
    assert!(l.band >= ChurnBand::Medium, "{l:?}");
    let steady_top = steady[1..].iter().map(|id| of(*id).score).max().unwrap();
    assert!(l.score > steady_top && of(unhappy).score > steady_top, "{steady_top}: {l:?}");
    let u = of(unhappy);
    // Two open cases and two breaches: 1.5, capped at the factor's full 15 points; a low rating
    // and a loss: 15; an overdue invoice: half of 10; one call of four: three quarters of 10.
    assert_eq!(
        [ChurnFactor::Cases, ChurnFactor::Feedback, ChurnFactor::OverdueInvoices, ChurnFactor::FewerInteractions]
            .map(|f| points(u, f)),
        [Decimal::from(15), Decimal::from(15), Decimal::from(5), Decimal::new(75, 1)],
        "{u:?}"
    );
    assert!(
        why(u, ChurnFactor::FewerInteractions).starts_with("1 interaction in the last 90 days, 4 in the 90 before")
    );
    assert!(why(u, ChurnFactor::Cases).starts_with("2 cases open, 2 past the SLA"), "{u:?}");
    // A steady customer: nothing but a small chance of having left.
    let s = of(steady[1]);
    assert!(s.score < Decimal::from(15) && s.band == ChurnBand::Low, "{s:?}");
    for f in [ChurnFactor::Cases, ChurnFactor::Feedback, ChurnFactor::OverdueInvoices, ChurnFactor::FewerInteractions] {
        assert_eq!(points(s, f), Decimal::ZERO, "{f:?}: {s:?}");
    }
    assert!(why(of(once), ChurnFactor::OverduePurchase).starts_with("bought once, 30 days ago"));
    assert!(why(of(steady[2]), ChurnFactor::Cases).starts_with("1 case open, 0 past the SLA"), "{:?}", of(steady[2]));

    // Only the cases count: the unhappy customer leads with the factor's whole weight; the old
    // open case weighs a quarter.
    let cases_only = ChurnWeights { cases: 1, ..ChurnWeights::NONE };
    let r = Customers::new(&cx).churn(&ChurnOptions { weights: cases_only, ..Default::default() }).await.unwrap();
    assert_eq!((r.customers[0].contact_id, r.customers[0].score), (unhappy, Decimal::from(100)));
    assert_eq!((r.customers[1].contact_id, r.customers[1].score), (steady[2], Decimal::from(25)));
    assert_eq!(r.customers[2].score, Decimal::ZERO);
    assert_eq!(r.bands, [31, 0, 1]);
    // Judged a year earlier: nobody had bought yet.
    let before = ChurnOptions { until: Some(at(2024, 6, 1)), ..Default::default() };
    let r = Customers::new(&cx).churn(&before).await.unwrap();
    assert!(r.customers.is_empty() && r.empty_because.is_some());
    let heavy = ChurnWeights { cases: crm_analytics::MAX_WEIGHT + 1, ..Default::default() };
    assert!(format!("cases:{}", crm_analytics::MAX_WEIGHT + 1).parse::<ChurnWeights>().is_err());
    for (bad, field) in [
        (ChurnOptions { lookback_days: 3, ..Default::default() }, "lookback_days"),
        (ChurnOptions { weights: ChurnWeights::NONE, ..Default::default() }, "weights"),
        (ChurnOptions { weights: heavy, ..Default::default() }, "weights"),
    ] {
        let e = Customers::new(&cx).churn(&bad).await.unwrap_err();
        assert_eq!(e.field_errors()[0].field, field);
    }
}

/// Too few customers to fit the purchase model: that factor is left out, saying why, and the
/// others weigh alone.
pub(crate) async fn without_the_model_the_other_factors_weigh(store: Arc<dyn Store>) {
    let clock = Arc::new(ManualClock::new(at(2025, 12, 1)));
    let crm = crm_core::service::CrmBuilder::from_arc(store).clock(clock.clone()).build().unwrap();
    let cx = crm.as_actor(&Actor::system(TenantId::new()));
    let c = cx.contacts().create(NewContact::new("Solo", "Buyer")).await.unwrap().id;
    let line = LineItem::new("Tea", Decimal::ONE, Money::new(Decimal::new(25, 0), Currency::EUR));
    cx.orders()
        .create(NewOrder::for_contact(c).currency(Currency::EUR).line(line).placed_at(at(2025, 1, 1)))
        .await
        .unwrap();
    cx.feedback().create(NewFeedback::lost_to("Acme", "price").contact(c).received_at(at(2025, 11, 30))).await.unwrap();
    let r = Customers::new(&cx).churn(&ChurnOptions::default()).await.unwrap();
    assert!(r.purchases.is_none() && r.not_alive_because.as_deref().unwrap().contains("at least 20 customers"));
    let solo = &r.customers[0];
    assert!(solo.factors.iter().find(|f| f.factor == ChurnFactor::NotAlive).unwrap().why.starts_with("left out"));
    // Feedback weighs 15 of the 70 left: 21.4 points.
    assert_eq!(points(solo, ChurnFactor::Feedback), Decimal::new(214, 1), "{solo:?}");
    // Only the chance of being alive weighing, and it cannot be worked out: refused.
    let only_alive = ChurnWeights { not_alive: 1, ..ChurnWeights::NONE };
    let e = Customers::new(&cx).churn(&ChurnOptions { weights: only_alive, ..Default::default() }).await.unwrap_err();
    assert_eq!(e.field_errors()[0].field, "weights");
}

macro_rules! churn_suite {
    ($make:path) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn churn_risk_is_scored_and_explained() {
            let (store, _dir) = $make().await;
            super::churn_risk_is_scored_and_explained(store).await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn without_the_model_the_other_factors_weigh() {
            let (store, _dir) = $make().await;
            super::without_the_model_the_other_factors_weigh(store).await
        }
    };
}

mod memory {
    churn_suite!(crate::memory);
}

mod sqlite {
    churn_suite!(crate::sqlite);
}

mod postgres {
    churn_suite!(crate::postgres);
}
