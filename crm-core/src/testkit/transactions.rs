//! Transactions: optimistic concurrency, rollback, read-only mode, tenant isolation, poisoning.

use super::*;

/// Updates and deletes based on a stale version are conflicts; missing records are reported.
pub async fn stale_writes_conflict(store: Arc<dyn Store>) {
    let t = tenant();
    let c = contact(t, "Stale", "Writer");
    put_all(&store, t, vec![c.clone().into_record()]).await;
    // Someone else moves it to version 2.
    let mut v2 = c.clone();
    v2.version = 2;
    v2.family_name = "Second".into();
    let mut tx = begin(&store, t).await;
    tx.update(v2.clone().into_record()).await.expect("update to v2");
    tx.commit().await.expect("commit");
    // A writer still holding version 1 tries to write version 2.
    let mut stale = c.clone();
    stale.version = 2;
    stale.family_name = "Lost update".into();
    let mut tx = begin(&store, t).await;
    let err = tx.update(stale.into_record()).await.expect_err("stale update must fail");
    assert!(matches!(err, Error::Conflict { found: Some(2), .. }), "{err:?}");
    drop(tx);
    let mut tx = begin(&store, t).await;
    let err = tx.delete(EntityKind::Contact, c.id.as_uuid(), 1).await.expect_err("stale delete must fail");
    assert!(matches!(err, Error::Conflict { found: Some(2), .. }), "{err:?}");
    drop(tx);
    let mut tx = begin(&store, t).await;
    let mut ghost = contact(t, "Ghost", "");
    ghost.version = 2;
    let err = tx.update(ghost.clone().into_record()).await.expect_err("update of missing record");
    assert!(matches!(err, Error::Conflict { found: None, .. }), "{err:?}");
    let err = tx.delete(EntityKind::Contact, ghost.id.as_uuid(), 1).await.expect_err("delete of missing record");
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    drop(tx);
    assert_eq!(get(&store, t, EntityKind::Contact, c.id.as_uuid()).await, Some(v2.into_record()));
}

/// 16 concurrent read-modify-write transactions on one record: each commits or gets
/// `Conflict`; the final version is 1 + commits; a failed transaction leaves nothing behind.
pub async fn concurrent_writers_never_lose_updates(store: Arc<dyn Store>) {
    let t = tenant();
    let hot = contact(t, "Hot", "Record");
    put_all(&store, t, vec![hot.clone().into_record()]).await;
    let tasks = (0..16).map(|i| {
        let store = store.clone();
        let id = hot.id;
        async move {
            let marker = contact(t, &format!("marker-{i}"), "");
            let attempt = async {
                let mut tx = store.begin(t, TxMode::ReadWrite).await?;
                tx.insert(marker.clone().into_record()).await?;
                let mut c = tx.require::<Contact>(id).await?;
                tokio_yield().await;
                c.version += 1;
                c.hobbies.push(format!("writer-{i}"));
                tx.update(c.into_record()).await?;
                tx.commit().await?;
                Ok::<_, Error>(())
            };
            (marker.id, attempt.await)
        }
    });
    let results = futures::future::join_all(tasks).await;
    let mut commits = 0u64;
    for (marker, res) in &results {
        let exists = get(&store, t, EntityKind::Contact, marker.as_uuid()).await.is_some();
        match res {
            Ok(()) => {
                commits += 1;
                assert!(exists, "a committed transaction's insert is visible");
            }
            Err(Error::Conflict { .. }) => assert!(!exists, "a conflicting transaction left its insert behind"),
            Err(e) => panic!("a concurrent writer got {e} instead of Conflict"),
        }
    }
    assert!(commits >= 1, "at least one writer commits");
    let Some(Record::Contact(final_)) = get(&store, t, EntityKind::Contact, hot.id.as_uuid()).await else {
        panic!("hot record vanished")
    };
    assert_eq!(final_.version, 1 + commits, "every commit bumped the version exactly once");
    assert_eq!(final_.hobbies.len() as u64, commits, "no committed update was lost");
}

/// Rolled back or dropped transactions leave no record and no event.
pub async fn rollback_leaves_nothing(store: Arc<dyn Store>) {
    let t = tenant();
    let keep = contact(t, "Keep", "Me");
    put_all(&store, t, vec![keep.clone().into_record()]).await;
    for explicit in [true, false] {
        let mut tx = begin(&store, t).await;
        let new = contact(t, "Phantom", "");
        tx.insert(new.clone().into_record()).await.expect("insert");
        let mut changed = keep.clone();
        changed.version = 2;
        changed.given_name = "Changed".into();
        tx.update(changed.into_record()).await.expect("update");
        tx.append_events(vec![event(t, new.entity_ref(), vec![], Change::Created)]).await.expect("events");
        // Inside the transaction the changes are visible…
        assert!(tx.get(EntityKind::Contact, new.id.as_uuid()).await.expect("get").is_some());
        if explicit {
            tx.rollback().await.expect("rollback");
        } else {
            drop(tx);
        }
        // …and after it, gone.
        assert_eq!(get(&store, t, EntityKind::Contact, new.id.as_uuid()).await, None);
        assert_eq!(get(&store, t, EntityKind::Contact, keep.id.as_uuid()).await, Some(keep.clone().into_record()));
        assert!(store.read_events(t, &EventQuery::after(0, 100)).await.expect("events").is_empty());
    }
}

