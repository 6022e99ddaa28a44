//! Records of every kind: insert, read back exactly, update, delete, batched inserts.

use super::*;

/// Insert, get, update and delete a record of every kind.
pub async fn crud_every_kind(store: Arc<dyn Store>) {
    let t = tenant();
    let records = one_of_each(t);
    let kinds: BTreeSet<EntityKind> = records.iter().map(Record::kind).collect();
    assert_eq!(kinds.len(), EntityKind::ALL.len(), "fixture covers every kind");
    put_all(&store, t, records.clone()).await;
    for r in &records {
        assert_eq!(get(&store, t, r.kind(), r.id()).await.as_ref(), Some(r), "{} reads back", r.kind());
    }
    let mut tx = begin(&store, t).await;
    for r in &records {
        let mut changed = r.clone();
        changed.set_version(2);
        match &mut changed {
            Record::Contact(x) => x.given_name = "Changed".into(),
            Record::Company(x) => x.name = "Changed".into(),
            Record::Deal(x) => x.name = "Changed".into(),
            Record::Pipeline(x) => x.name = "Changed".into(),
            Record::Activity(x) => x.subject = "Changed".into(),
            Record::Relation(x) => x.role = Some("Changed".into()),
            Record::CustomField(x) => x.definition.label = "Changed".into(),
            Record::Product(x) => x.name = "Changed".into(),
            Record::Order(x) => x.notes = Some("Changed".into()),
            Record::Invoice(x) => x.notes = Some("Changed".into()),
            Record::Payment(x) => x.notes = Some("Changed".into()),
            Record::Case(x) => x.subject = "Changed".into(),
            Record::Feedback(x) => x.text = Some("Changed".into()),
            Record::Campaign(x) => x.name = "Changed".into(),
            Record::CampaignMember(x) => x.responses.push(CampaignResponse { kind: ResponseKind::Clicked, at: at(30) }),
            Record::Segment(x) => x.name = "Changed".into(),
            Record::SyncLink(x) => x.remote_version = Some("Changed".into()),
            Record::SyncState(x) => x.value = serde_json::json!({"state": "Changed"}),
            Record::Merge(x) => x.undone_at = Some(at(99)),
            Record::User(x) => x.name = "Changed".into(),
            Record::Team(x) => x.name = "Changed".into(),
            Record::Role(x) => x.name = "Changed".into(),
            Record::Consent(x) => x.source = Some("Changed".into()),
            Record::Erasure(x) => x.reason = Some("Changed".into()),
            Record::Share(x) => x.note = Some("Changed".into()),
            Record::ApiKey(x) => x.name = "Changed".into(),
            Record::Workflow(x) => x.name = "Changed".into(),
            Record::WorkflowRun(x) => x.detail = Some("Changed".into()),
            Record::Notification(x) => x.message = "Changed".into(),
            Record::WorkflowTimer(x) => x.occurrence = "Changed".into(),
        }
        tx.update(changed).await.expect("update");
    }
    tx.commit().await.expect("commit");
    for r in &records {
        let got = get(&store, t, r.kind(), r.id()).await.expect("still there");
        assert_eq!(got.version(), 2);
        let text = serde_json::to_string(&got).expect("serialize");
        let changed = text.contains("Changed")
            || text.contains("clicked")
            || matches!(&got, Record::Merge(m) if m.undone_at.is_some());
        assert!(changed, "{} update persisted", r.kind());
    }
    let mut tx = begin(&store, t).await;
    for r in &records {
        tx.delete(r.kind(), r.id(), 2).await.expect("delete");
    }
    tx.commit().await.expect("commit");
    for r in &records {
        assert_eq!(get(&store, t, r.kind(), r.id()).await, None, "{} deleted", r.kind());
    }
}

/// A record with every field set, odd text and custom values of every type, reads back equal.
pub async fn records_round_trip_exactly(store: Arc<dyn Store>) {
    let t = tenant();
    let c = full_contact(t);
    put_all(&store, t, vec![c.clone().into_record()]).await;
    let back = get(&store, t, EntityKind::Contact, c.id.as_uuid()).await;
    assert_eq!(back, Some(c.into_record()));
}

/// Inserting an id that exists is a conflict, and changes nothing.
pub async fn insert_of_existing_id_conflicts(store: Arc<dyn Store>) {
    let t = tenant();
    let c = contact(t, "Once", "Only");
    put_all(&store, t, vec![c.clone().into_record()]).await;
    let mut dup = c.clone();
    dup.given_name = "Twice".into();
    let mut tx = begin(&store, t).await;
    let res = tx.insert(dup.into_record()).await;
    let res = match res {
        Ok(()) => tx.commit().await.map(|_| ()),
        Err(e) => Err(e),
    };
    assert!(matches!(res, Err(Error::Conflict { .. })), "duplicate insert: {res:?}");
    assert_eq!(get(&store, t, EntityKind::Contact, c.id.as_uuid()).await, Some(c.into_record()));
}

