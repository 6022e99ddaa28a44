//! The outbox: events numbered per tenant in commit order.

use super::*;

/// Events commit with their transaction, are numbered 1, 2, 3… per tenant in commit order,
/// round-trip exactly, and can be read from a cursor, in pages, or by the record they touch.
pub async fn events_are_numbered_in_commit_order(store: Arc<dyn Store>) {
    let t = tenant();
    let c = contact(t, "Evented", "");
    let d = EntityRef::new(EntityKind::Deal, Uuid::now_v7());
    let mut appended = Vec::new();
    for batch in 0..5 {
        let mut tx = begin(&store, t).await;
        let evs = vec![
            event(t, c.entity_ref(), vec![], Change::Updated { fields: vec![format!("f{batch}")] }),
            event(
                t,
                d,
                vec![c.entity_ref()],
                Change::StageChanged {
                    pipeline_id: crate::ids::PipelineId::from_uuid(Uuid::now_v7()),
                    from: crate::ids::StageId::from_uuid(Uuid::now_v7()),
                    to: crate::ids::StageId::from_uuid(Uuid::now_v7()),
                },
            ),
            event(t, d, vec![], Change::DealLost { reason: "price 'too' high; --".into() }),
        ];
        tx.append_events(evs.clone()).await.expect("append");
        if batch == 2 {
            tx.rollback().await.expect("rollback");
            continue;
        }
        let stored = tx.commit().await.expect("commit");
        assert_eq!(stored.iter().map(|s| &s.event).collect::<Vec<_>>(), evs.iter().collect::<Vec<_>>());
        appended.extend(evs);
    }
    let all = store.read_events(t, &EventQuery::after(0, 1000)).await.expect("read");
    assert_eq!(
        all.iter().map(|s| s.event.clone()).collect::<Vec<_>>(),
        appended,
        "exactly the committed events, in order"
    );
    assert!(all.windows(2).all(|w| w[0].seq < w[1].seq), "seq strictly increasing");
    // Resume from a cursor, in pages of 5.
    let mut resumed: Vec<StoredEvent> = Vec::new();
    let mut after = 0;
    loop {
        let page = store.read_events(t, &EventQuery::after(after, 5)).await.expect("read");
        assert!(page.len() <= 5);
        let Some(last) = page.last() else { break };
        after = last.seq;
        resumed.extend(page);
    }
    assert_eq!(resumed, all);
    let from_middle = store.read_events(t, &EventQuery::after(all[4].seq, 1000)).await.expect("read");
    assert_eq!(from_middle, all[5..].to_vec());
    let touching = store
        .read_events(t, &EventQuery { after: 0, limit: 1000, touching: Some(c.entity_ref()) })
        .await
        .expect("read");
    assert_eq!(touching.len(), 8, "4 committed batches × (own event + related deal event)");
    assert!(touching.iter().all(|e| e.event.touches(&c.entity_ref())));
    let touching_deal =
        store.read_events(t, &EventQuery { after: 0, limit: 3, touching: Some(d) }).await.expect("read");
    assert_eq!(touching_deal.len(), 3, "limit applies after the touching filter");
    assert!(touching_deal.iter().all(|e| e.event.subject == d));
}

/// The committed events of a tenant form an intact hash chain, concurrent writers and
/// rollbacks included; a head read earlier is confirmed later; other tenants' chains are their own.
pub async fn events_form_an_intact_chain(store: Arc<dyn Store>) {
    let (t, other) = (tenant(), tenant());
    let empty = store.verify_events(t).await.expect("verify");
    assert!(empty.is_intact() && empty.events == 0 && empty.head.is_none(), "{empty:?}");
    let c = contact(t, "Chained", "");
    let commit = |n: usize, t: TenantId, rollback: bool| {
        let store = store.clone();
        let subject = c.entity_ref();
        async move {
            let mut tx = begin(&store, t).await;
            let evs = (0..n).map(|i| event(t, subject, vec![], Change::Updated { fields: vec![format!("f{i}")] }));
            tx.append_events(evs.collect()).await.expect("append");
            if rollback {
                tx.rollback().await.expect("rollback");
            } else {
                tx.commit().await.expect("commit");
            }
        }
    };
    commit(3, t, false).await;
    commit(2, t, true).await;
    commit(1, other, false).await;
    let early = store.verify_events(t).await.expect("verify");
    assert!(early.is_intact(), "{early:?}");
    let early_head = early.head.clone().expect("a head after three events");
    assert_eq!((early.events, early_head.seq), (3, 3));
    futures::future::join_all((0..4).map(|w| commit(1 + w % 3, t, false))).await;
    commit(1200, t, false).await;
    let report = store.verify_events(t).await.expect("verify");
    let all = store.read_events(t, &EventQuery::after(0, 10_000)).await.expect("read");
    assert!(report.is_intact(), "{:?}", report.faults);
    assert_eq!(report.events, all.len() as u64);
    assert_eq!(report.head.as_ref().map(|h| h.seq), all.last().map(|e| e.seq));
    assert!(report.confirms(&early_head), "the earlier head is on the chain");
    let theirs = store.verify_events(other).await.expect("verify");
    assert!(theirs.is_intact() && theirs.events == 1, "{theirs:?}");
}

/// Scrubbing replaces committed events' text, all or none, and keeps the chain verifiable:
/// the report lists the scrubbed events, and an event that is not stored (wrong number or id)
/// fails the whole call, naming it.
pub async fn scrubbed_events_keep_the_chain(store: Arc<dyn Store>) {
    let t = tenant();
    let c = contact(t, "Scrubbed", "");
    let mut tx = begin(&store, t).await;
    let evs: Vec<Event> = (0..3)
        .map(|i| {
            let mut e = event(t, c.entity_ref(), vec![], Change::Updated { fields: vec!["job_title".into()] });
            e.values = vec![crate::event::FieldChange {
                field: "job_title".into(),
                old: serde_json::Value::Null,
                new: serde_json::json!(format!("secret {i}")),
            }];
            e
        })
        .collect();
    tx.append_events(evs).await.expect("append");
    let stored = tx.commit().await.expect("commit");
    let mut second = stored[1].clone();
    second.event.values.clear();
    let mut stranger = stored[2].clone();
    stranger.event.id = crate::ids::EventId::from_uuid(Uuid::now_v7());
    let err = store.scrub_events(t, &[second.clone(), stranger]).await.expect_err("an event not stored");
    assert!(matches!(&err, Error::Validation(v) if v.0[0].field == "events[1]"), "{err:?}");
    let read = store.read_events(t, &EventQuery::after(0, 10)).await.expect("read");
    assert_eq!(read, stored, "nothing scrubbed by a refused call");

    store.scrub_events(t, std::slice::from_ref(&second)).await.expect("scrub");
    let read = store.read_events(t, &EventQuery::after(0, 10)).await.expect("read");
    assert_eq!(
        (read[0].clone(), read[1].clone(), read[2].clone()),
        (stored[0].clone(), second.clone(), stored[2].clone())
    );
    let report = store.verify_events(t).await.expect("verify");
    assert!(report.is_intact(), "{:?}", report.faults);
    assert_eq!(report.scrubbed, [second.seq]);
}
