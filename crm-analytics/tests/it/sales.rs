//! One sales story, told to every store (memory, a SQLite file, PostgreSQL), and the same
//! forecast and performance figures from each: worked out by hand from the story.

use std::sync::Arc;

use chrono::{Duration, NaiveDate, TimeZone, Utc};
use crm_analytics::{
    ForecastOptions, ForecastRow, FunnelOptions, Performance, PerformanceOptions, Sales, Slice, TrendOptions, Window,
};
use crm_core::ids::ManualClock;
use crm_core::model::CampaignChannel;
use crm_core::prelude::*;
use crm_core::profile::LeadSource;
use crm_core::service::NewCampaign;
use crm_core::store::Store;
use rust_decimal::Decimal;

fn eur(units: i64) -> Money {
    Money::new(Decimal::new(units, 0), Currency::EUR)
}

fn usd(units: i64) -> Money {
    Money::new(Decimal::new(units, 0), Currency::USD)
}

fn day(m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, m, d).unwrap()
}

/// The story: Ann and Bob sell from 5 January 2026; by 4 February three deals are won, one
/// lost and five open (one of them without an amount). Another tenant sells too.
struct Story {
    crm: Crm,
    tenant: TenantId,
    ann: UserId,
    bob: UserId,
}

async fn story(store: Arc<dyn Store>) -> Story {
    let clock = Arc::new(ManualClock::new(Utc.with_ymd_and_hms(2026, 1, 5, 9, 0, 0).unwrap()));
    let crm = crm_core::service::CrmBuilder::from_arc(store).clock(clock.clone()).build().unwrap();
    let tenant = TenantId::new();
    let cx = crm.as_actor(&Actor::system(tenant));
    let ann = cx.users().create(NewUser::new("Ann Seller", "ann@acme.example").role("sales_rep")).await.unwrap().id;
    let bob = cx.users().create(NewUser::new("Bob Seller", "bob@acme.example").role("sales_rep")).await.unwrap().id;
    let p = cx.pipelines().default_pipeline().await.unwrap();
    let stage = |name: &str| p.stage_named(name).unwrap().id;
    let deals = cx.deals();
    let new = |name: &str, owner: UserId| NewDeal::new(name).owner(owner);
    let referred =
        cx.contacts().create(NewContact::new("Rita", "Ref").lead_source(LeadSource::Referral)).await.unwrap();
    let spring = cx.campaigns().create(NewCampaign::new("Spring", CampaignChannel::Email)).await.unwrap();
    let d1 =
        new("D1", ann).contact(referred.id).amount(eur(10_000)).stage(stage("Proposal")).expected_close(day(2, 10));
    deals.create(d1).await.unwrap();
    deals
        .create(
            new("D2", ann)
                .amount(eur(4_000))
                .stage(stage("Handling objections"))
                .probability(90)
                .expected_close(day(2, 20)),
        )
        .await
        .unwrap();
    deals
        .create(
            new("D3", bob)
                .campaign(spring.id)
                .amount(usd(1_000))
                .stage(stage("Qualification"))
                .forecast(ForecastCategory::Commit)
                .expected_close(day(3, 5)),
        )
        .await
        .unwrap();
    deals
        .create(new("D4", bob).amount(eur(2_000)).forecast(ForecastCategory::Omitted).expected_close(day(2, 1)))
        .await
        .unwrap();
    deals.create(new("D5", bob).expected_close(day(2, 15))).await.unwrap();
    let d6 = deals.create(new("D6", ann).amount(eur(3_000)).expected_close(day(1, 31))).await.unwrap();
    let d7 = deals.create(new("D7", bob).amount(eur(5_000))).await.unwrap();
    let d8 = deals.create(new("D8", ann).amount(eur(1_500))).await.unwrap();
    let d9 = deals.create(new("D9", bob).amount(usd(700))).await.unwrap();
    clock.advance(Duration::days(20));
    deals.win(d6.id).await.unwrap();
    deals.lose(d8.id, "price").await.unwrap();
    clock.advance(Duration::days(10));
    deals.win(d7.id).await.unwrap();
    deals.win(d9.id).await.unwrap();
    // Another tenant's deal, in the same periods, counts nowhere here.
    let other = crm.as_actor(&Actor::system(TenantId::new()));
    other.deals().create(NewDeal::new("Elsewhere").amount(eur(99_000)).expected_close(day(2, 2))).await.unwrap();
    Story { crm, tenant, ann, bob }
}

fn row(period: NaiveDate, category: ForecastCategory, deals: u64, amount: Money, weighted: Money) -> ForecastRow {
    ForecastRow { period, slice: None, category, deals, amount, weighted }
}

