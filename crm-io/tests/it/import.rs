use crm_core::error::FieldErrorCode;
use crm_core::prelude::*;
use crm_core::profile::{LeadSource, LifecycleStage, PhoneLabel};
use crm_core::query::Filter;
use crm_core::value::Value;
use crm_io::{ContactColumn, ContactCsv, IoError, Preset};
use rust_decimal::Decimal;

use crate::common::*;

fn field_of(e: &Error) -> (String, FieldErrorCode) {
    let Error::Validation(v) = e else { panic!("not a validation error: {e:?}") };
    (v.0[0].field.clone(), v.0[0].code)
}

#[tokio::test]
async fn a_hubspot_export_as_it_comes_imports_and_bad_rows_come_back_with_their_reason() {
    let env = env().await;
    let cx = env.cx();
    // A BOM, `;` as delimiter, a quoted newline, a ragged row, a row that is not UTF-8, a bad
    // date, an unknown stage, a refused email, and a custom field matched by its label.
    let mut file = b"\xEF\xBB\xBFFirst Name;Last Name;Email;Mobile Phone Number;Lifecycle Stage;Original Source;Date of birth;Budget;Favourite colour\n".to_vec();
    file.extend_from_slice(b"Ada;Lovelace;ada@example.org;(415) 555-2671;Marketing Qualified Lead;Trade Show;1815-12-10;\"1.234,50\";green\n");
    file.extend_from_slice(b"\"Grace\nBrewster\";Hopper;grace@example.org\n");
    file.extend_from_slice(b"Bad;Date;bd@example.org;;;;10th of May\n");
    file.extend_from_slice(b"Odd;Stage;os@example.org;;Hot prospect\n");
    file.extend_from_slice(b"Bro\xFFken;Bytes;bb@example.org\n");
    file.extend_from_slice(b"No;Email;not-an-email\n");
    file.extend_from_slice(b"Alan;Turing;alan@example.org;;customer;;;12\n");

    let mut seen = Vec::new();
    let report = ContactCsv::new()
        .preset(Preset::HubSpot)
        .batch_size(2)
        .run(&cx, file.as_slice(), |p| seen.push((p.rows_read, p.imported)))
        .await
        .unwrap();
    assert_eq!(report.rows_read, 7);
    assert_eq!(report.imported.len(), 3);
    assert_eq!(report.columns[8], ("Favourite colour".to_owned(), ContactColumn::Ignore));
    assert_eq!(report.columns[7], ("Budget".to_owned(), ContactColumn::Custom("budget".into())));
    assert_eq!(seen.last(), Some(&(7, 3)), "progress after each batch");

    let ada = cx.contacts().get(report.imported[0]).await.unwrap();
    assert_eq!((ada.given_name.as_str(), ada.family_name.as_str()), ("Ada", "Lovelace"));
    assert_eq!(ada.emails[0].address.as_str(), "ada@example.org");
    assert_eq!((ada.phones[0].number.as_str(), ada.phones[0].label), ("+14155552671", PhoneLabel::Mobile));
    assert_eq!(ada.lifecycle_stage, LifecycleStage::MarketingQualifiedLead);
    assert_eq!(ada.lead_source, Some(LeadSource::Event));
    assert_eq!(ada.birthday.map(|d| d.to_string()), Some("1815-12-10".into()));
    assert_eq!(ada.custom.get("budget"), Some(&Value::Decimal(Decimal::new(123450, 2))));
    let grace = cx.contacts().get(report.imported[1]).await.unwrap();
    assert_eq!(grace.given_name, "Grace\nBrewster", "a quoted newline stays in its cell");
    let alan = cx.contacts().get(report.imported[2]).await.unwrap();
    assert_eq!(
        (alan.lifecycle_stage, alan.custom.get("budget")),
        (LifecycleStage::Customer, Some(&Value::Decimal(Decimal::new(12, 0))))
    );

    let why: Vec<(usize, u64, (String, FieldErrorCode))> =
        report.rejected.iter().map(|r| (r.row, r.line, field_of(&r.error))).collect();
    assert_eq!(
        why,
        vec![
            (2, 5, ("Date of birth".into(), FieldErrorCode::InvalidFormat)),
            (3, 6, ("Lifecycle Stage".into(), FieldErrorCode::NotAnOption)),
            (4, 7, ("First Name".into(), FieldErrorCode::InvalidFormat)),
            (5, 8, ("emails[0]".into(), FieldErrorCode::InvalidFormat)),
        ]
    );
    assert_eq!(cx.contacts().count(&Filter::All).await.unwrap(), 3, "nothing of a rejected row was written");

    let mut back = Vec::new();
    report.write_rejected(&mut back).unwrap();
    let back = rows(&back);
    assert_eq!(back[0].last().map(String::as_str), Some("reason"));
    assert_eq!(back.len(), 5);
    assert_eq!(&back[1][..3], ["Bad", "Date", "bd@example.org"]);
    assert!(back[1].last().unwrap().contains("10th of May"), "{:?}", back[1]);
    assert_eq!(back[1].len(), 10, "ragged rows are padded to the header");
}

