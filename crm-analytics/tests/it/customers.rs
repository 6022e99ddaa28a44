//! Customer analytics on every store: five customers with purchase histories that rank them
//! one to five on each of recency, frequency and spend, the orders that must not count, and
//! the portfolio they make and how they come back.

use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use crm_analytics::{CustomerKind, Customers, PortfolioOptions, RetentionOptions, RfmOptions, ScoreProgress, Window};
use crm_core::ids::ManualClock;
use crm_core::model::{LineItem, Rfm, RfmSegment};
use crm_core::prelude::*;
use crm_core::service::{NewCompany, NewOrder, NewSegment};
use crm_core::store::Store;
use rust_decimal::Decimal;

fn at(y: i32, m: u32, d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, 12, 0, 0).unwrap()
}

fn window() -> Window {
    Window { from: at(2025, 1, 1), to: at(2026, 1, 1) }
}

fn eur_rfm() -> RfmOptions {
    RfmOptions { window: Some(window()), currency: Some(Currency::EUR), ..Default::default() }
}

/// The fields an error names, with why.
fn codes(e: &Error) -> Vec<(String, FieldErrorCode)> {
    e.field_errors().iter().map(|f| (f.field.clone(), f.code)).collect()
}

/// A customer's name, the (month, day) of their orders in 2025 and the amount of each.
type History = (&'static str, &'static [(u32, u32)], i64);

struct Story {
    crm: Crm,
    tenant: TenantId,
    /// Ann, Bob, Cat, Dan, Eve: by recency and by frequency in that order; Eve spent most.
    five: Vec<ContactId>,
    /// Scored once, then bought nothing in the window.
    gone: ContactId,
}

async fn story(store: Arc<dyn Store>) -> Story {
    let clock = Arc::new(ManualClock::new(at(2026, 1, 1)));
    let crm = crm_core::service::CrmBuilder::from_arc(store).clock(clock).build().unwrap();
    let tenant = TenantId::new();
    let cx = crm.as_actor(&Actor::system(tenant));
    let buy = |who: ContactId, when: DateTime<Utc>, units: i64, currency: Currency| {
        let line = LineItem::new("Tea", Decimal::ONE, Money::new(Decimal::new(units, 0), currency));
        NewOrder::for_contact(who).currency(currency).line(line).placed_at(when)
    };
    let histories: [History; 5] = [
        ("Ann", &[(3, 1), (5, 1), (7, 1), (9, 1), (12, 20)], 100),
        ("Bob", &[(2, 1), (4, 1), (6, 1), (12, 10)], 50),
        ("Cat", &[(1, 10), (8, 1), (11, 1)], 300),
        ("Dan", &[(4, 1), (6, 1)], 20),
        ("Eve", &[(2, 1)], 1000),
    ];
    let mut five = Vec::new();
    for (name, dates, units) in histories {
        let c = cx.contacts().create(NewContact::new(name, "Buyer")).await.unwrap();
        for (m, d) in dates {
            cx.orders().create(buy(c.id, at(2025, *m, *d), units, Currency::EUR)).await.unwrap();
        }
        five.push(c.id);
    }
    // Ann bought the year before too: her revenue grew.
    cx.orders().create(buy(five[0], at(2024, 7, 1), 250, Currency::EUR)).await.unwrap();
    // Bob also bought in dollars: only a scoring in one currency may count it.
    cx.orders().create(buy(five[1], at(2025, 12, 30), 70, Currency::USD)).await.unwrap();
    // What does not count: a cancelled order, a draft, an order before the window, a company's.
    let fay = cx.contacts().create(NewContact::new("Fay", "Canceller")).await.unwrap();
    let cancelled = cx.orders().create(buy(fay.id, at(2025, 12, 1), 500, Currency::EUR)).await.unwrap();
    cx.orders().cancel(cancelled.id).await.unwrap();
    let mut draft = buy(fay.id, at(2025, 12, 2), 500, Currency::EUR);
    draft.placed = false;
    draft.placed_at = None;
    cx.orders().create(draft).await.unwrap();
    let gone = cx.contacts().create(NewContact::new("Gus", "Gone")).await.unwrap().id;
    cx.orders().create(buy(gone, at(2024, 6, 1), 900, Currency::EUR)).await.unwrap();
    cx.contacts().set_rfm(vec![(gone, Some(Rfm::new(5, 5, 5, at(2025, 1, 1))))]).await.unwrap();
    let acme = cx.companies().create(NewCompany::new("Acme").industry("Manufacturing")).await.unwrap();
    let line = LineItem::new("Tea", Decimal::ONE, Money::new(Decimal::new(9_999, 0), Currency::EUR));
    cx.orders()
        .create(NewOrder::for_company(acme.id).currency(Currency::EUR).line(line).placed_at(at(2025, 12, 5)))
        .await
        .unwrap();
    // Another tenant's customer buys a lot: never seen here.
    let other = crm.as_actor(&Actor::system(TenantId::new()));
    let zed = other.contacts().create(NewContact::new("Zed", "Elsewhere")).await.unwrap();
    other.orders().create(buy(zed.id, at(2025, 12, 31), 50_000, Currency::EUR)).await.unwrap();
    Story { crm, tenant, five, gone }
}

