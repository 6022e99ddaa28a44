//! SQL text and rows shared by the store, the migrations and the search index: multi-row
//! statements, the insert and derived-column update of records, decoding a stored record, and
//! walking a table page by page. A leaf of the crate: it uses the schema, never the store.

use crm_core::entity::EntityKind;
use crm_core::error::{Error, Result};
use crm_core::model::Record;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query as Sql};
use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement, Value as SqlValue};

use crate::encode::custom_json;
use crate::schema::{columns, derived_values, quote, table};

/// `INSERT INTO <into> VALUES (…), …` with `rows` rows of `width` placeholders, then `tail`.
pub(crate) fn values_sql(backend: DbBackend, into: &str, width: usize, rows: usize, tail: &str) -> String {
    use std::fmt::Write;
    let mut sql = String::with_capacity(32 + into.len() + rows * width * 6 + tail.len());
    let _ = write!(sql, "INSERT INTO {into} VALUES ");
    push_placeholders(&mut sql, backend, width, rows);
    sql.push_str(tail);
    sql
}

/// `(?, ?), (?, ?)…` (SQLite) or `($1, $2), ($3, $4)…` (PostgreSQL).
fn push_placeholders(sql: &mut String, backend: DbBackend, width: usize, rows: usize) {
    use std::fmt::Write;
    for i in 0..rows {
        sql.push_str(if i == 0 { "(" } else { ", (" });
        for j in 0..width {
            if j > 0 {
                sql.push_str(", ");
            }
            match backend {
                DbBackend::Postgres => {
                    let _ = write!(sql, "${}", i * width + j + 1);
                }
                _ => sql.push('?'),
            }
        }
        sql.push(')');
    }
}

/// Rows per multi-row statement with `cols` bound values per row: as many as the engine's
/// variable limit allows (SQLite 32766, PostgreSQL 65535), at most 1000.
pub(crate) fn rows_per_statement(backend: DbBackend, cols: usize) -> usize {
    let limit = if backend == DbBackend::Postgres { 65_535 } else { 32_766 };
    (limit / cols.max(1)).clamp(1, 1000)
}

/// `INSERT` of records of one kind (all of `records` must share kind and tenant). Written
/// directly rather than through a sea-query AST: for bulk imports this is the hot path, and
/// only placeholders and schema names go into the text (every value is bound).
pub(crate) fn insert_stmt(backend: DbBackend, records: &[&Record], ignore_existing: bool) -> Result<Statement> {
    use std::fmt::Write;
    let Some(first) = records.first() else { return Err(Error::storage("insert of no records")) };
    let kind = first.kind();
    let cols = columns(kind);
    let width = 5 + cols.len();
    let mut sql = String::with_capacity(64 + width * 24 + records.len() * width * 6);
    let _ = write!(sql, "INSERT INTO \"{}\" (\"tenant_id\", \"id\", \"version\", \"data\", \"custom\"", table(kind));
    for c in cols.iter() {
        let _ = write!(sql, ", \"{}\"", c.name);
    }
    sql.push_str(") VALUES ");
    let mut values: Vec<SqlValue> = Vec::with_capacity(records.len() * width);
    push_placeholders(&mut sql, backend, width, records.len());
    for r in records {
        if r.kind() != kind {
            return Err(Error::storage("insert of records of several kinds in one statement"));
        }
        values.push(r.tenant_id().as_uuid().into());
        values.push(r.id().into());
        values.push((r.version() as i64).into());
        values.push(serde_json::to_string(r).map_err(|e| Error::storage(e.to_string()))?.into());
        values.push(SqlValue::Json(custom_json(r.custom()).map(Box::new)));
        values.extend(derived_values(r));
    }
    if ignore_existing {
        sql.push_str(" ON CONFLICT (\"tenant_id\", \"id\") DO NOTHING");
    }
    Ok(Statement::from_sql_and_values(backend, sql, values))
}

/// `UPDATE` of a record's version, data and derived columns (by tenant and id).
pub(crate) fn update_derived_query(record: &Record) -> Result<sea_orm::sea_query::UpdateStatement> {
    let kind = record.kind();
    let mut q = Sql::update();
    q.table(Alias::new(table(kind)));
    q.value(Alias::new("version"), record.version() as i64);
    q.value(Alias::new("data"), serde_json::to_string(record).map_err(|e| Error::storage(e.to_string()))?);
    q.value(Alias::new("custom"), SqlValue::Json(custom_json(record.custom()).map(Box::new)));
    for (c, v) in columns(kind).iter().zip(derived_values(record)) {
        q.value(Alias::new(c.name.as_ref()), v);
    }
    q.and_where(Expr::col(Alias::new("tenant_id")).eq(record.tenant_id().as_uuid()));
    q.and_where(Expr::col(Alias::new("id")).eq(record.id()));
    Ok(q)
}

/// The backfill statement of a record (rewrites its derived columns as stored).
pub(crate) fn update_derived(backend: DbBackend, record: &Record) -> Result<Statement> {
    Ok(backend.build(&update_derived_query(record)?))
}

pub(crate) fn decode(data: &str, kind: EntityKind) -> Result<Record> {
    let r: Record =
        serde_json::from_str(data).map_err(|e| Error::storage(format!("a stored {kind} does not decode: {e}")))?;
    if r.kind() != kind {
        return Err(Error::storage(format!("a {} is stored among {kind} records", r.kind())));
    }
    Ok(r)
}

/// Rows per page when a migration walks a table.
const PAGE: i64 = 500;

/// The next page of stored records of `kind` after the key `after` (in key order), or `None`
/// past the end: migrations walk tables of any size in bounded memory.
pub(crate) async fn stored_page(
    db: &impl ConnectionTrait,
    kind: EntityKind,
    after: Option<(uuid::Uuid, uuid::Uuid)>,
) -> Result<Option<Vec<Record>>, DbErr> {
    let backend = db.get_database_backend();
    let table = quote(table(kind));
    let pg = backend == DbBackend::Postgres;
    let stmt = match after {
        None => Statement::from_sql_and_values(
            backend,
            format!("SELECT data FROM {table} ORDER BY tenant_id, id LIMIT {}", if pg { "$1" } else { "?" }),
            [PAGE.into()],
        ),
        Some((tenant, id)) => Statement::from_sql_and_values(
            backend,
            if pg {
                format!("SELECT data FROM {table} WHERE (tenant_id, id) > ($1, $2) ORDER BY tenant_id, id LIMIT $3")
            } else {
                format!("SELECT data FROM {table} WHERE (tenant_id, id) > (?, ?) ORDER BY tenant_id, id LIMIT ?")
            },
            [tenant.into(), id.into(), PAGE.into()],
        ),
    };
    let rows = db.query_all_raw(stmt).await?;
    if rows.is_empty() {
        return Ok(None);
    }
    rows.iter()
        .map(|row| {
            let data: String = row.try_get("", "data")?;
            decode(&data, kind).map_err(|e| DbErr::Custom(e.to_string()))
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}
