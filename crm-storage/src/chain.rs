//! The outbox on SQL: events numbered per tenant in commit order and linked into the tenant's
//! hash chain ([`crm_core::chain`]), written in the committing transaction; and the walk that
//! verifies the chain.
//!
//! `crm_tenants` holds each tenant's counter (`last_seq`) and chain head (`last_hash`); the
//! counter row is locked from the first event written until commit, so numbers and links
//! follow commit order. `crm_events` holds each event's stored text, digest and link;
//! `crm_event_touches` the records each event is about, for the timeline's lookups.

use crm_core::chain::{self, ChainHead, ChainReport, ChainWalk};
use crm_core::{entity::EntityRef, error::Error, error::Result, event::Event, event::StoredEvent, ids::TenantId};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Order, Query as Sql, Value as SqlValue};
use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement};

use crate::rows::{rows_per_statement, values_sql};
use crate::store::db_err;

/// Events read per statement while verifying or backfilling.
const PAGE: u64 = 1000;

/// Numbers, links and writes `events` of `tenant` in the open transaction `db`.
pub(crate) async fn append(
    db: &impl ConnectionTrait,
    tenant: TenantId,
    events: Vec<Event>,
) -> Result<Vec<StoredEvent>> {
    let backend = db.get_database_backend();
    let t = tenant.as_uuid();
    let n = events.len() as i64;
    // The upsert locks the tenant's counter row until commit; it returns the head before it.
    let p = |i: usize| if backend == DbBackend::Postgres { format!("${i}") } else { "?".to_owned() };
    let stmt = Statement::from_sql_and_values(
        backend,
        format!(
            "INSERT INTO crm_tenants (tenant_id, last_seq) VALUES ({}, {}) ON CONFLICT (tenant_id) \
             DO UPDATE SET last_seq = crm_tenants.last_seq + excluded.last_seq RETURNING last_seq, last_hash",
            p(1),
            p(2)
        ),
        [t.into(), n.into()],
    );
    let row = db.query_one_raw(stmt).await.map_err(db_err)?.ok_or_else(|| Error::storage("no event counter"))?;
    let last: i64 = row.try_get("", "last_seq").map_err(db_err)?;
    let mut prev: String = row.try_get::<Option<String>>("", "last_hash").map_err(db_err)?.unwrap_or_default();
    let first = last - n + 1;
    let stored: Vec<StoredEvent> = events
        .into_iter()
        .enumerate()
        .map(|(i, event)| StoredEvent { seq: (first + i as i64) as u64, event })
        .collect();
    for chunk in stored.chunks(1000) {
        let mut rows: Vec<SqlValue> = Vec::with_capacity(chunk.len() * 6);
        let mut touches: Vec<SqlValue> = Vec::with_capacity(chunk.len() * 8);
        for s in chunk {
            let data = serde_json::to_string(&s.event).map_err(|e| Error::storage(e.to_string()))?;
            let digest = chain::digest(&data);
            prev = chain::link(&prev, s.seq, &digest);
            rows.extend([
                t.into(),
                (s.seq as i64).into(),
                s.event.id.as_uuid().into(),
                data.into(),
                digest.into(),
                prev.clone().into(),
            ]);
            let mut refs: Vec<EntityRef> =
                std::iter::once(s.event.subject).chain(s.event.related.iter().copied()).collect();
            refs.sort();
            refs.dedup();
            for r in refs {
                touches.extend([t.into(), r.kind.as_str().into(), r.id.into(), (s.seq as i64).into()]);
            }
        }
        let sql =
            values_sql(backend, "crm_events (tenant_id, seq, event_id, data, digest, hash)", 6, rows.len() / 6, "");
        db.execute_raw(Statement::from_sql_and_values(backend, sql, rows)).await.map_err(db_err)?;
        // An event may touch many records: keep each statement under the variable limit.
        for part in touches.chunks(rows_per_statement(backend, 4) * 4) {
            let sql = values_sql(
                backend,
                "crm_event_touches (tenant_id, kind, ref_id, seq)",
                4,
                part.len() / 4,
                " ON CONFLICT (tenant_id, kind, ref_id, seq) DO NOTHING",
            );
            db.execute_raw(Statement::from_sql_and_values(backend, sql, part.to_vec())).await.map_err(db_err)?;
        }
    }
    set_head(db, t, &prev).await.map_err(db_err)?;
    Ok(stored)
}

async fn set_head(db: &impl ConnectionTrait, tenant: uuid::Uuid, hash: &str) -> Result<(), DbErr> {
    let mut q = Sql::update();
    q.table(Alias::new("crm_tenants"))
        .value(Alias::new("last_hash"), hash)
        .and_where(Expr::col(Alias::new("tenant_id")).eq(tenant));
    db.execute(&q).await.map(|_| ())
}

/// A stored event as the chain walk reads it: seq, stored text, digest, link, scrubbed.
type Stored = (i64, String, Option<String>, Option<String>, bool);

