//! Contacts from a CSV file: columns mapped, cells read as typed values, rows written through
//! the typed bulk import (same rules, events and search), refused rows reported with why.

use std::collections::{HashMap, HashSet};
use std::io::Write;

use crm_core::entity::EntityKind;
use crm_core::error::{Error, FieldErrorCode};
use crm_core::ids::ContactId;
use crm_core::model::FieldType;
use crm_core::profile::{Address, LeadSource, LifecycleStage};
use crm_core::service::{DuplicateCandidate, DuplicateRules, ImportOptions, ImportProgress, NewContact, Session};

use crate::coerce;
use crate::mapping::{ContactColumn, Preset, normalised, obvious};
use crate::table::Table;
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
/// A column is mapped, first match wins, by [`map`](Self::map), by the [`Preset`], by the
/// key or label of a contact custom field (`Region` is the tenant's own `region` field, not
/// the address's), or by an obvious header (`First name`, `E-mail`, `Surname`, `ZIP`…); other
/// columns are not imported (the [`Preview`] lists them).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> crm_io::Result<()> {
/// use crm_core::prelude::*;
/// use crm_io::{ContactImport, Preset, Table};
/// let crm = Crm::builder(MemoryStore::new()).default_region("US").build()?;
/// let cx = crm.as_actor(&Actor::system(TenantId::new()));
/// let file = "First Name,Last Name,Email,Phone Number,Lifecycle Stage\n\
///             Ada,Lovelace,ada@example.org,(415) 555-2671,Marketing Qualified Lead\n\
///             Bob,,not-an-email,,\n";
/// let report = ContactImport::new().preset(Preset::HubSpot).run(&cx, Table::csv(file.as_bytes())?, |_| {}).await?;
/// assert_eq!((report.imported.len(), report.rejected.len()), (1, 1));
/// let ada = cx.contacts().get(report.imported[0]).await?;
/// assert_eq!(ada.lifecycle_stage, LifecycleStage::MarketingQualifiedLead);
/// assert_eq!(report.rejected[0].line, 3);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, Default)]
pub struct ContactImport {
    preset: Option<Preset>,
    mapping: Vec<(String, ContactColumn)>,
    date_formats: Vec<String>,
    batch_size: Option<usize>,
    resume_at: usize,
    upsert: Option<(MatchBy, OnMatch)>,
    duplicates: Option<(DuplicateRules, OnDuplicate)>,
}

/// What an import does with a new row that may be a contact already there (see
/// [`ContactImport::duplicates`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum OnDuplicate {
    /// Creates it and lists it in [`FileImportReport::possible_duplicates`].
    Warn,
    /// Refuses the row, naming the contact it may be (`duplicate_of`).
    Reject,
}

/// How a row finds its contact among those already in the CRM.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MatchBy {
    /// The row's first email address equals one of the contact's (ignoring case).
    Email,
    /// The row's [`ContactColumn::Id`] cell is the contact's id.
    Id,
}

/// What happens to a row whose contact is already in the CRM.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum OnMatch {
    /// The row updates the contact ([`Contacts::apply`](crm_core::service::Contacts::apply)).
    Update,
    /// The row is skipped and listed in [`FileImportReport::skipped`].
    Skip,
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
pub struct FileImportReport {
    /// How each column was mapped, in file order.
    pub columns: Vec<(String, ContactColumn)>,
    /// The contacts created, in file order.
    pub imported: Vec<ContactId>,
    /// The contacts updated by [`upsert`](ContactImport::upsert) rows, in file order.
    pub updated: Vec<ContactId>,
    /// The rows skipped by [`upsert`](ContactImport::upsert), by row number.
    pub skipped: Vec<usize>,
    /// Rows created although they may be contacts already there (with
    /// [`OnDuplicate::Warn`]): the row number and the contacts it may be, best first.
    pub possible_duplicates: Vec<(usize, Vec<DuplicateCandidate>)>,
    /// The rows not written, in file order.
    pub rejected: Vec<RejectedRow>,
    /// Data rows handled, counted from the file's first data row (rows skipped by
    /// [`resume_at`](ContactImport::resume_at) included). After a failure, the last progress
    /// report's `rows_read` is where to resume: every row before it was written or reported.
    pub rows_read: usize,
}

