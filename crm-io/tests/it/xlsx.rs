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
