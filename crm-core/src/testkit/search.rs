//! Full-text search: every term a prefix of a word of the record.

use super::*;

/// The records a search must find among `records`: every term a prefix of a token.
pub(super) fn expected_hits(records: &[Record], query: &str) -> BTreeSet<Uuid> {
    let terms = crate::search::terms(query);
    records
        .iter()
        .filter(|r| crate::search::search_text(r).and_then(|t| crate::search::score(&t, &terms)).is_some())
        .map(Record::id)
        .collect()
}

/// Full-text search finds exactly the records in which every term starts a token of their
/// search text (names, e-mails, phones, notes, tags) across contacts, companies and deals, in
/// the caller's tenant only; honours the limit; follows inserts, updates and deletes (also a
/// transaction's own, before commit); treats query syntax of SQL and of search engines as text.
pub async fn search_matches_every_term_as_a_prefix(store: Arc<dyn Store>) {
    let t = tenant();
    let mut jane = contact(t, "Jane", "Cooper");
    jane.job_title = Some("VP Operations".into());
    jane.hobbies = vec!["sailing".into()];
    let mut janet = contact(t, "Janet", "Acker");
    janet.tags = vec!["or".into(), "near".into()];
    let mut omar = contact(t, "Omar", "Haddad");
    omar.family_notes = Some("Two kids; loves 'quoted' \"text\" and AND/OR -minus *star".into());
    let acme = company(t, "Acme Logistics");
    let acmes = company(t, "Acmes Jane Supplies");
    let p = pipeline(t);
    let d = deal(t, &p, "Acme — fleet tracking", None);
    let records: Vec<Record> = records![jane, janet, omar, acme, acmes, p, d];
    put_all(&store, t, records.clone()).await;
    // Another tenant with the same words finds only its own.
    let u = tenant();
    put_all(&store, u, vec![contact(u, "Jane", "Acme").into_record()]).await;

    for q in [
        "jane",
        "JANE",
        "jan",
        "jane acme",
        "acme jane",
        "acme",
        "acm log",
        "cooper vp",
        "sail",
        "fleet",
        "kids quoted",
        "\"text\"",
        "and or",
        "or",
        "near",
        "-minus",
        "*star",
        "star*",
        "NEAR(jane acme)",
        "'; DROP TABLE contacts; --",
        "jane:*",
        "jane & acme | x",
        "zzz",
        "janex",
        "",
    ] {
        let got: BTreeSet<Uuid> = search_ids(&store, t, q, 100).await.into_iter().collect();
        assert_eq!(got, expected_hits(&records, q), "search {q:?}");
    }
    assert!(!search_ids(&store, t, "jane", 100).await.is_empty());
    assert_eq!(search_ids(&store, t, "a", 2).await.len(), 2, "the limit applies");
    assert_eq!(search_ids(&store, u, "jane", 100).await.len(), 1, "tenants are isolated");

    // Updates and deletes reach the index; a transaction sees its own writes.
    let mut jane2 = jane.clone();
    jane2.version = 2;
    jane2.family_name = "Zebulon".into();
    let mut tx = begin(&store, t).await;
    tx.update(jane2.clone().into_record()).await.expect("update");
    tx.delete(EntityKind::Company, acmes.id.as_uuid(), 1).await.expect("delete");
    let terms = crate::search::terms("zebulon");
    let own = tx.search(&crate::search::every(crate::search::SEARCHABLE), &terms, 10).await.expect("search in tx");
    assert_eq!(own.iter().map(Record::id).collect::<Vec<_>>(), vec![jane.id.as_uuid()], "own update is searchable");
    tx.commit().await.expect("commit");
    assert_eq!(search_ids(&store, t, "zebulon", 10).await, vec![jane.id.as_uuid()]);
    assert!(search_ids(&store, t, "cooper", 10).await.is_empty(), "the old name is gone from the index");
    assert!(!search_ids(&store, t, "supplies", 10).await.contains(&acmes.id.as_uuid()), "deleted records are gone");
    // A rolled-back write leaves the index as it was.
    let mut tx = begin(&store, t).await;
    let mut ghost = contact(t, "Ghostly", "Visitor");
    ghost.tags = vec!["phantom".into()];
    tx.insert(ghost.into_record()).await.expect("insert");
    tx.rollback().await.expect("rollback");
    assert!(search_ids(&store, t, "phantom", 10).await.is_empty(), "rolled back inserts are not found");
}

/// A search narrowed per kind (an actor's reach) ranks and limits among the records that match
/// their kind's filter only: records outside it never take a place in the results, however well
/// they match, and a kind whose filter matches nothing contributes nothing.
pub async fn search_is_narrowed_before_the_limit(store: Arc<dyn Store>) {
    let t = tenant();
    let (mine, theirs) = (UserId::new(), UserId::new());
    let mut records = Vec::new();
    for i in 0..12 {
        // The others' records match better (the word twice), so a narrowing after the limit would lose mine.
        let mut c = contact(t, &format!("Zeta{i}"), "Zeta");
        c.owner_id = Some(if i < 4 { mine } else { theirs });
        if i >= 4 {
            c.tags = vec!["zeta".into()];
        }
        records.push(c.into_record());
    }
    let mut acme = company(t, "Zeta Works");
    acme.owner_id = Some(theirs);
    records.push(acme.clone().into_record());
    put_all(&store, t, records).await;
    let terms = crate::search::terms("zeta");
    let mut tx = store.begin(t, TxMode::ReadOnly).await.expect("begin");
    let owned_by = |u: UserId| Filter::is_in("owner_id", [u]);
    let nothing = Filter::Not(Box::new(Filter::All));
    for limit in [2, 3, 4, 50] {
        let kinds = [(EntityKind::Contact, owned_by(mine)), (EntityKind::Company, nothing.clone())];
        let hits = tx.search(&kinds, &terms, limit).await.expect("search");
        assert_eq!(hits.len(), limit.min(4), "limit {limit}: as many as the reach holds");
        assert!(hits.iter().all(|r| r.owner() == Some(mine)), "limit {limit}: {hits:?}");
    }
    // Kinds with and without filters side by side.
    let kinds = [(EntityKind::Contact, owned_by(mine)), (EntityKind::Company, Filter::All)];
    let hits: BTreeSet<Uuid> = tx.search(&kinds, &terms, 50).await.expect("search").iter().map(Record::id).collect();
    assert_eq!(hits.len(), 5);
    assert!(hits.contains(&acme.id.as_uuid()));
}