async fn rfm_scores_rank_customers_by_fifths(store: Arc<dyn Store>) {
    let s = story(store).await;
    let cx = s.crm.as_actor(&Actor::system(s.tenant));
    let customers = Customers::new(&cx);

    // Euros and dollars in the window: the scoring needs to be told which to count.
    let mixed = RfmOptions { window: Some(window()), ..Default::default() };
    let err = customers.rfm(&mixed).await.unwrap_err();
    assert_eq!(codes(&err), vec![("currency".to_owned(), FieldErrorCode::CurrencyMismatch)], "{err}");
    assert!(err.to_string().contains("EUR, USD"), "{err}");

    let report = customers.rfm(&eur_rfm()).await.unwrap();
    let got: Vec<(ContactId, String, RfmSegment, u64, i64, Decimal)> = report
        .customers
        .iter()
        .map(|c| (c.contact_id, c.rfm.code(), c.rfm.segment, c.orders, c.recency_days, c.spent.amount))
        .collect();
    let want = vec![
        (s.five[0], "553".to_owned(), RfmSegment::Champions, 5, 12, Decimal::new(500, 0)),
        (s.five[1], "442".to_owned(), RfmSegment::Loyal, 4, 22, Decimal::new(200, 0)),
        (s.five[2], "334".to_owned(), RfmSegment::NeedAttention, 3, 61, Decimal::new(900, 0)),
        (s.five[3], "221".to_owned(), RfmSegment::Hibernating, 2, 214, Decimal::new(40, 0)),
        (s.five[4], "115".to_owned(), RfmSegment::Hibernating, 1, 334, Decimal::new(1000, 0)),
    ];
    assert_eq!(got, want);
    assert_eq!(report.currency, Some(Currency::EUR));
    assert_eq!(report.customers[0].last_order_at, at(2025, 12, 20));
    assert!(report.customers.iter().all(|c| c.rfm.scored_at == cx.now()), "scored now, by the clock");
    let segments: Vec<(RfmSegment, u64, u64, Decimal)> =
        report.segments.iter().map(|g| (g.segment, g.customers, g.orders, g.revenue.amount)).collect();
    assert_eq!(
        segments,
        vec![
            (RfmSegment::Champions, 1, 5, Decimal::new(500, 0)),
            (RfmSegment::Loyal, 1, 4, Decimal::new(200, 0)),
            (RfmSegment::NeedAttention, 1, 3, Decimal::new(900, 0)),
            (RfmSegment::Hibernating, 2, 3, Decimal::new(1040, 0)),
        ]
    );
    let mut grid = [[0u64; 5]; 5];
    for (r, f) in [(5, 5), (4, 4), (3, 3), (2, 2), (1, 1)] {
        grid[r - 1][f - 1] = 1;
    }
    assert_eq!(report.grid, grid);
    assert_eq!(report.empty_because, None);

    // Dollars alone: Bob is the only customer, in the lowest fifth of a field of one.
    let usd = RfmOptions { currency: Some(Currency::USD), ..mixed.clone() };
    let report = customers.rfm(&usd).await.unwrap();
    assert_eq!(
        report.customers.iter().map(|c| (c.contact_id, c.rfm.code())).collect::<Vec<_>>(),
        [(s.five[1], "111".to_owned())]
    );

    // Nobody bought in 2030: an empty report that says why.
    let later = Window { from: at(2030, 1, 1), to: at(2030, 2, 1) };
    let report = customers.rfm(&RfmOptions { window: Some(later), ..Default::default() }).await.unwrap();
    assert!(report.customers.is_empty() && report.segments.is_empty() && report.currency.is_none());
    assert_eq!(report.grid, [[0; 5]; 5]);
    assert!(report.empty_because.unwrap().contains("no order"));
    let backwards = Window { from: at(2026, 1, 1), to: at(2025, 1, 1) };
    let err = customers.rfm(&RfmOptions { window: Some(backwards), ..Default::default() }).await.unwrap_err();
    assert_eq!(codes(&err), vec![("window".to_owned(), FieldErrorCode::OutOfRange)]);
}

