use crm_core::error::FieldErrorCode;
use crm_core::prelude::*;
use crm_core::profile::{LeadSource, LifecycleStage, PhoneLabel};
use crm_core::query::Filter;
use crm_core::value::Value;
use crm_io::{ContactColumn, ContactImport, CsvFormat, IoError, MatchBy, OnDuplicate, OnMatch, Preset, Table};
use crm_io::{Export, export_csv};
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
    let report = ContactImport::new()
        .preset(Preset::HubSpot)
        .batch_size(2)
        .run(&cx, Table::csv(file.as_slice()).unwrap(), |p| seen.push((p.rows_read, p.imported)))
        .await
        .unwrap();
    assert_eq!(report.rows_read, 7);
    assert_eq!(report.imported.len(), 3);
    assert_eq!(report.columns[8], ("Favourite colour".to_owned(), ContactColumn::Ignore));
    assert_eq!(report.columns[7], ("Budget".to_owned(), ContactColumn::Custom("budget".into())));
    assert_eq!(report.columns[6], ("Date of birth".to_owned(), ContactColumn::Birthday));
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
    let report = ContactImport::new()
        .preset(Preset::Salesforce)
        .date_format("%m/%d/%Y")
        .run(&cx, Table::csv(file.as_bytes()).unwrap(), |_| {})
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
    assert_eq!(report.columns[0].1, ContactColumn::ExternalId("salesforce".into()));
    assert_eq!((c.external_refs[0].system.as_str(), c.external_refs[0].id.as_str()), ("salesforce", "0035e00000ABC"));
}

#[tokio::test]
async fn a_pipedrive_full_name_is_split_and_hand_mapping_wins() {
    let env = env().await;
    let cx = env.cx();
    let file = "Person - Name\tPerson - Email - Work\tPerson - Labels\tSpend\n\
                Ada King Lovelace\tada@example.org\tvip|hot\t99.5\n";
    let report = ContactImport::new()
        .preset(Preset::Pipedrive)
        .map("Spend", ContactColumn::Custom("budget".into()))
        .run(&cx, Table::csv(file.as_bytes()).unwrap(), |_| {})
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
    let preview = ContactImport::new().preview(&cx, Table::csv(file.as_bytes()).unwrap(), 10).await.unwrap();
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
    let first = ContactImport::new()
        .run(&cx, Table::csv("given_name,family_name\nA,One\n".as_bytes()).unwrap(), |_| {})
        .await
        .unwrap();
    let rest = ContactImport::new()
        .resume_at(first.rows_read)
        .run(&cx, Table::csv(file.as_bytes()).unwrap(), |_| {})
        .await
        .unwrap();
    assert_eq!(rest.rows_read, 3, "counted from the file's first row");
    let names: Vec<String> =
        cx.contacts().list(&Default::default()).await.unwrap().items.into_iter().map(|c| c.family_name).collect();
    assert_eq!(names, ["One", "Two", "Three"]);
}

#[tokio::test]
async fn a_mapping_that_cannot_work_is_refused_before_anything_is_read() {
    let env = env().await;
    let cx = env.cx();
    let file = "Vorname,Nachname\nAda,Lovelace\n";
    let err = ContactImport::new().run(&cx, Table::csv(file.as_bytes()).unwrap(), |_| {}).await.unwrap_err();
    assert!(matches!(&err, IoError::Mapping { reason, .. } if reason.contains("name")), "{err:?}");
    let err = ContactImport::new()
        .map("Name", ContactColumn::FullName)
        .run(&cx, Table::csv(file.as_bytes()).unwrap(), |_| {})
        .await
        .unwrap_err();
    assert!(matches!(&err, IoError::Mapping { column, .. } if column == "Name"), "{err:?}");
    let err = ContactImport::new()
        .map("Vorname", ContactColumn::GivenName)
        .map("Nachname", ContactColumn::Custom("surname".into()))
        .run(&cx, Table::csv(file.as_bytes()).unwrap(), |_| {})
        .await
        .unwrap_err();
    assert!(
        matches!(&err, IoError::Mapping { column, reason } if column == "Nachname" && reason.contains("surname")),
        "{err:?}"
    );
    let ok = ContactImport::new().map("Vorname", ContactColumn::GivenName).map("Nachname", ContactColumn::FamilyName);
    assert_eq!(ok.run(&cx, Table::csv(file.as_bytes()).unwrap(), |_| {}).await.unwrap().imported.len(), 1);
    assert_eq!(cx.contacts().count(&Filter::All).await.unwrap(), 1, "only the working mapping wrote");
}

