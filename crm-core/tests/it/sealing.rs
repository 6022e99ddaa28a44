//! Sensitive fields sealed at rest: what the store holds is ciphertext bound to its record
//! and field, reads and equality filters work as without sealing, the audit trail's values
//! are sealed too, and keys rotate.

use std::sync::Arc;

use chrono::NaiveDate;
use crm_core::model::{FieldDefinition, FieldType};
use crm_core::prelude::*;
use crm_core::seal::Keyring;
use crm_core::service::CrmBuilder;
use crm_core::store::TxMode;

use crate::common::*;

const NOTES: &str = "Obadiah the cat";

fn sealed_crm(store: &Arc<MemoryStore>, keys: Keyring) -> Crm {
    CrmBuilder::from_arc(store.clone()).seal(keys).build().unwrap()
}

async fn raw<E: Entity>(store: &Arc<MemoryStore>, id: E::Id) -> E {
    let mut tx = store.begin(tenant_a(), TxMode::ReadOnly).await.unwrap();
    tx.fetch::<E>(id).await.unwrap().unwrap()
}

async fn setup(cx: &Session) -> Contact {
    cx.custom_fields()
        .define(FieldDefinition::new(EntityKind::Contact, "salary", "Salary", FieldType::Text).sensitive())
        .await
        .unwrap();
    cx.contacts()
        .create(
            NewContact::new("Ada", "Lovelace")
                .birthday(NaiveDate::from_ymd_opt(1815, 12, 10).unwrap())
                .family_notes(NOTES)
                .custom("salary", "B7"),
        )
        .await
        .unwrap()
}

#[tokio::test]
async fn the_store_holds_sealed_values_and_reads_and_filters_see_plain_ones() {
    let store = Arc::new(MemoryStore::new());
    let crm = sealed_crm(&store, Keyring::new(1, [1u8; 32]));
    let cx = crm.as_actor(&Actor::system(tenant_a()));
    let ada = setup(&cx).await;
    let bob = cx.contacts().create(NewContact::new("Bob", "Plain")).await.unwrap();
    assert_eq!(ada.family_notes.as_deref(), Some(NOTES));
    let read = cx.contacts().get(ada.id).await.unwrap();
    assert_eq!((read.birthday, read.family_notes.as_deref()), (ada.birthday, Some(NOTES)));
    assert_eq!(read.custom.get("salary"), Some(&Value::from("B7")));
    assert!(!read.custom.keys().any(|k| k.starts_with('_')), "no sealing keys shown");

    let stored = raw::<Contact>(&store, ada.id).await;
    assert_eq!((stored.birthday, stored.family_notes.as_deref()), (None, None));
    assert!(!stored.custom.contains_key("salary"));
    let text = serde_json::to_string(&stored).unwrap();
    assert!(!text.contains("Obadiah") && !text.contains("\"B7\"") && !text.contains("1815"), "{text}");
    for k in
        ["_sealed.birthday", "_sealed.family_notes", "_sealed.custom.salary", "_blind.birthday", "_blind.custom.salary"]
    {
        assert!(stored.custom.contains_key(k), "{k} in {text}");
    }
    assert!(!stored.custom.contains_key("_blind.family_notes"), "filters cannot name family notes");

    // Equality filters run on the blind index; ordered ones and sorts are refused.
    let ids = |p: Page<Contact>| p.items.into_iter().map(|c| c.id).collect::<Vec<_>>();
    let q = |f: Filter| Query::new(f);
    let born = NaiveDate::from_ymd_opt(1815, 12, 10).unwrap();
    assert_eq!(ids(cx.contacts().list(&q(Filter::eq("birthday", born))).await.unwrap()), [ada.id]);
    assert_eq!(ids(cx.contacts().list(&q(Filter::ne("birthday", born))).await.unwrap()), [bob.id]);
    assert_eq!(ids(cx.contacts().list(&q(Filter::eq("custom.salary", "B7"))).await.unwrap()), [ada.id]);
    assert_eq!(ids(cx.contacts().list(&q(Filter::is_in("custom.salary", ["A1", "B7"]))).await.unwrap()), [ada.id]);
    assert_eq!(ids(cx.contacts().list(&q(Filter::is_null("birthday"))).await.unwrap()), [bob.id]);
    assert_eq!(cx.contacts().count(&Filter::eq("custom.salary", "b7")).await.unwrap(), 0, "exact, as unsealed");
    let err = cx.contacts().list(&q(Filter::gt("birthday", born))).await.unwrap_err();
    assert_field(&err, "filter.birthday", FieldErrorCode::Rule);
    let err = cx.contacts().list(&Query::new(Filter::All).sort_asc("birthday")).await.unwrap_err();
    assert_field(&err, "sort.birthday", FieldErrorCode::Rule);

    // The audit trail: sealed in the store, open through the service.
    let mut edit = read.clone();
    edit.family_notes = Some("Two cats now".into());
    cx.contacts().update(edit).await.unwrap();
    let events = store.read_events(tenant_a(), &EventQuery::after(0, 1000)).await.unwrap();
    let all = serde_json::to_string(&events).unwrap();
    assert!(!all.contains("Obadiah") && !all.contains("Two cats"), "events hold sealed values");
    let trail = cx.audit().history(ada.entity_ref()).await.unwrap();
    let notes = trail.iter().find(|e| e.field == "family_notes").unwrap();
    assert_eq!((notes.old.as_str(), notes.new.as_str()), (Some(NOTES), Some("Two cats now")));
}

