//! Property: contacts exported as CSV and imported into an empty tenant come back equal in
//! every field the file carries.

use crm_core::entity::EntityKind;
use crm_core::model::{FieldDefinition, FieldType};
use crm_core::prelude::*;
use crm_core::profile::{LeadSource, LifecycleStage};
use crm_core::value::Value;
use crm_io::{ContactImport, Export, Table, export_csv};
use proptest::prelude::*;
use rust_decimal::Decimal;

const STAGES: [LifecycleStage; 4] = [
    LifecycleStage::Lead,
    LifecycleStage::MarketingQualifiedLead,
    LifecycleStage::Customer,
    LifecycleStage::Evangelist,
];
const SOURCES: [LeadSource; 3] = [LeadSource::Referral, LeadSource::WalkIn, LeadSource::PaidAds];

#[derive(Clone, Debug)]
struct Person {
    given: String,
    family: String,
    emails: Vec<u8>,
    phone: Option<u16>,
    tags: Vec<String>,
    stage: usize,
    source: Option<usize>,
    birthday: Option<(i32, u32, u32)>,
    budget: Option<(i64, u32)>,
}

fn people() -> impl Strategy<Value = Vec<Person>> {
    let name = "[A-Z][a-zà-ÿ]{1,8}( [A-Z][a-z]{1,6})?|O'[A-Z][a-z]{2,5}|=[A-Z][a-z]{2,5}";
    let person = (
        name,
        name,
        prop::collection::vec(0u8..50, 0..3),
        prop::option::of(0u16..10_000),
        prop::collection::vec("[a-z]{1,6}( [a-z]{1,4})?", 0..3),
        0usize..4,
        prop::option::of(0usize..3),
        prop::option::of((1900i32..2020, 1u32..13, 1u32..29)),
        prop::option::of((-1_000_000i64..1_000_000, 0u32..4)),
    )
        .prop_map(|(given, family, emails, phone, tags, stage, source, birthday, budget)| Person {
            given,
            family,
            emails,
            phone,
            tags,
            stage,
            source,
            birthday,
            budget,
        });
    prop::collection::vec(person, 1..12)
}

fn input(i: usize, p: &Person) -> NewContact {
    let mut c = NewContact::new(&p.given, &p.family).lifecycle_stage(STAGES[p.stage]);
    let mut seen = Vec::new();
    for e in &p.emails {
        if !seen.contains(e) {
            seen.push(*e);
            c = c.email(format!("person{i}.{e}@example.org"));
        }
    }
    if let Some(n) = p.phone {
        c = c.phone(format!("+1 415 555 {n:04}"));
    }
    let mut tags: Vec<&String> = Vec::new();
    for t in &p.tags {
        if !tags.contains(&t) {
            tags.push(t);
            c = c.tag(t.as_str());
        }
    }
    if let Some(s) = p.source {
        c = c.lead_source(SOURCES[s]);
    }
    if let Some((y, m, d)) = p.birthday {
        c = c.birthday(chrono::NaiveDate::from_ymd_opt(y, m, d).unwrap());
    }
    if let Some((n, scale)) = p.budget {
        c = c.custom("budget", Value::Decimal(Decimal::new(n, scale)));
    }
    c
}

/// What the file carries of a contact.
fn carried(c: &Contact) -> impl PartialEq + std::fmt::Debug + use<> {
    (
        c.given_name.clone(),
        c.family_name.clone(),
        c.emails.iter().map(|e| e.address.as_str().to_owned()).collect::<Vec<_>>(),
        c.phones.iter().map(|p| p.number.as_str().to_owned()).collect::<Vec<_>>(),
        c.tags.clone(),
        c.lifecycle_stage,
        c.lead_source,
        c.birthday,
        c.custom.get("budget").cloned(),
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn contacts_exported_and_imported_again_are_equal(people in people()) {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(async {
            let crm = Crm::builder(MemoryStore::new()).default_region("US").build().unwrap();
            let (a, b) = (crm.as_actor(&Actor::system(TenantId::new())), crm.as_actor(&Actor::system(TenantId::new())));
            for cx in [&a, &b] {
                let def = FieldDefinition::new(EntityKind::Contact, "budget", "Budget", FieldType::Decimal);
                cx.custom_fields().define(def).await.unwrap();
            }
            for (i, p) in people.iter().enumerate() {
                a.contacts().create(input(i, p)).await.unwrap();
            }
            let columns = ["given_name", "family_name", "emails", "phones", "tags", "lifecycle_stage", "lead_source", "birthday", "custom.budget"];
            let mut file = Vec::new();
            export_csv::<Contact>(&a, &Export::default().columns(columns), &mut file).await.unwrap();
            let report = ContactImport::new().run(&b, Table::csv(file.as_slice()).unwrap(), |_| {}).await.unwrap();
            assert!(report.rejected.is_empty(), "{:?}\n{}", report.rejected, String::from_utf8_lossy(&file));
            let mine = a.contacts().list(&Query::default().limit(100)).await.unwrap().items;
            let theirs = b.contacts().list(&Query::default().limit(100)).await.unwrap().items;
            let (mine, theirs): (Vec<_>, Vec<_>) = (mine.iter().map(carried).collect(), theirs.iter().map(carried).collect());
            assert_eq!(theirs, mine, "\n{}", String::from_utf8_lossy(&file));
        });
    }
}