async fn forecast_by_month_and_category(store: Arc<dyn Store>) {
    let s = story(store).await;
    let cx = s.crm.as_actor(&Actor::system(s.tenant));
    let o = ForecastOptions { from: Some(day(1, 17)), periods: 3, ..Default::default() };
    let f = Sales::new(&cx).forecast(&o).await.unwrap();
    assert_eq!((f.from, f.to), (day(1, 1), day(4, 1)));
    use ForecastCategory as C;
    let cents = |m: Money| Money::new(m.amount, m.currency).rounded();
    assert_eq!(
        f.rows,
        vec![
            row(day(1, 1), C::Closed, 1, eur(3_000), cents(eur(3_000))),
            row(day(2, 1), C::BestCase, 1, eur(10_000), cents(eur(5_000))),
            row(day(2, 1), C::Commit, 1, eur(4_000), cents(eur(3_600))),
            row(day(2, 1), C::Closed, 1, eur(5_000), cents(eur(5_000))),
            row(day(2, 1), C::Closed, 1, usd(700), cents(usd(700))),
            row(day(2, 1), C::Omitted, 1, eur(2_000), cents(eur(0))),
            row(day(3, 1), C::Commit, 1, usd(1_000), cents(usd(100))),
        ]
    );
    assert_eq!(f.unpriced, 1, "D5 has no amount");
    let headline = f.weighted_by_period();
    assert_eq!(headline[&(day(2, 1), Currency::EUR)], cents(eur(13_600)));
    assert_eq!(headline[&(day(2, 1), Currency::USD)], cents(usd(700)));
    // Quarterly and by owner: Ann's first quarter holds D1, D2 and D6.
    let o = ForecastOptions {
        period: crm_analytics::Period::Quarter,
        from: Some(day(2, 1)),
        periods: 1,
        by: Some(Slice::Owner),
        ..Default::default()
    };
    let f = Sales::new(&cx).forecast(&o).await.unwrap();
    let ann: Vec<_> =
        f.rows.iter().filter(|r| r.slice == Some(s.ann.to_string())).map(|r| (r.category, r.deals)).collect();
    assert_eq!(ann, vec![(C::BestCase, 1), (C::Commit, 1), (C::Closed, 1)]);
    assert!(f.rows.iter().all(|r| r.slice == Some(s.ann.to_string()) || r.slice == Some(s.bob.to_string())));
    // By lead source: D1 came by referral (its contact's source); the rest have none.
    let o = ForecastOptions { from: Some(day(2, 1)), periods: 1, by: Some(Slice::LeadSource), ..Default::default() };
    let f = Sales::new(&cx).forecast(&o).await.unwrap();
    let referred: Vec<_> = f.rows.iter().filter(|r| r.slice.as_deref() == Some("referral")).map(|r| r.amount).collect();
    assert_eq!(referred, vec![eur(10_000)]);
    // By campaign: D3 is Spring's.
    let o = ForecastOptions { from: Some(day(3, 1)), periods: 1, by: Some(Slice::Campaign), ..Default::default() };
    let f = Sales::new(&cx).forecast(&o).await.unwrap();
    assert_eq!(f.rows.len(), 1);
    assert_eq!((f.rows[0].slice.is_some(), f.rows[0].amount), (true, usd(1_000)));
    // Bad options are refused, naming the field.
    let err = Sales::new(&cx).forecast(&ForecastOptions { periods: 0, ..Default::default() }).await.unwrap_err();
    assert!(matches!(&err, Error::Validation(v) if v.0[0].field == "periods"), "{err}");
}

fn window() -> Window {
    Window {
        from: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
        to: Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap(),
    }
}

