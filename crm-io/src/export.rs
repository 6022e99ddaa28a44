//! Streaming export of the records of any kind: CSV with a column choice, or JSON Lines
//! holding whole records. Pages are read one after the other (keyset pagination), so memory
//! stays constant however many records there are.

use std::io::Write;

use crm_core::error::Error;
use crm_core::model::{Action, Entity, Permission, Record, sensitive_fields};
use crm_core::query::{Field, Filter, Query};
use crm_core::service::Session;
use crm_core::value::Value;

use crate::Result;
use crate::cell::cell_text;

/// Which records to export, in which order, with which columns.
///
/// The query's filter and sort choose the records and their order (the record id breaks
/// ties; default: every record in creation order). Every record it selects is exported, read
/// in pages of [`MAX_PAGE_SIZE`](crm_core::query::MAX_PAGE_SIZE) whatever the query's `limit`
/// (a page is a short read; memory holds one page at a time).
///
/// ```
/// use crm_core::query::{Filter, Query};
/// use crm_io::Export;
/// let vips = Query::new(Filter::contains("tags", "vip")).sort_asc("family_name");
/// let spec = Export::new(vips).columns(["given_name", "family_name", "custom.budget"]);
/// # let _ = spec;
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Export {
    /// Which records, in which order.
    pub query: Query,
    /// The CSV columns, as fields are named in queries (`emails`, `custom.budget`); default: the
    /// id, every standard field and every custom field defined for the kind.
    pub columns: Option<Vec<Field>>,
}

impl Export {
    /// The records `query` selects, every page of them, default columns.
    pub fn new(query: Query) -> Self {
        Export { query, columns: None }
    }
    /// The CSV columns, in order.
    pub fn columns<F: Into<Field>>(mut self, columns: impl IntoIterator<Item = F>) -> Self {
        self.columns = Some(columns.into_iter().map(Into::into).collect());
        self
    }

    /// The columns of a CSV export of `E`: as chosen, checked against the kind's fields (a
    /// sensitive field withheld from the actor is refused), or the default ones (without the
    /// fields withheld from the actor).
    pub async fn resolved_columns<E: Entity>(&self, cx: &Session) -> Result<Vec<Field>> {
        let Some(cols) = &self.columns else {
            let access = cx.access().await?;
            let open = |name: &str| access.field(E::KIND, name).is_some();
            let sensitive = sensitive_fields(E::KIND);
            let mut cols = vec![Field::Std("id".into())];
            cols.extend(
                E::std_fields()
                    .iter()
                    .filter(|f| f.name != "id" && (!sensitive.contains(&f.name) || open(f.name)))
                    .map(|f| Field::Std(f.name.into())),
            );
            if E::KIND.has_custom_fields() {
                let defined = cx.custom_fields().list(E::KIND).await?;
                cols.extend(
                    defined
                        .into_iter()
                        .filter(|d| !d.definition.sensitive || open(&format!("custom.{}", d.definition.key)))
                        .map(|d| Field::Custom(d.definition.key)),
                );
            }
            return Ok(cols);
        };
        // The list checks every field it names; a query naming each column checks them all at
        // once, and its errors are renamed from the filter to the columns.
        let probe = Filter::Or(cols.iter().filter(|c| !is_id(c)).map(|c| Filter::is_null(c.clone())).collect());
        if let Err(e) = cx.records::<E>().list(&Query::new(probe).limit(1)).await {
            return Err(renamed(e).into());
        }
        Ok(cols.clone())
    }
}

pub(crate) fn is_id(f: &Field) -> bool {
    matches!(f, Field::Std(n) if n == "id")
}

fn renamed(e: Error) -> Error {
    match e {
        Error::Validation(mut v) => {
            for fe in &mut v.0 {
                let rest = fe.field.strip_prefix("filter.").unwrap_or(&fe.field);
                fe.field = format!("columns.{rest}");
            }
            Error::Validation(v)
        }
        other => other,
    }
}