/// One page of a tenant's events after `after`.
async fn page(db: &impl ConnectionTrait, tenant: uuid::Uuid, after: i64, upto: i64) -> Result<Vec<Stored>, DbErr> {
    let mut q = Sql::select();
    q.columns(["seq", "data", "digest", "hash", "scrubbed"].map(Alias::new))
        .from(Alias::new("crm_events"))
        .and_where(Expr::col(Alias::new("tenant_id")).eq(tenant))
        .and_where(Expr::col(Alias::new("seq")).gt(after))
        .and_where(Expr::col(Alias::new("seq")).lte(upto))
        .order_by(Alias::new("seq"), Order::Asc)
        .limit(PAGE);
    db.query_all(&q)
        .await?
        .iter()
        .map(|r| {
            let scrubbed: Option<bool> = r.try_get("", "scrubbed")?;
            Ok((
                r.try_get("", "seq")?,
                r.try_get("", "data")?,
                r.try_get("", "digest")?,
                r.try_get("", "hash")?,
                scrubbed.unwrap_or(false),
            ))
        })
        .collect()
}

/// The head kept for `tenant`: its counter and last link.
async fn kept_head(db: &impl ConnectionTrait, tenant: uuid::Uuid) -> Result<Option<(i64, Option<String>)>, DbErr> {
    let mut q = Sql::select();
    q.columns(["last_seq", "last_hash"].map(Alias::new))
        .from(Alias::new("crm_tenants"))
        .and_where(Expr::col(Alias::new("tenant_id")).eq(tenant));
    match db.query_one(&q).await? {
        Some(r) => Ok(Some((r.try_get("", "last_seq")?, r.try_get("", "last_hash")?))),
        None => Ok(None),
    }
}

/// Walks `tenant`'s chain up to the head read first (events committed meanwhile are left out).
pub(crate) async fn verify(db: &impl ConnectionTrait, tenant: TenantId) -> Result<ChainReport> {
    let t = tenant.as_uuid();
    let head = kept_head(db, t).await.map_err(db_err)?;
    let upto = head.as_ref().map_or(0, |h| h.0);
    let mut walk = ChainWalk::new();
    let mut after = 0;
    loop {
        let rows = page(db, t, after, upto).await.map_err(db_err)?;
        for (seq, data, digest, hash, scrubbed) in &rows {
            walk.push(*seq as u64, data, digest.as_deref(), hash.as_deref(), *scrubbed);
        }
        match rows.last() {
            Some(last) if rows.len() as u64 == PAGE => after = last.0,
            _ => break,
        }
    }
    let kept = head.and_then(|(seq, hash)| Some(ChainHead { seq: seq as u64, hash: hash? }));
    Ok(walk.finish(kept))
}

/// Replaces the stored text of `events` of `tenant` (by seq and event id) and marks them
/// scrubbed, in the open transaction `db`; an event not stored fails the whole call.
pub(crate) async fn scrub(db: &impl ConnectionTrait, tenant: TenantId, events: &[StoredEvent]) -> Result<()> {
    for (i, e) in events.iter().enumerate() {
        let data = serde_json::to_string(&e.event).map_err(|e| Error::storage(e.to_string()))?;
        let mut u = Sql::update();
        u.table(Alias::new("crm_events"))
            .values([(Alias::new("data"), data.into()), (Alias::new("scrubbed"), true.into())])
            .and_where(Expr::col(Alias::new("tenant_id")).eq(tenant.as_uuid()))
            .and_where(Expr::col(Alias::new("seq")).eq(e.seq as i64))
            .and_where(Expr::col(Alias::new("event_id")).eq(e.event.id.as_uuid()));
        if db.execute(&u).await.map_err(db_err)?.rows_affected() != 1 {
            return Err(crm_core::store::not_stored(i, e));
        }
    }
    Ok(())
}

/// Links the events stored before the chain existed, tenant by tenant, in seq order.
pub(crate) async fn backfill(db: &impl ConnectionTrait) -> Result<(), DbErr> {
    let mut q = Sql::select();
    q.columns(["tenant_id", "last_seq"].map(Alias::new)).from(Alias::new("crm_tenants"));
    let tenants: Vec<(uuid::Uuid, i64)> = db
        .query_all(&q)
        .await?
        .iter()
        .map(|r| Ok((r.try_get("", "tenant_id")?, r.try_get("", "last_seq")?)))
        .collect::<Result<_, DbErr>>()?;
    for (t, upto) in tenants {
        let mut prev = String::new();
        let mut after = 0;
        loop {
            let rows = page(db, t, after, upto).await?;
            for (seq, data, ..) in &rows {
                let digest = chain::digest(data);
                prev = chain::link(&prev, *seq as u64, &digest);
                let mut u = Sql::update();
                u.table(Alias::new("crm_events"))
                    .values([(Alias::new("digest"), digest.into()), (Alias::new("hash"), prev.clone().into())])
                    .and_where(Expr::col(Alias::new("tenant_id")).eq(t))
                    .and_where(Expr::col(Alias::new("seq")).eq(*seq));
                db.execute(&u).await?;
            }
            match rows.last() {
                Some(last) if rows.len() as u64 == PAGE => after = last.0,
                _ => break,
            }
        }
        set_head(db, t, &prev).await?;
    }
    Ok(())
}
