//! The event chain on a real SQLite file: edits made behind the library's back — a changed
//! event, a removed one, an inserted one, a truncated end, a chain recomputed from the edit on —
//! are each found by `verify_events`, where they are.

use crm_core::chain::{self, ChainFault, ChainReport};
use crm_core::prelude::*;
use crm_core::store::Store;
use crm_storage::SqlStore;
use rusqlite::{Connection, params};

/// A SQLite file with some history: contacts created and updated by the system.
async fn history(path: &std::path::Path, t: TenantId) -> SqlStore {
    let store = SqlStore::sqlite(path).await.expect("open");
    let cx = Crm::new(store.clone()).as_actor(&Actor::system(t));
    for name in ["Ada", "Bea", "Cy"] {
        let mut c = cx.contacts().create(NewContact::new(name, "Chain")).await.unwrap();
        c.job_title = Some(format!("{name}'s title"));
        cx.contacts().update(c).await.unwrap();
    }
    store
}

async fn verify(store: &SqlStore, t: TenantId) -> ChainReport {
    store.verify_events(t).await.expect("verify")
}

fn tenant_blob(t: TenantId) -> Vec<u8> {
    t.as_uuid().as_bytes().to_vec()
}

#[tokio::test]
async fn edits_behind_the_library_s_back_are_found_where_they_are() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crm.db");
    let t = TenantId::new();
    let store = history(&path, t).await;
    let intact = verify(&store, t).await;
    assert!(intact.is_intact(), "{:?}", intact.faults);
    assert_eq!(intact.events, 6);
    let head = intact.head.clone().unwrap();

    let db = Connection::open(&path).unwrap();
    let tb = tenant_blob(t);
    let text = |seq: i64| -> String {
        db.query_row("SELECT data FROM crm_events WHERE tenant_id = ?1 AND seq = ?2", params![tb, seq], |r| r.get(0))
            .unwrap()
    };
    // An event's text edited (a name in an update rewritten).
    let original = text(2);
    let forged = original.replace("Ada's title", "Eve's title");
    assert_ne!(forged, original);
    db.execute("UPDATE crm_events SET data = ?1 WHERE tenant_id = ?2 AND seq = 2", params![forged, tb]).unwrap();
    assert_eq!(verify(&store, t).await.faults, [ChainFault::Edited { seq: 2 }]);

    // The same edit with the digest recomputed too: the link no longer follows.
    db.execute(
        "UPDATE crm_events SET digest = ?1 WHERE tenant_id = ?2 AND seq = 2",
        params![chain::digest(&forged), tb],
    )
    .unwrap();
    assert_eq!(verify(&store, t).await.faults, [ChainFault::Unlinked { seq: 2 }]);

    // And with every link after it recomputed: intact on its own, but not through the head kept.
    let mut prev: String = db
        .query_row("SELECT hash FROM crm_events WHERE tenant_id = ?1 AND seq = 1", params![tb], |r| r.get(0))
        .unwrap();
    for seq in 2..=6_i64 {
        let d = chain::digest(&text(seq));
        prev = chain::link(&prev, seq as u64, &d);
        db.execute(
            "UPDATE crm_events SET digest = ?1, hash = ?2 WHERE tenant_id = ?3 AND seq = ?4",
            params![d, prev, tb, seq],
        )
        .unwrap();
    }
    db.execute("UPDATE crm_tenants SET last_hash = ?1 WHERE tenant_id = ?2", params![prev, tb]).unwrap();
    let rewritten = verify(&store, t).await;
    assert!(rewritten.is_intact(), "{:?}", rewritten.faults);
    assert!(!rewritten.confirms(&head), "the head kept elsewhere exposes the rewrite");

    // A removed event in the middle, and then the last one.
    db.execute("DELETE FROM crm_events WHERE tenant_id = ?1 AND seq = 4", params![tb]).unwrap();
    assert_eq!(
        verify(&store, t).await.faults,
        [ChainFault::Missing { from: 4, to: 4 }, ChainFault::Unlinked { seq: 5 }]
    );
    db.execute("DELETE FROM crm_events WHERE tenant_id = ?1 AND seq = 6", params![tb]).unwrap();
    let faults = verify(&store, t).await.faults;
    assert_eq!(faults[2], ChainFault::Missing { from: 6, to: 6 });
    assert!(
        matches!(&faults[3], ChainFault::Head { kept: Some(k), walked: Some(w) } if k.seq == 6 && w.seq == 5),
        "{faults:?}"
    );

    // The library keeps writing after the head it keeps; other tenants are untouched.
    let other = TenantId::new();
    let _ = history(&path, other).await;
    assert!(verify(&store, other).await.is_intact());
}
