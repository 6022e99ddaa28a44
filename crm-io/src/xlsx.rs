//! Spreadsheets (feature `xlsx`): a sheet of an `.xlsx` workbook read as a [`Table`] with
//! calamine (numbers come as written, `12` or `12.5`, dates as ISO 8601, so the import reads
//! them as it reads CSV cells), and records written as a workbook with rust_xlsxwriter.

use std::io::{Read, Seek, Write};

use calamine::{Data, Range, Reader, Xlsx};
use crm_core::model::{Entity, Record};
use crm_core::service::Session;
use crm_core::value::Value;
use rust_decimal::prelude::ToPrimitive;
use rust_xlsxwriter::{Workbook, XlsxError};

use crate::export::{Export, each_record, is_id};
use crate::table::{Rows, Table};
use crate::{IoError, Result};

impl Table<'static> {
    /// The sheet `sheet` (default: the first) of an `.xlsx` workbook: its first row is the
    /// header. The sheet is read whole (workbooks hold at most 1,048,576 rows a sheet).
    pub fn xlsx(input: impl Read + Seek, sheet: Option<&str>) -> Result<Table<'static>> {
        let bad = |e: calamine::XlsxError| IoError::Xlsx { reason: e.to_string() };
        let mut book: Xlsx<_> = Xlsx::new(input).map_err(bad)?;
        let range = match sheet {
            Some(name) => book.worksheet_range(name).map_err(|e| match e {
                calamine::XlsxError::WorksheetNotFound(_) => {
                    IoError::Option { name: "sheet".into(), reason: format!("the workbook has no sheet `{name}`") }
                }
                other => bad(other),
            })?,
            None => match book.worksheet_range_at(0) {
                Some(r) => r.map_err(bad)?,
                None => return Err(IoError::Xlsx { reason: "the workbook has no sheet".into() }),
            },
        };
        let first_line = u64::from(range.start().map_or(0, |(row, _)| row)) + 1;
        let mut rows = SheetRows { range, next: 0, first_line };
        let headers = match rows.next_row()? {
            Some((_, cells)) => cells.into_iter().map(|h| h.trim().to_owned()).collect(),
            None => Vec::new(),
        };
        Ok(Table { headers, rows: Box::new(rows) })
    }
}

struct SheetRows {
    range: Range<Data>,
    next: usize,
    first_line: u64,
}

impl Rows for SheetRows {
    fn next_row(&mut self) -> Result<Option<(u64, Vec<String>)>> {
        let (height, width) = self.range.get_size();
        if self.next >= height {
            return Ok(None);
        }
        let row = self.next;
        self.next += 1;
        let cells = (0..width).map(|col| self.range.get((row, col)).map_or_else(String::new, text)).collect();
        Ok(Some((self.first_line + row as u64, cells)))
    }
}

/// A cell as the text an import reads.
fn text(cell: &Data) -> String {
    match cell {
        Data::Empty => String::new(),
        Data::String(s) | Data::DateTimeIso(s) | Data::DurationIso(s) => s.clone(),
        Data::Int(i) => i.to_string(),
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", *f as i64),
        Data::Float(f) => f.to_string(),
        Data::Bool(b) => b.to_string(),
        Data::DateTime(d) => match d.as_datetime() {
            Some(t) if t.time() == chrono::NaiveTime::MIN => t.format("%Y-%m-%d").to_string(),
            Some(t) => t.format("%Y-%m-%d %H:%M:%S").to_string(),
            None => d.to_string(),
        },
        // An error cell (`#DIV/0!`) is not a value: the import refuses it like unreadable text.
        Data::Error(e) => format!("\u{fffd}{e}"),
    }
}

/// Records a worksheet holds below its header row.
pub const XLSX_ROWS_PER_SHEET: u32 = 1_048_575;

fn xlsx_error(e: XlsxError) -> IoError {
    IoError::Xlsx { reason: e.to_string() }
}

/// Writes the records of kind `E` that `spec` selects as an `.xlsx` workbook: a header row, then
/// a row a record, in the chosen columns. Whole numbers and decimals a spreadsheet holds
/// exactly are numbers, yes/no are booleans, everything else is text as in the CSV export
/// (money `12.50 EUR`, dates ISO 8601); a text cell is never a formula. Rows go to a temporary
/// file as they are written, so memory stays constant; past [`XLSX_ROWS_PER_SHEET`] records the
/// export continues on another sheet with the same header. Returns how many records were
/// written.
pub async fn export_xlsx<E: Entity>(cx: &Session, spec: &Export, out: impl Write + Send) -> Result<u64> {
    let columns = spec.resolved_columns::<E>(cx).await?;
    let mut book = Workbook::new();
    let mut sheets = 0usize;
    let mut row = XLSX_ROWS_PER_SHEET;
    let n = each_record::<E>(cx, spec, |record| {
        if row == XLSX_ROWS_PER_SHEET {
            let sheet = book.add_worksheet_with_constant_memory().map_err(xlsx_error)?;
            sheets += 1;
            sheet
                .set_name(if sheets == 1 { "Records".to_owned() } else { format!("Records {sheets}") })
                .map_err(xlsx_error)?;
            for (col, c) in columns.iter().enumerate() {
                sheet.write_string(0, col_of(col)?, c.path()).map_err(xlsx_error)?;
            }
            row = 0;
        }
        row += 1;
        let sheet = book.worksheet_from_index(sheets - 1).map_err(xlsx_error)?;
        let id = Value::Id(record.id().into());
        let rec: Record = record.into_record();
        for (col, c) in columns.iter().enumerate() {
            let value = if is_id(c) { id.clone() } else { rec.field(c) };
            write_cell(sheet, row, col_of(col)?, &value)?;
        }
        Ok(())
    })
    .await?;
    if sheets == 0 {
        let sheet = book.add_worksheet().set_name("Records").map_err(xlsx_error)?;
        for (col, c) in columns.iter().enumerate() {
            sheet.write_string(0, col_of(col)?, c.path()).map_err(xlsx_error)?;
        }
    }
    book.save_to_writer(out).map_err(xlsx_error)?;
    Ok(n)
}

fn col_of(i: usize) -> Result<u16> {
    u16::try_from(i).ok().filter(|c| *c < 16_384).ok_or_else(|| IoError::Option {
        name: "columns".into(),
        reason: "a worksheet holds at most 16,384 columns".into(),
    })
}

fn write_cell(sheet: &mut rust_xlsxwriter::Worksheet, row: u32, col: u16, value: &Value) -> Result<()> {
    const EXACT: i64 = 1 << 53;
    let done = match value {
        Value::Null => return Ok(()),
        Value::Bool(b) => sheet.write_boolean(row, col, *b).map(|_| ()),
        Value::Int(i) if (-EXACT..=EXACT).contains(i) => sheet.write_number(row, col, *i as f64).map(|_| ()),
        Value::Decimal(d)
            if d.to_f64().and_then(rust_decimal::Decimal::from_f64_retain).is_some_and(|back| back == *d) =>
        {
            sheet.write_number(row, col, d.to_f64().unwrap_or_default()).map(|_| ())
        }
        other => sheet.write_string(row, col, crate::cell::plain(other)).map(|_| ()),
    };
    done.map_err(xlsx_error)
}