#[tokio::test]
async fn files_in_other_encodings_are_read_as_their_encoding_says() {
    let env = env().await;
    let cx = env.cx();
    // Windows-1252: ü is one byte (0xFC), € is 0x80.
    let cp1252 = b"Vorname;Nachname;Notes\nJ\xFCrgen;M\xFCller;5 \x80\n".to_vec();
    let latin = CsvFormat::default().encoding("windows-1252").open(cp1252.as_slice()).unwrap();
    let report =
        ContactImport::new().map("Vorname", ContactColumn::GivenName).map("Nachname", ContactColumn::FamilyName);
    let done = report.run(&cx, latin, |_| {}).await.unwrap();
    let c = cx.contacts().get(done.imported[0]).await.unwrap();
    assert_eq!(
        (c.given_name.as_str(), c.family_name.as_str(), c.family_notes.as_deref()),
        ("Jürgen", "Müller", Some("5 €"))
    );

    // The same bytes read as UTF-8 are refused, naming the cell and the way out.
    let as_utf8 = report.run(&cx, Table::csv(cp1252.as_slice()).unwrap(), |_| {}).await.unwrap();
    assert_eq!(as_utf8.imported.len(), 0);
    let (field, code) = field_of(&as_utf8.rejected[0].error);
    assert_eq!((field.as_str(), code), ("Vorname", FieldErrorCode::InvalidFormat));
    assert!(as_utf8.rejected[0].error.to_string().contains("encoding"), "{}", as_utf8.rejected[0].error);

    // UTF-16 with its byte-order mark needs no option.
    let utf16: Vec<u8> = [0xFF, 0xFE]
        .into_iter()
        .chain("given_name\tfamily_name\nZoë\tÅberg\n".encode_utf16().flat_map(u16::to_le_bytes))
        .collect();
    let done = ContactImport::new().run(&cx, Table::csv(utf16.as_slice()).unwrap(), |_| {}).await.unwrap();
    let z = cx.contacts().get(done.imported[0]).await.unwrap();
    assert_eq!((z.given_name.as_str(), z.family_name.as_str()), ("Zoë", "Åberg"));

    let err = CsvFormat::default().encoding("klingon-8").open(cp1252.as_slice()).unwrap_err();
    assert!(matches!(&err, IoError::Option { name, .. } if name == "encoding"), "{err:?}");
}