async fn performance_overall_and_by_owner(store: Arc<dyn Store>) {
    let s = story(store).await;
    let cx = s.crm.as_actor(&Actor::system(s.tenant));
    let o = PerformanceOptions { window: Some(window()), ..Default::default() };
    let Performance { rows, .. } = Sales::new(&cx).performance(&o).await.unwrap();
    assert_eq!(rows.len(), 1);
    let all = &rows[0];
    assert_eq!((all.won, all.lost, all.open), (3, 1, 5));
    assert_eq!(all.win_rate, Some(Decimal::new(75, 2)));
    let avg = Decimal::from(80) / Decimal::from(3);
    assert_eq!(
        (all.cycle.average_days, all.cycle.median_days, all.cycle.p90_days),
        (Some(avg.normalize()), Some(30), Some(30))
    );
    let (e, u) = (&all.money[0], &all.money[1]);
    assert_eq!((e.currency, e.won, e.lost), (Currency::EUR, eur(8_000), eur(1_500)));
    assert_eq!(e.win_rate_by_value, Some((Decimal::from(8_000) / Decimal::from(9_500)).normalize()));
    assert_eq!(e.average_won.map(|m| m.amount), Some(Decimal::new(400_000, 2)));
    assert_eq!((e.open_deals, e.open_value), (3, eur(16_000)));
    assert_eq!(e.velocity_per_day.map(|m| m.amount), Some(Decimal::new(33_750, 2)), "3 × 4000 × 0.75 ÷ 26⅔ days");
    assert_eq!((u.currency, u.won, u.lost, u.win_rate_by_value), (Currency::USD, usd(700), usd(0), Some(Decimal::ONE)));
    assert_eq!(u.velocity_per_day.map(|m| m.amount), Some(Decimal::new(1_969, 2)), "1 × 700 × 0.75 ÷ 26⅔ days");

    let o = PerformanceOptions { window: Some(window()), by: Some(Slice::Owner), ..Default::default() };
    let by_owner = Sales::new(&cx).performance(&o).await.unwrap().rows;
    let of = |u: UserId| by_owner.iter().find(|r| r.slice == Some(u.to_string())).expect("a row per owner");
    let (ann, bob) = (of(s.ann), of(s.bob));
    assert_eq!((ann.won, ann.lost, ann.open, ann.win_rate), (1, 1, 2, Some(Decimal::new(5, 1))));
    assert_eq!((ann.cycle.median_days, ann.cycle.p90_days), (Some(20), Some(20)));
    assert_eq!((bob.won, bob.lost, bob.open, bob.win_rate), (2, 0, 3, Some(Decimal::ONE)));
    assert_eq!(bob.cycle.average_days, Some(Decimal::from(30)));
    assert_eq!(by_owner.len(), 2, "no row for an owner with nothing");

    // A window with nothing in it: counts of zero, rates and cycle absent, never a NaN.
    let empty = Window { from: window().to, to: window().to + Duration::days(1) };
    let rows = Sales::new(&cx)
        .performance(&PerformanceOptions { window: Some(empty), ..Default::default() })
        .await
        .unwrap()
        .rows;
    assert_eq!((rows[0].won, rows[0].lost, rows[0].win_rate, rows[0].cycle.average_days), (0, 0, None, None));
    let backwards = Window { from: window().to, to: window().from };
    let err = Sales::new(&cx).performance(&PerformanceOptions { window: Some(backwards), ..Default::default() }).await;
    assert!(matches!(err, Err(Error::Validation(v)) if v.0[0].field == "window"));

    // Ann, a sales rep, reads only her team's deals... which here is just her own.
    let as_ann = s.crm.as_actor(&Actor::user(s.tenant, s.ann));
    let rows = Sales::new(&as_ann)
        .performance(&PerformanceOptions { window: Some(window()), ..Default::default() })
        .await
        .unwrap()
        .rows;
    assert_eq!((rows[0].won, rows[0].lost, rows[0].open), (1, 1, 2));
}

