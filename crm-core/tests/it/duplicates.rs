use crm_core::entity::EntityKind;
use crm_core::error::FieldErrorCode;
use crm_core::model::{FieldDefinition, FieldType};
use crm_core::prelude::*;
use crm_core::service::{DuplicateRules, MatchField, MatchRule};

use crate::common::*;

async fn person(cx: &Session, given: &str, family: &str, email: Option<&str>, phone: Option<&str>) -> ContactId {
    let mut c = NewContact::new(given, family);
    if let Some(e) = email {
        c = c.email(e);
    }
    if let Some(p) = phone {
        c = c.phone(p);
    }
    cx.contacts().create(c).await.unwrap().id
}

#[tokio::test]
async fn the_default_rules_pair_shared_addresses_numbers_and_names_that_sound_alike() {
    let env = env();
    let cx = env.cx();
    let john = person(&cx, "John", "Smith", Some("john@acme.com"), None).await;
    let jon = person(&cx, "Jon", "Smyth", Some("JOHN@acme.com"), None).await;
    let mary = person(&cx, "Mary", "Jones", None, Some("+1 415 555 2671")).await;
    let maria = person(&cx, "Maria", "Quinn", None, Some("(415) 555-2671")).await;
    person(&cx, "Ada", "Lovelace", Some("ada@example.org"), None).await;
    person(&cx, "Alan", "Turing", Some("alan@example.org"), None).await;
    let bob1 = person(&cx, "Bob", "Brown", Some("bob@one.com"), None).await;
    let bob2 = person(&cx, "Bob", "Brown", Some("bob@two.com"), None).await;

    let mut seen = Vec::new();
    let scan = cx.contacts().find_duplicates(&DuplicateRules::default(), |n| seen.push(n)).await.unwrap();
    assert_eq!((scan.contacts, seen.last()), (8, Some(&8)));
    let pairs: Vec<(ContactId, ContactId, Vec<MatchField>)> =
        scan.pairs.iter().map(|p| (p.a, p.b, p.matched.clone())).collect();
    assert_eq!(
        pairs,
        [
            (john, jon, vec![MatchField::Email, MatchField::Name]),
            // The phone agrees, the names do not: one for, one against.
            (mary, maria, vec![MatchField::Phone]),
            (bob1, bob2, vec![MatchField::Name]),
        ]
    );
    assert_eq!(scan.pairs.len(), 3, "{:?}", scan.pairs);
    assert_eq!(scan.pairs[0].score, 1.0);
    assert!(scan.pairs[1..].iter().all(|p| p.score == 0.5), "{:?}", scan.pairs);

    // A stricter threshold keeps only the pair with no evidence against it.
    let strict = DuplicateRules { threshold: 0.6, ..Default::default() };
    let scan = cx.contacts().find_duplicates(&strict, |_| {}).await.unwrap();
    assert_eq!(scan.pairs.iter().map(|p| (p.a, p.b)).collect::<Vec<_>>(), [(john, jon)]);

    // An empty email counted as disagreeing lowers a name-only match below the threshold.
    let blanks = DuplicateRules::new(0.6)
        .rule(MatchRule::exact(MatchField::Email).blanks_disagree())
        .rule(MatchRule::fuzzy(MatchField::Name, 0.9));
    person(&cx, "Grace", "Hopper", None, None).await;
    person(&cx, "Grace", "Hopper", Some("grace@navy.mil"), None).await;
    let scan = cx.contacts().find_duplicates(&blanks, |_| {}).await.unwrap();
    assert!(scan.pairs.iter().all(|p| p.matched != [MatchField::Name]), "{:?}", scan.pairs);
}

