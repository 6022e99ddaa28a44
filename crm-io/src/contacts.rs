//! Contacts from a CSV file: columns mapped, cells read as typed values, rows written through
//! the typed bulk import (same rules, events and search), refused rows reported with why.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};

use crm_core::entity::EntityKind;
use crm_core::error::{Error, FieldErrorCode};
use crm_core::ids::ContactId;
use crm_core::model::FieldType;
use crm_core::profile::{Address, LeadSource, LifecycleStage};
use crm_core::service::{ImportOptions, ImportProgress, NewContact, Session};

use crate::coerce;
use crate::mapping::{ContactColumn, Preset, normalised, obvious};
use crate::{IoError, Result};

/// Lead-source labels other CRMs use, as this library names them.
const LEAD_SOURCES: &[(&str, &str)] = &[
    ("web", "website"),
    ("trade_show", "event"),
    ("seminar", "event"),
    ("word_of_mouth", "referral"),
    ("employee_referral", "referral"),
    ("external_referral", "referral"),
    ("partner_referral", "partner"),
    ("advertisement", "paid_ads"),
    ("paid_search", "paid_ads"),
    ("purchased_list", "import"),
    ("offline_sources", "other"),
    ("direct_traffic", "website"),
    ("email_marketing", "email_campaign"),
    ("social_media", "social_media"),
    ("cold_call", "cold_outreach"),
];

/// Lifecycle labels other CRMs use.
const STAGES: &[(&str, &str)] = &[
    ("mql", "marketing_qualified_lead"),
    ("sql", "sales_qualified_lead"),
    ("marketingqualifiedlead", "marketing_qualified_lead"),
];

/// How a contacts file is read: the column mapping, date formats, batch size.
///
/// A column is mapped, first match wins, by [`map`](Self::map), by the [`Preset`], by an
/// obvious header (`First name`, `E-mail`, `Surname`, `ZIP`…), or by the key or label of a
/// contact custom field; other columns are not imported (the [`Preview`] lists them).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> crm_io::Result<()> {
/// use crm_core::prelude::*;
/// use crm_io::{ContactCsv, Preset};
/// let crm = Crm::builder(MemoryStore::new()).default_region("US").build()?;
/// let cx = crm.as_actor(&Actor::system(TenantId::new()));
/// let file = "First Name,Last Name,Email,Phone Number,Lifecycle Stage\n\
///             Ada,Lovelace,ada@example.org,(415) 555-2671,Marketing Qualified Lead\n\
///             Bob,,not-an-email,,\n";
/// let report = ContactCsv::new().preset(Preset::HubSpot).run(&cx, file.as_bytes(), |_| {}).await?;
/// assert_eq!((report.imported.len(), report.rejected.len()), (1, 1));
/// let ada = cx.contacts().get(report.imported[0]).await?;
/// assert_eq!(ada.lifecycle_stage, LifecycleStage::MarketingQualifiedLead);
/// assert_eq!(report.rejected[0].line, 3);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, Default)]
pub struct ContactCsv {
    preset: Option<Preset>,
    mapping: Vec<(String, ContactColumn)>,
    date_formats: Vec<String>,
    delimiter: Option<u8>,
    batch_size: Option<usize>,
    resume_at: usize,
}

/// A row the import did not write, and why.
#[derive(Debug)]
pub struct RejectedRow {
    /// The row's number among the data rows, from 0.
    pub row: usize,
    /// Its line in the file, from 1 (the header is line 1).
    pub line: u64,
    /// Its cells as read.
    pub cells: Vec<String>,
    /// Why: a cell that could not be read (naming its column) or the CRM's refusal.
    pub error: Error,
}

/// What a contacts import did.
#[derive(Debug, Default)]
pub struct CsvImportReport {
    /// How each column was mapped, in file order.
    pub columns: Vec<(String, ContactColumn)>,
    /// The contacts written, in file order.
    pub imported: Vec<ContactId>,
    /// The rows not written, in file order.
    pub rejected: Vec<RejectedRow>,
    /// Data rows read (from [`resume_at`](ContactCsv::resume_at) on).
    pub rows_read: usize,
}

