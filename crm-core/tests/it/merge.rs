use chrono::Duration;
use crm_core::entity::{EntityKind, EntityRef};
use crm_core::error::FieldErrorCode;
use crm_core::event::Change;
use crm_core::model::{CaseChannel, CaseType, FieldDefinition, FieldType, RelationLabel};
use crm_core::prelude::*;
use crm_core::profile::LifecycleStage;
use crm_core::service::LinkInput;
use crm_core::service::{MergeChoices, NewCampaign, NewCase, NewFeedback, NewOrder, SyncRecords};
use crm_core::value::Value;
use proptest::prelude::Strategy;
use proptest::prelude::prop;
use uuid::Uuid;

use crate::common::*;

/// Three people who are one, and everything that names them.
struct World {
    jane: Contact,
    twin1: Contact,
    twin2: Contact,
    friend: Contact,
    deal: DealId,
    activity: ActivityId,
    order: OrderId,
    case: CaseId,
    feedback: FeedbackId,
    campaign_a: CampaignId,
    campaign_b: CampaignId,
    acme: CompanyId,
}

async fn world(cx: &Session) -> World {
    let defs = cx.custom_fields();
    defs.define(FieldDefinition::new(EntityKind::Contact, "budget", "Budget", FieldType::Decimal)).await.unwrap();
    let referrer = FieldType::Reference { to: EntityKind::Contact };
    defs.define(FieldDefinition::new(EntityKind::Contact, "referred_by", "Referred by", referrer)).await.unwrap();
    let c = cx.contacts();
    let jane = c.create(NewContact::new("Jane", "Doe").email("jane@acme.com").custom("budget", 10)).await.unwrap();
    let twin1 = c
        .create(
            NewContact::new("Jane", "Doe-Smith")
                .email("jd@home.org")
                .phone("(415) 555-2671")
                .website("https://jane.example")
                .tag("vip")
                .lifecycle_stage(LifecycleStage::Customer)
                .external_ref("xero", "c-1")
                .custom("budget", 99),
        )
        .await
        .unwrap();
    let twin2 = c
        .create(NewContact::new("J.", "Doe").email("jane@acme.com").family_notes("Two cats").tag("vip").tag("press"))
        .await
        .unwrap();
    let friend =
        c.create(NewContact::new("Fred", "Friend").custom("referred_by", Value::Id(twin1.id.into()))).await.unwrap();
    let acme = cx.companies().create(NewCompany::new("Acme")).await.unwrap().id;
    let deal = cx.deals().create(NewDeal::new("Renewal").contact(twin1.id).contact(jane.id)).await.unwrap().id;
    let activity = cx.activities().log(NewActivity::call("Intro").contact(twin2.id)).await.unwrap().id;
    let order =
        cx.orders().create(NewOrder::for_contact(twin1.id).currency(crm_core::money::Currency::EUR)).await.unwrap().id;
    let case = cx
        .cases()
        .create(NewCase::new("Broken", CaseType::Problem, CaseChannel::Email).contact(twin2.id))
        .await
        .unwrap()
        .id;
    let feedback = cx.feedback().create(NewFeedback::suggestion("More colours").contact(twin1.id)).await.unwrap().id;
    let campaign_a =
        cx.campaigns().create(NewCampaign::new("A", crm_core::model::CampaignChannel::Email)).await.unwrap().id;
    let campaign_b =
        cx.campaigns().create(NewCampaign::new("B", crm_core::model::CampaignChannel::Email)).await.unwrap().id;
    cx.campaigns().add_contact(campaign_a, jane.id).await.unwrap();
    cx.campaigns().add_contact(campaign_a, twin1.id).await.unwrap();
    cx.campaigns().add_contact(campaign_b, twin2.id).await.unwrap();
    let r = cx.relations();
    r.link(twin1.entity_ref(), jane.entity_ref(), RelationLabel::Knows, Some("same person")).await.unwrap();
    let acme_ref = EntityRef::new(EntityKind::Company, acme);
    r.link(twin2.entity_ref(), acme_ref, RelationLabel::WorksAt, Some("CFO")).await.unwrap();
    r.link(jane.entity_ref(), acme_ref, RelationLabel::WorksAt, Some("CEO")).await.unwrap();
    let sync: SyncRecords<'_> = cx.sync();
    sync.put_link(LinkInput::new("xero:demo", twin1.entity_ref(), "Contact", "x-1")).await.unwrap();
    // Read back: creating deals, cases… moved lifecycles.
    let (jane, twin1, twin2) =
        (c.get(jane.id).await.unwrap(), c.get(twin1.id).await.unwrap(), c.get(twin2.id).await.unwrap());
    World { jane, twin1, twin2, friend, deal, activity, order, case, feedback, campaign_a, campaign_b, acme }
}

