use std::collections::HashSet;

use crm_core::error::FieldErrorCode;
use crm_core::model::{FieldDefinition, FieldType};
use crm_core::prelude::*;
use crm_core::query::Filter;
use crm_core::value::Value;
use crm_io::{Export, export_csv, export_jsonl};
use rust_decimal::Decimal;

use crate::common::*;

#[tokio::test]
async fn csv_export_filters_sorts_picks_columns_and_neutralises_formulas() {
    let env = env().await;
    let cx = env.cx();
    let mk = |g: &str, f: &str| NewContact::new(g, f);
    cx.contacts()
        .create(mk("Zoe", "Adams").tag("vip").custom("budget", Value::Decimal(Decimal::new(125050, 2))))
        .await
        .unwrap();
    cx.contacts().create(mk("=cmd|' /C calc'!A0", "Brown").tag("vip").tag("press")).await.unwrap();
    cx.contacts().create(mk("Carl", "Clark")).await.unwrap();

    let vips = Query::new(Filter::contains("tags", "vip")).sort_desc("family_name");
    let spec = Export::new(vips).columns(["given_name", "family_name", "tags", "custom.budget"]);
    let mut out = Vec::new();
    assert_eq!(export_csv::<Contact>(&cx, &spec, &mut out).await.unwrap(), 2);
    assert_eq!(
        rows(&out),
        vec![
            vec!["given_name", "family_name", "tags", "custom.budget"],
            vec!["'=cmd|' /C calc'!A0", "Brown", "vip; press", ""],
            vec!["Zoe", "Adams", "vip", "1250.50"],
        ]
    );

    // Default columns: the id, the standard fields, then the kind's custom fields.
    let mut out = Vec::new();
    export_csv::<Contact>(&cx, &Export::new(Query::default().sort_asc("family_name")), &mut out).await.unwrap();
    let all = rows(&out);
    assert_eq!(all[0][0], "id");
    assert!(all[0].contains(&"lifecycle_stage".to_owned()));
    assert_eq!(&all[0][all[0].len() - 2..], ["custom.budget", "custom.vip_since"]);
    assert_eq!(all.len(), 4);
    let ids: Vec<String> = cx
        .contacts()
        .list(&Query::default().sort_asc("family_name"))
        .await
        .unwrap()
        .items
        .iter()
        .map(|c| c.id.to_string())
        .collect();
    assert_eq!(all[1..].iter().map(|r| r[0].clone()).collect::<Vec<_>>(), ids);
}

#[tokio::test]
async fn an_unknown_column_or_filter_field_is_refused_naming_it_and_nothing_is_written() {
    let env = env().await;
    let cx = env.cx();
    cx.contacts().create(NewContact::new("Ada", "Lovelace")).await.unwrap();
    let mut out = Vec::new();
    let err = export_csv::<Contact>(&cx, &Export::default().columns(["given_name", "shoe_size"]), &mut out)
        .await
        .unwrap_err();
    let crm_io::IoError::Crm(Error::Validation(v)) = err else { panic!("{err:?}") };
    assert_eq!((v.0[0].field.as_str(), v.0[0].code), ("columns.shoe_size", FieldErrorCode::UnknownField));
    let err = export_jsonl::<Contact>(&cx, &Export::new(Query::new(Filter::eq("custom.nope", 1))), &mut out)
        .await
        .unwrap_err();
    assert!(matches!(err, crm_io::IoError::Crm(Error::Validation(_))), "{err:?}");
    assert!(out.is_empty(), "nothing written before the check");
}

#[tokio::test]
async fn exports_stream_page_by_page_and_jsonl_gives_back_the_records_exactly() {
    let env = env().await;
    let cx = env.cx();
    let input: Vec<NewContact> = (0..1234)
        .map(|i| {
            NewContact::new(format!("P{i:04}"), "Page")
                .email(format!("p{i}@example.org"))
                .custom("budget", Value::Decimal(Decimal::new(i, 1)))
        })
        .collect();
    let report = cx.contacts().import(input, &Default::default(), |_| {}).await.unwrap();
    assert_eq!(report.imported.len(), 1234);

    let mut out = Vec::new();
    let spec = Export::new(Query::default().limit(100)).columns(["id", "given_name"]);
    assert_eq!(export_csv::<Contact>(&cx, &spec, &mut out).await.unwrap(), 1234);
    let all = rows(&out);
    let ids: Vec<String> = all[1..].iter().map(|r| r[0].clone()).collect();
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 1234, "every record once across 13 pages");
    assert_eq!(ids, report.imported.iter().map(ToString::to_string).collect::<Vec<_>>(), "creation order");

    let mut out = Vec::new();
    assert_eq!(export_jsonl::<Contact>(&cx, &Export::new(Query::default().limit(333)), &mut out).await.unwrap(), 1234);
    let text = String::from_utf8(out).unwrap();
    let back: Vec<Contact> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(back.len(), 1234);
    for c in [&back[0], &back[617], &back[1233]] {
        assert_eq!(c, &cx.contacts().get(c.id).await.unwrap());
    }
}