impl CsvImportReport {
    /// Writes the rejected rows back as CSV: the file's header and cells, then a `reason`
    /// column, so they can be fixed and imported again.
    pub fn write_rejected(&self, out: impl Write) -> Result<()> {
        let mut w = csv::Writer::from_writer(out);
        let mut header: Vec<&str> = self.columns.iter().map(|(h, _)| h.as_str()).collect();
        header.push("reason");
        w.write_record(&header)?;
        for r in &self.rejected {
            let mut cells: Vec<String> = r.cells.iter().map(|c| crate::cell::cell_text(&c.clone().into())).collect();
            cells.resize(self.columns.len(), String::new());
            cells.push(r.error.to_string());
            w.write_record(&cells)?;
        }
        w.flush()?;
        Ok(())
    }
}

/// A dry run: how the columns map and what the first rows would become, nothing written.
#[derive(Debug)]
pub struct Preview {
    /// How each column was mapped, in file order.
    pub columns: Vec<(String, ContactColumn)>,
    /// The first rows: the contact each would become, or why it would be refused.
    pub rows: Vec<(usize, std::result::Result<NewContact, Error>)>,
}

impl ContactCsv {
    /// Columns mapped by name only; dates ISO 8601; the delimiter guessed.
    pub fn new() -> Self {
        Self::default()
    }
    /// Reads another CRM's export by its known column names.
    pub fn preset(mut self, preset: Preset) -> Self {
        self.preset = Some(preset);
        self
    }
    /// Maps the column headed `header` (exactly as in the file) to `column`.
    pub fn map(mut self, header: impl Into<String>, column: ContactColumn) -> Self {
        self.mapping.push((header.into(), column));
        self
    }
    /// Reads dates in this `chrono` format (e.g. `%d/%m/%Y`) before ISO 8601; call again for more.
    pub fn date_format(mut self, format: impl Into<String>) -> Self {
        self.date_formats.push(format.into());
        self
    }
    /// The delimiter (default: `,`, `;` or tab, whichever the header line has most of).
    pub fn delimiter(mut self, delimiter: u8) -> Self {
        self.delimiter = Some(delimiter);
        self
    }
    /// Rows per transaction (default as [`ImportOptions`]).
    pub fn batch_size(mut self, rows: usize) -> Self {
        self.batch_size = Some(rows);
        self
    }
    /// Skips the first `row` data rows: to resume an import that stopped, pass its report's
    /// `rows_read` (rows keep their numbers).
    pub fn resume_at(mut self, row: usize) -> Self {
        self.resume_at = row;
        self
    }

    /// Imports the contacts of `input`, reporting progress after each committed batch.
    pub async fn run(
        &self,
        cx: &Session,
        input: impl Read,
        mut progress: impl FnMut(&ImportProgress) + Send,
    ) -> Result<CsvImportReport> {
        let mut file = self.open(cx, input).await?;
        let mut options = ImportOptions::default();
        if let Some(n) = self.batch_size {
            options = options.batch_size(n);
        }
        let batch = options.batch();
        let mut report = CsvImportReport { columns: file.columns.clone(), ..Default::default() };
        let mut row = 0usize;
        loop {
            // One batch: rows whose cells read well go to the typed import; the others are
            // reported at once.
            let mut contacts = Vec::new();
            let mut rows_of: Vec<(usize, u64, Vec<String>)> = Vec::new();
            while contacts.len() < batch {
                let Some((line, cells)) = file.next_row()? else { break };
                let this = row;
                row += 1;
                if this < self.resume_at {
                    continue;
                }
                report.rows_read += 1;
                match file.contact(&cells) {
                    Ok(c) => {
                        contacts.push(c);
                        rows_of.push((this, line, cells));
                    }
                    Err(error) => report.rejected.push(RejectedRow { row: this, line, cells, error }),
                }
            }
            if contacts.is_empty() {
                if file.done {
                    break;
                }
                continue;
            }
            let opts = options.clone().first_row(0);
            let done = cx.contacts().import(contacts, &opts, |_| {}).await?;
            report.imported.extend(done.imported);
            for r in done.rejected {
                let (row, line, cells) = std::mem::take(&mut rows_of[r.row]);
                report.rejected.push(RejectedRow { row, line, cells, error: r.error });
            }
            report.rejected.sort_by_key(|r| r.row);
            progress(&progress_of(&report));
        }
        Ok(report)
    }