async fn stored_scores_feed_segments(store: Arc<dyn Store>) {
    let s = story(store).await;
    let cx = s.crm.as_actor(&Actor::system(s.tenant));
    let customers = Customers::new(&cx);
    let hibernating = cx
        .segments()
        .create(NewSegment::new("Hibernating", Filter::eq("rfm_segment", RfmSegment::Hibernating)))
        .await
        .unwrap();
    assert_eq!(cx.segments().member_count(hibernating.id).await.unwrap(), 0);

    let mut seen = Vec::new();
    let run = customers.score_rfm(&eur_rfm(), |p: &ScoreProgress| seen.push(*p)).await.unwrap();
    // Five scored, and Gus, scored before, bought nothing in the window: cleared.
    assert_eq!((run.written, run.cleared), (6, 1));
    assert_eq!(seen.last(), Some(&ScoreProgress { done: 6, total: 6 }));
    assert_eq!(cx.contacts().get(s.gone).await.unwrap().rfm, None);
    let ann = cx.contacts().get(s.five[0]).await.unwrap();
    assert_eq!(ann.rfm.as_ref().map(Rfm::code).as_deref(), Some("553"));
    let members = cx.segments().members(hibernating.id, &Query::new(Filter::All)).await.unwrap();
    let mut ids: Vec<ContactId> = members.items.iter().map(|c| c.id).collect();
    ids.sort();
    let mut want = vec![s.five[3], s.five[4]];
    want.sort();
    assert_eq!(ids, want);
    assert_eq!(cx.contacts().count(&Filter::gte("rfm_monetary", 4)).await.unwrap(), 2);
    assert_eq!(cx.contacts().count(&Filter::eq("rfm_code", "553")).await.unwrap(), 1);

    // Stored scores rank every customer: a filtered scoring is refused, and writes nothing.
    let part = RfmOptions { filter: Filter::gte("total", Decimal::from(100)), ..eur_rfm() };
    let err = customers.score_rfm(&part, |_| {}).await.unwrap_err();
    assert_eq!(codes(&err), vec![("filter".to_owned(), FieldErrorCode::Rule)]);
    assert_eq!(customers.rfm(&part).await.unwrap().customers.len(), 3, "a report on a part is fine");

    // Scoring again writes nothing: nothing moved.
    let again = customers.score_rfm(&eur_rfm(), |_| {}).await.unwrap();
    assert_eq!((again.written, again.cleared), (0, 0));

    // Scores written by hand are kept to 1–5, with the segment they make.
    let odd = Rfm { recency: 9, frequency: 0, monetary: 3, segment: RfmSegment::Champions, scored_at: at(2026, 1, 1) };
    cx.contacts().set_rfm(vec![(s.gone, Some(odd))]).await.unwrap();
    let gus = cx.contacts().get(s.gone).await.unwrap().rfm.unwrap();
    assert_eq!((gus.code(), gus.segment), ("513".to_owned(), RfmSegment::NewCustomers));

    // An edit of the contact keeps the scores: they are the analytics' to write.
    let mut edited = ann.clone();
    edited.job_title = Some("Buyer".into());
    edited.rfm = None;
    let edited = cx.contacts().update(edited).await.unwrap();
    assert_eq!(edited.rfm, ann.rfm);

    // A month on, with no new order: Ann's last purchase is further away, and Cat's January
    // order fell out of the window, so she ties with Dan on two orders (ranked alike).
    let later = Window { from: window().from + Duration::days(31), to: window().to + Duration::days(31) };
    let report = customers.rfm(&RfmOptions { window: Some(later), ..eur_rfm() }).await.unwrap();
    assert_eq!((report.customers[0].contact_id, report.customers[0].recency_days), (s.five[0], 43));
    let of = |id: ContactId| report.customers.iter().find(|c| c.contact_id == id).unwrap();
    assert_eq!((of(s.five[2]).orders, of(s.five[2]).rfm.frequency), (2, 2));
    assert_eq!((of(s.five[3]).orders, of(s.five[3]).rfm.frequency), (2, 2));
}

