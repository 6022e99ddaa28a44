//! Migrating an old-version database forward.
//!
//! The old database is built by hand as an early build left it: schema version 1 (the system
//! tables, applied with `Migrator::up(.., Some(1))`) and a `contacts` table with only the key,
//! `version`, `data` and `custom` columns, holding rows written directly. Opening it with
//! [`SqlStore`] must add and backfill the standard-field columns (so filters and sorts on
//! them work), record every migration, and be idempotent on the second and third open; the
//! result must have the same tables, columns and indexes as a database created fresh.

use crm_core::query::{Filter, Query};
use crm_core::testkit::fixtures::{self, at};
use crm_core::{
    entity::EntityKind, event::Change, event::Event, event::EventQuery, ids::EventId, ids::TenantId, model::Entity,
    model::Record, profile::LifecycleStage, store::Store, store::TxMode, value::Value,
};
use crm_storage::SqlStore;
use crm_storage::encode::custom_json;
use crm_storage::migration::Migrator;
use rust_decimal::Decimal;
use sea_orm::sea_query::Value as SqlValue;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use sea_orm_migration::MigratorTrait;

/// The records of the old database: five contacts of tenant `t`, one of tenant `other`.
fn old_records(t: TenantId, other: TenantId) -> Vec<Record> {
    let mut ada = fixtures::full_contact(t); // Ada Lovelace, sales-qualified lead, custom values of every type
    ada.updated_at = at(50);
    let mut alan = fixtures::contact(t, "Alan", "Turing"); // lead, no custom values
    alan.updated_at = at(10);
    let mut grace = fixtures::contact(t, "Grace", "Hopper");
    grace.lifecycle_stage = LifecycleStage::Customer;
    grace.tags = vec!["navy".into(), "VIP".into()];
    grace.custom.insert("t_int".into(), Value::Int(7));
    grace.version = 3;
    grace.updated_at = at(30);
    let mut anna = fixtures::contact(t, "anna", "Lovelace");
    anna.custom.insert("t_text".into(), Value::Text("web".into()));
    anna.updated_at = at(40);
    let mut zed = fixtures::contact(t, "Zed", "Adams");
    zed.lifecycle_stage = LifecycleStage::Evangelist;
    zed.custom.insert("t_dec".into(), Value::Decimal(Decimal::new(-5, 1)));
    zed.updated_at = at(20);
    let mut stranger = fixtures::contact(other, "Ada", "Lovelace");
    stranger.updated_at = at(60);
    [ada, alan, grace, anna, zed, stranger].into_iter().map(Entity::into_record).collect()
}

/// Schema version 1 plus the old `contacts` table, filled with `records`.
async fn create_old_database(db: &DatabaseConnection, records: &[Record]) {
    let backend = db.get_database_backend();
    Migrator::up(db, Some(1)).await.expect("apply schema version 1");
    let (uuid, json) = match backend {
        DbBackend::Postgres => ("UUID", "JSONB"),
        _ => ("BLOB", "TEXT"),
    };
    db.execute_unprepared(&format!(
        "CREATE TABLE contacts (tenant_id {uuid} NOT NULL, id {uuid} NOT NULL, version BIGINT NOT NULL, \
         data TEXT NOT NULL, custom {json}, PRIMARY KEY (tenant_id, id))"
    ))
    .await
    .expect("create the old contacts table");
    let sql = match backend {
        DbBackend::Postgres => {
            "INSERT INTO contacts (tenant_id, id, version, data, custom) VALUES ($1, $2, $3, $4, $5)"
        }
        _ => "INSERT INTO contacts (tenant_id, id, version, data, custom) VALUES (?, ?, ?, ?, ?)",
    };
    for r in records {
        // An old build wrote NULL for a record without custom values.
        let custom = r.custom().filter(|c| !c.is_empty()).and_then(|c| custom_json(Some(c)));
        let values: [SqlValue; 5] = [
            r.tenant_id().as_uuid().into(),
            r.id().into(),
            (r.version() as i64).into(),
            serde_json::to_string(r).expect("record JSON").into(),
            SqlValue::Json(custom.map(Box::new)),
        ];
        db.execute_raw(Statement::from_sql_and_values(backend, sql, values)).await.expect("insert an old row");
    }
    // The old outbox: a creation event per record, numbered per tenant, not chained.
    let mut counters: std::collections::BTreeMap<uuid::Uuid, i64> = Default::default();
    for r in records {
        let t = r.tenant_id().as_uuid();
        let seq = counters.entry(t).or_default();
        *seq += 1;
        let event = Event {
            id: EventId::from_uuid(uuid::Uuid::now_v7()),
            tenant_id: r.tenant_id(),
            occurred_at: at(1),
            actor: None,
            subject: r.entity_ref(),
            related: Vec::new(),
            change: Change::Created,
            values: Vec::new(),
            origin: None,
            depth: 0,
        };
        let sql = match backend {
            DbBackend::Postgres => "INSERT INTO crm_events (tenant_id, seq, event_id, data) VALUES ($1, $2, $3, $4)",
            _ => "INSERT INTO crm_events (tenant_id, seq, event_id, data) VALUES (?, ?, ?, ?)",
        };
        let values: [SqlValue; 4] =
            [t.into(), (*seq).into(), event.id.as_uuid().into(), serde_json::to_string(&event).unwrap().into()];
        db.execute_raw(Statement::from_sql_and_values(backend, sql, values)).await.expect("insert an old event");
    }
    for (t, last) in counters {
        let sql = match backend {
            DbBackend::Postgres => "INSERT INTO crm_tenants (tenant_id, last_seq) VALUES ($1, $2)",
            _ => "INSERT INTO crm_tenants (tenant_id, last_seq) VALUES (?, ?)",
        };
        let values: [SqlValue; 2] = [t.into(), last.into()];
        db.execute_raw(Statement::from_sql_and_values(backend, sql, values)).await.expect("insert a counter");
    }
    assert_eq!(
        columns(db).await,
        sorted(["custom", "data", "id", "tenant_id", "version"]),
        "the old contacts table has only the base columns"
    );
}