    /// A dry run over the first `rows` data rows: each is checked exactly as the import would
    /// check it (see [`Contacts::check`](crm_core::service::Contacts::check)); nothing is written.
    pub async fn preview(&self, cx: &Session, input: impl Read, rows: usize) -> Result<Preview> {
        let mut file = self.open(cx, input).await?;
        let mut out = Vec::new();
        for row in 0..rows {
            let Some((_, cells)) = file.next_row()? else { break };
            let checked = match file.contact(&cells) {
                Ok(c) => cx.contacts().check(c.clone()).await.map(|()| c),
                Err(e) => Err(e),
            };
            out.push((row, checked));
        }
        Ok(Preview { columns: file.columns, rows: out })
    }

    async fn open<R: Read>(&self, cx: &Session, input: R) -> Result<OpenFile<R>> {
        let mut input = BufReader::new(input);
        let delimiter = match self.delimiter {
            Some(d) => d,
            None => guess_delimiter(input.fill_buf()?),
        };
        let mut reader = csv::ReaderBuilder::new().delimiter(delimiter).flexible(true).from_reader(input);
        let headers: Vec<String> = reader.headers()?.iter().map(|h| h.trim().to_owned()).collect();
        let defined = cx.custom_fields().list(EntityKind::Contact).await?;
        let custom: HashMap<String, FieldType> =
            defined.iter().map(|d| (d.definition.key.clone(), d.definition.field_type.clone())).collect();
        let mut columns = Vec::with_capacity(headers.len());
        for h in &headers {
            let by_hand = self.mapping.iter().find(|(m, _)| m == h).map(|(_, c)| c.clone());
            let by_preset = || {
                self.preset.and_then(|p| {
                    p.columns().iter().find(|(name, _)| normalised(name) == normalised(h)).map(|(_, c)| c.clone())
                })
            };
            let by_custom = || {
                defined
                    .iter()
                    .find(|d| {
                        normalised(&d.definition.key) == normalised(h)
                            || normalised(&d.definition.label) == normalised(h)
                    })
                    .map(|d| ContactColumn::Custom(d.definition.key.clone()))
            };
            let col =
                by_hand.or_else(by_preset).or_else(|| obvious(h)).or_else(by_custom).unwrap_or(ContactColumn::Ignore);
            columns.push((h.clone(), col));
        }
        for (header, col) in &self.mapping {
            if !headers.contains(header) {
                return Err(IoError::Mapping { column: header.clone(), reason: "the file has no such column".into() });
            }
            if let ContactColumn::Custom(key) = col
                && !custom.contains_key(key)
            {
                return Err(IoError::Mapping {
                    column: header.clone(),
                    reason: format!("contacts have no custom field `{key}`"),
                });
            }
        }
        let named = columns
            .iter()
            .any(|(_, c)| matches!(c, ContactColumn::GivenName | ContactColumn::FamilyName | ContactColumn::FullName));
        if !named {
            let column = headers.first().cloned().unwrap_or_default();
            return Err(IoError::Mapping {
                column,
                reason: "no column gives the contact's name; map one with `map`".into(),
            });
        }
        Ok(OpenFile { reader, columns, custom, date_formats: self.date_formats.clone(), done: false })
    }
}