/// Exports follow the exporter's roles: the `export` permission and the kind's `export` grant,
/// within its reach; the default columns leave out the fields withheld from them, and a column
/// they name that is withheld is refused. A refused export writes nothing.
#[tokio::test]
async fn exports_follow_the_exporter_s_roles_and_withheld_fields() {
    let env = env().await;
    let cx = env.cx();
    cx.custom_fields()
        .define(FieldDefinition::new(EntityKind::Contact, "income", "Income", FieldType::Text).sensitive())
        .await
        .unwrap();
    let user = |name: &str, role: &str| NewUser::new(name, format!("{}@acme.example", name.to_lowercase())).role(role);
    let rep = cx.users().create(user("Ria", "sales_rep")).await.unwrap();
    let marketer = cx.users().create(user("Mo", "marketing")).await.unwrap();
    let manager = cx.users().create(user("Sam", "sales_manager")).await.unwrap();
    cx.contacts().create(NewContact::new("Ann", "Mine").owner(rep.id).custom("income", "high")).await.unwrap();
    cx.contacts()
        .create(NewContact::new("Bob", "Other").birthday(chrono::NaiveDate::from_ymd_opt(1970, 1, 2).unwrap()))
        .await
        .unwrap();
    let as_user = |u: &User| env.crm.as_actor(&Actor::user(env.tenant, u.id));

    let mut out = Vec::new();
    let err = export_csv::<Contact>(&as_user(&rep), &Export::default(), &mut out).await.unwrap_err();
    assert!(matches!(&err, crm_io::IoError::Crm(Error::Forbidden(m)) if m.contains("`export` permission")), "{err:?}");
    assert!(out.is_empty(), "nothing written");
    let err = export_csv::<Deal>(&as_user(&marketer), &Export::default(), &mut out).await.unwrap_err();
    assert!(matches!(&err, crm_io::IoError::Crm(Error::Forbidden(m)) if m.contains("deal")), "{err:?}");
    assert!(out.is_empty(), "nothing written");

    // Marketing exports every contact: the birthday it reads, not the income it may not.
    let n = export_csv::<Contact>(&as_user(&marketer), &Export::new(Query::default().sort_asc("given_name")), &mut out)
        .await
        .unwrap();
    assert_eq!(n, 2);
    let table = rows(&out);
    assert!(
        table[0].contains(&"birthday".to_owned()) && table[0].contains(&"custom.budget".to_owned()),
        "{:?}",
        table[0]
    );
    assert!(!table[0].iter().any(|c| c == "custom.income"), "{:?}", table[0]);
    assert!(!String::from_utf8_lossy(&out).contains("high"));
    let mut named = Vec::new();
    let spec = Export::default().columns(["given_name", "custom.income"]);
    let err = export_csv::<Contact>(&as_user(&marketer), &spec, &mut named).await.unwrap_err();
    assert!(
        matches!(&err, crm_io::IoError::Crm(Error::Validation(v)) if v.0[0].field == "columns.custom.income"),
        "{err:?}"
    );
    assert!(named.is_empty());
    // The manager's export grant reaches every sales record.
    let mut all = Vec::new();
    assert_eq!(export_csv::<Contact>(&as_user(&manager), &Export::default(), &mut all).await.unwrap(), 2);
}

/// In random worlds of users, teams, roles, owned contacts and shares (the conformance kit's),
/// every user's JSON Lines export of contacts holds exactly the contacts the reference lets
/// them export, or is refused when it says so, writing nothing.
#[tokio::test]
async fn exports_agree_with_the_access_reference_in_random_worlds() {
    for seed in [0x5EED_0001_u64, 0xE4B0_47ED, 0x0DD5_BA11, 0x1234_5678] {
        let store: std::sync::Arc<dyn Store> = std::sync::Arc::new(MemoryStore::new());
        let w = crm_core::testkit::access_world(store, seed).await;
        let mut exporting = 0;
        for user in w.users() {
            let cx = w.crm.as_actor(&Actor::user(w.tenant, user));
            let mut out = Vec::new();
            let got = export_jsonl::<Contact>(&cx, &Export::new(Query::default()), &mut out).await;
            match w.exportable(user) {
                None => {
                    assert!(matches!(got, Err(crm_io::IoError::Crm(Error::Forbidden(_)))), "seed {seed:#x}: {got:?}");
                    assert!(out.is_empty(), "a refused export writes nothing");
                }
                Some(want) => {
                    exporting += 1;
                    let n = got.unwrap_or_else(|e| panic!("seed {seed:#x}, user {user}: {e}"));
                    let ids: HashSet<ContactId> = String::from_utf8(out)
                        .unwrap()
                        .lines()
                        .map(|l| serde_json::from_str::<Contact>(l).unwrap().id)
                        .collect();
                    assert_eq!(ids, want.iter().copied().collect::<HashSet<_>>(), "seed {seed:#x}, user {user}");
                    assert_eq!(n as usize, want.len());
                }
            }
        }
        assert!(exporting > 0, "seed {seed:#x}: someone may export");
    }
}