async fn funnel_from_stage_history(store: Arc<dyn Store>) {
    let s = story(store).await;
    let cx = s.crm.as_actor(&Actor::system(s.tenant));
    let o = FunnelOptions { window: Some(window()), ..Default::default() };
    let f = Sales::new(&cx).funnel(&o).await.unwrap();
    assert_eq!(f.cohorts.len(), 1);
    let c = &f.cohorts[0];
    let steps: Vec<(&str, u64)> = c.steps.iter().map(|s| (s.name.as_str(), s.reached)).collect();
    // D1 started in Proposal, D2 in Handling objections, D3 in Qualification; D6, D7 and D9 were
    // won and D8 lost from Lead generation; D4 and D5 are still there.
    assert_eq!(
        steps,
        vec![
            ("Lead generation", 9),
            ("Qualification", 6),
            ("Needs identification", 5),
            ("Proposal", 5),
            ("Presentation", 4),
            ("Handling objections", 4),
            ("Closed won", 3),
        ]
    );
    assert_eq!(c.lost, 1);
    assert_eq!(c.steps[0].from_previous, None);
    assert_eq!(c.steps[1].from_previous, Some((Decimal::from(6) / Decimal::from(9)).normalize()));
    assert_eq!(c.steps[6].from_start, Some((Decimal::from(3) / Decimal::from(9)).normalize()));
    assert_eq!(c.steps[4].from_previous, Some(Decimal::new(8, 1)));

    // Moving D4 forward to Presentation makes it count in every step up to there.
    let p = cx.pipelines().default_pipeline().await.unwrap();
    let d4 = cx
        .deals()
        .list(&crm_core::query::Query::new(crm_core::query::Filter::eq("name", "D4")))
        .await
        .unwrap()
        .items
        .remove(0);
    cx.deals().move_to_stage(d4.id, p.stage_named("Presentation").unwrap().id).await.unwrap();
    let f = Sales::new(&cx).funnel(&o).await.unwrap();
    let reached: Vec<u64> = f.cohorts[0].steps.iter().map(|s| s.reached).collect();
    assert_eq!(reached, vec![9, 7, 6, 6, 5, 4, 3]);

    // Monthly cohorts: every deal was created in January; a window with no deal has no cohort.
    let o = FunnelOptions { window: Some(window()), cohorts: Some(crm_analytics::Period::Month), ..Default::default() };
    let f = Sales::new(&cx).funnel(&o).await.unwrap();
    assert_eq!(f.cohorts.iter().map(|c| c.period).collect::<Vec<_>>(), vec![Some(day(1, 1))]);
    let empty = Window { from: window().to, to: window().to + Duration::days(1) };
    let o = FunnelOptions { window: Some(empty), cohorts: Some(crm_analytics::Period::Month), ..Default::default() };
    assert!(Sales::new(&cx).funnel(&o).await.unwrap().cohorts.is_empty());
    let o = FunnelOptions { window: Some(empty), ..Default::default() };
    let whole = Sales::new(&cx).funnel(&o).await.unwrap();
    assert!(whole.cohorts[0].steps.iter().all(|s| s.reached == 0 && s.from_start.is_none()), "zeros, never a NaN");
}

async fn win_rate_trend_by_month(store: Arc<dyn Store>) {
    let s = story(store).await;
    let cx = s.crm.as_actor(&Actor::system(s.tenant));
    let o = TrendOptions { window: Some(window()), ..Default::default() };
    let t = Sales::new(&cx).win_rate_trend(&o).await.unwrap();
    // D6 won and D8 lost on 25 January; D7 and D9 won on 4 February.
    let got: Vec<(NaiveDate, u64, u64, Option<Decimal>)> =
        t.points.iter().map(|p| (p.period, p.won, p.lost, p.win_rate)).collect();
    assert_eq!(got, vec![(day(1, 1), 1, 1, Some(Decimal::new(5, 1))), (day(2, 1), 2, 0, Some(Decimal::ONE))]);

    // Per owner: every month for each, zeros where nothing closed (no rate, never a NaN).
    let o = TrendOptions { by: Some(Slice::Owner), ..o };
    let t = Sales::new(&cx).win_rate_trend(&o).await.unwrap();
    let of = |u: UserId| -> Vec<(u64, u64, Option<Decimal>)> {
        t.points.iter().filter(|p| p.slice == Some(u.to_string())).map(|p| (p.won, p.lost, p.win_rate)).collect()
    };
    assert_eq!(of(s.ann), vec![(1, 1, Some(Decimal::new(5, 1))), (0, 0, None)]);
    assert_eq!(of(s.bob), vec![(0, 0, None), (2, 0, Some(Decimal::ONE))]);

    // A quarter in Auckland's calendar: both months fall in its first quarter.
    let o =
        TrendOptions { period: crm_analytics::Period::Quarter, time_zone: chrono_tz::Pacific::Auckland, by: None, ..o };
    let t = Sales::new(&cx).win_rate_trend(&o).await.unwrap();
    let got: Vec<(NaiveDate, u64, u64)> = t.points.iter().map(|p| (p.period, p.won, p.lost)).collect();
    assert_eq!(got, vec![(day(1, 1), 3, 1)], "the window starts at midnight UTC, 1 January in Auckland too");
}

/// The cases, for a store made by `$make` (with the directory its file lives in, if any).
macro_rules! sales_suite {
    ($make:path) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn forecast_by_month_and_category() {
            let (store, _dir) = $make().await;
            super::forecast_by_month_and_category(store).await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn funnel_from_stage_history() {
            let (store, _dir) = $make().await;
            super::funnel_from_stage_history(store).await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn win_rate_trend_by_month() {
            let (store, _dir) = $make().await;
            super::win_rate_trend_by_month(store).await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn performance_overall_and_by_owner() {
            let (store, _dir) = $make().await;
            super::performance_overall_and_by_owner(store).await
        }
    };
}

mod memory {
    sales_suite!(crate::memory);
}

mod sqlite {
    sales_suite!(crate::sqlite);
}

mod postgres {
    sales_suite!(crate::postgres);
}