/// Every record of tenant A but merge records, without versions and times of change.
async fn store_of(env: &Env) -> Vec<serde_json::Value> {
    let mut out: Vec<serde_json::Value> = env
        .state_of(tenant_a())
        .await
        .records
        .into_iter()
        .filter(|r| r.kind() != EntityKind::Merge)
        .map(|mut r| {
            r.set_version(0);
            r.set_updated_at(chrono::DateTime::UNIX_EPOCH);
            serde_json::to_value(r).unwrap()
        })
        .collect();
    out.sort_by_key(|v| v.to_string());
    out
}

#[tokio::test]
async fn a_merge_resolves_the_fields_and_moves_every_reference_to_the_survivor() {
    let env = env();
    let cx = env.cx();
    let w = world(&cx).await;
    let seq = env.last_seq().await;
    let done = cx
        .contacts()
        .merge(w.jane.id, &[w.twin1.id, w.twin2.id], &MergeChoices::new().take("family_name", w.twin1.id))
        .await
        .unwrap();
    let jane = done.survivor;
    assert_eq!((jane.given_name.as_str(), jane.family_name.as_str()), ("Jane", "Doe-Smith"), "the choice wins");
    let emails: Vec<&str> = jane.emails.iter().map(|e| e.address.as_str()).collect();
    assert_eq!(emails, ["jane@acme.com", "jd@home.org"], "united, each once");
    assert_eq!(jane.phones.len(), 1);
    assert_eq!(
        jane.website.as_ref().map(|w| w.as_str()),
        Some("https://jane.example/"),
        "taken where the survivor had none"
    );
    assert_eq!(jane.family_notes.as_deref(), Some("Two cats"));
    assert_eq!(jane.tags, ["vip", "press"]);
    assert_eq!(jane.lifecycle_stage, LifecycleStage::Customer, "the furthest stage");
    assert_eq!(jane.custom.get("budget"), Some(&Value::Decimal(10.into())), "the survivor's own value stays");
    assert_eq!(jane.external_refs.len(), 1, "a merged contact's external id moves to the survivor");

    let id = |c: &Contact| c.id;
    assert_eq!(cx.deals().get(w.deal).await.unwrap().contact_ids, [id(&w.jane)], "named once");
    assert_eq!(cx.activities().get(w.activity).await.unwrap().contact_ids, [id(&w.jane)]);
    assert_eq!(cx.orders().get(w.order).await.unwrap().contact_id, Some(id(&w.jane)));
    assert_eq!(cx.cases().get(w.case).await.unwrap().contact_id, Some(id(&w.jane)));
    assert_eq!(cx.feedback().get(w.feedback).await.unwrap().contact_id, Some(id(&w.jane)));
    let friend = cx.contacts().get(w.friend.id).await.unwrap();
    assert_eq!(friend.custom.get("referred_by"), Some(&Value::Id(w.jane.id.into())), "custom references too");
    for campaign in [w.campaign_a, w.campaign_b] {
        let members = cx.campaigns().members(campaign, &Query::default()).await.unwrap().items;
        assert_eq!(members.iter().map(|m| m.contact_id).collect::<Vec<_>>(), [id(&w.jane)], "one membership each");
    }
    let rels = cx.relations().list(&Query::default()).await.unwrap().items;
    assert_eq!(rels.len(), 1, "the relation of the survivor to itself and the second `works at` are dropped");
    assert_eq!(
        (rels[0].from.id, rels[0].to.id, rels[0].role.as_deref()),
        (w.jane.id.into(), w.acme.into(), Some("CEO"))
    );
    let link = cx.sync().link_for_remote("xero:demo", "Contact", "x-1").await.unwrap().unwrap();
    assert_eq!(link.local, w.jane.entity_ref());
    for gone in [w.twin1.id, w.twin2.id] {
        assert!(matches!(cx.contacts().get(gone).await, Err(Error::NotFound { .. })));
    }
    assert_eq!(done.moved, 11);

    let events = env.events_since(seq).await;
    let deleted: Vec<Uuid> = events
        .iter()
        .filter(|e| e.event.change == Change::Deleted && e.event.subject.kind == EntityKind::Contact)
        .map(|e| e.event.subject.id)
        .collect();
    assert_eq!(deleted, [Uuid::from(w.twin1.id), Uuid::from(w.twin2.id)]);
    assert!(
        events.iter().any(|e| e.event.subject == EntityRef::new(EntityKind::Deal, w.deal)),
        "the deal's change is an event"
    );
}