#[tokio::test]
async fn hostile_files_get_clear_answers_and_nothing_partial() {
    let env = env().await;
    let cx = env.cx();
    let import = ContactImport::new();
    let count = || async { cx.contacts().count(&Filter::All).await.unwrap() };

    // A 10 MB cell, a NUL byte, a formula: each row is refused or kept as text, on its own.
    let mut file = b"given_name,family_name\nBig,".to_vec();
    file.extend(std::iter::repeat_n(b'x', 10 * 1024 * 1024));
    file.extend_from_slice(b"\nNul,Na\x00me\n=SUM(A1:A9),@cmd\nOk,Fine\n");
    let report = import.run(&cx, Table::csv(file.as_slice()).unwrap(), |_| {}).await.unwrap();
    assert_eq!((report.rows_read, report.imported.len()), (4, 2));
    let fields: Vec<String> = report.rejected.iter().map(|r| field_of(&r.error).0).collect();
    assert_eq!(fields, ["family_name", "family_name"]);
    let formula = cx.contacts().get(report.imported[0]).await.unwrap();
    assert_eq!(
        (formula.given_name.as_str(), formula.family_name.as_str()),
        ("=SUM(A1:A9)", "@cmd"),
        "data, kept as text"
    );
    let mut back = Vec::new();
    report.write_rejected(&mut back).unwrap();
    assert!(back.len() > 10 * 1024 * 1024, "the rejected row comes back whole");
    assert_eq!(count().await, 2);

    // 1,000 columns: the two it knows are imported, the others listed as ignored.
    let mut wide = vec!["given_name".to_owned(), "family_name".to_owned()];
    wide.extend((2..1000).map(|i| format!("extra {i}")));
    let mut file = wide.join(",");
    file.push('\n');
    file.push_str(&(0..1000).map(|i| format!("v{i}")).collect::<Vec<_>>().join(","));
    file.push('\n');
    let report = import.run(&cx, Table::csv(file.as_bytes()).unwrap(), |_| {}).await.unwrap();
    assert_eq!((report.columns.len(), report.imported.len()), (1000, 1));
    assert_eq!(report.columns.iter().filter(|(_, c)| *c == ContactColumn::Ignore).count(), 998);

    // An unbalanced quote runs to the end of the file, as CSV says: one row, not a panic.
    let file = "given_name,family_name\nAnn,Lee\nBen,\"Open\nCy,Young\n";
    let report = import.run(&cx, Table::csv(file.as_bytes()).unwrap(), |_| {}).await.unwrap();
    assert_eq!(report.rows_read, 2);
    assert_eq!(report.imported.len() + report.rejected.len(), 2);
    let ann = cx.contacts().get(report.imported[0]).await.unwrap();
    assert_eq!(ann.family_name, "Lee");

    // Binary noise after a header: every row is either imported or refused with a reason, and
    // what is counted as imported is what is stored.
    let mut noise = b"given_name,family_name\n".to_vec();
    noise.extend((0..65_536u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8));
    let before = count().await;
    let r = import.run(&cx, Table::csv(noise.as_slice()).unwrap(), |_| {}).await.unwrap();
    assert!(r.rows_read > 10);
    assert_eq!(r.imported.len() + r.rejected.len(), r.rows_read);
    assert!(r.rejected.iter().all(|x| matches!(x.error, Error::Validation(_))));
    let before = before + r.imported.len() as u64;
    assert_eq!(count().await, before, "exactly the imported rows were written");
}

#[tokio::test]
async fn an_upsert_updates_the_contacts_already_there_instead_of_duplicating_them() {
    let env = env().await;
    let cx = env.cx();
    let ada =
        cx.contacts().create(NewContact::new("Ada", "Lovelace").email("ada@example.org").tag("math")).await.unwrap();
    let file = "Email,First Name,Last Name,Tags,Lifecycle Stage\n\
                ADA@example.org,,King,vip,customer\n\
                new@example.org,New,Person,,\n\
                new@example.org,,,again,\n\
                ada@example.org,,,,subscriber\n";
    let import = ContactImport::new().upsert(MatchBy::Email, OnMatch::Update).batch_size(10);
    let report = import.run(&cx, Table::csv(file.as_bytes()).unwrap(), |_| {}).await.unwrap();
    assert_eq!(report.imported.len(), 1, "only the new person is created");
    assert_eq!(report.updated, vec![ada.id, report.imported[0], ada.id]);
    assert!(report.rejected.is_empty(), "{:?}", report.rejected);
    assert_eq!(cx.contacts().count(&Filter::All).await.unwrap(), 2);
    let ada = cx.contacts().get(ada.id).await.unwrap();
    assert_eq!((ada.given_name.as_str(), ada.family_name.as_str()), ("Ada", "King"), "empty cells change nothing");
    assert_eq!(ada.tags, ["math", "vip"]);
    assert_eq!(ada.lifecycle_stage, LifecycleStage::Customer, "a stage behind is left as stored");
    let new = cx.contacts().get(report.imported[0]).await.unwrap();
    assert_eq!(new.tags, ["again"], "a second row for a contact created by the file updates it");

    // A row naming a contact by its second address finds the one a row of the file created.
    let two = "Email,First Name,Last Name\nx@one.com; x@two.com,Xi,Wu\nX@two.com,,Wu-Li\n";
    let report = import.run(&cx, Table::csv(two.as_bytes()).unwrap(), |_| {}).await.unwrap();
    assert_eq!((report.imported.len(), report.updated.len()), (1, 1));
    assert_eq!(cx.contacts().get(report.imported[0]).await.unwrap().family_name, "Wu-Li");

    // Skip leaves them as they are.
    let skip = ContactImport::new().upsert(MatchBy::Email, OnMatch::Skip);
    let report = skip.run(&cx, Table::csv(file.as_bytes()).unwrap(), |_| {}).await.unwrap();
    assert_eq!((report.imported.len(), report.updated.len(), report.skipped), (0, 0, vec![0, 1, 2, 3]));
    assert_eq!(cx.contacts().get(ada.id).await.unwrap().version, ada.version);
}

