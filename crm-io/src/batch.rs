//! Many records of a kind named at run time in one call, as an HTTP API's batch endpoints take
//! them: created or upserted through one import run (so contacts and companies are written in
//! one transaction per batch of rows), changed or deleted one by one. Every input gets its own
//! [`Outcome`]; one refused input does not stop the others.

use crm_core::entity::EntityKind;
use crm_core::error::{Error, FieldErrorCode};
use crm_core::model::*;
use crm_core::service::Session;
use uuid::Uuid;

use crate::any::{get, unsupported};
use crate::create;
use crate::{FileImport, IoError, MatchBy, OnMatch, Result, Table};

/// What became of one input of a batch.
#[derive(Debug)]
pub enum Outcome {
    /// A record was made.
    Created(Record),
    /// An existing record was changed (an upsert that matched, or an update).
    Updated(Record),
    /// The record asked for.
    Found(Record),
    /// The record was deleted.
    Deleted,
    /// The input was refused, and nothing of it written.
    Refused(IoError),
}

/// Creates a record of `kind` from each of `inputs` (field values, read as an import row reads
/// its columns), or with `upsert`, changes the record each input matches by that key and creates
/// the others. A field the kind's import does not read refuses the whole batch before anything
/// is written, naming it.
pub async fn create_many(
    cx: &Session,
    kind: EntityKind,
    inputs: &[Vec<(String, String)>],
    upsert: Option<MatchBy>,
) -> Result<Vec<Outcome>> {
    if create::fields_of(kind).is_some() {
        if upsert.is_some() {
            return Err(unsupported(kind, "upserted"));
        }
        let mut out = Vec::with_capacity(inputs.len());
        for fields in inputs {
            let made = create::by_name(cx, kind, fields).await;
            out.push(match made {
                Ok(r) => Outcome::Created(r),
                Err(e) => Outcome::Refused(e),
            });
        }
        return Ok(out);
    }
    // One table: the union of the inputs' fields, in the order first named; an input's cell for
    // a field it does not name is empty (not given).
    let mut header: Vec<&str> = Vec::new();
    for (k, _) in inputs.iter().flatten() {
        // Fields are named as the records name them (`given_name`, `custom.tier`): not as
        // loosely as a file's headers may be.
        if k.is_empty() || !k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.') {
            let why = format!("{kind} records have no field `{k}` (names are letters, digits, `_` and `.`)");
            return Err(Error::invalid(k.clone(), FieldErrorCode::UnknownField, why).into());
        }
        if !header.contains(&k.as_str()) {
            header.push(k);
        }
    }
    let mut csv = csv::Writer::from_writer(Vec::new());
    csv.write_record(&header)?;
    for fields in inputs {
        csv.write_record(header.iter().map(|h| fields.iter().find(|(k, _)| k == h).map_or("", |(_, v)| v.as_str())))?;
    }
    let bytes = csv.into_inner().map_err(|e| IoError::Io(e.into_error()))?;
    macro_rules! import {
        ($E:ty, $Col:ident) => {{
            let mut import = FileImport::<$E>::new().batch_size(inputs.len().max(1));
            if let Some(by) = upsert {
                import = import.upsert(by, OnMatch::Update);
            }
            let columns = import.mapping(cx, Table::csv(bytes.as_slice())?).await?;
            if let Some((field, _)) = columns.iter().find(|(_, c)| *c == crate::$Col::Ignore) {
                let why = format!("{kind} records have no field `{field}`");
                return Err(Error::invalid(field.clone(), FieldErrorCode::UnknownField, why).into());
            }
            let report = import.run(cx, Table::csv(bytes.as_slice())?, |_| {}).await?;
            let made: Vec<(usize, Uuid, bool)> = report
                .imported_rows
                .iter()
                .zip(&report.imported)
                .map(|(row, id)| (*row, (*id).into(), true))
                .chain(report.updated_rows.iter().zip(&report.updated).map(|(row, id)| (*row, (*id).into(), false)))
                .collect();
            let mut refused: Vec<Option<Error>> = (0..inputs.len()).map(|_| None).collect();
            for r in report.rejected {
                if let Some(slot) = refused.get_mut(r.row) {
                    *slot = Some(r.error);
                }
            }
            (made, refused)
        }};
    }
    let (made, refused) = match kind {
        EntityKind::Contact => import!(Contact, ContactColumn),
        EntityKind::Company => import!(Company, CompanyColumn),
        EntityKind::Deal => import!(Deal, DealColumn),
        EntityKind::Activity => import!(Activity, ActivityColumn),
        EntityKind::Product => import!(Product, ProductColumn),
        EntityKind::Order => import!(Order, OrderColumn),
        other => return Err(unsupported(other, "created")),
    };
    let mut out = Vec::with_capacity(inputs.len());
    for (row, refusal) in refused.into_iter().enumerate() {
        out.push(match (refusal, made.iter().find(|(r, _, _)| *r == row)) {
            (Some(e), _) => Outcome::Refused(e.into()),
            (None, Some((_, id, true))) => Outcome::Created(get(cx, kind, *id).await?),
            (None, Some((_, id, false))) => Outcome::Updated(get(cx, kind, *id).await?),
            // An order's line given as an input of its own (the same order number): the
            // order is the earlier input's.
            (None, None) => Outcome::Refused(
                Error::invalid("inputs", FieldErrorCode::Duplicate, "part of an earlier input's record").into(),
            ),
        });
    }
    Ok(out)
}

/// Reads each of `ids` of `kind`, one by one (one not there, or out of the caller's reach, is
/// refused as not found).
pub async fn read_many(cx: &Session, kind: EntityKind, ids: &[Uuid]) -> Vec<Outcome> {
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        out.push(match get(cx, kind, *id).await {
            Ok(r) => Outcome::Found(r),
            Err(e) => Outcome::Refused(e),
        });
    }
    out
}

/// Changes each `(id, version, patch)` of `kind` as [`update`](crate::any::update) does, one
/// by one.
pub async fn update_many(
    cx: &Session,
    kind: EntityKind,
    inputs: &[(Uuid, Option<u64>, serde_json::Map<String, serde_json::Value>)],
) -> Vec<Outcome> {
    let mut out = Vec::with_capacity(inputs.len());
    for (id, version, patch) in inputs {
        out.push(match crate::any::update(cx, kind, *id, *version, patch).await {
            Ok(r) => Outcome::Updated(r),
            Err(e) => Outcome::Refused(e),
        });
    }
    out
}

/// Deletes each `(id, version)` of `kind`, one by one.
pub async fn delete_many(cx: &Session, kind: EntityKind, inputs: &[(Uuid, u64)]) -> Vec<Outcome> {
    let mut out = Vec::with_capacity(inputs.len());
    for (id, version) in inputs {
        out.push(match crate::any::delete(cx, kind, *id, *version).await {
            Ok(()) => Outcome::Deleted,
            Err(e) => Outcome::Refused(e),
        });
    }
    out
}