fn progress_of(r: &CsvImportReport) -> ImportProgress {
    let mut p = ImportProgress::default();
    p.rows_read = r.rows_read;
    p.imported = r.imported.len();
    p.rejected = r.rejected.len();
    p
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

struct OpenFile<R> {
    reader: csv::Reader<BufReader<R>>,
    columns: Vec<(String, ContactColumn)>,
    custom: HashMap<String, FieldType>,
    date_formats: Vec<String>,
    done: bool,
}

impl<R: Read> OpenFile<R> {
    /// The next data row's line and cells (a row with text that is not UTF-8 keeps it as
    /// replacement characters and is refused by [`contact`](Self::contact)).
    fn next_row(&mut self) -> Result<Option<(u64, Vec<String>)>> {
        let mut rec = csv::ByteRecord::new();
        if !self.reader.read_byte_record(&mut rec)? {
            self.done = true;
            return Ok(None);
        }
        let line = rec.position().map_or(0, |p| p.line());
        let cells = rec.iter().map(|c| String::from_utf8_lossy(c).into_owned()).collect();
        Ok(Some((line, cells)))
    }

    /// The contact a row describes, or the first cell that cannot be read, naming its column.
    fn contact(&self, cells: &[String]) -> std::result::Result<NewContact, Error> {
        let mut c = NewContact::default();
        let mut full_name = None;
        let mut address = Address::default();
        for ((header, col), cell) in self.columns.iter().zip(cells) {
            let bad = |code, msg: String| Error::invalid(header.clone(), code, msg);
            if cell.contains('\u{fffd}') {
                return Err(bad(FieldErrorCode::InvalidFormat, "the cell is not UTF-8 text".into()));
            }
            let v = cell.trim();
            if v.is_empty() {
                continue;
            }
            let text = Some(v.to_owned());
            match col {
                ContactColumn::GivenName => c.given_name = v.to_owned(),
                ContactColumn::FamilyName => c.family_name = v.to_owned(),
                ContactColumn::FullName => full_name = text,
                ContactColumn::Email => {
                    for e in coerce::multi(v) {
                        c = c.email(e);
                    }
                }
                ContactColumn::Phone(label) => {
                    for p in coerce::multi(v) {
                        c = c.phone_labeled(p, *label);
                    }
                }
                ContactColumn::Website => c.website = text,
                ContactColumn::LeadSource => {
                    let s: LeadSource =
                        coerce::option(v, LEAD_SOURCES).map_err(|m| bad(FieldErrorCode::NotAnOption, m))?;
                    c.lead_source = Some(s);
                }
                ContactColumn::LifecycleStage => {
                    let s: LifecycleStage =
                        coerce::option(v, STAGES).map_err(|m| bad(FieldErrorCode::NotAnOption, m))?;
                    c.lifecycle_stage = Some(s);
                }
                ContactColumn::Birthday => {
                    c.birthday =
                        Some(coerce::date(v, &self.date_formats).map_err(|m| bad(FieldErrorCode::InvalidFormat, m))?)
                }
                ContactColumn::Tags => c.tags.extend(coerce::multi(v)),
                ContactColumn::Notes => c.family_notes = text,
                ContactColumn::Street => address.lines.push(v.to_owned()),
                ContactColumn::City => address.city = text,
                ContactColumn::Region => address.region = text,
                ContactColumn::PostalCode => address.postal_code = text,
                ContactColumn::Country => address.country = Some(v.to_ascii_uppercase()),
                ContactColumn::Custom(key) => {
                    let Some(ty) = self.custom.get(key) else { continue };
                    let value =
                        coerce::custom(v, ty, &self.date_formats).map_err(|m| bad(FieldErrorCode::TypeMismatch, m))?;
                    c.custom.insert(key.clone(), value);
                }
                ContactColumn::Ignore => {}
            }
        }
        if let Some(full) = full_name
            && c.given_name.is_empty()
            && c.family_name.is_empty()
        {
            match full.rsplit_once(' ') {
                Some((given, family)) => (c.given_name, c.family_name) = (given.trim().to_owned(), family.to_owned()),
                None => c.given_name = full,
            }
        }
        if address != Address::default() {
            c.addresses.push(address);
        }
        Ok(c)
    }
}
