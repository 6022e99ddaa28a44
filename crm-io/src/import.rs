//! Records from a file, written once for every kind: columns mapped, rows read as typed
//! values, relations looked up by name, rows matched to the records already there (upsert),
//! written in batches through the kind's own create (same rules, events and search), refused
//! rows reported with why.

use std::collections::{HashMap, HashSet};
use std::io::Write;

use crm_core::error::{Error, FieldErrorCode};
use crm_core::ids::CompanyId;
use crm_core::model::{Contact, FieldType};
use crm_core::money::Currency;
use crm_core::service::{DuplicateCandidate, DuplicateRules, ImportOptions, ImportProgress, Session};

use crate::kind::sealed::Kind;
use crate::kind::{ImportKind, MatchBy, Reader, refusal};
use crate::lookups::Lookups;
use crate::mapping::{Preset, normalised};
use crate::table::Table;
use crate::{IoError, Result};

/// An import of records of kind `K` from a [`Table`] (a CSV file or a spreadsheet's sheet):
/// [`ContactImport`](crate::ContactImport), [`CompanyImport`](crate::CompanyImport),
/// [`DealImport`](crate::DealImport), [`ProductImport`](crate::ProductImport),
/// [`OrderImport`](crate::OrderImport), [`ActivityImport`](crate::ActivityImport).
///
/// A column is mapped, first match wins, by [`map`](Self::map), by the [`Preset`], by the
/// key or label of one of the kind's custom fields (or `custom.key`), or by an obvious header
/// (`First name`, `E-mail`, `Company`, `SKU`…); other columns are not imported (the
/// [`Preview`] lists them). Cells naming other records are looked up: a company by name (created
/// when missing, see [`create_companies`](Self::create_companies)) or by its id in another
/// system, a contact by address or name, a deal by name, a product by SKU, a pipeline and stage
/// by name.
pub struct FileImport<K: ImportKind> {
    preset: Option<Preset>,
    mapping: Vec<(String, K::Column)>,
    date_formats: Vec<String>,
    currency: Option<Currency>,
    batch_size: Option<usize>,
    resume_at: usize,
    upsert: Option<(MatchBy, OnMatch)>,
    duplicates: Option<(DuplicateRules, OnDuplicate)>,
    create_companies: bool,
}

impl<K: ImportKind> Clone for FileImport<K> {
    fn clone(&self) -> Self {
        Self {
            preset: self.preset,
            mapping: self.mapping.clone(),
            date_formats: self.date_formats.clone(),
            currency: self.currency,
            batch_size: self.batch_size,
            resume_at: self.resume_at,
            upsert: self.upsert.clone(),
            duplicates: self.duplicates.clone(),
            create_companies: self.create_companies,
        }
    }
}

impl<K: ImportKind> std::fmt::Debug for FileImport<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileImport")
            .field("kind", &K::KIND)
            .field("preset", &self.preset)
            .field("mapping", &self.mapping)
            .field("upsert", &self.upsert)
            .finish_non_exhaustive()
    }
}

impl<K: ImportKind> Default for FileImport<K> {
    fn default() -> Self {
        Self {
            preset: None,
            mapping: Vec::new(),
            date_formats: Vec::new(),
            currency: None,
            batch_size: None,
            resume_at: 0,
            upsert: None,
            duplicates: None,
            create_companies: true,
        }
    }
}

/// What an import does with a new row that may be a contact already there (see
/// [`FileImport::duplicates`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum OnDuplicate {
    /// Creates it and lists it in [`FileImportReport::possible_duplicates`].
    Warn,
    /// Refuses the row, naming the contact it may be (`duplicate_of`).
    Reject,
}

/// What happens to a row whose record is already in the CRM.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum OnMatch {
    /// The row updates the record: what it gives replaces or adds to what is stored (each
    /// kind's import says how).
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