#[tokio::test]
async fn unmerge_puts_the_whole_store_back_and_only_once() {
    let env = env();
    let cx = env.cx();
    let w = world(&cx).await;
    let before = store_of(&env).await;
    let done = cx.contacts().merge(w.jane.id, &[w.twin1.id, w.twin2.id], &MergeChoices::new()).await.unwrap();
    assert_ne!(store_of(&env).await, before);
    let jane = cx.contacts().unmerge(done.merge).await.unwrap();
    assert_eq!(jane.family_name, "Doe");
    assert_eq!(store_of(&env).await, before, "every record as it was");
    let err = env.refused(cx.contacts().unmerge(done.merge)).await;
    assert_only_field(&err, "merge", FieldErrorCode::Rule);
    // Merged again after the undo, the same records move again.
    cx.contacts().merge(w.jane.id, &[w.twin1.id], &MergeChoices::new()).await.unwrap();
    assert_eq!(cx.orders().get(w.order).await.unwrap().contact_id, Some(w.jane.id));
}

#[tokio::test]
async fn unmerge_is_refused_once_a_moved_record_changed_or_the_window_passed() {
    let env = env();
    let cx = env.cx();
    let w = world(&cx).await;
    let done = cx.contacts().merge(w.jane.id, &[w.twin1.id], &MergeChoices::new()).await.unwrap();
    let mut deal = cx.deals().get(w.deal).await.unwrap();
    deal.name = "Renewal 2027".into();
    let deal = cx.deals().update(deal).await.unwrap();
    let err = env.refused(cx.contacts().unmerge(done.merge)).await;
    assert!(
        matches!(err, Error::Conflict { kind: EntityKind::Deal, id, found: Some(v), .. } if id == Uuid::from(w.deal) && v == deal.version),
        "{err:?}"
    );

    let done = cx.contacts().merge(w.jane.id, &[w.twin2.id], &MergeChoices::new()).await.unwrap();
    env.advance(Duration::days(91));
    let err = env.refused(cx.contacts().unmerge(done.merge)).await;
    assert_only_field(&err, "merge", FieldErrorCode::Rule);
    assert!(err.to_string().contains("90 days"), "{err}");
}

#[tokio::test]
async fn a_merge_that_cannot_be_done_is_refused_naming_why_and_writes_nothing() {
    let env = env();
    let cx = env.cx();
    let w = world(&cx).await;
    let c = cx.contacts();
    let none = MergeChoices::new();
    let (j, t1, t2) = (w.jane.id, w.twin1.id, w.twin2.id);
    assert_only_field(&env.refused(c.merge(j, &[], &none)).await, "others", FieldErrorCode::OutOfRange);
    let five = [t1, t2, w.friend.id, ContactId::new(), ContactId::new()];
    assert_only_field(&env.refused(c.merge(j, &five, &none)).await, "others", FieldErrorCode::OutOfRange);
    assert_only_field(&env.refused(c.merge(j, &[t1, j], &none)).await, "others[1]", FieldErrorCode::Duplicate);
    assert_only_field(&env.refused(c.merge(j, &[t1, t1], &none)).await, "others[1]", FieldErrorCode::Duplicate);
    assert_only_field(
        &env.refused(c.merge(j, &[t1, ContactId::new()], &none)).await,
        "others[1]",
        FieldErrorCode::NotFound,
    );
    let bad_field = MergeChoices::new().take("given_name", t1).take("shoe_size", t1);
    assert_only_field(
        &env.refused(c.merge(j, &[t1], &bad_field)).await,
        "choices[1].field",
        FieldErrorCode::UnknownField,
    );
    let bad_from = MergeChoices::new().take("given_name", t2);
    assert_only_field(&env.refused(c.merge(j, &[t1], &bad_from)).await, "choices[0].from", FieldErrorCode::NotFound);
    assert!(matches!(env.refused(c.merge(ContactId::new(), &[t1], &none)).await, Error::NotFound { .. }));
}