#[tokio::test]
async fn an_export_edited_and_imported_again_by_id_updates_the_same_contacts() {
    let env = env().await;
    let cx = env.cx();
    for (g, f) in [("Ann", "Lee"), ("Ben", "Okafor")] {
        cx.contacts().create(NewContact::new(g, f).email(format!("{}@example.org", g.to_lowercase()))).await.unwrap();
    }
    let mut out = Vec::new();
    let spec = Export::default().columns(["id", "given_name", "family_name", "emails", "custom.budget"]);
    export_csv::<Contact>(&cx, &spec, &mut out).await.unwrap();
    let edited = String::from_utf8(out)
        .unwrap()
        .replace("Okafor", "Okafor-Smith")
        .replace("Lee,ann@example.org,", "Lee,ann@example.org,99.5");
    let import = ContactImport::new().map("id", ContactColumn::Id).upsert(MatchBy::Id, OnMatch::Update);
    let report = import.run(&cx, Table::csv(edited.as_bytes()).unwrap(), |_| {}).await.unwrap();
    assert_eq!((report.imported.len(), report.updated.len()), (0, 2), "{:?}", report.rejected);
    let all = cx.contacts().list(&Default::default()).await.unwrap().items;
    assert_eq!(all[1].family_name, "Okafor-Smith");
    assert_eq!(all[0].custom.get("budget"), Some(&Value::Decimal(Decimal::new(995, 1))));
    assert_eq!(all[0].emails.len(), 1, "the same address is not added twice");

    let bad = format!("id,given_name,family_name\nnot-a-uuid,X,Y\n{},Nobody,Here\n", ContactId::new());
    let report = import.run(&cx, Table::csv(bad.as_bytes()).unwrap(), |_| {}).await.unwrap();
    let why: Vec<(String, FieldErrorCode)> = report.rejected.iter().map(|r| field_of(&r.error)).collect();
    assert_eq!(why, [("id".to_owned(), FieldErrorCode::InvalidFormat), ("id".to_owned(), FieldErrorCode::NotFound)]);
    assert_eq!(report.imported.len(), 0, "an unknown id creates nothing");
}

#[tokio::test]
async fn a_tenant_field_named_like_a_standard_header_takes_the_column() {
    let env = env().await;
    let cx = env.cx();
    let def = crm_core::model::FieldDefinition::new(
        crm_core::entity::EntityKind::Contact,
        "region",
        "Sales region",
        crm_core::model::FieldType::Text,
    );
    cx.custom_fields().define(def).await.unwrap();
    let file = "given_name,family_name,Region,City\nAda,Lovelace,EMEA,London\n";
    let report = ContactImport::new().run(&cx, Table::csv(file.as_bytes()).unwrap(), |_| {}).await.unwrap();
    assert_eq!(report.columns[2].1, ContactColumn::Custom("region".into()));
    assert_eq!(report.columns[3].1, ContactColumn::City);
    let ada = cx.contacts().get(report.imported[0]).await.unwrap();
    assert_eq!(ada.custom.get("region"), Some(&Value::Text("EMEA".into())));
    assert_eq!(ada.addresses[0].city.as_deref(), Some("London"));
}