/// What an import of kind `K` did.
#[derive(Debug)]
pub struct FileImportReport<K: ImportKind = Contact> {
    /// How each column was mapped, in file order.
    pub columns: Vec<(String, K::Column)>,
    /// The records created, in file order.
    pub imported: Vec<K::Id>,
    /// The row (the first, for a record of several rows) each of `imported` was read from.
    pub imported_rows: Vec<usize>,
    /// The records updated by [`upsert`](FileImport::upsert) rows, in file order.
    pub updated: Vec<K::Id>,
    /// The row (the first, for a record of several rows) each of `updated` was read from.
    pub updated_rows: Vec<usize>,
    /// The rows skipped by [`upsert`](FileImport::upsert), by row number.
    pub skipped: Vec<usize>,
    /// Rows created although they may be contacts already there (with
    /// [`OnDuplicate::Warn`]): the row number and the contacts it may be, best first.
    pub possible_duplicates: Vec<(usize, Vec<DuplicateCandidate>)>,
    /// The companies created because a row named one that did not exist, in row order.
    pub companies_created: Vec<CompanyId>,
    /// The rows not written, in file order.
    pub rejected: Vec<RejectedRow>,
    /// Data rows handled, counted from the file's first data row (rows skipped by
    /// [`resume_at`](FileImport::resume_at) included). After a failure, the last progress
    /// report's `rows_read` is where to resume: every row before it was written or reported.
    pub rows_read: usize,
}

impl<K: ImportKind> Default for FileImportReport<K> {
    fn default() -> Self {
        Self {
            columns: Vec::new(),
            imported: Vec::new(),
            imported_rows: Vec::new(),
            updated: Vec::new(),
            updated_rows: Vec::new(),
            skipped: Vec::new(),
            possible_duplicates: Vec::new(),
            companies_created: Vec::new(),
            rejected: Vec::new(),
            rows_read: 0,
        }
    }
}

impl<K: ImportKind> FileImportReport<K> {
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

/// A dry run: how the columns map and what the first records would become, nothing written.
#[derive(Debug)]
pub struct Preview<K: ImportKind = Contact> {
    /// How each column was mapped, in file order.
    pub columns: Vec<(String, K::Column)>,
    /// The first records, by their first row: the create input each would become, or why it
    /// would be refused.
    pub rows: Vec<(usize, std::result::Result<K::Input, Error>)>,
    /// The companies the import would create, named by rows and not found.
    pub new_companies: Vec<String>,
}

impl<K: ImportKind> FileImport<K> {
    /// Columns mapped by name only; dates ISO 8601; companies named and missing are created.
    pub fn new() -> Self {
        Self::default()
    }
    /// Reads another CRM's export by its known column names.
    pub fn preset(mut self, preset: Preset) -> Self {
        self.preset = Some(preset);
        self
    }
    /// Maps the column headed `header` (exactly as in the file) to `column`.
    pub fn map(mut self, header: impl Into<String>, column: K::Column) -> Self {
        self.mapping.push((header.into(), column));
        self
    }
    /// Reads dates in this `chrono` format (e.g. `%d/%m/%Y`) before ISO 8601; call again for more.
    pub fn date_format(mut self, format: impl Into<String>) -> Self {
        self.date_formats.push(format.into());
        self
    }
    /// The currency of amounts whose row has no currency column and whose cell names none.
    pub fn currency(mut self, currency: Currency) -> Self {
        self.currency = Some(currency);
        self
    }
    /// Rows per transaction (default as [`ImportOptions`]).
    pub fn batch_size(mut self, rows: usize) -> Self {
        self.batch_size = Some(rows);
        self
    }
    /// Whether a company name that finds no company creates it (default) or refuses the row.
    pub fn create_companies(mut self, create: bool) -> Self {
        self.create_companies = create;
        self
    }
    /// Updates (or skips) the records already in the CRM instead of creating them again. A row
    /// matches the record its key names ([`MatchBy`]; each kind lists those it supports); rows
    /// that match nothing are created, and a row repeating the key of an earlier row of the
    /// file matches the record that row created. With [`MatchBy::Id`], a row whose id names no
    /// record is refused naming `id`.
    pub fn upsert(mut self, by: MatchBy, on_match: OnMatch) -> Self {
        self.upsert = Some((by, on_match));
        self
    }
    /// Skips the first `row` data rows: to resume an import that stopped, pass the `rows_read`
    /// of its last progress report (rows keep their numbers).
    pub fn resume_at(mut self, row: usize) -> Self {
        self.resume_at = row;
        self
    }

    fn check_options(&self) -> Result<()> {
        if let Some((by, on_match)) = &self.upsert {
            let bad = |reason: String| Err(IoError::Option { name: "upsert".into(), reason });
            if !K::matches(by) {
                return bad(format!("{} are matched by {}, not {by:?}", K::PLURAL, K::MATCHES));
            }
            if *on_match == OnMatch::Update && !K::UPDATES {
                return bad(format!("{} are not updated by an import; match them to skip them", K::PLURAL));
            }
        }
        if let Some((rules, _)) = &self.duplicates {
            rules.check()?;
        }
        Ok(())
    }