/// Refuses unless the actor may export records of `E` (the `export` permission and the kind's
/// `export` grant), and returns the filter of the records their `export` grant reaches (None:
/// every record they read).
pub(crate) async fn export_reach<E: Entity>(cx: &Session) -> Result<Option<Filter>> {
    let access = cx.access().await?;
    let who = access.user().map_or_else(|| "this actor".to_owned(), |u| format!("user {u}"));
    if !access.has(Permission::Export) {
        return Err(Error::Forbidden(format!(
            "{who} may not export records: their roles lack the `export` permission"
        ))
        .into());
    }
    if !access.may(E::KIND, Action::Export) {
        return Err(Error::Forbidden(format!("{who} may not export {} records", E::KIND)).into());
    }
    Ok(access.filter(E::KIND, Action::Export))
}

/// Reads every page of `spec` and hands each record to `each`; returns how many there were.
/// Only the records the actor may export are read ([`export_reach`]).
pub(crate) async fn each_record<E: Entity>(
    cx: &Session,
    spec: &Export,
    mut each: impl FnMut(E) -> Result<()>,
) -> Result<u64> {
    let mut query = spec.query.clone().limit(crm_core::query::MAX_PAGE_SIZE);
    if let Some(reach) = export_reach::<E>(cx).await? {
        query.filter = std::mem::take(&mut query.filter).and(reach);
    }
    let mut n = 0u64;
    loop {
        let page = cx.records::<E>().list(&query).await?;
        for record in page.items {
            each(record)?;
            n += 1;
        }
        match page.next {
            Some(next) => query.after = Some(next),
            None => return Ok(n),
        }
    }
}

/// Writes the records of kind `E` that `spec` selects as CSV (a header row, then a row a
/// record) and returns how many records were written. Text that a spreadsheet would run as a
/// formula is neutralised ([`cell_text`]).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> crm_io::Result<()> {
/// use crm_core::prelude::*;
/// let crm = Crm::new(MemoryStore::new());
/// let cx = crm.as_actor(&Actor::system(TenantId::new()));
/// cx.contacts().create(NewContact::new("Ada", "Lovelace").email("ada@example.org")).await?;
/// let mut out = Vec::new();
/// let spec = crm_io::Export::default().columns(["given_name", "family_name", "emails"]);
/// assert_eq!(crm_io::export_csv::<Contact>(&cx, &spec, &mut out).await?, 1);
/// assert_eq!(String::from_utf8(out).unwrap(), "given_name,family_name,emails\nAda,Lovelace,ada@example.org\n");
/// # Ok(()) }
/// ```
pub async fn export_csv<E: Entity>(cx: &Session, spec: &Export, out: impl Write) -> Result<u64> {
    let columns = spec.resolved_columns::<E>(cx).await?;
    // Refused before the header is written: a refused export writes nothing.
    export_reach::<E>(cx).await?;
    let mut w = csv::Writer::from_writer(out);
    w.write_record(columns.iter().map(Field::path))?;
    let n = each_record::<E>(cx, spec, |record| {
        let id = Value::Id(record.id().into());
        let rec: Record = record.into_record();
        let cells = columns.iter().map(|c| if is_id(c) { cell_text(&id) } else { cell_text(&rec.field(c)) });
        w.write_record(cells)?;
        Ok(())
    })
    .await?;
    w.flush()?;
    Ok(n)
}

/// Writes the records of kind `E` that `spec` selects as JSON Lines: each whole record, exactly
/// as stored (every field, typed), one per line. `columns` does not apply. Returns how many
/// records were written.
pub async fn export_jsonl<E: Entity>(cx: &Session, spec: &Export, mut out: impl Write) -> Result<u64> {
    let n = each_record::<E>(cx, spec, |record| {
        serde_json::to_writer(&mut out, &record).map_err(std::io::Error::from)?;
        out.write_all(b"\n")?;
        Ok(())
    })
    .await?;
    out.flush()?;
    Ok(n)
}