/// `got` equals `want`, and serializes the same (so decimal scale such as `10.50`, and every
/// nested value, survived).
fn assert_exact(got: Option<&Record>, want: &Record, what: &str) {
    let kind = want.kind();
    assert_eq!(got, Some(want), "{what}: {kind} reads back equal");
    let json = |r: &Record| serde_json::to_value(r).expect("serialize");
    assert_eq!(got.map(json), Some(json(want)), "{what}: {kind} reads back with the same representation");
}

/// A record of every kind, the new ones with every optional field set (lines with discounts and
/// tax, applied payments, responses, external refs, custom values of several types, decimals
/// with trailing zeros, non-ASCII text, a segment filter nesting and/or/not), reads back exactly
/// — by id and through a query — after insert and after update.
pub async fn every_kind_round_trips_exactly(store: Arc<dyn Store>) {
    let s = &store;
    let t = tenant();
    let c = full_contact(t);
    let co = company(t, "Ünïcode GmbH & Co. KG");
    let pipe = pipeline(t);
    let d = deal(t, &pipe, "Groß", Some(Money::new(Decimal::new(1_000_050, 2), Currency::EUR)));
    let prod = full_product(t, "RT-1");
    let ord = full_order(t, c.id, &prod, "SO-RT-1");
    let inv = full_invoice(t, c.id, &prod, "INV-RT-1");
    let inv2 = full_invoice(t, c.id, &prod, "INV-RT-2");
    let pay = full_payment(t, c.id, [inv.id, inv2.id]);
    let cs = full_case(t, c.id, prod.id);
    let fb = full_feedback(t, c.id, cs.id, prod.id);
    let seg = full_segment(t, "Führungskräfte");
    let camp = full_campaign(t, "Frühling ✿", seg.id);
    let mem = full_campaign_member(t, camp.id, c.id);
    let link = full_sync_link(t, co.id);
    let state = sync_state(t, "imap:jane@example.com/INBOX");
    // A merge record holds whole records of other kinds, every field set.
    let mut undone = merge_record(t, &c, &full_contact(t), full_case(t, c.id, prod.id).into_record());
    undone.undone_at = Some(at(7_200));
    // A user reporting to another, in a team with them (non-ASCII names).
    let boss = user(t, "Zoë Boß", "zoe@acme.example", None);
    let rep = user(t, "Ria Rep", "ria@acme.example", Some(boss.id));
    let north = team(t, "Nord-Öst", vec![boss.id, rep.id]);
    let desk = role(t, "deal_desk");
    // A workflow with every kind of step, and a logged step of it.
    let flow = workflow(t, "Grüße – welcome");
    let run = workflow_run(t, &flow, c.entity_ref(), "event:42");
    let timer = workflow_timer(t, &flow, Some(c.entity_ref()), 3);
    let records = vec![
        desk.into_record(),
        consent(t, c.id).into_record(),
        erasure(t, ContactId::new()).into_record(),
        share(t, c.entity_ref(), UserId::new()).into_record(),
        api_key(t, UserId::new(), "crm_round_trip_secret").into_record(),
        flow.into_record(),
        run.into_record(),
        notification(t, UserId::new(), Some(c.entity_ref())).into_record(),
        timer.into_record(),
        boss.into_record(),
        rep.into_record(),
        north.into_record(),
        undone.into_record(),
        link.into_record(),
        state.into_record(),
        activity(t, c.id).into_record(),
        relation(t, c.id, co.id).into_record(),
        custom_field(t, EntityKind::Order, "größe", FieldType::Decimal).into_record(),
        c.into_record(),
        co.into_record(),
        pipe.into_record(),
        d.into_record(),
        prod.into_record(),
        ord.into_record(),
        inv.into_record(),
        inv2.into_record(),
        pay.into_record(),
        cs.into_record(),
        fb.into_record(),
        seg.into_record(),
        camp.into_record(),
        mem.into_record(),
    ];
    let kinds: BTreeSet<EntityKind> = records.iter().map(Record::kind).collect();
    assert_eq!(kinds.len(), EntityKind::ALL.len(), "fixture covers every kind");
    let json = serde_json::to_string(&records).expect("serialize");
    for needle in [r#""10.50""#, r#""7.700""#, r#""12.50""#, r#""30.000""#, r#""2.50""#] {
        assert!(json.contains(needle), "fixtures carry the trailing-zero decimal {needle}");
    }
    put_all(s, t, records.clone()).await;
    let check = |records: Vec<Record>, what: &'static str| async move {
        for r in &records {
            assert_exact(get(s, t, r.kind(), r.id()).await.as_ref(), r, what);
        }
        for kind in EntityKind::ALL {
            let listed = select(s, t, *kind, Query::default().limit(1)).await;
            let want: Vec<&Record> = records.iter().filter(|r| r.kind() == *kind).collect();
            assert_eq!(listed.len(), want.len(), "{what}: every {kind} listed");
            for w in want {
                assert_exact(listed.iter().find(|r| r.id() == w.id()), w, what);
            }
        }
    };
    check(records.clone(), "after insert").await;
    let updated: Vec<Record> = records
        .into_iter()
        .map(|mut r| {
            r.set_version(2);
            r.set_updated_at(at(999_999));
            r
        })
        .collect();
    let mut tx = begin(s, t).await;
    for r in &updated {
        tx.update(r.clone()).await.expect("update");
    }
    tx.commit().await.expect("commit");
    check(updated, "after update").await;
}