    /// Imports the records of `table`, reporting progress after each committed batch.
    pub async fn run(
        &self,
        cx: &Session,
        table: Table<'_>,
        mut progress: impl FnMut(&ImportProgress) + Send,
    ) -> Result<FileImportReport<K>> {
        self.check_options()?;
        let mut file = self.open(cx, table).await?;
        let mut options = ImportOptions::default();
        if let Some(n) = self.batch_size {
            options = options.batch_size(n);
        }
        let mut run = Run::<K> {
            cx,
            options,
            lookups: Lookups::new(self.create_companies, false),
            report: FileImportReport { columns: file.columns.clone(), ..Default::default() },
            pending: Pending::default(),
        };
        let mut open: Option<Group<K>> = None;
        let (mut refused_key, mut refused_line): (Option<String>, u64) = (None, 0);
        let mut row = 0usize;
        while let Some((line, cells)) = file.next_row()? {
            let this = row;
            row += 1;
            if this < self.resume_at {
                run.report.rows_read = row;
                continue;
            }
            // A record whose row could not be read is refused whole: its other rows too.
            let key = K::group_key(&file.reader(self), &cells);
            if key.is_some() && key == refused_key {
                run.reject_part(vec![(this, line, cells)], refused_line);
                run.report.rows_read = row;
                continue;
            }
            match K::read(&file.reader(self), &cells) {
                Ok(read) => match &mut open {
                    Some(g) if K::continues(&g.row, &read) => {
                        K::absorb(&mut g.row, read);
                        g.rows.push((this, line, cells));
                    }
                    _ => {
                        if let Some(g) = open.take() {
                            self.finish(&mut run, g, &mut progress).await?;
                        }
                        open = Some(Group { row: read, rows: vec![(this, line, cells)] });
                    }
                },
                Err(error) => {
                    if let Some(g) = open.take() {
                        let same = key.is_some() && K::group_key(&file.reader(self), &g.rows[0].2) == key;
                        if same {
                            run.reject_part(g.rows, line);
                        } else {
                            self.finish(&mut run, g, &mut progress).await?;
                        }
                    }
                    if key.is_some() {
                        (refused_key, refused_line) = (key, line);
                    }
                    run.report.rejected.push(RejectedRow { row: this, line, cells, error });
                    run.report.rows_read = row;
                }
            }
        }
        if let Some(g) = open.take() {
            self.finish(&mut run, g, &mut progress).await?;
        }
        if !run.pending.inputs.is_empty() {
            run.flush().await?;
            progress(&run.progress());
        }
        let mut report = run.report;
        report.companies_created = run.lookups.created;
        report.rejected.sort_by_key(|r| r.row);
        Ok(report)
    }

    /// Takes a whole record (its rows read): matched, checked for duplicates, or set to be
    /// created with its batch.
    async fn finish(
        &self,
        run: &mut Run<'_, K>,
        group: Group<K>,
        progress: &mut (impl FnMut(&ImportProgress) + Send),
    ) -> Result<()> {
        let Group { row, rows } = group;
        let last = rows.last().map_or(0, |r| r.0 + 1);
        let (input, id) = match K::resolve(run.cx, &mut run.lookups, row).await {
            Ok(resolved) => resolved,
            Err(error) if refusal(&error) => {
                run.reject(rows, error);
                run.report.rows_read = last;
                return Ok(());
            }
            Err(other) => return Err(other.into()),
        };
        let keys = self.upsert.as_ref().map_or_else(Vec::new, |(by, _)| K::keys(by, &input, id));
        let mut unique = K::taken_keys(&input);
        if self.duplicates.is_some() {
            unique.extend(K::twin_keys(&input));
        }
        // A record this batch is about to create is written first, so that this row finds it
        // (or is refused by it).
        if keys.iter().chain(&unique).any(|k| run.pending.keys.contains(k)) {
            run.flush().await?;
            progress(&run.progress());
        }
        if let Some((by, on_match)) = &self.upsert
            && !keys.is_empty()
        {
            let mut existing = None;
            for k in &keys {
                existing = K::find(run.cx, by, k).await?;
                if existing.is_some() {
                    break;
                }
            }
            match (existing, by) {
                (Some(existing), _) => {
                    match on_match {
                        OnMatch::Skip => run.report.skipped.extend(rows.iter().map(|r| r.0)),
                        OnMatch::Update => {
                            let applied = K::apply(run.cx, existing, input, &run.report.columns).await;
                            match applied {
                                Ok(id) => {
                                    run.report.updated.push(id);
                                    run.report.updated_rows.push(row_of(&rows));
                                }
                                Err(error) if refusal(&error) => run.reject(rows, error),
                                Err(other) => return Err(other.into()),
                            }
                        }
                    }
                    run.report.rows_read = last;
                    return Ok(());
                }
                (None, MatchBy::Id) => {
                    let why = format!("no {} has this id (an id column updates records that exist)", K::KIND);
                    run.reject(rows, Error::invalid("id", FieldErrorCode::NotFound, why));
                    run.report.rows_read = last;
                    return Ok(());
                }
                (None, _) => {}
            }
        }
        if let Some((rules, on_duplicate)) = &self.duplicates {
            let twins = K::twins(run.cx, &input, rules).await?;
            if let Some(best) = twins.first() {
                if *on_duplicate == OnDuplicate::Reject {
                    let why = format!("may be contact {} (score {:.2})", best.id, best.score);
                    run.reject(rows, Error::invalid("duplicate_of", FieldErrorCode::Duplicate, why));
                    run.report.rows_read = last;
                    return Ok(());
                }
                run.report.possible_duplicates.push((rows[0].0, twins));
            }
        }
        run.pending.inputs.push(input);
        run.pending.rows.push(rows);
        run.pending.keys.extend(keys.into_iter().chain(unique));
        run.report.rows_read = last;
        if run.pending.inputs.len() >= run.options.batch() {
            run.flush().await?;
            progress(&run.progress());
        }
        Ok(())
    }