impl FileImportReport {
    /// Writes the rejected rows back as CSV: the file's header and cells, then a `reason`
    /// column, so they can be fixed and imported again.
    pub fn write_rejected(&self, out: impl Write) -> Result<()> {
        let mut w = csv::Writer::from_writer(out);
        let mut header: Vec<&str> = self.columns.iter().map(|(h, _)| h.as_str()).collect();
        header.push("reason");
        w.write_record(&header)?;
        for r in &self.rejected {
            let mut cells: Vec<String> = r.cells.iter().map(|c| crate::cell::neutralised(c)).collect();
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

impl ContactImport {
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
    /// Rows per transaction (default as [`ImportOptions`]).
    pub fn batch_size(mut self, rows: usize) -> Self {
        self.batch_size = Some(rows);
        self
    }
    /// Updates (or skips) the contacts already in the CRM instead of creating them again:
    /// a row matches the contact with one of its email addresses ([`MatchBy::Email`]; rows
    /// that match nothing are created, and rows of one file sharing an address update the
    /// contact the first created) or with the id in its [`ContactColumn::Id`] column
    /// ([`MatchBy::Id`]; a row whose id names no contact is refused naming `id`).
    pub fn upsert(mut self, by: MatchBy, on_match: OnMatch) -> Self {
        self.upsert = Some((by, on_match));
        self
    }
    /// Checks each row about to be created against the contacts already there under `rules`
    /// ([`Contacts::duplicates_of`](crm_core::service::Contacts::duplicates_of)), and warns or
    /// rejects. One lookup a row; rows of one file are not compared with each other (scan
    /// afterwards with [`Contacts::find_duplicates`](crm_core::service::Contacts::find_duplicates)).
    pub fn duplicates(mut self, rules: DuplicateRules, on_duplicate: OnDuplicate) -> Self {
        self.duplicates = Some((rules, on_duplicate));
        self
    }
    /// Skips the first `row` data rows: to resume an import that stopped, pass the `rows_read`
    /// of its last progress report (rows keep their numbers).
    pub fn resume_at(mut self, row: usize) -> Self {
        self.resume_at = row;
        self
    }

    /// Imports the contacts of `table`, reporting progress after each committed batch. With
    /// [`upsert`](Self::upsert), a row whose contact is already in the CRM updates it (or is
    /// skipped) instead of creating another.
    pub async fn run(
        &self,
        cx: &Session,
        table: Table<'_>,
        mut progress: impl FnMut(&ImportProgress) + Send,
    ) -> Result<FileImportReport> {
        if let Some((rules, _)) = &self.duplicates {
            rules.check()?;
        }
        let mut file = self.open(cx, table).await?;
        let mut options = ImportOptions::default();
        if let Some(n) = self.batch_size {
            options = options.batch_size(n);
        }
        let mut report = FileImportReport { columns: file.columns.clone(), ..Default::default() };
        let mut pending = Pending::default();
        let mut row = 0usize;
        while let Some((line, cells)) = file.next_row()? {
            let this = row;
            row += 1;
            // Each row ends refused, updated, skipped, or waiting in `pending` to be created.
            'row: {
                if this < self.resume_at {
                    break 'row;
                }
                let (contact, id) = match file.contact(&cells) {
                    Ok(parsed) => parsed,
                    Err(error) => {
                        report.rejected.push(RejectedRow { row: this, line, cells, error });
                        break 'row;
                    }
                };
                let keys = self.upsert.map_or_else(Vec::new, |(by, _)| match_keys(by, &contact, id));
                if let Some((by, on_match)) = self.upsert
                    && !keys.is_empty()
                {
                    // A contact this batch is about to create is written first, so that this
                    // row finds it.
                    if keys.iter().any(|k| pending.keys.contains(k)) {
                        pending.flush(cx, &options, &mut report).await?;
                        progress(&progress_of(&report));
                    }
                    let mut existing = None;
                    for k in &keys {
                        existing = find(cx, by, k).await?;
                        if existing.is_some() {
                            break;
                        }
                    }
                    match (existing, by) {
                        (Some(existing), _) => {
                            match on_match {
                                OnMatch::Skip => report.skipped.push(this),
                                OnMatch::Update => match cx.contacts().apply(existing, contact).await {
                                    Ok(c) => report.updated.push(c.id),
                                    Err(error) if refusal(&error) => {
                                        report.rejected.push(RejectedRow { row: this, line, cells, error })
                                    }
                                    Err(other) => return Err(other.into()),
                                },
                            }
                            break 'row;
                        }
                        (None, MatchBy::Id) => {
                            let why = "no contact has this id (an id column updates contacts that exist)";
                            let error = Error::invalid("id", FieldErrorCode::NotFound, why);
                            report.rejected.push(RejectedRow { row: this, line, cells, error });
                            break 'row;
                        }
                        (None, _) => {}
                    }
                }
                if let Some((rules, on_duplicate)) = &self.duplicates {
                    let twins = cx.contacts().duplicates_of(&contact, rules).await?;
                    if let Some(best) = twins.first() {
                        if *on_duplicate == OnDuplicate::Reject {
                            let why = format!("may be contact {} (score {:.2})", best.id, best.score);
                            let error = Error::invalid("duplicate_of", FieldErrorCode::Duplicate, why);
                            report.rejected.push(RejectedRow { row: this, line, cells, error });
                            break 'row;
                        }
                        report.possible_duplicates.push((this, twins));
                    }
                }
                pending.push(this, line, cells, contact, keys);
            }
            report.rows_read = this + 1;
            if pending.contacts.len() >= options.batch() {
                pending.flush(cx, &options, &mut report).await?;
                progress(&progress_of(&report));
            }
        }
        if !pending.contacts.is_empty() {
            pending.flush(cx, &options, &mut report).await?;
            progress(&progress_of(&report));
        }
        report.rejected.sort_by_key(|r| r.row);
        Ok(report)
    }

    /// A dry run over the first `rows` data rows: each is checked exactly as the import would
    /// check it (see [`Contacts::check`](crm_core::service::Contacts::check)); nothing is written.
    pub async fn preview(&self, cx: &Session, table: Table<'_>, rows: usize) -> Result<Preview> {
        let mut file = self.open(cx, table).await?;
        let mut out = Vec::new();
        for row in 0..rows {
            let Some((_, cells)) = file.next_row()? else { break };
            let checked = match file.contact(&cells) {
                Ok((c, _)) => cx.contacts().check(c.clone()).await.map(|()| c),
                Err(e) => Err(e),
            };
            out.push((row, checked));
        }
        Ok(Preview { columns: file.columns, rows: out })
    }

    async fn open<'t>(&self, cx: &Session, table: Table<'t>) -> Result<OpenFile<'t>> {
        let headers = table.headers;
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
                        let key = &d.definition.key;
                        h.strip_prefix("custom.") == Some(key.as_str())
                            || normalised(key) == normalised(h)
                            || normalised(&d.definition.label) == normalised(h)
                    })
                    .map(|d| ContactColumn::Custom(d.definition.key.clone()))
            };
            let col =
                by_hand.or_else(by_preset).or_else(by_custom).or_else(|| obvious(h)).unwrap_or(ContactColumn::Ignore);
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
        Ok(OpenFile { rows: table.rows, columns, custom, date_formats: self.date_formats.clone(), done: false })
    }
}