async fn portfolio_shows_where_revenue_comes_from(store: Arc<dyn Store>) {
    let s = story(store).await;
    let cx = s.crm.as_actor(&Actor::system(s.tenant));
    let customers = Customers::new(&cx);
    let eur = |n: i64| Money::new(Decimal::new(n, 0), Currency::EUR);
    let options =
        PortfolioOptions { window: Some(window()), currency: Some(Currency::EUR), top: 2, ..Default::default() };
    let ratio = |a: i64, b: i64| (Decimal::from(a) / Decimal::from(b)).round_dp(6).normalize();
    let p = customers.portfolio(&options).await.unwrap();
    assert_eq!(p.previous, Window { from: at(2024, 1, 1), to: at(2025, 1, 1) });
    assert_eq!((p.total.customers, p.total.orders, p.total.revenue), (5, 15, eur(2640)));
    // The year before, Ann bought for 250 and Gus, who has not bought since, for 900.
    assert_eq!(p.total.previous_revenue, eur(1_150));
    assert_eq!(p.total.growth, Some(ratio(2_640 - 1_150, 1_150)));
    assert!(p.groups.is_empty(), "not broken down");
    assert_eq!((p.concentration.top_fifth, p.concentration.top_fifth_share), (1, Some(ratio(1000, 2640))));
    let curve: Vec<Decimal> = p.concentration.pareto.iter().map(|c| c.revenue_share).collect();
    // Five customers: one point each, at a fifth, two fifths…
    let by_best = [1000, 1900, 2400, 2600, 2640];
    assert_eq!(curve, by_best.iter().map(|r| ratio(*r, 2640)).collect::<Vec<_>>());
    let shares: Vec<Decimal> = p.concentration.pareto.iter().map(|c| c.customers_share).collect();
    assert_eq!(shares, [2, 4, 6, 8, 10].map(|t| Decimal::new(t, 1).normalize()));
    let top: Vec<(&str, Money)> = p.most_valuable.iter().map(|c| (c.name.as_str(), c.revenue)).collect();
    assert_eq!(top, vec![("Eve Buyer", eur(1000)), ("Cat Buyer", eur(900))]);

    // By RFM segment once scored: the hibernating pair bring the most.
    customers.score_rfm(&eur_rfm(), |_| {}).await.unwrap();
    let by_segment = PortfolioOptions { by: Some("rfm_segment".into()), ..options.clone() };
    let p = customers.portfolio(&by_segment).await.unwrap();
    let groups: Vec<(Option<&str>, u64, Money, Option<Decimal>)> =
        p.groups.iter().map(|g| (g.key.as_deref(), g.customers, g.revenue, g.growth)).collect();
    assert_eq!(
        groups,
        vec![
            (Some("hibernating"), 2, eur(1040), None),
            (Some("need_attention"), 1, eur(900), None),
            (Some("champions"), 1, eur(500), Some(Decimal::ONE)),
            (Some("loyal"), 1, eur(200), None),
            // Gus, unscored since he stopped buying: the revenue lost.
            (None, 0, eur(0), Some(-Decimal::ONE)),
        ]
    );
    assert_eq!(p.groups[0].share, Some(ratio(1040, 2640)));

    // Companies by industry: Acme's order, which no contact's portfolio counts.
    let companies =
        PortfolioOptions { customers: CustomerKind::Company, by: Some("industry".into()), ..options.clone() };
    let p = customers.portfolio(&companies).await.unwrap();
    let groups: Vec<(Option<&str>, u64, Money)> =
        p.groups.iter().map(|g| (g.key.as_deref(), g.customers, g.revenue)).collect();
    assert_eq!(groups, vec![(Some("Manufacturing"), 1, eur(9_999))]);
    assert_eq!(p.most_valuable[0].name, "Acme");

    // Refusals name the option; a window without orders is empty and says why.
    let err = customers.portfolio(&PortfolioOptions { currency: None, ..options.clone() }).await.unwrap_err();
    assert_eq!(codes(&err), vec![("currency".to_owned(), FieldErrorCode::CurrencyMismatch)]);
    let err = customers.portfolio(&PortfolioOptions { by: Some("nope".into()), ..options.clone() }).await.unwrap_err();
    assert_eq!(codes(&err).first().map(|c| c.0.as_str()), Some("by"), "{err}");
    let err = customers.portfolio(&PortfolioOptions { top: 5_000, ..options.clone() }).await.unwrap_err();
    assert_eq!(codes(&err).first().map(|c| c.0.as_str()), Some("top"));
    let later = Window { from: at(2030, 1, 1), to: at(2030, 2, 1) };
    let p = customers.portfolio(&PortfolioOptions { window: Some(later), ..options }).await.unwrap();
    assert_eq!((p.total.customers, p.currency, p.concentration.pareto.len()), (0, None, 0));
    assert!(p.empty_because.unwrap().contains("no order"));
}

