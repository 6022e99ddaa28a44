//! Sealed fields on a real SQLite file: the bytes of the file and its WAL never hold a sealed
//! value, and equality filters on sealed fields run in SQL through their blind index.

use chrono::NaiveDate;
use crm_core::model::{FieldDefinition, FieldType};
use crm_core::prelude::*;
use crm_core::seal::Keyring;
use crm_core::service::CrmBuilder;
use crm_storage::SqlStore;

fn bytes(path: &std::path::Path) -> Vec<u8> {
    let mut out = std::fs::read(path).unwrap();
    if let Ok(w) = std::fs::read(path.with_extension("db-wal")) {
        out.extend(w);
    }
    out
}

fn holds(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[tokio::test]
async fn sealed_fields_never_reach_the_sqlite_file_and_still_filter() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crm.db");
    let store = SqlStore::sqlite(&path).await.unwrap();
    let crm = CrmBuilder::from_arc(std::sync::Arc::new(store)).seal(Keyring::new(7, [7u8; 32])).build().unwrap();
    let cx = crm.as_actor(&Actor::system(TenantId::new()));
    cx.custom_fields()
        .define(FieldDefinition::new(EntityKind::Contact, "salary", "Salary", FieldType::Text).sensitive())
        .await
        .unwrap();
    let born = NaiveDate::from_ymd_opt(1815, 12, 10).unwrap();
    let ada = cx
        .contacts()
        .create(
            NewContact::new("Ada", "Lovelace")
                .birthday(born)
                .family_notes("Obadiah the cat")
                .custom("salary", "Zanzibar-band"),
        )
        .await
        .unwrap();
    let mut edit = cx.contacts().get(ada.id).await.unwrap();
    edit.family_notes = Some("Quillon the parrot".into());
    cx.contacts().update(edit).await.unwrap();
    cx.contacts().create(NewContact::new("Bob", "Plain")).await.unwrap();

    let raw = bytes(&path);
    assert!(holds(&raw, "Lovelace"), "the scan sees what is stored in the clear");
    for secret in ["Obadiah", "Quillon", "Zanzibar", "1815-12-10"] {
        assert!(!holds(&raw, secret), "`{secret}` reached the file or its WAL");
    }
    let got = cx.contacts().get(ada.id).await.unwrap();
    assert_eq!(got.family_notes.as_deref(), Some("Quillon the parrot"));
    let f = Filter::eq("birthday", born).and(Filter::eq("custom.salary", "Zanzibar-band"));
    let page = cx.contacts().list(&Query::new(f)).await.unwrap();
    assert_eq!(page.items.iter().map(|c| c.id).collect::<Vec<_>>(), [ada.id]);
    assert_eq!(cx.contacts().count(&Filter::is_null("custom.salary")).await.unwrap(), 1);
}