    /// How the columns of `table` would be mapped (its header read, no row), in file order.
    pub async fn mapping(&self, cx: &Session, table: Table<'_>) -> Result<Vec<(String, K::Column)>> {
        self.check_options()?;
        Ok(self.open(cx, table).await?.columns)
    }

    /// A dry run over the first `records` records (an order's lines make one): each is
    /// checked exactly as the import would check it; nothing is written, no company created.
    pub async fn preview(&self, cx: &Session, table: Table<'_>, records: usize) -> Result<Preview<K>> {
        self.check_options()?;
        let mut file = self.open(cx, table).await?;
        let mut lookups = Lookups::new(self.create_companies, true);
        let mut groups: Vec<(usize, std::result::Result<K::Row, Error>)> = Vec::new();
        let mut row = 0usize;
        while let Some((_, cells)) = file.next_row()? {
            let read = K::read(&file.reader(self), &cells);
            let this = row;
            row += 1;
            if let (Some((_, Ok(open))), Ok(next)) = (groups.last_mut(), &read)
                && K::continues(open, next)
            {
                let Ok(next) = read else { continue };
                K::absorb(open, next);
                continue;
            }
            if groups.len() == records {
                break;
            }
            groups.push((this, read));
        }
        let mut rows = Vec::with_capacity(groups.len());
        for (first, read) in groups {
            let checked = match read {
                Ok(r) => match K::resolve(cx, &mut lookups, r).await {
                    Ok((input, _)) => K::check(cx, input.clone()).await.map(|()| input),
                    Err(e) => Err(e),
                },
                Err(e) => Err(e),
            };
            rows.push((first, checked));
        }
        Ok(Preview { columns: file.columns, rows, new_companies: lookups.would_create })
    }