async fn retention_follows_cohorts_of_first_purchases(store: Arc<dyn Store>) {
    let s = story(store).await;
    let cx = s.crm.as_actor(&Actor::system(s.tenant));
    let customers = Customers::new(&cx);
    let o = RetentionOptions { window: Some(window()), ..Default::default() };
    let r = customers.retention(&o).await.unwrap();
    let got: Vec<(NaiveDate, u64, Vec<u64>)> =
        r.cohorts.iter().map(|c| (c.start, c.customers, c.active.clone())).collect();
    let day = |m: u32| NaiveDate::from_ymd_opt(2025, m, 1).unwrap();
    // Ann and Gus first bought before the window, Fay never did; Bob's two December orders
    // (euros and dollars) make one active month. Followed up to January 2026, today.
    assert_eq!(
        got,
        vec![
            (day(1), 1, vec![1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0, 0]),
            (day(2), 2, vec![2, 0, 1, 0, 1, 0, 0, 0, 0, 0, 1, 0]),
            (day(4), 1, vec![1, 0, 1, 0, 0, 0, 0, 0, 0, 0]),
        ]
    );
    let half = Decimal::new(5, 1);
    assert_eq!(r.cohorts[1].rates[..5], [Decimal::ONE, Decimal::ZERO, half, Decimal::ZERO, half]);

    let quarters = RetentionOptions { period: crm_analytics::Period::Quarter, ..o.clone() };
    let r = customers.retention(&quarters).await.unwrap();
    let got: Vec<(NaiveDate, Vec<u64>)> = r.cohorts.iter().map(|c| (c.start, c.active.clone())).collect();
    assert_eq!(got, vec![(day(1), vec![3, 1, 1, 2, 0]), (day(4), vec![1, 0, 0, 0])]);

    let companies = RetentionOptions { customers: CustomerKind::Company, ..o.clone() };
    let r = customers.retention(&companies).await.unwrap();
    assert_eq!(r.cohorts.iter().map(|c| (c.start, c.active.clone())).collect::<Vec<_>>(), vec![(day(12), vec![1, 0])]);

    let nobody = Window { from: at(2030, 1, 1), to: at(2030, 2, 1) };
    assert!(customers.retention(&RetentionOptions { window: Some(nobody), ..o }).await.unwrap().cohorts.is_empty());
}

/// The cases, for a store made by `$make`.
macro_rules! customers_suite {
    ($make:path) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn rfm_scores_rank_customers_by_fifths() {
            let (store, _dir) = $make().await;
            super::rfm_scores_rank_customers_by_fifths(store).await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn portfolio_shows_where_revenue_comes_from() {
            let (store, _dir) = $make().await;
            super::portfolio_shows_where_revenue_comes_from(store).await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn retention_follows_cohorts_of_first_purchases() {
            let (store, _dir) = $make().await;
            super::retention_follows_cohorts_of_first_purchases(store).await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn stored_scores_feed_segments() {
            let (store, _dir) = $make().await;
            super::stored_scores_feed_segments(store).await
        }
    };
}

mod memory {
    customers_suite!(crate::memory);
}

mod sqlite {
    customers_suite!(crate::sqlite);
}

mod postgres {
    customers_suite!(crate::postgres);
}