/// A read-only transaction refuses every write.
pub async fn read_only_transactions_refuse_writes(store: Arc<dyn Store>) {
    let t = tenant();
    let c = contact(t, "Read", "Only");
    put_all(&store, t, vec![c.clone().into_record()]).await;
    let mut tx = store.begin(t, TxMode::ReadOnly).await.expect("begin");
    assert!(matches!(tx.insert(contact(t, "No", "").into_record()).await, Err(Error::Forbidden(_))));
    let mut c2 = c.clone();
    c2.version = 2;
    assert!(matches!(tx.update(c2.into_record()).await, Err(Error::Forbidden(_))));
    assert!(matches!(tx.delete(EntityKind::Contact, c.id.as_uuid(), 1).await, Err(Error::Forbidden(_))));
    assert!(matches!(
        tx.append_events(vec![event(t, c.entity_ref(), vec![], Change::Created)]).await,
        Err(Error::Forbidden(_))
    ));
    drop(tx);
    assert_eq!(get(&store, t, EntityKind::Contact, c.id.as_uuid()).await, Some(c.into_record()));
}

/// No read, list, count, update, delete or event crosses tenants; the same id may exist in two tenants.
pub async fn tenants_are_isolated(store: Arc<dyn Store>) {
    let (a, b) = (tenant(), tenant());
    let ca = contact(a, "Alice", "A");
    put_all(&store, a, vec![ca.clone().into_record()]).await;
    let mut tx = begin(&store, a).await;
    tx.append_events(vec![event(a, ca.entity_ref(), vec![], Change::Created)]).await.expect("events");
    tx.commit().await.expect("commit");

    let mut tx = begin(&store, b).await;
    assert_eq!(tx.get(EntityKind::Contact, ca.id.as_uuid()).await.expect("get"), None);
    assert!(tx.query(EntityKind::Contact, &Query::default()).await.expect("query").items.is_empty());
    assert_eq!(tx.count(EntityKind::Contact, &Filter::All).await.expect("count"), 0);
    let mut hijack = ca.clone();
    hijack.version = 2;
    hijack.given_name = "Mallory".into();
    assert!(matches!(tx.update(hijack.clone().into_record()).await, Err(Error::Forbidden(_))));
    let mut hijack_b = hijack.clone();
    hijack_b.tenant_id = b;
    assert!(tx.update(hijack_b.into_record()).await.is_err(), "update of another tenant's id must fail");
    assert!(matches!(tx.delete(EntityKind::Contact, ca.id.as_uuid(), 1).await, Err(Error::NotFound { .. })));
    assert!(matches!(tx.insert(contact(a, "Sneaky", "").into_record()).await, Err(Error::Forbidden(_))));
    assert!(matches!(
        tx.append_events(vec![event(a, ca.entity_ref(), vec![], Change::Deleted)]).await,
        Err(Error::Forbidden(_))
    ));
    drop(tx);
    assert!(store.read_events(b, &EventQuery::after(0, 100)).await.expect("events").is_empty());

    // The same id in tenant B is a different record.
    let mut twin = ca.clone();
    twin.tenant_id = b;
    twin.given_name = "Bob".into();
    put_all(&store, b, vec![twin.clone().into_record()]).await;
    assert_eq!(get(&store, a, EntityKind::Contact, ca.id.as_uuid()).await, Some(ca.into_record()));
    assert_eq!(get(&store, b, EntityKind::Contact, twin.id.as_uuid()).await, Some(twin.into_record()));
    assert_eq!(store.read_events(a, &EventQuery::after(0, 100)).await.expect("events").len(), 1);
}

/// A write that fails poisons its transaction: later writes and the commit fail, and nothing
/// the transaction wrote before the failure becomes visible.
pub async fn failed_write_poisons_the_transaction(store: Arc<dyn Store>) {
    let t = tenant();
    put_all(&store, t, vec![bare_product(t, "Dup-1").into_record()]).await;
    let marker = contact(t, "Marker", "Before");
    let later = contact(t, "Marker", "After");
    let mut tx = begin(&store, t).await;
    tx.insert(marker.clone().into_record()).await.expect("insert before the failure");
    let err = tx.insert(bare_product(t, "dup-1").into_record()).await.expect_err("duplicate SKU");
    assert!(is_duplicate(&err, "sku"), "{err:?}");
    // A backend may refuse this write already, or only the commit; either way nothing lands.
    let _ = tx.insert(later.clone().into_record()).await;
    let committed = tx.commit().await;
    assert!(committed.is_err(), "a transaction with a failed write must not commit");
    assert_eq!(get(&store, t, EntityKind::Contact, marker.id.as_uuid()).await, None);
    assert_eq!(get(&store, t, EntityKind::Contact, later.id.as_uuid()).await, None);
}
