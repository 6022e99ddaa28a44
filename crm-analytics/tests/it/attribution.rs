//! Campaign attribution on every store: three buyers, three campaigns, the revenue credited to
//! the first and the last touch and each campaign's return, worked out by hand.

use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use crm_analytics::{AttributionOptions, Marketing, Window};
use crm_core::ids::ManualClock;
use crm_core::model::{CampaignChannel, LineItem, ResponseKind};
use crm_core::prelude::*;
use crm_core::service::{NewCampaign, NewOrder};
use crm_core::store::Store;
use rust_decimal::Decimal;

fn at(m: u32, d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, m, d, 12, 0, 0).unwrap()
}

fn eur(n: i64) -> Money {
    Money::new(Decimal::new(n, 0), Currency::EUR)
}

pub(crate) async fn revenue_is_credited_to_first_and_last_touches(store: Arc<dyn Store>) {
    let clock = Arc::new(ManualClock::new(at(1, 10)));
    let crm = crm_core::service::CrmBuilder::from_arc(store).clock(clock.clone()).build().unwrap();
    let cx = crm.as_actor(&Actor::system(TenantId::new()));
    let k = cx.campaigns();
    let spring = k.create(NewCampaign::new("Spring", CampaignChannel::Email).budget(eur(100))).await.unwrap().id;
    let summer = k.create(NewCampaign::new("Summer", CampaignChannel::Email).budget(eur(50))).await.unwrap().id;
    let winter = k.create(NewCampaign::new("Winter", CampaignChannel::Email)).await.unwrap().id;
    let mut who = Vec::new();
    for name in ["Ann", "Bob", "Cat"] {
        who.push(cx.contacts().create(NewContact::new(name, "Buyer")).await.unwrap().id);
    }
    let (ann, bob, cat) = (who[0], who[1], who[2]);
    // January 10: Ann and Bob join spring and open or click it.
    for (c, kind) in [(ann, ResponseKind::Opened), (bob, ResponseKind::Clicked)] {
        k.add_contact(spring, c).await.unwrap();
        k.record_response(spring, c, kind, None).await.unwrap();
    }
    // February 1: Cat joins winter, which is only sent to her: no touch.
    clock.set(at(2, 1));
    k.add_contact(winter, cat).await.unwrap();
    k.record_response(winter, cat, ResponseKind::Sent, None).await.unwrap();
    // March 1: Ann joins summer and clicks.
    clock.set(at(3, 1));
    k.add_contact(summer, ann).await.unwrap();
    k.record_response(summer, ann, ResponseKind::Clicked, None).await.unwrap();
    clock.set(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap());
    let buy = |c: ContactId, when: DateTime<Utc>, n: i64| {
        NewOrder::for_contact(c)
            .currency(Currency::EUR)
            .line(LineItem::new("Tea", Decimal::ONE, eur(n)))
            .placed_at(when)
    };
    // Ann after both campaigns; Bob after spring, and again long after; Cat untouched.
    for (c, when, n) in [(ann, at(3, 5), 200), (bob, at(2, 1), 100), (bob, at(7, 1), 50), (cat, at(2, 10), 30)] {
        cx.orders().create(buy(c, when, n)).await.unwrap();
    }
    let window = Window { from: at(1, 1), to: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap() };
    let o = AttributionOptions { window: Some(window), ..Default::default() };
    let r = Marketing::new(&cx).attribution(&o).await.unwrap();
    assert_eq!((r.revenue, r.unattributed), (Some(eur(380)), Some(eur(80))));
    let rows: Vec<_> = r
        .campaigns
        .iter()
        .map(|c| {
            (
                c.name.as_str(),
                c.first_touch_purchases,
                c.first_touch.amount,
                c.last_touch_purchases,
                c.last_touch.amount,
                c.roi_first_touch,
                c.roi_last_touch,
            )
        })
        .collect();
    let d = |n: i64| Decimal::from(n);
    assert_eq!(
        rows,
        vec![
            // Summer: last touch of Ann's 200; (200 − 50) / 50 = 3.
            ("Summer", 0, d(0), 1, d(200), Some(d(-1)), Some(d(3))),
            // Spring: first touch of Ann's 200 and Bob's 100, last of Bob's.
            ("Spring", 2, d(300), 1, d(100), Some(d(2)), Some(d(0))),
        ]
    );
    assert_eq!(r.campaigns[1].campaign_id, spring);
    // A lookback of 30 days: Ann's purchase is 54 days after spring, so summer is both touches.
    let short = AttributionOptions { lookback_days: 30, ..o.clone() };
    let r = Marketing::new(&cx).attribution(&short).await.unwrap();
    let summer_row = r.campaigns.iter().find(|c| c.campaign_id == summer).unwrap();
    assert_eq!((summer_row.first_touch.amount, summer_row.last_touch.amount), (d(200), d(200)));
    // "Sent" counts as a touch when asked: winter takes Cat's 30.
    let sent = AttributionOptions { touches: vec![ResponseKind::Sent], ..o.clone() };
    let r = Marketing::new(&cx).attribution(&sent).await.unwrap();
    assert_eq!(
        r.campaigns.iter().map(|c| (c.campaign_id, c.last_touch.amount)).collect::<Vec<_>>(),
        vec![(winter, d(30))]
    );
    assert!(r.campaigns[0].cost.is_none() && r.campaigns[0].roi_last_touch.is_none());
    for (bad, field) in [
        (AttributionOptions { lookback_days: 0, ..o.clone() }, "lookback_days"),
        (AttributionOptions { touches: vec![], ..o.clone() }, "touches"),
    ] {
        let e = Marketing::new(&cx).attribution(&bad).await.unwrap_err();
        assert_eq!(e.field_errors()[0].field, field);
    }
}

macro_rules! attribution_suite {
    ($make:path) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn revenue_is_credited_to_first_and_last_touches() {
            let (store, _dir) = $make().await;
            super::revenue_is_credited_to_first_and_last_touches(store).await
        }
    };
}

mod memory {
    attribution_suite!(crate::memory);
}

mod sqlite {
    attribution_suite!(crate::sqlite);
}

mod postgres {
    attribution_suite!(crate::postgres);
}