/// Rows read well, waiting to be created in one batch.
#[derive(Default)]
struct Pending {
    contacts: Vec<NewContact>,
    rows: Vec<(usize, u64, Vec<String>)>,
    keys: HashSet<String>,
}

impl Pending {
    fn push(&mut self, row: usize, line: u64, cells: Vec<String>, contact: NewContact, keys: Vec<String>) {
        self.contacts.push(contact);
        self.rows.push((row, line, cells));
        self.keys.extend(keys);
    }

    /// Creates the waiting contacts through the typed import (one transaction).
    async fn flush(&mut self, cx: &Session, options: &ImportOptions, report: &mut FileImportReport) -> Result<()> {
        let contacts = std::mem::take(&mut self.contacts);
        let mut rows = std::mem::take(&mut self.rows);
        self.keys.clear();
        let done = cx.contacts().import(contacts, &options.clone().first_row(0), |_| {}).await?;
        report.imported.extend(done.imported);
        for r in done.rejected {
            let (row, line, cells) = std::mem::take(&mut rows[r.row]);
            report.rejected.push(RejectedRow { row, line, cells, error: r.error });
        }
        Ok(())
    }
}

/// The texts a row is matched by: its email addresses, lower case, or its id.
fn match_keys(by: MatchBy, contact: &NewContact, id: Option<ContactId>) -> Vec<String> {
    match by {
        MatchBy::Email => contact.emails.iter().map(|(e, _)| e.trim().to_lowercase()).collect(),
        MatchBy::Id => id.map(|i| i.to_string()).into_iter().collect(),
    }
}