#[tokio::test]
async fn custom_fields_weights_and_oversized_blocks() {
    let env = env();
    let cx = env.cx();
    let def = FieldDefinition::new(EntityKind::Contact, "tax_id", "Tax id", FieldType::Text);
    cx.custom_fields().define(def).await.unwrap();
    let a = cx.contacts().create(NewContact::new("Ann", "Lee").custom("tax_id", "DE 123")).await.unwrap();
    let b = cx.contacts().create(NewContact::new("Zed", "Okafor").custom("tax_id", "de 123 ")).await.unwrap();
    let rules = DuplicateRules::new(0.6)
        .rule(MatchRule::exact(MatchField::Custom("tax_id".into())).weight(2.0))
        .rule(MatchRule::fuzzy(MatchField::Name, 0.9));
    let scan = cx.contacts().find_duplicates(&rules, |_| {}).await.unwrap();
    assert_eq!(scan.pairs.len(), 1);
    assert_eq!((scan.pairs[0].a, scan.pairs[0].b), (a.id, b.id));
    assert!((scan.pairs[0].score - 2.0 / 3.0).abs() < 1e-9);

    for g in ["A", "B", "C"] {
        person(&cx, g, "Placeholder", Some("info@shared.com"), None).await;
    }
    let small = DuplicateRules { max_block: 2, ..Default::default() };
    let scan = cx.contacts().find_duplicates(&small, |_| {}).await.unwrap();
    assert!(scan.oversized.contains(&("e:info@shared.com".to_owned(), 3)), "{:?}", scan.oversized);
}

#[tokio::test]
async fn a_new_contact_is_checked_against_the_existing_ones() {
    let env = env();
    let cx = env.cx();
    let john = person(&cx, "John", "Smith", Some("john@acme.com"), Some("+1 415 555 0100")).await;
    person(&cx, "Ada", "Lovelace", None, None).await;
    let rules = DuplicateRules::default();
    let by_phone =
        cx.contacts().duplicates_of(&NewContact::new("J.", "Doe").phone("(415) 555-0100"), &rules).await.unwrap();
    assert_eq!(by_phone.iter().map(|c| c.id).collect::<Vec<_>>(), [john]);
    assert_eq!(by_phone[0].matched, [MatchField::Phone]);
    let by_name = cx.contacts().duplicates_of(&NewContact::new("Jon", "Smithe"), &rules).await.unwrap();
    assert_eq!((by_name.len(), by_name[0].id, by_name[0].score), (1, john, 1.0));
    let nobody = cx.contacts().duplicates_of(&NewContact::new("Grace", "Hopper"), &rules).await.unwrap();
    assert!(nobody.is_empty());
}

#[tokio::test]
async fn rules_that_cannot_score_are_refused_naming_the_field() {
    let env = env();
    let cx = env.cx();
    let err = cx.contacts().find_duplicates(&DuplicateRules::new(0.0), |_| {}).await.unwrap_err();
    let Error::Validation(v) = err else { panic!("{err:?}") };
    let fields: Vec<(&str, FieldErrorCode)> = v.0.iter().map(|e| (e.field.as_str(), e.code)).collect();
    assert_eq!(fields, [("rules", FieldErrorCode::OutOfRange), ("threshold", FieldErrorCode::OutOfRange)]);
    let bad = DuplicateRules::new(0.5).rule(MatchRule::fuzzy(MatchField::Name, 1.5).weight(-1.0));
    let err = cx.contacts().duplicates_of(&NewContact::new("A", "B"), &bad).await.unwrap_err();
    let Error::Validation(v) = err else { panic!("{err:?}") };
    let fields: Vec<&str> = v.0.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(fields, ["rules[0].weight", "rules[0].min_similarity"]);
}

#[tokio::test]
async fn a_crm_that_blocks_duplicates_refuses_to_create_one_and_says_which() {
    let env = env_with(|b| b.block_duplicates(DuplicateRules::default()));
    let cx = env.cx();
    let john = person(&cx, "John", "Smith", Some("john@acme.com"), None).await;
    let again = NewContact::new("Jon", "Smith").email("JOHN@acme.com");
    let err = env.refused(cx.contacts().create(again.clone())).await;
    assert_only_field(&err, "duplicate_of", FieldErrorCode::Duplicate);
    assert!(err.to_string().contains(&john.to_string()), "{err}");
    assert!(cx.contacts().check(again).await.is_err(), "the dry check says so too");
    assert_eq!(cx.contacts().count(&Filter::All).await.unwrap(), 1);
    person(&cx, "Ada", "Lovelace", Some("ada@example.org"), None).await;

    let bad = Crm::builder(MemoryStore::new()).block_duplicates(DuplicateRules::new(2.0)).build().unwrap_err();
    let Error::Validation(v) = bad else { panic!("{bad:?}") };
    let fields: Vec<&str> = v.0.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(fields, ["block_duplicates.rules", "block_duplicates.threshold"]);
}