#[tokio::test]
async fn a_sealed_value_opens_only_on_its_own_record_and_field_and_with_its_key() {
    let store = Arc::new(MemoryStore::new());
    let crm = sealed_crm(&store, Keyring::new(1, [1u8; 32]));
    let cx = crm.as_actor(&Actor::system(tenant_a()));
    let ada = setup(&cx).await;
    let bob = cx.contacts().create(NewContact::new("Bob", "Plain")).await.unwrap();
    // Ada's sealed notes copied onto Bob, behind the library's back.
    let sealed = raw::<Contact>(&store, ada.id).await.custom["_sealed.family_notes"].clone();
    let mut stolen = raw::<Contact>(&store, bob.id).await;
    stolen.custom.insert("_sealed.family_notes".into(), sealed);
    stolen.version += 1;
    let mut tx = store.begin(tenant_a(), TxMode::ReadWrite).await.unwrap();
    tx.update(stolen.into_record()).await.unwrap();
    tx.commit().await.unwrap();
    assert!(matches!(cx.contacts().get(bob.id).await, Err(Error::Storage(_))), "bound to Ada's record");
    // Without the key that sealed it, nothing opens.
    let other = sealed_crm(&store, Keyring::new(2, [2u8; 32])).as_actor(&Actor::system(tenant_a()));
    assert!(matches!(other.contacts().get(ada.id).await, Err(Error::Storage(_))));
}

#[tokio::test]
async fn keys_rotate_and_reseal_moves_every_record_to_the_sealing_key() {
    let store = Arc::new(MemoryStore::new());
    // Written before sealing was turned on, then under key 1.
    let plain = CrmBuilder::from_arc(store.clone()).build().unwrap();
    let early = plain.as_actor(&Actor::system(tenant_a()));
    let before = early.contacts().create(NewContact::new("Early", "Bird").family_notes("Kept plain")).await.unwrap();
    let one = sealed_crm(&store, Keyring::new(1, [1u8; 32])).as_actor(&Actor::system(tenant_a()));
    let ada = setup(&one).await;
    let key_of = |c: &Contact| match c.custom.get("_sealed.family_notes") {
        Some(Value::Text(t)) => t.split(':').nth(2).map(str::to_owned),
        _ => None,
    };
    assert_eq!(key_of(&raw::<Contact>(&store, ada.id).await).as_deref(), Some("1"));

    let ring = || Keyring::new(2, [2u8; 32]).retired(1, [1u8; 32]).unwrap();
    let crm2 = sealed_crm(&store, ring());
    let two = crm2.as_actor(&Actor::system(tenant_a()));
    assert_eq!(two.contacts().get(ada.id).await.unwrap().family_notes.as_deref(), Some(NOTES), "retired keys open");
    let born = NaiveDate::from_ymd_opt(1815, 12, 10).unwrap();
    assert_eq!(two.contacts().count(&Filter::eq("birthday", born)).await.unwrap(), 1, "old blind indexes match");
    let mut seen = Vec::new();
    let n = crm2.reseal(tenant_a(), |k| seen.push(k)).await.unwrap();
    assert_eq!(n, 2, "Ada (key 1) and Early (plain)");
    assert_eq!(seen.last(), Some(&2));
    assert_eq!(key_of(&raw::<Contact>(&store, ada.id).await).as_deref(), Some("2"));
    assert_eq!(key_of(&raw::<Contact>(&store, before.id).await).as_deref(), Some("2"));
    assert_eq!(crm2.reseal(tenant_a(), |_| {}).await.unwrap(), 0, "nothing left");
    // Key 1 can go: the records open with key 2 alone.
    let only2 = sealed_crm(&store, Keyring::new(2, [2u8; 32])).as_actor(&Actor::system(tenant_a()));
    assert_eq!(only2.contacts().get(ada.id).await.unwrap().family_notes.as_deref(), Some(NOTES));
    assert_eq!(only2.contacts().get(before.id).await.unwrap().family_notes.as_deref(), Some("Kept plain"));
    assert_eq!(only2.contacts().count(&Filter::eq("birthday", born)).await.unwrap(), 1);
    assert!(matches!(plain.reseal(tenant_a(), |_| {}).await, Err(Error::Forbidden(_))));
}
