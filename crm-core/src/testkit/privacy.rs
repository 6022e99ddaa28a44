//! Erasure through the service layer: after a person is erased, nothing the store holds for
//! the tenant (records of every kind, events, the search index) names them, what accounting
//! keeps is intact, and their address is blocked.

use super::*;
use crate::actor::Actor;
use crate::profile::{Address, Email};
use crate::service::{CrmBuilder, ImportOptions, NewContact};

/// What names the person: each must be gone after the erasure (compared ignoring case).
pub const ERASED_NEEDLES: &[&str] =
    &["Zebulon", "Quartzfield", "zebulon.q@example.org", "+442079460999", "Quibbleton", "Obadiah"];

/// A person with a profile, history, activities, a shared meeting and deal, orders, invoices,
/// payments, a case, feedback, a campaign membership, consent, a relation, a sync link and a
/// merge record is erased: the store holds nothing naming them, accounting records keep their
/// amounts, the shared meeting and deal keep the other person, the chain still verifies, and
/// the address cannot come back (a create, an import row and an edit are refused naming the
/// field). Erasing again returns the same log.
pub async fn erasure_leaves_no_trace(store: Arc<dyn Store>) {
    erasure_scenario(store, tenant()).await;
}

/// [`erasure_leaves_no_trace`] in tenant `t` (for backends that also scan their files or
/// tables for [`ERASED_NEEDLES`] afterwards).
pub async fn erasure_scenario(store: Arc<dyn Store>, t: TenantId) {
    let crm = CrmBuilder::from_arc(store.clone()).default_region("GB").build().expect("a CRM");
    let cx = crm.as_actor(&Actor::system(t));
    let home = Address {
        label: None,
        lines: vec!["1 Obadiah Lane".into()],
        city: Some("Quibbleton".into()),
        region: None,
        postal_code: Some("QB1 2ZZ".into()),
        country: Some("GB".into()),
    };
    let zed = cx
        .contacts()
        .create(
            NewContact::new("Zebulon", "Quartzfield")
                .email("Zebulon.Q@example.org")
                .phone("020 7946 0999")
                .address(home)
                .family_notes("Obadiah is the cat"),
        )
        .await
        .expect("the person");
    let amy = cx.contacts().create(NewContact::new("Amy", "Other").email("amy@example.org")).await.expect("another");
    // History with values naming them.
    let mut edit = zed.clone();
    edit.job_title = Some("Quartzfield & Sons, owner".into());
    let zed = cx.contacts().update(edit).await.expect("an edit");

    let co = company(t, "Acme");
    let mut mail = activity(t, zed.id);
    mail.body = Some("Hello, Zebulon here".into());
    mail.participants[0].email = Email::parse("zebulon.q@example.org").ok();
    mail.participants[0].name = Some("Zebulon Quartzfield".into());
    let mut call = activity(t, zed.id);
    (call.kind, call.subject, call.message_id, call.thread_id) =
        (ActivityKind::Call, "Call with Quartzfield".into(), None, None);
    let mut meeting = activity(t, zed.id);
    meeting.kind = ActivityKind::Meeting;
    meeting.subject = "Quarterly review".into();
    meeting.body = Some("Agenda".into());
    (meeting.message_id, meeting.thread_id, meeting.in_reply_to, meeting.references) = (None, None, None, Vec::new());
    meeting.contact_ids = vec![zed.id, amy.id];
    meeting.participants.push(Participant {
        role: ParticipantRole::Attendee,
        name: Some("Amy Other".into()),
        email: Email::parse("amy@example.org").ok(),
        phone: None,
        contact_id: Some(amy.id),
    });
    meeting.participants[0].name = Some("Zebulon".into());
    let pipe = pipeline(t);
    let mut d = deal(t, &pipe, "Acme renewal", Some(Money::new(Decimal::new(5_000, 0), Currency::EUR)));
    d.contact_ids = vec![zed.id, amy.id];
    let mut o = order(t, zed.id, "SO-77");
    o.notes = Some("Deliver to Zebulon at the back door".into());
    let mut inv = invoice(t, zed.id, "INV-77", 12_345);
    inv.notes = Some("Quartzfield pays late".into());
    let mut pay = payment(t, zed.id, 5_000);
    pay.reference = Some("QUARTZFIELD Z".into());
    let mut kase = case(t, zed.id, "Zebulon's parcel is late");
    kase.description = Some("Quartzfield called twice".into());
    let mut fb = feedback(t, zed.id);
    fb.text = Some("Zebulon loves it".into());
    let camp = campaign(t, "Spring", None);
    let member = campaign_member(t, camp.id, zed.id);
    let rel = relation(t, zed.id, co.id);
    let mut link = full_sync_link(t, co.id);
    link.local = zed.entity_ref();
    link.snapshot.insert("name".into(), Some("Zebulon Quartzfield".into()));
    let merged = merge_record(t, &zed, &contact(t, "Zebulon", "Quartzfeld"), case(t, zed.id, "Old").into_record());
    let kept_amounts = (o.total, inv.total, pay.amount);
    let (meeting_id, deal_id, order_id) = (meeting.id, d.id, o.id);
    put_all(
        &store,
        t,
        vec![
            co.into_record(),
            mail.into_record(),
            call.into_record(),
            meeting.into_record(),
            pipe.into_record(),
            d.into_record(),
            o.into_record(),
            inv.into_record(),
            pay.into_record(),
            kase.into_record(),
            fb.into_record(),
            camp.into_record(),
            member.into_record(),
            rel.into_record(),
            link.into_record(),
            merged.into_record(),
            consent(t, zed.id).into_record(),
        ],
    )
    .await;
    let found = cx.search("quartzfield").await.expect("search");
    assert!(!found.is_empty(), "the person is found before the erasure");

    let log = cx.privacy().erase(zed.id, Some("  Request 17 ")).await.expect("erase");
    assert_eq!(log.masked_name, "Z****** Q**********");
    assert_eq!(log.reason.as_deref(), Some("Request 17"));
    assert!(log.completed_at.is_some(), "finished");
    assert!(log.events_scrubbed >= 1, "the edit's values were scrubbed");

    // Nothing the store holds names them.
    let mut tx = store.begin(t, TxMode::ReadOnly).await.expect("begin");
    let mut held = Vec::new();
    for kind in EntityKind::ALL {
        for r in tx.query_all(*kind, Filter::All).await.expect("query") {
            held.push((kind.as_str().to_owned(), serde_json::to_string(&r).expect("json").to_lowercase()));
        }
    }
    let kinds: Vec<(EntityKind, Filter)> = EntityKind::ALL.iter().map(|k| (*k, Filter::All)).collect();
    for needle in ERASED_NEEDLES {
        let term = needle.to_lowercase();
        for (kind, text) in &held {
            assert!(!text.contains(&term), "a {kind} record still holds `{needle}`: {text}");
        }
        let word: String = term.chars().take_while(|c| c.is_alphanumeric()).collect();
        if !word.is_empty() {
            let hits = tx.search(&kinds, std::slice::from_ref(&word), 10).await.expect("search");
            assert!(hits.is_empty(), "search still finds `{word}`: {hits:?}");
        }
    }
    drop(tx);
    for e in store.read_events(t, &EventQuery::after(0, 100_000)).await.expect("events") {
        let text = serde_json::to_string(&e).expect("json").to_lowercase();
        for needle in ERASED_NEEDLES {
            assert!(!text.contains(&needle.to_lowercase()), "event {} still holds `{needle}`: {text}", e.seq);
        }
    }
    let report = store.verify_events(t).await.expect("verify");
    assert!(report.faults.is_empty(), "the chain verifies after the scrub: {:?}", report.faults);
    assert!(report.scrubbed.len() as u64 >= log.events_scrubbed);

    // What accounting keeps, and what others keep.
    let stub = cx.contacts().get(zed.id).await.expect("kept for the orders");
    assert_eq!(stub.full_name(), "Erased");
    assert!(stub.emails.is_empty() && stub.phones.is_empty());
    assert_eq!(stub.addresses.iter().map(|a| a.country.as_deref()).collect::<Vec<_>>(), [Some("GB")]);
    let o = cx.orders().get(order_id).await.expect("the order stays");
    assert_eq!((o.total, o.notes), (kept_amounts.0, None));
    assert_eq!(cx.invoices().list(&Query::new(Filter::All)).await.expect("list").items[0].total, kept_amounts.1);
    assert_eq!(cx.payments().list(&Query::new(Filter::All)).await.expect("list").items[0].amount, kept_amounts.2);
    let meeting = cx.activities().get(meeting_id).await.expect("the shared meeting stays");
    assert_eq!(meeting.contact_ids, [amy.id]);
    assert_eq!(meeting.participants.len(), 1, "their participant entry is gone");
    assert_eq!(cx.deals().get(deal_id).await.expect("the deal stays").contact_ids, [amy.id]);
    assert_eq!(cx.records::<Case>().count(&Filter::All).await.expect("count"), 0, "their cases are deleted");
    assert_eq!(cx.records::<Feedback>().count(&Filter::All).await.expect("count"), 0);
    assert_eq!(cx.records::<CampaignMember>().count(&Filter::All).await.expect("count"), 0);
    assert_eq!(cx.records::<Consent>().count(&Filter::All).await.expect("count"), 0);
    assert_eq!(cx.records::<Merge>().count(&Filter::All).await.expect("count"), 0);
    assert_eq!(cx.records::<SyncLink>().count(&Filter::All).await.expect("count"), 0);
    assert_eq!(cx.activities().count(&Filter::All).await.expect("count"), 1, "their email and call are deleted");

    // Their address is blocked, however it comes back.
    assert!(cx.privacy().is_blocked("ZEBULON.Q@example.org").await.expect("blocked"));
    assert!(!cx.privacy().is_blocked("amy@example.org").await.expect("not blocked"));
    let again = cx.contacts().create(NewContact::new("Z", "Q").email("zebulon.q@example.org")).await;
    assert_blocked(again.map(|_| ()), "emails[0]");
    let rows = vec![
        NewContact::new("Ok", "Row"),
        NewContact::new("Z", "Q").email("x@example.org").email("zebulon.q@example.org"),
    ];
    let report = cx.contacts().import(rows, &ImportOptions::default(), |_| {}).await.expect("import");
    assert_eq!((report.imported.len(), report.rejected.len()), (1, 1));
    assert_eq!(report.rejected[0].row, 1);
    let mut rejected = report.rejected;
    assert_blocked(Err(rejected.remove(0).error), "emails[1]");
    let mut amy_now = cx.contacts().get(amy.id).await.expect("amy");
    amy_now.emails.push(crate::profile::EmailEntry {
        address: Email::parse("zebulon.q@example.org").expect("address"),
        label: crate::profile::EmailLabel::Other,
    });
    assert_blocked(cx.contacts().update(amy_now).await.map(|_| ()), "emails[1]");

    let same = cx.privacy().erase(zed.id, None).await.expect("erase again");
    assert_eq!(same, log, "an erasure is done once");
}

fn assert_blocked(r: Result<(), Error>, field: &str) {
    match r {
        Err(Error::Validation(errs)) => {
            assert!(
                errs.0.iter().any(|e| e.field == field && e.code == FieldErrorCode::Blocked),
                "refused naming {field}: {errs:?}"
            );
        }
        other => panic!("a blocked address must be refused naming {field}, got {other:?}"),
    }
}
