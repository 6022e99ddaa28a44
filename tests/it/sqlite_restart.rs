//! The embedded default end to end: a CRM on a SQLite file is closed and reopened, and
//! everything — records, rules' results, search, the outbox — is still there.

use crm::prelude::*;
use crm::query::{Filter, Query};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_crm_survives_a_restart() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("crm.db");
    let tenant = TenantId::from_uuid(uuid::Uuid::now_v7());
    let (jane_id, deal_id, events_before) = {
        let crm = crm::sqlite(&path).await.expect("open");
        let cx = crm.as_actor(&Actor::system(tenant));
        let acme = cx
            .companies()
            .create(NewCompany::new("Acme Logistics").domain("acme-logistics.com"))
            .await
            .expect("company");
        let jane = cx
            .contacts()
            .create(
                NewContact::new("Jane", "Cooper").email("jane.cooper@acme-logistics.com").works_at(acme.id, None, None),
            )
            .await
            .expect("contact");
        let deal = cx
            .deals()
            .create(
                NewDeal::new("Fleet tracking")
                    .contact(jane.id)
                    .company(acme.id)
                    .amount(Money::new(Decimal::new(48_000, 0), Currency::USD)),
            )
            .await
            .expect("deal");
        cx.deals().win(deal.id).await.expect("win");
        let events = crm.store().read_events(tenant, &EventQuery::after(0, 1000)).await.expect("events");
        assert!(!events.is_empty());
        (jane.id, deal.id, events)
    };

    let crm = crm::sqlite(&path).await.expect("reopen");
    let cx = crm.as_actor(&Actor::system(tenant));
    let jane = cx.contacts().get(jane_id).await.expect("jane is still there");
    assert_eq!(jane.lifecycle_stage, LifecycleStage::Customer, "the won deal made her a customer, durably");
    assert_eq!(cx.deals().get(deal_id).await.expect("deal").status, DealStatus::Won);
    let customers =
        cx.contacts().list(&Query::new(Filter::eq("lifecycle_stage", LifecycleStage::Customer))).await.expect("list");
    assert_eq!(customers.items.iter().map(|c| c.id).collect::<Vec<_>>(), vec![jane_id]);
    let hits = cx.search("jane acme").await.expect("search");
    assert!(matches!(hits.first(), Some(Record::Contact(c)) if c.id == jane_id), "{hits:?}");
    let events = crm.store().read_events(tenant, &EventQuery::after(0, 1000)).await.expect("events");
    assert_eq!(events, events_before, "the outbox is exactly what was committed");
    // New writes continue the numbering.
    cx.contacts().create(NewContact::new("Omar", "Haddad")).await.expect("create after reopen");
    let more = crm
        .store()
        .read_events(tenant, &EventQuery::after(events_before.last().map(|e| e.seq).unwrap_or(0), 10))
        .await
        .expect("events");
    assert_eq!(more.first().map(|e| e.seq), events_before.last().map(|e| e.seq + 1));
}
