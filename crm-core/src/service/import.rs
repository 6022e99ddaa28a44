//! Bulk import: many new records in batches, one transaction per batch.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::Session;
use super::uow::Uow;
use crate::error::{Error, FieldError, FieldErrorCode, ImportReport, Rejected, Result};
use crate::ids::{TenantId, storage_precision};
use crate::model::Entity;

/// How an import runs.
///
/// ```
/// use crm_core::service::ImportOptions;
/// let opts = ImportOptions::default().batch_size(1000).stop_on_invalid(true);
/// assert_eq!(opts.batch(), 1000);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportOptions {
    batch_size: usize,
    stop_on_invalid: bool,
    first_row: usize,
}

impl Default for ImportOptions {
    /// Batches of 500 rows; invalid rows are skipped and reported.
    fn default() -> Self {
        Self { batch_size: 500, stop_on_invalid: false, first_row: 0 }
    }
}

impl ImportOptions {
    /// Rows per batch (one transaction each; 1 to 100,000). Larger batches import faster
    /// and hold the write lock longer.
    pub fn batch_size(mut self, rows: usize) -> Self {
        self.batch_size = rows;
        self
    }

    /// Whether an invalid row stops the import (its batch is not written) instead of being
    /// skipped and listed in [`ImportReport::rejected`].
    pub fn stop_on_invalid(mut self, stop: bool) -> Self {
        self.stop_on_invalid = stop;
        self
    }

    /// The number of the first input row (default 0). When resuming after
    /// [`Error::Import`], pass its `resume_at` so row numbers stay those of the whole input.
    pub fn first_row(mut self, row: usize) -> Self {
        self.first_row = row;
        self
    }

    /// Rows per batch.
    pub fn batch(&self) -> usize {
        self.batch_size
    }

    fn check(&self) -> Result<()> {
        if !(1..=100_000).contains(&self.batch_size) {
            return Err(Error::invalid(
                "batch_size",
                FieldErrorCode::OutOfRange,
                format!("is {}; it must be 1 to 100000", self.batch_size),
            ));
        }
        Ok(())
    }
}

/// Where an import stands, reported after each committed batch.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ImportProgress {
    /// Input rows handled so far (all of them in finished batches), counted from
    /// [`ImportOptions::first_row`].
    pub rows_read: usize,
    /// Records written so far.
    pub imported: usize,
    /// Rows skipped as invalid so far.
    pub rejected: usize,
    /// Batches finished so far (committed, or wholly rejected so nothing was to commit).
    pub batches: usize,
}

/// What building a new record needs: the session, the time it is stamped with, new ids.
pub(crate) struct Draft<'s> {
    pub(crate) s: &'s Session,
    pub(crate) now: DateTime<Utc>,
}

impl<'s> Draft<'s> {
    pub(crate) fn new_id<I: From<Uuid>>(&self) -> I {
        I::from(self.s.crm.inner.ids.next_uuid())
    }

    pub(crate) fn default_region(&self) -> Option<&'s str> {
        self.s.crm.inner.default_region.as_deref()
    }

    pub(crate) fn tenant(&self) -> TenantId {
        self.s.tenant()
    }
}

/// An input type that can be imported in bulk.
pub(crate) trait Importable: Send + Sized {
    type Entity: Entity;

    /// The new record (id and times from the draft), with the problems found.
    fn build(self, draft: &Draft<'_>) -> (Self::Entity, Vec<FieldError>);
}

/// A batch of built records, stamped with one time.
struct Built<E> {
    now: DateTime<Utc>,
    items: Vec<(E, Vec<FieldError>)>,
}

/// Builds (parses, normalises, checks) a batch, yielding now and then so that the write of
/// the previous batch, awaited alongside, makes progress meanwhile: on a store whose driver
/// works on its own thread, checking batch k+1 overlaps with writing batch k.
async fn build<T: Importable>(s: &Session, rows: Vec<T>) -> Built<T::Entity> {
    let draft = Draft { s, now: storage_precision(s.crm.inner.clock.now()) };
    let mut items = Vec::with_capacity(rows.len());
    for (i, t) in rows.into_iter().enumerate() {
        if i % 16 == 15 {
            YieldNow(false).await;
        }
        items.push(t.build(&draft));
    }
    Built { now: draft.now, items }
}

/// Checks references and custom values, writes the valid records and commits, unless an
/// invalid row must stop the import. Per row: the record written, or why it was refused.
async fn write<T: Importable>(
    s: &Session,
    built: Built<T::Entity>,
    stop_on_invalid: bool,
) -> Result<Vec<Result<T::Entity>>> {
    let mut uow = Uow::write(s).await?;
    uow.now = built.now;
    let mut items = built.items;
    for (entity, errs) in &mut items {
        uow.check_links(entity, None, errs).await?;
    }
    let results = uow.create_many(items).await?;
    let invalid = results.iter().any(Result::is_err);
    // Nothing to commit when all rows were refused; nothing may be when one stops the import.
    if !(stop_on_invalid && invalid) && results.iter().any(Result::is_ok) {
        uow.commit().await?;
    }
    Ok(results)
}

/// Resolves after yielding to the executor once.
struct YieldNow(bool);

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// Imports `rows` in batches; see [`Contacts::import`](super::Contacts::import).
pub(crate) async fn import<T, I, F>(
    s: &Session,
    rows: I,
    options: &ImportOptions,
    mut progress: F,
) -> Result<ImportReport<<T::Entity as Entity>::Id>>
where
    T: Importable,
    I: IntoIterator<Item = T>,
    I::IntoIter: Send,
    F: FnMut(&ImportProgress) + Send,
{
    options.check()?;
    let mut rows = rows.into_iter();
    let mut report = ImportReport::default();
    let mut at = ImportProgress { rows_read: options.first_row, ..ImportProgress::default() };
    let first: Vec<T> = rows.by_ref().take(options.batch_size).collect();
    let mut built = build(s, first).await;
    while !built.items.is_empty() {
        let start = at.rows_read;
        let stopped = |row: Option<usize>, e: Error, report: ImportReport<<T::Entity as Entity>::Id>| {
            let ImportReport { imported, rejected, batches } = report;
            let imported = imported.into_iter().map(Into::into).collect();
            Error::Import {
                resume_at: start,
                row,
                report: Box::new(ImportReport { imported, rejected, batches }),
                source: Box::new(e),
            }
        };
        let next: Vec<T> = rows.by_ref().take(options.batch_size).collect();
        let (written, next) = futures::join!(write::<T>(s, built, options.stop_on_invalid), build(s, next));
        built = next;
        let results = match written {
            Ok(r) => r,
            Err(e) => return Err(stopped(None, e, report)),
        };
        let n = results.len();
        let mut ids = Vec::with_capacity(n);
        let mut rejected = Vec::new();
        for (i, r) in results.into_iter().enumerate() {
            match r {
                Ok(e) => ids.push(e.id()),
                Err(error) if options.stop_on_invalid => return Err(stopped(Some(start + i), error, report)),
                Err(error) => rejected.push(Rejected { row: start + i, error }),
            }
        }
        at.rows_read += n;
        at.imported += ids.len();
        at.rejected += rejected.len();
        at.batches += 1;
        report.imported.extend(ids);
        report.rejected.extend(rejected);
        report.batches = at.batches;
        progress(&at);
    }
    Ok(report)
}
