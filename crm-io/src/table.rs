//! The files an import reads, as a header and rows of text cells: CSV as it comes (any
//! delimiter, a BOM, another encoding) and, with the `xlsx` feature, a spreadsheet's sheet.

use std::io::{BufRead, BufReader, Read};

use encoding_rs::Encoding;
use encoding_rs_io::DecodeReaderBytesBuilder;

use crate::{IoError, Result};

/// A source of rows: the file's line (or sheet row) of each, from 1, and its cells.
pub(crate) trait Rows: Send {
    fn next_row(&mut self) -> Result<Option<(u64, Vec<String>)>>;
}

/// A file to import: its header row and the rows after it, read one at a time.
pub struct Table<'a> {
    pub(crate) headers: Vec<String>,
    pub(crate) rows: Box<dyn Rows + 'a>,
}

impl std::fmt::Debug for Table<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Table").field("headers", &self.headers).finish_non_exhaustive()
    }
}

impl<'a> Table<'a> {
    /// A CSV file read with the default [`CsvFormat`]: UTF-8 (a BOM is dropped; a UTF-16
    /// BOM is followed), the delimiter guessed.
    pub fn csv(input: impl Read + Send + 'a) -> Result<Table<'a>> {
        CsvFormat::default().open(input)
    }

    /// The column headers, trimmed, in file order.
    pub fn headers(&self) -> &[String] {
        &self.headers
    }
}

/// How a CSV file is written: its delimiter and its encoding.
///
/// ```
/// use crm_io::CsvFormat;
/// let latin1 = "Vorname;Nachname\nJ\u{fc}rgen;M\u{fc}ller\n".chars().map(|c| c as u8).collect::<Vec<u8>>();
/// let table = CsvFormat::default().encoding("windows-1252").open(latin1.as_slice())?;
/// assert_eq!(table.headers(), ["Vorname", "Nachname"]);
/// # Ok::<_, crm_io::IoError>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct CsvFormat {
    delimiter: Option<u8>,
    encoding: Option<String>,
}

impl CsvFormat {
    /// The delimiter (default: `,`, `;` or tab, whichever the header line has most of).
    pub fn delimiter(mut self, delimiter: u8) -> Self {
        self.delimiter = Some(delimiter);
        self
    }
    /// The text encoding, by its WHATWG label (`windows-1252`, `latin1`, `iso-8859-15`,
    /// `shift_jis`, `utf-16le`…). Default UTF-8; a byte-order mark overrides either.
    pub fn encoding(mut self, label: impl Into<String>) -> Self {
        self.encoding = Some(label.into());
        self
    }

    /// Opens `input`: reads its header row.
    pub fn open<'a>(&self, input: impl Read + Send + 'a) -> Result<Table<'a>> {
        let encoding = match &self.encoding {
            None => None,
            Some(label) => Some(Encoding::for_label(label.trim().as_bytes()).ok_or_else(|| IoError::Option {
                name: "encoding".into(),
                reason: format!("`{label}` is not an encoding label (e.g. `windows-1252`, `utf-16le`)"),
            })?),
        };
        let decoded = DecodeReaderBytesBuilder::new().encoding(encoding).bom_override(true).build(input);
        let mut buffered = BufReader::new(decoded);
        // The header line is read whole to guess the delimiter, then handed back to the reader
        // (at most 1 MiB of it: a longer "line" is not a header).
        let mut head = Vec::new();
        (&mut buffered).take(1 << 20).read_until(b'\n', &mut head)?;
        let delimiter = self.delimiter.unwrap_or_else(|| guess_delimiter(&head));
        let source = std::io::Cursor::new(head).chain(buffered);
        let mut reader = csv::ReaderBuilder::new().delimiter(delimiter).flexible(true).from_reader(source);
        let headers = reader.byte_headers()?.iter().map(|h| String::from_utf8_lossy(h).trim().to_owned()).collect();
        Ok(Table { headers, rows: Box::new(CsvRows { reader }) })
    }
}

struct CsvRows<R> {
    reader: csv::Reader<R>,
}

impl<R: Read + Send> Rows for CsvRows<R> {
    /// A row with bytes that are not text in the file's encoding keeps them as U+FFFD, and the
    /// import refuses it naming the cell.
    fn next_row(&mut self) -> Result<Option<(u64, Vec<String>)>> {
        let mut rec = csv::ByteRecord::new();
        if !self.reader.read_byte_record(&mut rec)? {
            return Ok(None);
        }
        let line = rec.position().map_or(0, |p| p.line());
        Ok(Some((line, rec.iter().map(|c| String::from_utf8_lossy(c).into_owned()).collect())))
    }
}

/// `,`, `;` or tab: whichever the first line has most of outside quotes (`,` on a tie).
fn guess_delimiter(head: &[u8]) -> u8 {
    let line = head.split(|b| *b == b'\n').next().unwrap_or(head);
    let mut counts = [0usize; 3];
    let mut quoted = false;
    for b in line {
        match b {
            b'"' => quoted = !quoted,
            b',' if !quoted => counts[0] += 1,
            b';' if !quoted => counts[1] += 1,
            b'\t' if !quoted => counts[2] += 1,
            _ => {}
        }
    }
    let best = (0..3).max_by_key(|&i| (counts[i], std::cmp::Reverse(i))).unwrap_or(0);
    [b',', b';', b'\t'][best]
}