    async fn open<'t>(&self, cx: &Session, table: Table<'t>) -> Result<OpenFile<'t, K>> {
        let headers = table.headers;
        // The tenant's custom fields and the extensions' (plugins') alike.
        let defined = cx.custom_fields().registered(K::KIND).await?;
        let custom: HashMap<String, FieldType> =
            defined.iter().map(|d| (d.definition.key.clone(), d.definition.field_type.clone())).collect();
        let mut columns = Vec::with_capacity(headers.len());
        for h in &headers {
            let by_hand = self.mapping.iter().find(|(m, _)| m == h).map(|(_, c)| c.clone());
            let by_preset = || {
                self.preset.and_then(|p| {
                    K::preset(p).into_iter().find(|(name, _)| normalised(name) == normalised(h)).map(|(_, c)| c)
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
                    .map(|d| K::custom_column(d.definition.key.clone()))
            };
            let col =
                by_hand.or_else(by_preset).or_else(by_custom).or_else(|| K::obvious(h)).unwrap_or_else(K::ignored);
            columns.push((h.clone(), col));
        }
        for (header, col) in &self.mapping {
            if !headers.contains(header) {
                return Err(IoError::Mapping { column: header.clone(), reason: "the file has no such column".into() });
            }
            if let Some(key) = K::custom_key(col)
                && !custom.contains_key(key)
            {
                return Err(IoError::Mapping {
                    column: header.clone(),
                    reason: format!("{} have no custom field `{key}`", K::PLURAL),
                });
            }
        }
        if let Some(reason) = K::missing(&columns) {
            let column = headers.first().cloned().unwrap_or_default();
            return Err(IoError::Mapping { column, reason });
        }
        Ok(OpenFile { rows: table.rows, columns, custom })
    }
}

impl FileImport<Contact> {
    /// Checks each row about to be created against the contacts already there under `rules`
    /// ([`Contacts::duplicates_of`](crm_core::service::Contacts::duplicates_of)), and warns or
    /// rejects. One lookup a row. A row sharing an email address or a phone number with an
    /// earlier row of the file is checked against the contact that row created; rows alike
    /// only by name are not compared within the file (scan afterwards with
    /// [`Contacts::find_duplicates`](crm_core::service::Contacts::find_duplicates)).
    pub fn duplicates(mut self, rules: DuplicateRules, on_duplicate: OnDuplicate) -> Self {
        self.duplicates = Some((rules, on_duplicate));
        self
    }
}

/// The rows of one record: (row number, line, cells).
type Rows = Vec<(usize, u64, Vec<String>)>;

/// A record being read: what its rows said so far.
struct Group<K: Kind> {
    row: K::Row,
    rows: Rows,
}

/// Records read well, waiting to be created in one batch.
struct Pending<I> {
    inputs: Vec<I>,
    rows: Vec<Rows>,
    keys: HashSet<String>,
}

impl<I> Default for Pending<I> {
    fn default() -> Self {
        Self { inputs: Vec::new(), rows: Vec::new(), keys: HashSet::new() }
    }
}

/// The first row of a record's rows.
fn row_of(rows: &Rows) -> usize {
    rows.first().map_or(0, |r| r.0)
}

/// An import under way.
struct Run<'a, K: Kind> {
    cx: &'a Session,
    options: ImportOptions,
    lookups: Lookups,
    report: FileImportReport<K>,
    pending: Pending<K::Input>,
}

impl<K: Kind> Run<'_, K> {
    /// Refuses a record: its first row with `error`, the others as part of it.
    fn reject(&mut self, rows: Rows, error: Error) {
        let mut rows = rows.into_iter();
        let Some((row, line, cells)) = rows.next() else { return };
        self.reject_part(rows.collect(), line);
        self.report.rejected.push(RejectedRow { row, line, cells, error });
    }

    /// Refuses `rows` as part of the record whose row on line `refused` was refused.
    fn reject_part(&mut self, rows: Rows, refused: u64) {
        for (row, line, cells) in rows {
            let why = format!("part of the {} on line {refused}, which was refused", K::KIND);
            let error = Error::invalid("row", FieldErrorCode::Rule, why);
            self.report.rejected.push(RejectedRow { row, line, cells, error });
        }
    }

    /// Creates the waiting records (one transaction for contacts and companies, one per record
    /// for the other kinds).
    async fn flush(&mut self) -> Result<()> {
        let inputs = std::mem::take(&mut self.pending.inputs);
        let rows = std::mem::take(&mut self.pending.rows);
        self.pending.keys.clear();
        let done = K::create(self.cx, inputs, &self.options.clone().first_row(0)).await?;
        for (result, rows) in done.into_iter().zip(rows) {
            match result {
                Ok(id) => {
                    self.report.imported.push(id);
                    self.report.imported_rows.push(row_of(&rows));
                }
                Err(error) => self.reject(rows, error),
            }
        }
        Ok(())
    }

    fn progress(&self) -> ImportProgress {
        let mut p = ImportProgress::default();
        p.rows_read = self.report.rows_read;
        p.imported = self.report.imported.len();
        p.rejected = self.report.rejected.len();
        p
    }
}

struct OpenFile<'t, K: Kind> {
    rows: Box<dyn crate::table::Rows + 't>,
    columns: Vec<(String, K::Column)>,
    custom: HashMap<String, FieldType>,
}

impl<K: Kind> OpenFile<'_, K> {
    fn next_row(&mut self) -> Result<Option<(u64, Vec<String>)>> {
        self.rows.next_row()
    }

    fn reader<'a>(&'a self, import: &'a FileImport<K>) -> Reader<'a, K::Column> {
        Reader { columns: &self.columns, custom: &self.custom, dates: &import.date_formats, currency: import.currency }
    }
}