#[tokio::test]
async fn a_salesforce_export_with_us_dates_and_a_mailing_address() {
    let env = env().await;
    let cx = env.cx();
    let file = "Contact ID,First Name,Last Name,Email,Phone,Lead Source,Birthdate,Mailing Street,Mailing City,Mailing State/Province,Mailing Zip/Postal Code,Mailing Country,VIP since\n\
                0035e00000ABC,Linus,Pauling,linus@example.org,415-555-0100,Word of mouth,2/28/1901,1 Main St,Portland,OR,97201,us,1/5/2020\n";
    let report = ContactCsv::new()
        .preset(Preset::Salesforce)
        .date_format("%m/%d/%Y")
        .run(&cx, file.as_bytes(), |_| {})
        .await
        .unwrap();
    assert_eq!(report.rejected.len(), 0, "{:?}", report.rejected);
    let c = cx.contacts().get(report.imported[0]).await.unwrap();
    assert_eq!(c.lead_source, Some(LeadSource::Referral));
    assert_eq!(c.birthday.map(|d| d.to_string()), Some("1901-02-28".into()));
    assert_eq!((c.phones[0].number.as_str(), c.phones[0].label), ("+14155550100", PhoneLabel::Work));
    let a = &c.addresses[0];
    assert_eq!(
        (a.lines.clone(), a.city.as_deref(), a.region.as_deref(), a.postal_code.as_deref(), a.country.as_deref()),
        (vec!["1 Main St".to_owned()], Some("Portland"), Some("OR"), Some("97201"), Some("US"))
    );
    assert_eq!(c.custom.get("vip_since").map(|v| format!("{v:?}")), Some("Date(2020-01-05)".into()));
    assert_eq!(report.columns[0].1, ContactColumn::Ignore, "the vendor's id is not imported");
}

#[tokio::test]
async fn a_pipedrive_full_name_is_split_and_hand_mapping_wins() {
    let env = env().await;
    let cx = env.cx();
    let file = "Person - Name\tPerson - Email - Work\tPerson - Labels\tSpend\n\
                Ada King Lovelace\tada@example.org\tvip|hot\t99.5\n";
    let report = ContactCsv::new()
        .preset(Preset::Pipedrive)
        .map("Spend", ContactColumn::Custom("budget".into()))
        .run(&cx, file.as_bytes(), |_| {})
        .await
        .unwrap();
    let c = cx.contacts().get(report.imported[0]).await.unwrap();
    assert_eq!((c.given_name.as_str(), c.family_name.as_str()), ("Ada King", "Lovelace"));
    assert_eq!(c.tags, vec!["vip".to_owned(), "hot".to_owned()]);
    assert_eq!(c.custom.get("budget"), Some(&Value::Decimal(Decimal::new(995, 1))));
}

#[tokio::test]
async fn a_dry_run_shows_every_problem_and_writes_nothing() {
    let env = env().await;
    let cx = env.cx();
    let file =
        "Name,E-mail,Birthday\nAda Lovelace,ada@example.org,1815-12-10\nBob Roe,bob@,\nCy Young,cy@example.org,soon\n";
    let preview = ContactCsv::new().preview(&cx, file.as_bytes(), 10).await.unwrap();
    assert_eq!(
        preview.columns.iter().map(|(_, c)| c.clone()).collect::<Vec<_>>(),
        vec![ContactColumn::FullName, ContactColumn::Email, ContactColumn::Birthday]
    );
    assert_eq!(preview.rows.len(), 3);
    let ada = preview.rows[0].1.as_ref().unwrap();
    assert_eq!((ada.given_name.as_str(), ada.emails[0].0.as_str()), ("Ada", "ada@example.org"));
    assert_eq!(field_of(preview.rows[1].1.as_ref().unwrap_err()).0, "emails[0]", "the CRM's own check");
    assert_eq!(field_of(preview.rows[2].1.as_ref().unwrap_err()).0, "Birthday");
    assert_eq!(cx.contacts().count(&Filter::All).await.unwrap(), 0);
}

#[tokio::test]
async fn resuming_skips_the_rows_already_read() {
    let env = env().await;
    let cx = env.cx();
    let file = "given_name,family_name\nA,One\nB,Two\nC,Three\n";
    let first = ContactCsv::new().run(&cx, "given_name,family_name\nA,One\n".as_bytes(), |_| {}).await.unwrap();
    let rest = ContactCsv::new().resume_at(first.rows_read).run(&cx, file.as_bytes(), |_| {}).await.unwrap();
    assert_eq!(rest.rows_read, 2);
    let names: Vec<String> =
        cx.contacts().list(&Default::default()).await.unwrap().items.into_iter().map(|c| c.family_name).collect();
    assert_eq!(names, ["One", "Two", "Three"]);
}

#[tokio::test]
async fn a_mapping_that_cannot_work_is_refused_before_anything_is_read() {
    let env = env().await;
    let cx = env.cx();
    let file = "Vorname,Nachname\nAda,Lovelace\n";
    let err = ContactCsv::new().run(&cx, file.as_bytes(), |_| {}).await.unwrap_err();
    assert!(matches!(&err, IoError::Mapping { reason, .. } if reason.contains("name")), "{err:?}");
    let err =
        ContactCsv::new().map("Name", ContactColumn::FullName).run(&cx, file.as_bytes(), |_| {}).await.unwrap_err();
    assert!(matches!(&err, IoError::Mapping { column, .. } if column == "Name"), "{err:?}");
    let err = ContactCsv::new()
        .map("Vorname", ContactColumn::GivenName)
        .map("Nachname", ContactColumn::Custom("surname".into()))
        .run(&cx, file.as_bytes(), |_| {})
        .await
        .unwrap_err();
    assert!(
        matches!(&err, IoError::Mapping { column, reason } if column == "Nachname" && reason.contains("surname")),
        "{err:?}"
    );
    let ok = ContactCsv::new().map("Vorname", ContactColumn::GivenName).map("Nachname", ContactColumn::FamilyName);
    assert_eq!(ok.run(&cx, file.as_bytes(), |_| {}).await.unwrap().imported.len(), 1);
    assert_eq!(cx.contacts().count(&Filter::All).await.unwrap(), 1, "only the working mapping wrote");
}