/// The contact already in the CRM that `key` names.
async fn find(cx: &Session, by: MatchBy, key: &str) -> Result<Option<ContactId>> {
    match by {
        // An address that does not parse matches nobody; the create refuses it with its reason.
        MatchBy::Email => match cx.contacts().find_by_email(key).await {
            Ok(found) => Ok(found.map(|c| c.id)),
            Err(Error::Validation(_)) => Ok(None),
            Err(e) => Err(e.into()),
        },
        MatchBy::Id => {
            let Ok(id) = key.parse::<uuid::Uuid>() else { return Ok(None) };
            match cx.contacts().get(ContactId::from_uuid(id)).await {
                Ok(c) => Ok(Some(c.id)),
                Err(Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(e.into()),
            }
        }
    }
}

/// Whether `e` refuses this row (its data or its state) rather than stopping the import.
fn refusal(e: &Error) -> bool {
    matches!(
        e,
        Error::Validation(_) | Error::InvalidTransition { .. } | Error::Conflict { .. } | Error::NotFound { .. }
    )
}

fn progress_of(r: &FileImportReport) -> ImportProgress {
    let mut p = ImportProgress::default();
    p.rows_read = r.rows_read;
    p.imported = r.imported.len();
    p.rejected = r.rejected.len();
    p
}

struct OpenFile<'t> {
    rows: Box<dyn crate::table::Rows + 't>,
    columns: Vec<(String, ContactColumn)>,
    custom: HashMap<String, FieldType>,
    date_formats: Vec<String>,
    done: bool,
}

impl OpenFile<'_> {
    fn next_row(&mut self) -> Result<Option<(u64, Vec<String>)>> {
        let row = self.rows.next_row()?;
        self.done = row.is_none();
        Ok(row)
    }

    /// The contact a row describes, or the first cell that cannot be read, naming its column.
    fn contact(&self, cells: &[String]) -> std::result::Result<(NewContact, Option<ContactId>), Error> {
        let mut c = NewContact::default();
        let mut id = None;
        let mut full_name = None;
        let mut address = Address::default();
        for ((header, col), cell) in self.columns.iter().zip(cells) {
            let bad = |code, msg: String| Error::invalid(header.clone(), code, msg);
            if cell.contains('\u{fffd}') {
                return Err(bad(FieldErrorCode::InvalidFormat, "the cell holds no readable text: bytes not in the file's encoding (UTF-8 unless the CSV format names another), or a spreadsheet error".into()));
            }
            let v = crate::cell::cell_data(cell.trim());
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
                ContactColumn::Id => {
                    let u: uuid::Uuid = v
                        .parse()
                        .map_err(|_| bad(FieldErrorCode::InvalidFormat, format!("`{v}` is not a contact id")))?;
                    id = Some(ContactId::from_uuid(u));
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
        Ok((c, id))
    }
}
