use crm_core::profile::LifecycleStage;
use crm_core::value::Value;
use crm_io::{ContactImport, IoError, Preset, Table};
use rust_decimal::Decimal;
use rust_xlsxwriter::{Format, Workbook};

use crate::common::*;

/// A workbook as a spreadsheet program writes it: text, numbers, a date cell, an empty cell.
fn workbook() -> Vec<u8> {
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    sheet.set_name("Contacts").unwrap();
    for (col, h) in ["First Name", "Last Name", "Email", "Lifecycle Stage", "Budget", "VIP since"].iter().enumerate() {
        sheet.write_string(0, col as u16, *h).unwrap();
    }
    let date = Format::new().set_num_format("yyyy-mm-dd");
    sheet.write_string(1, 0, "Ada").unwrap();
    sheet.write_string(1, 1, "Lovelace").unwrap();
    sheet.write_string(1, 2, "ada@example.org").unwrap();
    sheet.write_string(1, 3, "Customer").unwrap();
    sheet.write_number(1, 4, 1234.5).unwrap();
    sheet.write_number_with_format(1, 5, 43835.0, &date).unwrap(); // 2020-01-05
    sheet.write_string(2, 0, "Bob").unwrap();
    sheet.write_string(2, 1, "Roe").unwrap();
    sheet.write_string(2, 2, "bob@").unwrap();
    sheet.write_number(2, 4, 7.0).unwrap();
    book.save_to_buffer().unwrap()
}

#[tokio::test]
async fn a_workbook_sheet_imports_as_a_csv_file_would() {
    let env = env().await;
    let cx = env.cx();
    let bytes = workbook();
    let table = Table::xlsx(std::io::Cursor::new(bytes.clone()), None).unwrap();
    assert_eq!(table.headers()[4], "Budget");
    let report = ContactImport::new().preset(Preset::HubSpot).run(&cx, table, |_| {}).await.unwrap();
    assert_eq!((report.rows_read, report.imported.len()), (2, 1));
    let ada = cx.contacts().get(report.imported[0]).await.unwrap();
    assert_eq!(ada.lifecycle_stage, LifecycleStage::Customer);
    assert_eq!(ada.custom.get("budget"), Some(&Value::Decimal(Decimal::new(12345, 1))));
    assert_eq!(ada.custom.get("vip_since").map(|v| format!("{v:?}")), Some("Date(2020-01-05)".into()));
    assert_eq!((report.rejected[0].line, report.rejected[0].cells[2].as_str()), (3, "bob@"), "sheet row 3");

    let by_name = Table::xlsx(std::io::Cursor::new(bytes.clone()), Some("Contacts")).unwrap();
    assert_eq!(by_name.headers()[0], "First Name");
    let err = Table::xlsx(std::io::Cursor::new(bytes), Some("Leads")).unwrap_err();
    assert!(matches!(&err, IoError::Option { name, .. } if name == "sheet"), "{err:?}");
    let err = Table::xlsx(std::io::Cursor::new(b"First Name,Last Name\n".to_vec()), None).unwrap_err();
    assert!(matches!(err, IoError::Xlsx { .. }), "{err:?}");
}

#[tokio::test]
async fn records_exported_as_a_workbook_read_back_typed_and_import_again() {
    let env = env().await;
    let cx = env.cx();
    let rows = (0..1500).map(|i| {
        crm_core::service::NewContact::new(format!("P{i}"), if i == 7 { "=SUM(A1)" } else { "Sheet" })
            .email(format!("p{i}@example.org"))
            .custom("budget", Value::Decimal(Decimal::new(i * 25, 2)))
    });
    cx.contacts().import(rows, &Default::default(), |_| {}).await.unwrap();
    let spec = crm_io::Export::new(crm_core::query::Query::default().limit(200)).columns([
        "given_name",
        "family_name",
        "emails",
        "custom.budget",
        "lifecycle_stage",
    ]);
    let mut out = std::io::Cursor::new(Vec::new());
    assert_eq!(crm_io::export_xlsx::<crm_core::model::Contact>(&cx, &spec, &mut out).await.unwrap(), 1500);
    let bytes = out.into_inner();

    let mut book: calamine::Xlsx<_> = calamine::Reader::new(std::io::Cursor::new(bytes.clone())).unwrap();
    let range = calamine::Reader::worksheet_range(&mut book, "Records").unwrap();
    assert_eq!(range.get_size(), (1501, 5));
    assert_eq!(range.get((0, 3)), Some(&calamine::Data::String("custom.budget".into())));
    assert_eq!(range.get((4, 3)), Some(&calamine::Data::Float(0.75)), "decimals are numbers");
    assert_eq!(range.get((8, 1)), Some(&calamine::Data::String("=SUM(A1)".into())), "text, never a formula");
    assert_eq!(range.get((1, 4)), Some(&calamine::Data::String("lead".into())));

    // Into another tenant through the spreadsheet import: the same people.
    let other = env.crm.as_actor(&crm_core::actor::Actor::system(crm_core::ids::TenantId::new()));
    let def = crm_core::model::FieldDefinition::new(
        crm_core::entity::EntityKind::Contact,
        "budget",
        "Budget",
        crm_core::model::FieldType::Decimal,
    );
    other.custom_fields().define(def).await.unwrap();
    let table = Table::xlsx(std::io::Cursor::new(bytes), None).unwrap();
    let report = ContactImport::new().batch_size(500).run(&other, table, |_| {}).await.unwrap();
    assert_eq!((report.imported.len(), report.rejected.len()), (1500, 0));
    let seventh = other.contacts().get(report.imported[7]).await.unwrap();
    assert_eq!(
        (seventh.family_name.as_str(), seventh.custom.get("budget")),
        ("=SUM(A1)", Some(&Value::Decimal(Decimal::new(175, 2))))
    );
}