#[tokio::test]
async fn merged_contacts_that_name_each_other_consent_and_stages() {
    let env = env();
    let cx = env.cx();
    let referrer = FieldType::Reference { to: EntityKind::Contact };
    let def = FieldDefinition::new(EntityKind::Contact, "referred_by", "Referred by", referrer);
    cx.custom_fields().define(def).await.unwrap();
    let c = cx.contacts();
    let a = c.create(NewContact::new("Ann", "Lee").lifecycle_stage(LifecycleStage::Customer)).await.unwrap();
    let b = c
        .create(
            NewContact::new("Anne", "Lee")
                .custom("referred_by", Value::Id(a.id.into()))
                .consent(crm_core::profile::ConsentStatus::Withdrawn, crm_core::profile::ConsentMethod::Unsubscribe),
        )
        .await
        .unwrap();
    let d = c.create(NewContact::new("Annie", "Lee").custom("referred_by", Value::Id(b.id.into()))).await.unwrap();
    let mut a2 = c.get(a.id).await.unwrap();
    a2.custom.insert("referred_by".into(), Value::Id(d.id.into()));
    c.update(a2).await.unwrap();

    // Taking an earlier stage from a merged contact is refused before anything is written.
    let back = MergeChoices::new().take("lifecycle_stage", b.id);
    let err = env.refused(c.merge(a.id, &[b.id], &back)).await;
    assert_only_field(&err, "choices[0].field", FieldErrorCode::Rule);

    let before = store_of(&env).await;
    let done = c.merge(a.id, &[b.id, d.id], &MergeChoices::new()).await.unwrap();
    assert_eq!(done.survivor.custom.get("referred_by"), Some(&Value::Id(a.id.into())), "its own reference repointed");
    assert_eq!(
        done.survivor.marketing_consent.status,
        crm_core::profile::ConsentStatus::Withdrawn,
        "a withdrawal by any of them stands"
    );
    c.unmerge(done.merge).await.unwrap();
    assert_eq!(store_of(&env).await, before);
}

// ---------------------------------------------------------------------------------------------
// Property: merge then unmerge is the identity on the whole store
// ---------------------------------------------------------------------------------------------

/// A random tenant: people sharing addresses and tags, deals naming several of them, orders,
/// campaign memberships and relations between them.
#[derive(Debug, Clone)]
struct Shape {
    people: usize,
    emails: Vec<u8>,
    tags: Vec<u8>,
    deals: Vec<Vec<usize>>,
    orders: Vec<usize>,
    members: Vec<(usize, usize)>,
    relations: Vec<(usize, usize)>,
    survivor: usize,
    others: u8,
}

#[tokio::test]
async fn companies_merge_with_every_record_naming_them_and_unmerge_puts_the_store_back() {
    let env = env();
    let cx = env.cx();
    let co = cx.companies();
    let acme = co.create(NewCompany::new("Acme").domain("acme.com").external_ref("xero", "a-1")).await.unwrap();
    let twin = co
        .create(NewCompany::new("ACME Ltd").industry("Tools").tag("vip").external_ref("hubspot", "9001"))
        .await
        .unwrap();
    let globex = co.create(NewCompany::new("Globex")).await.unwrap();
    let ann = cx.contacts().create(NewContact::new("Ann", "Lee").company(twin.id)).await.unwrap();
    let deal = cx.deals().create(NewDeal::new("Renewal").company(twin.id)).await.unwrap();
    let note = cx.activities().log(NewActivity::note("Met both").company(twin.id).company(acme.id)).await.unwrap();
    let order =
        cx.orders().create(NewOrder::for_company(twin.id).currency(crm_core::money::Currency::EUR)).await.unwrap();
    let other =
        cx.orders().create(NewOrder::for_company(globex.id).currency(crm_core::money::Currency::EUR)).await.unwrap();
    let before = store_of(&env).await;

    let done = co.merge(acme.id, &[twin.id], &MergeChoices::new().take("name", twin.id)).await.unwrap();
    let s = &done.survivor;
    assert_eq!((s.name.as_str(), s.domain.as_ref().map(|d| d.as_str())), ("ACME Ltd", Some("acme.com")));
    assert_eq!((s.industry.as_deref(), s.tags.clone()), (Some("Tools"), vec!["vip".to_owned()]));
    let refs: Vec<String> = s.external_refs.iter().map(|r| format!("{}:{}", r.system, r.id)).collect();
    assert_eq!(refs, ["xero:a-1", "hubspot:9001"]);
    assert_eq!(done.moved, 4);
    assert_eq!(cx.contacts().get(ann.id).await.unwrap().company_id, Some(acme.id));
    assert_eq!(cx.deals().get(deal.id).await.unwrap().company_id, Some(acme.id));
    assert_eq!(cx.activities().get(note.id).await.unwrap().company_ids, [acme.id], "named once, not twice");
    assert_eq!(cx.orders().get(order.id).await.unwrap().company_id, Some(acme.id));
    assert_eq!(cx.orders().get(other.id).await.unwrap().company_id, Some(globex.id), "others untouched");
    assert!(matches!(co.get(twin.id).await, Err(Error::NotFound { .. })));

    // A contact merge's undo is not a company's.
    let Err(Error::Validation(v)) = cx.contacts().unmerge(done.merge).await else {
        panic!("a contact unmerge of a company merge")
    };
    assert_eq!(v.0[0].field, "merge");
    let back = co.unmerge(done.merge).await.unwrap();
    assert_eq!(back.name, "Acme");
    assert_eq!(store_of(&env).await, before);
}

