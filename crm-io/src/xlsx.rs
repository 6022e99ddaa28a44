//! Spreadsheets (feature `xlsx`): a sheet of an `.xlsx` workbook read as a [`Table`] with
//! calamine. Numbers come as written (`12`, `12.5`), dates as ISO 8601, so the import reads
//! them as it reads CSV cells.

use std::io::{Read, Seek};

use calamine::{Data, Range, Reader, Xlsx};

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
