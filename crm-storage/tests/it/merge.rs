//! Merging contacts and undoing it on the SQL stores: the references found by SQL filters
//! (list elements, custom reference values, relation ends, sync links) move, and come back.

use crm_core::entity::EntityKind;
use crm_core::model::{FieldDefinition, FieldType, RelationLabel};
use crm_core::prelude::*;
use crm_core::service::{LinkInput, MergeChoices};
use crm_core::value::Value;
use crm_storage::SqlStore;

async fn merge_and_undo(store: SqlStore) {
    let crm = Crm::new(store);
    let cx = crm.as_actor(&Actor::system(TenantId::new()));
    let referrer = FieldType::Reference { to: EntityKind::Contact };
    cx.custom_fields()
        .define(FieldDefinition::new(EntityKind::Contact, "referred_by", "Referred by", referrer))
        .await
        .unwrap();
    let c = cx.contacts();
    let ann = c.create(NewContact::new("Ann", "Lee").email("ann@example.org")).await.unwrap();
    let twin = c.create(NewContact::new("Anne", "Lee").email("anne@example.org").tag("vip")).await.unwrap();
    let fan = c.create(NewContact::new("Fan", "Club").custom("referred_by", Value::Id(twin.id.into()))).await.unwrap();
    let deal = cx.deals().create(NewDeal::new("Deal").contact(twin.id).contact(ann.id)).await.unwrap();
    cx.relations().link(fan.entity_ref(), twin.entity_ref(), RelationLabel::Knows, None).await.unwrap();
    cx.sync().put_link(LinkInput::new("xero:t", twin.entity_ref(), "Contact", "x-9")).await.unwrap();

    let done = c.merge(ann.id, &[twin.id], &MergeChoices::new()).await.unwrap();
    assert_eq!(done.moved, 4);
    assert_eq!(done.survivor.tags, ["vip"]);
    assert_eq!(cx.deals().get(deal.id).await.unwrap().contact_ids, [ann.id]);
    let fan_now = c.get(fan.id).await.unwrap();
    assert_eq!(fan_now.custom.get("referred_by"), Some(&Value::Id(ann.id.into())));
    let rel = &cx.relations().list(&Query::default()).await.unwrap().items[0];
    assert_eq!(rel.to, ann.entity_ref());
    assert_eq!(cx.sync().link_for_remote("xero:t", "Contact", "x-9").await.unwrap().unwrap().local, ann.entity_ref());
    assert!(matches!(c.get(twin.id).await, Err(Error::NotFound { .. })));

    c.unmerge(done.merge).await.unwrap();
    let back = c.get(twin.id).await.unwrap();
    assert_eq!((back.given_name.as_str(), back.tags.clone()), ("Anne", vec!["vip".to_owned()]));
    assert_eq!(c.get(ann.id).await.unwrap().tags, Vec::<String>::new());
    assert_eq!(cx.deals().get(deal.id).await.unwrap().contact_ids, [twin.id, ann.id]);
    assert_eq!(c.get(fan.id).await.unwrap().custom.get("referred_by"), Some(&Value::Id(twin.id.into())));
    assert_eq!(cx.sync().link_for_remote("xero:t", "Contact", "x-9").await.unwrap().unwrap().local, twin.entity_ref());
}

#[tokio::test]
async fn sqlite_merges_and_unmerges_contacts() {
    let dir = tempfile::tempdir().expect("temp dir");
    merge_and_undo(SqlStore::sqlite(dir.path().join("crm.db")).await.expect("open")).await;
}

#[cfg(feature = "postgres")]
#[tokio::test]
async fn postgres_merges_and_unmerges_contacts() {
    let url = std::env::var("CRM_PG_URL").expect("CRM_PG_URL must name a PostgreSQL database (see scripts/pg.sh)");
    merge_and_undo(SqlStore::postgres_with(&url, 4).await.expect("connect")).await;
}