fn shapes() -> impl Strategy<Value = Shape> {
    (
        2usize..6,
        prop::collection::vec(0u8..4, 6),
        prop::collection::vec(0u8..3, 6),
        prop::collection::vec(prop::collection::vec(0usize..6, 1..4), 0..4),
        prop::collection::vec(0usize..6, 0..4),
        prop::collection::vec((0usize..2, 0usize..6), 0..6),
        prop::collection::vec((0usize..6, 0usize..6), 0..4),
        0usize..6,
        1u8..32,
    )
        .prop_map(|(people, emails, tags, deals, orders, members, relations, survivor, others)| Shape {
            people,
            emails,
            tags,
            deals,
            orders,
            members,
            relations,
            survivor,
            others,
        })
}

async fn build(cx: &Session, s: &Shape) -> Vec<ContactId> {
    let mut ids = Vec::new();
    for i in 0..s.people {
        let mut c = NewContact::new(format!("P{i}"), "Same").email(format!("p{}@example.org", s.emails[i]));
        if s.tags[i] > 0 {
            c = c.tag(format!("t{}", s.tags[i]));
        }
        ids.push(cx.contacts().create(c).await.unwrap().id);
    }
    let at = |i: usize| ids[i % ids.len()];
    for (n, named) in s.deals.iter().enumerate() {
        let mut d = NewDeal::new(format!("D{n}"));
        for &i in named {
            d = d.contact(at(i));
        }
        // A deal naming one person twice is refused; the shape may ask for it.
        let _ = cx.deals().create(d).await;
    }
    for &i in &s.orders {
        cx.orders().create(NewOrder::for_contact(at(i)).currency(crm_core::money::Currency::EUR)).await.unwrap();
    }
    let mut campaigns = Vec::new();
    for name in ["A", "B"] {
        campaigns.push(
            cx.campaigns().create(NewCampaign::new(name, crm_core::model::CampaignChannel::Email)).await.unwrap().id,
        );
    }
    for &(c, i) in &s.members {
        let _ = cx.campaigns().add_contact(campaigns[c], at(i)).await;
    }
    for &(a, b) in &s.relations {
        let (a, b) = (at(a), at(b));
        if a != b {
            let _ = cx.relations().link(a.into_ref(), b.into_ref(), RelationLabel::Knows, None).await;
        }
    }
    ids
}

trait IntoRef {
    fn into_ref(self) -> EntityRef;
}

impl IntoRef for ContactId {
    fn into_ref(self) -> EntityRef {
        EntityRef::new(EntityKind::Contact, self)
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 40, ..Default::default() })]

    #[test]
    fn merge_then_unmerge_is_the_identity_on_the_whole_store(shape in shapes()) {
        futures::executor::block_on(async {
            let env = env();
            let cx = env.cx();
            let ids = build(&cx, &shape).await;
            let survivor = ids[shape.survivor % ids.len()];
            let mut others: Vec<ContactId> =
                (0..ids.len()).filter(|i| shape.others & (1 << i) != 0).map(|i| ids[i]).filter(|&i| i != survivor).collect();
            if others.is_empty() {
                others.push(ids[(shape.survivor + 1) % ids.len()]);
            }
            others.truncate(crm_core::service::MAX_MERGED);
            let before = store_of(&env).await;
            let done = cx.contacts().merge(survivor, &others, &MergeChoices::new()).await.unwrap();
            for gone in &others {
                assert!(cx.contacts().get(*gone).await.is_err(), "merged away");
            }
            assert_eq!(cx.deals().count(&Filter::contains("contact_ids", Uuid::from(others[0]))).await.unwrap(), 0);
            cx.contacts().unmerge(done.merge).await.unwrap();
            assert_eq!(store_of(&env).await, before, "{shape:?}");
        });
    }
}