fn sorted<const N: usize>(names: [&str; N]) -> Vec<String> {
    let mut v: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

async fn strings(db: &DatabaseConnection, sql: &str) -> Vec<String> {
    let backend = db.get_database_backend();
    let rows = db.query_all_raw(Statement::from_string(backend, sql)).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    let mut out: Vec<String> = rows.iter().map(|r| r.try_get::<String>("", "name").expect("a name")).collect();
    out.sort();
    out
}

/// The column names of `contacts`.
async fn columns(db: &DatabaseConnection) -> Vec<String> {
    match db.get_database_backend() {
        DbBackend::Postgres => {
            strings(
                db,
                "SELECT column_name::text AS name FROM information_schema.columns \
                 WHERE table_schema = current_schema() AND table_name = 'contacts'",
            )
            .await
        }
        _ => strings(db, "SELECT name FROM pragma_table_info('contacts')").await,
    }
}

/// Tables, the indexes of `contacts`, and the applied migrations (name, time applied).
#[derive(Debug, PartialEq)]
struct Shape {
    tables: Vec<String>,
    contact_columns: Vec<String>,
    contact_indexes: Vec<String>,
    migrations: Vec<(String, i64)>,
}

async fn shape(db: &DatabaseConnection) -> Shape {
    let pg = db.get_database_backend() == DbBackend::Postgres;
    let tables = if pg {
        strings(
            db,
            "SELECT table_name::text AS name FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'",
        )
        .await
    } else {
        strings(db, "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'").await
    };
    let contact_indexes = if pg {
        strings(
            db,
            "SELECT indexname::text AS name FROM pg_indexes WHERE schemaname = current_schema() AND tablename = 'contacts'",
        )
        .await
    } else {
        strings(db, "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'contacts'").await
    };
    let backend = db.get_database_backend();
    let rows = db
        .query_all_raw(Statement::from_string(
            backend,
            "SELECT version, applied_at FROM crm_migrations ORDER BY version",
        ))
        .await
        .expect("read crm_migrations");
    let migrations = rows
        .iter()
        .map(|r| {
            (
                r.try_get::<String>("", "version").expect("version"),
                r.try_get::<i64>("", "applied_at").expect("applied_at"),
            )
        })
        .collect();
    Shape { tables, contact_columns: columns(db).await, contact_indexes, migrations }
}

fn names(items: &[Record]) -> Vec<String> {
    items
        .iter()
        .map(|r| match r {
            Record::Contact(c) => c.given_name.clone(),
            other => panic!("not a contact: {other:?}"),
        })
        .collect()
}

/// Reads, filters and sorts of tenant `t` after migration; `records` are all old rows.
async fn check_migrated(store: &SqlStore, t: TenantId, records: &[Record]) {
    let mine: Vec<Record> = records.iter().filter(|r| r.tenant_id() == t).cloned().collect();
    // The old events were linked into the tenant's chain, in order.
    let chain = store.verify_events(t).await.expect("verify the chain");
    assert!(chain.is_intact(), "{:?}", chain.faults);
    assert_eq!((chain.events, chain.head.map(|h| h.seq)), (mine.len() as u64, Some(mine.len() as u64)));
    let events = store.read_events(t, &EventQuery::after(0, 100)).await.expect("read the old events");
    assert_eq!(
        events.iter().map(|e| e.event.subject.id).collect::<Vec<_>>(),
        mine.iter().map(|r| r.id()).collect::<Vec<_>>()
    );
    let mut tx = store.begin(t, TxMode::ReadOnly).await.expect("begin");
    for r in &mine {
        assert_eq!(
            tx.get(EntityKind::Contact, r.id()).await.expect("get").as_ref(),
            Some(r),
            "an old record reads back"
        );
    }
    let ada_email = "ada@analytical.co.uk";
    let cases: Vec<(Query, &[&str])> = vec![
        (Query::new(Filter::eq("lifecycle_stage", LifecycleStage::Lead)), &["Alan", "anna"]),
        (Query::new(Filter::eq("lifecycle_stage", LifecycleStage::Customer)), &["Grace"]),
        (Query::new(Filter::eq("family_name", "Lovelace")), &["Ada", "anna"]),
        (Query::new(Filter::starts_with("family_name", "lo")), &["Ada", "anna"]),
        (Query::new(Filter::eq("email", ada_email)), &["Ada"]),
        (Query::new(Filter::eq("city", "London")), &["Ada"]),
        (Query::new(Filter::contains("tags", "vip")), &["Ada", "Grace"]),
        (Query::new(Filter::is_null("tags")), &["Alan", "anna", "Zed"]),
        (Query::new(Filter::gt("updated_at", at(25))), &["Ada", "Grace", "anna"]),
        (Query::new(Filter::lte("updated_at", at(20))), &["Alan", "Zed"]),
        (Query::new(Filter::eq("version", 3)), &["Grace"]),
        (Query::new(Filter::is_null("job_title")), &["Alan", "Grace", "anna", "Zed"]),
        (Query::new(Filter::gte("custom.t_int", 0)), &["Grace"]),
        (Query::new(Filter::eq("custom.t_text", "web")), &["anna"]),
        (Query::new(Filter::lt("custom.t_dec", 0)), &["Zed"]),
        (
            Query::new(Filter::All).sort_asc("family_name").sort_asc("given_name"),
            &["Zed", "Grace", "Ada", "anna", "Alan"],
        ),
        (Query::new(Filter::All).sort_desc("updated_at"), &["Ada", "anna", "Grace", "Zed", "Alan"]),
        (
            Query::new(Filter::ne("lifecycle_stage", LifecycleStage::Lead)).sort_asc("lifecycle_stage"),
            &["Grace", "Zed", "Ada"],
        ),
    ];
    for (q, want) in &cases {
        // Walk in pages of two, so the keyset cursor runs on the backfilled columns too.
        let mut got = Vec::new();
        let mut q2 = q.clone().limit(2);
        loop {
            let page = tx.query(EntityKind::Contact, &q2).await.unwrap_or_else(|e| panic!("{q:?}: {e}"));
            got.extend(page.items);
            match page.next {
                Some(c) => q2.after = Some(c),
                None => break,
            }
        }
        assert_eq!(names(&got), *want, "{q:?}");
        assert_eq!(got, q.clone().limit(1000).apply(&mine).expect("reference").items, "{q:?} vs the reference");
        assert_eq!(tx.count(EntityKind::Contact, &q.filter).await.expect("count"), want.len() as u64, "count {q:?}");
    }
}

fn expected_migrations() -> Vec<String> {
    let mut v: Vec<String> = Migrator::migrations().iter().map(|m| m.name().to_owned()).collect();
    v.sort();
    v
}

/// Opens the old database three times; checks data, shape and idempotency. Returns the shape.
async fn open_three_times<F, Fut>(open: F, t: TenantId, other: TenantId, records: &[Record]) -> Shape
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = crm_core::error::Result<SqlStore>>,
{
    let mut first: Option<Shape> = None;
    for n in 1..=3 {
        let store = open().await.unwrap_or_else(|e| panic!("open #{n} of the old database failed: {e}"));
        check_migrated(&store, t, records).await;
        // The other tenant's row was migrated too, and stays invisible to `t`.
        let mut tx = store.begin(other, TxMode::ReadOnly).await.expect("begin");
        let theirs = tx.query(EntityKind::Contact, &Query::new(Filter::eq("family_name", "Lovelace"))).await;
        assert_eq!(names(&theirs.expect("query").items), ["Ada"], "open #{n}: the other tenant");
        drop(tx);
        let s = shape(store.connection()).await;
        let applied: Vec<String> = s.migrations.iter().map(|(v, _)| v.clone()).collect();
        assert_eq!(applied, expected_migrations(), "open #{n}: crm_migrations lists every migration");
        for col in ["given_name", "family_name", "lifecycle_stage", "updated_at", "tags", "email"] {
            assert!(s.contact_columns.iter().any(|c| c == col), "open #{n}: contacts has no column {col}: {s:?}");
        }
        match &first {
            None => first = Some(s),
            Some(f) => assert_eq!(&s, f, "open #{n} changed the schema or re-ran migrations"),
        }
        drop(store);
    }
    first.expect("opened")
}

/// The same shape as a fresh database (migration times aside).
fn assert_same_shape(migrated: &Shape, fresh: &Shape) {
    assert_eq!(migrated.tables, fresh.tables, "tables of the migrated database vs a fresh one");
    assert_eq!(migrated.contact_columns, fresh.contact_columns, "contacts columns: migrated vs fresh");
    assert_eq!(migrated.contact_indexes, fresh.contact_indexes, "contacts indexes: migrated vs fresh");
    let names = |s: &Shape| s.migrations.iter().map(|(v, _)| v.clone()).collect::<Vec<_>>();
    assert_eq!(names(migrated), names(fresh), "applied migrations: migrated vs fresh");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_old_version_database_migrates_forward() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("old.db");
    let (t, other) = (fixtures::tenant(), fixtures::tenant());
    let records = old_records(t, other);

    let raw = sea_orm::Database::connect(format!("sqlite://{}?mode=rwc", path.display()))
        .await
        .expect("create the old database file");
    create_old_database(&raw, &records).await;
    assert_eq!(shape(&raw).await.migrations.len(), 1, "the old database is at version 1");
    raw.close().await.expect("close the old database");

    let migrated = open_three_times(|| SqlStore::sqlite(&path), t, other, &records).await;
    let fresh = SqlStore::sqlite(dir.path().join("fresh.db")).await.expect("create a fresh database");
    assert_same_shape(&migrated, &shape(fresh.connection()).await);
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_old_version_schema_migrates_forward() {
    let base = std::env::var("CRM_PG_URL")
        .expect("CRM_PG_URL must name a PostgreSQL database (see scripts/pg.sh; scripts/test.sh sets it)");
    let admin = sea_orm::Database::connect(base.as_str()).await.expect("connect to CRM_PG_URL");
    let suffix = uuid::Uuid::now_v7().simple().to_string();
    let (old_schema, fresh_schema) = (format!("mig_{suffix}"), format!("migf_{suffix}"));
    for s in [&old_schema, &fresh_schema] {
        admin.execute_unprepared(&format!("CREATE SCHEMA {s}")).await.expect("create a test schema");
    }
    let sep = if base.contains('?') { '&' } else { '?' };
    let url_of = |schema: &str| format!("{base}{sep}options=-csearch_path%3D{schema}");
    let (old_url, fresh_url) = (url_of(&old_schema), url_of(&fresh_schema));

    let (t, other) = (fixtures::tenant(), fixtures::tenant());
    let records = old_records(t, other);
    let raw = sea_orm::Database::connect(old_url.as_str()).await.expect("connect to the old schema");
    let row = raw
        .query_one_raw(Statement::from_string(DbBackend::Postgres, "SELECT current_schema()::text AS name"))
        .await
        .expect("current_schema()")
        .expect("a row");
    assert_eq!(row.try_get::<String>("", "name").expect("name"), old_schema, "search_path from the URL applies");
    create_old_database(&raw, &records).await;
    assert_eq!(shape(&raw).await.migrations.len(), 1, "the old schema is at version 1");
    raw.close().await.expect("close");

    let migrated = open_three_times(|| SqlStore::postgres_with(&old_url, 2), t, other, &records).await;
    let fresh = SqlStore::postgres_with(&fresh_url, 2).await.expect("create a fresh schema");
    assert_same_shape(&migrated, &shape(fresh.connection()).await);
    drop(fresh);

    for s in [&old_schema, &fresh_schema] {
        admin.execute_unprepared(&format!("DROP SCHEMA {s} CASCADE")).await.expect("drop a test schema");
    }
}