/// `insert_many` writes every record exactly as `insert` would: more rows than one SQL
/// statement can carry, several kinds in one call, searchable and counted at once. A clash
/// with a stored id gives that id's `Conflict`, a taken unique key `Duplicate`, a record of
/// another tenant `Forbidden`; after any of them the transaction does not commit and none of
/// its records lands.
pub async fn insert_many_is_insert_of_each(store: Arc<dyn Store>) {
    let t = tenant();
    let mut records: Vec<Record> = (0..2500)
        .map(|i| {
            let mut c = contact(t, "Bulk", &format!("Person{i}"));
            c.custom = sample_custom();
            c.into_record()
        })
        .collect();
    records.push(company(t, "Bulkco Holdings").into_record());
    records.push(bare_product(t, "BULK-1").into_record());
    let mut tx = begin(&store, t).await;
    tx.insert_many(&records).await.expect("insert_many");
    assert_eq!(tx.count(EntityKind::Contact, &Filter::All).await.expect("count"), 2500, "own writes");
    tx.commit().await.expect("commit");
    for r in [&records[0], &records[1234], &records[2499], &records[2500], &records[2501]] {
        assert_eq!(get(&store, t, r.kind(), r.id()).await.as_ref(), Some(r), "round trip of {} {}", r.kind(), r.id());
    }
    assert_eq!(search_ids(&store, t, "bulkco", 10).await, vec![records[2500].id()]);
    assert_eq!(search_ids(&store, t, "person2499", 10).await, vec![records[2499].id()]);
    let listed = select(&store, t, EntityKind::Contact, Query::new(Filter::All).limit(1000)).await;
    assert_eq!(listed.len(), 2500);

    let fresh = contact(t, "Fresh", "Before");
    let mut stale = records[7].clone();
    stale.set_updated_at(at(99));
    let mut tx = begin(&store, t).await;
    let err = tx.insert_many(&[fresh.clone().into_record(), stale]).await.expect_err("existing id");
    assert!(matches!(err, Error::Conflict { id, expected: 0, found: Some(1), .. } if id == records[7].id()), "{err:?}");
    assert!(tx.commit().await.is_err(), "a failed insert_many must not commit");
    assert_eq!(get(&store, t, EntityKind::Contact, fresh.id.as_uuid()).await, None);
    assert_eq!(get(&store, t, EntityKind::Contact, records[7].id()).await.as_ref(), Some(&records[7]));

    let mut tx = begin(&store, t).await;
    let dup = [fresh.clone().into_record(), bare_product(t, "bulk-1").into_record()];
    let res = tx.insert_many(&dup).await;
    assert_duplicate(&res, "sku", "insert_many of a taken SKU");
    assert!(tx.commit().await.is_err());
    assert_eq!(get(&store, t, EntityKind::Contact, fresh.id.as_uuid()).await, None);

    let mut tx = begin(&store, t).await;
    let other = contact(tenant(), "Other", "Tenant").into_record();
    let err = tx.insert_many(&[fresh.clone().into_record(), other]).await.expect_err("other tenant");
    assert!(matches!(err, Error::Forbidden(_)), "{err:?}");
    assert!(tx.commit().await.is_err());
    assert_eq!(get(&store, t, EntityKind::Contact, fresh.id.as_uuid()).await, None);
    let n = store.begin(t, TxMode::ReadOnly).await.expect("begin").count(EntityKind::Contact, &Filter::All).await;
    assert_eq!(n.expect("count"), 2500);
}