#[tokio::test]
async fn rows_that_may_be_contacts_already_there_are_flagged_or_rejected() {
    let env = env().await;
    let cx = env.cx();
    let john = cx.contacts().create(NewContact::new("John", "Smith").email("john@acme.com")).await.unwrap();
    let file = "First Name,Last Name,Email\nJon,Smith,JOHN@acme.com\nAda,Lovelace,ada@example.org\n";
    let rules = crm_core::service::DuplicateRules::default();

    let warn = ContactImport::new().duplicates(rules.clone(), OnDuplicate::Warn);
    let report = warn.run(&cx, Table::csv(file.as_bytes()).unwrap(), |_| {}).await.unwrap();
    assert_eq!(report.imported.len(), 2);
    assert_eq!(report.possible_duplicates.len(), 1);
    assert_eq!((report.possible_duplicates[0].0, report.possible_duplicates[0].1[0].id), (0, john.id));

    let reject = ContactImport::new().duplicates(rules, OnDuplicate::Reject);
    let report = reject.run(&cx, Table::csv(file.as_bytes()).unwrap(), |_| {}).await.unwrap();
    // Both rows now have a twin: the first is John, the second the Ada the first run created.
    assert_eq!(report.imported.len(), 0);
    assert_eq!(
        report.rejected.iter().map(|r| field_of(&r.error)).collect::<Vec<_>>(),
        vec![
            ("duplicate_of".to_owned(), FieldErrorCode::Duplicate),
            ("duplicate_of".to_owned(), FieldErrorCode::Duplicate)
        ]
    );
    assert_eq!(cx.contacts().count(&Filter::All).await.unwrap(), 3);

    let err = ContactImport::new()
        .duplicates(crm_core::service::DuplicateRules::new(0.5), OnDuplicate::Warn)
        .run(&cx, Table::csv(file.as_bytes()).unwrap(), |_| {})
        .await
        .unwrap_err();
    assert!(matches!(err, IoError::Crm(Error::Validation(_))), "{err:?}");
}

#[tokio::test]
async fn a_file_repeating_a_person_is_caught_within_the_file() {
    let env = env().await;
    let cx = env.cx();
    // Grace twice in one file (one batch): the second row shares her number.
    let file = "First Name,Last Name,Email,Phone
                Grace,Hopper,grace@navy.example,(202) 555-0143
                Alan,Turing,alan@example.org,
                Grace,Hopper,ghopper@home.example,202-555-0143
";
    let rules = crm_core::service::DuplicateRules::default();
    let report = ContactImport::new()
        .duplicates(rules, OnDuplicate::Reject)
        .run(&cx, Table::csv(file.as_bytes()).unwrap(), |_| {})
        .await
        .unwrap();
    assert_eq!((report.imported.len(), report.rejected.len()), (2, 1));
    assert_eq!((report.rejected[0].line, field_of(&report.rejected[0].error).0.as_str()), (4, "duplicate_of"));
    assert!(report.rejected[0].error.to_string().contains(&report.imported[0].to_string()), "names the first Grace");
}

#[tokio::test]
async fn numbers_without_a_country_code_are_read_in_the_rows_country() {
    let env = env().await;
    let cx = env.cx();
    // The CRM's default region is the US; these people are in London and Berlin.
    let file = "First Name,Last Name,Phone,Country,Phone region\n\
                Ada,Lovelace,020 7946 0958,GB,\n\
                Emmy,Noether,030 901820,,DE\n\
                Grace,Hopper,(202) 555-0143,,\n";
    let report = ContactImport::new().run(&cx, Table::csv(file.as_bytes()).unwrap(), |_| {}).await.unwrap();
    assert_eq!(report.rejected.len(), 0, "{:?}", report.rejected);
    let mut numbers = Vec::new();
    for id in &report.imported {
        numbers.push(cx.contacts().get(*id).await.unwrap().phones[0].number.as_str().to_owned());
    }
    assert_eq!(numbers, ["+442079460958", "+4930901820", "+12025550143"]);
}
