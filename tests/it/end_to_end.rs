//! Cross-crate scenarios through the `crm` facade.

use std::sync::Arc;

use crm::model::{FieldDefinition, FieldType};
use crm::prelude::*;
use crm::query::{Filter, Query};
use crm::service::CrmBuilder;
use crm::store::TxMode;

fn eur(n: i64) -> Money {
    Money::new(Decimal::from(n), Currency::EUR)
}

/// An outbox consumer that crashes half-way resumes from its last `seq` and sees every event
/// exactly once, in commit order, across a restart of the CRM over the same store.
#[tokio::test]
async fn outbox_consumer_resumes_after_a_crash() {
    let store = MemoryStore::new();
    let tenant = TenantId::from_uuid(uuid::Uuid::now_v7());
    let crm = Crm::new(store.clone());
    let cx = crm.as_actor(&Actor::system(tenant));
    let ada = cx.contacts().create(NewContact::new("Ada", "Lovelace").email("ada@example.com")).await.unwrap();
    let deal = cx.deals().create(NewDeal::new("Engine").contact(ada.id).amount(eur(5_000))).await.unwrap();

    // The consumer reads two events, "crashes", and remembers only its cursor.
    let first = cx.events(&EventQuery::after(0, 2)).await.unwrap();
    assert_eq!(first.len(), 2);
    let cursor = first.last().unwrap().seq;

    // More work happens while it is down, through a new CRM instance over the same data.
    let crm2 = Crm::new(store.clone());
    let cx2 = crm2.as_actor(&Actor::system(tenant));
    cx2.deals().win(deal.id).await.unwrap();

    let rest = cx2.events(&EventQuery::after(cursor, 1000)).await.unwrap();
    let all = cx2.events(&EventQuery::after(0, 1000)).await.unwrap();
    let mut replayed = first.clone();
    replayed.extend(rest);
    assert_eq!(replayed, all, "nothing missed, nothing twice");
    assert!(all.iter().any(|e| e.event.change == Change::DealWon));
    assert!(
        all.iter().any(|e| matches!(e.event.change, Change::LifecycleChanged { to: LifecycleStage::Customer, .. }))
    );
}

/// A tenant's custom fields, filters and the holistic contact view work end to end, and a second
/// tenant sees none of it.
#[tokio::test]
async fn custom_fields_and_tenants_end_to_end() {
    let crm = Crm::builder(MemoryStore::new()).default_region("DE").build().unwrap();
    let (t1, t2) = (TenantId::from_uuid(uuid::Uuid::now_v7()), TenantId::from_uuid(uuid::Uuid::now_v7()));
    let cx = crm.as_actor(&Actor::system(t1));
    let other = crm.as_actor(&Actor::system(t2));
    cx.custom_fields()
        .define(FieldDefinition::new(EntityKind::Contact, "budget", "Budget", FieldType::Money))
        .await
        .unwrap();
    let hans = cx
        .contacts()
        .create(NewContact::new("Hans", "Müller").phone("030 901820").custom("budget", eur(250_000)))
        .await
        .unwrap();
    assert_eq!(hans.primary_phone().unwrap().as_str(), "+4930901820", "national number read in the default region");
    cx.contacts().create(NewContact::new("Petra", "Schmidt").custom("budget", eur(10_000))).await.unwrap();

    let rich = cx
        .contacts()
        .list(&Query::new(Filter::gte("custom.budget", 100_000)).sort_desc("custom.budget"))
        .await
        .unwrap();
    assert_eq!(rich.items.iter().map(|c| c.given_name.as_str()).collect::<Vec<_>>(), ["Hans"]);

    // Tenant 2 has no such field and no such contacts.
    let err = other.contacts().list(&Query::new(Filter::gte("custom.budget", 1))).await.unwrap_err();
    assert!(err.names_field("filter.custom.budget"), "{err}");
    assert!(matches!(other.contacts().get(hans.id).await, Err(Error::NotFound { .. })));
    assert_eq!(other.contacts().count(&Filter::All).await.unwrap(), 0);
    let err = other.deals().create(NewDeal::new("Steal").contact(hans.id)).await.unwrap_err();
    assert!(err.names_field("contact_ids[0]"), "{err}");

    // The facade accepts any store behind an Arc.
    let shared: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let crm3 = CrmBuilder::from_arc(shared.clone()).build().unwrap();
    crm3.as_actor(&Actor::system(t1)).contacts().create(NewContact::new("Solo", "")).await.unwrap();
    let mut tx = shared.begin(t1, TxMode::ReadOnly).await.unwrap();
    assert_eq!(tx.count(EntityKind::Contact, &Filter::All).await.unwrap(), 1);
}
