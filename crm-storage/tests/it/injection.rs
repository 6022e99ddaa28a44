//! Hostile input: SQL-injection classics, LIKE wildcards, placeholder look-alikes, JSON-path
//! syntax, our own tag prefixes, odd unicode and long strings, stored as standard text fields,
//! tags, custom values and custom-field *keys*, then used as operands of `eq`, `ne`,
//! `contains`, `starts_with`, `in` and `is_null` on every one of those fields.
//!
//! Every SQL result must equal crm-core's reference semantics (`Filter::matches` /
//! `Query::apply` over the same records), and afterwards every table must still exist with
//! its row count unchanged. Runs on SQLite in memory, on a SQLite file and (feature
//! `postgres`) on PostgreSQL in a schema of its own.

use std::collections::BTreeMap;

use crm_core::query::{Field, Filter, Query};
use crm_core::testkit::fixtures;
use crm_core::{
    entity::EntityKind, ids::TenantId, model::Entity, model::Record, store::Store, store::TxMode, value::Value,
};
use crm_storage::SqlStore;
use rust_decimal::Decimal;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};

/// A deterministic, incompressible-looking string of `n` ASCII letters and digits.
fn noise(n: usize, seed: u64) -> String {
    const ABC: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ABC[(x >> 33) as usize % ABC.len()] as char
        })
        .collect()
}

/// The hostile strings (no NUL: PostgreSQL text cannot hold it).
fn corpus() -> Vec<String> {
    let mut c: Vec<String> = [
        "'; DROP TABLE contacts; --",
        "\" OR 1=1 --",
        "\\' OR \\'1\\'=\\'1",
        "' OR '1'='1",
        "' OR 1=1; DELETE FROM contacts; --",
        "%",
        "_",
        "%_%",
        "a%",
        "\\",
        "\\%",
        "' || (SELECT data FROM contacts) || '",
        "'); DROP TABLE crm_events; --",
        "$1",
        "?",
        "?1",
        ":name",
        "@p1",
        "$$",
        "$tag$ x $tag$",
        "{}",
        "'$.x'",
        "$.x",
        "$.\"x\"",
        "$[0]",
        "\") --",
        "/* c */",
        "--",
        ";",
        "`tick`",
        "[bracket]",
        "Ωmega",
        "ΩMEGA",
        "𝔘nicode",
        "😀🎉",
        "ß",
        "SS",
        "straße",
        "STRASSE",
        "e\u{301}",
        "é",
        "line\nbreak",
        "tab\there",
        "\r\n",
        "\u{1}\u{7f}",
        "\\u0000",
        "{\"t\":\"x\"}",
        "t:abc",
        "t:",
        "n:2500",
        "m:USD:2004",
        "[]",
        "[\"t:x\"]",
        "null",
        "NULL",
        "true",
        "0",
        "",
        " ",
        "  padded  ",
        "Ada",
        "ada",
        "ADA",
        "abc",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    c.push("x".repeat(5_000));
    // Not longer: PostgreSQL refuses a name of ~2.7 KB of incompressible text (the btree
    // limit of the `(family_name, given_name)` index); service validation caps names at 200
    // characters, so only raw store writes can get there.
    c.push(noise(1000, 7));
    c
}

/// Custom-field keys that are not plain identifiers (plus two that are).
fn hostile_keys() -> Vec<String> {
    [
        "note",
        "a'b",
        "x\"y",
        "$.z",
        "k; DROP TABLE contacts; --",
        "a.b",
        "a[0]",
        "*",
        " ",
        "",
        "ключ",
        "\\",
        "'",
        "$",
        "') OR ('1'='1",
        "custom",
        "Note",
        "a\\b",
        "\\n",
        "a\\\\b",
        "tab\there",
        "new\nline",
        "é",
        "😀",
        "a b",
        "$.z[0]",
        "1",
        "-",
        "'; --",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// The contacts of the test: one per corpus string, plus a few with non-text custom values.
fn records(t: TenantId, corpus: &[String], keys: &[String]) -> Vec<Record> {
    let n = corpus.len();
    let mut out = Vec::new();
    for (i, s) in corpus.iter().enumerate() {
        let mut c = fixtures::contact(t, s, &corpus[(i + 7) % n]);
        c.created_at = fixtures::at(i as i64);
        c.updated_at = c.created_at;
        c.tags = vec![s.clone(), corpus[(i + 3) % n].clone()];
        if i % 3 == 0 {
            c.job_title = Some(corpus[(i + 11) % n].clone());
        }
        c.custom.insert("note".into(), Value::Text(s.clone()));
        c.custom.insert(
            "labels".into(),
            Value::List(vec![Value::Text(s.clone()), Value::Text(corpus[(i + 5) % n].clone())]),
        );
        // Each hostile key holds a value in some records and is missing in others.
        for (j, k) in keys.iter().enumerate() {
            if (i + j) % 3 != 0 {
                c.custom.insert(k.clone(), Value::Text(corpus[(i + j) % n].clone()));
            }
        }
        out.push(c.into_record());
    }
    // Non-text values under text-ish keys: the tagged encodings must not leak into text matches.
    let mut odd = fixtures::contact(t, "Odd", "Values");
    odd.custom.insert("note".into(), Value::Int(2500));
    odd.custom.insert("a'b".into(), Value::Decimal(Decimal::new(2004, 2)));
    odd.custom.insert("$.z".into(), Value::Bool(true));
    odd.custom.insert("labels".into(), Value::List(vec![]));
    out.push(odd.into_record());
    let mut money = fixtures::contact(t, "Money", "Values");
    money.custom.insert(
        "note".into(),
        Value::Money(crm_core::money::Money::new(Decimal::new(2004, 2), crm_core::money::Currency::USD)),
    );
    money.tags = Vec::new();
    out.push(money.into_record());
    out.push(fixtures::contact(t, "Plain", "Nothing").into_record());
    out
}

/// Every filter of the test, with `corpus` strings as operands: all of them on the standard
/// text fields, tags and the `note`/`labels` custom fields; every fourth on the other keys
/// (which are there for the key handling, not the operands).
fn filters(corpus: &[String], keys: &[String]) -> Vec<Filter> {
    let mut full: Vec<Field> =
        ["given_name", "family_name", "job_title"].iter().map(|f| Field::Std(f.to_string())).collect();
    full.extend(["note", "labels"].map(|k| Field::Custom(k.into())));
    let sampled: Vec<Field> =
        keys.iter().filter(|k| !matches!(k.as_str(), "note" | "labels")).map(|k| Field::Custom(k.clone())).collect();
    let mut out = Vec::new();
    for f in full.iter().chain(&sampled) {
        out.push(Filter::IsNull { field: f.clone() });
    }
    for (i, q) in corpus.iter().enumerate() {
        let other = &corpus[(i + 1) % corpus.len()];
        let tq = Value::Text(q.clone());
        let fields = full.iter().chain(sampled.iter().filter(|_| i % 4 == 0));
        for f in fields {
            out.push(Filter::eq(f.clone(), tq.clone()));
            out.push(Filter::ne(f.clone(), tq.clone()));
            out.push(Filter::contains(f.clone(), tq.clone()));
            out.push(Filter::starts_with(f.clone(), q.clone()));
            out.push(Filter::is_in(f.clone(), [q.clone(), other.clone()]));
        }
        // Tags are a standard list field: contains and in only.
        out.push(Filter::contains("tags", tq.clone()));
        out.push(Filter::is_in("tags", [q.clone()]));
        out.push(Filter::is_in("tags", [q.clone(), other.clone()]).not());
    }
    // Non-text operands against the records holding numbers, money and booleans: their tagged
    // encodings (`n:…`, `m:USD:…`, `b:1`) must behave as the values, not as the text `n:2500`.
    let typed = [
        Value::Int(2500),
        Value::Decimal(Decimal::new(250_000, 2)),
        Value::Decimal(Decimal::new(2004, 2)),
        Value::Money(crm_core::money::Money::new(Decimal::new(2004, 2), crm_core::money::Currency::USD)),
        Value::Bool(true),
    ];
    for k in ["note", "a'b", "$.z", "labels"] {
        let f = Field::Custom(k.into());
        for v in &typed {
            out.push(Filter::eq(f.clone(), v.clone()));
            out.push(Filter::ne(f.clone(), v.clone()));
            out.push(Filter::gte(f.clone(), v.clone()));
            out.push(Filter::is_in(f.clone(), [v.clone()]));
            out.push(Filter::is_in(f.clone(), [v.clone(), Value::Text("n:2500".into())]));
            // `contains` with a non-text operand is only true on lists (validation refuses it
            // elsewhere); on a scalar holding an equal value it must still be false.
            out.push(Filter::contains(f.clone(), v.clone()));
        }
    }
    out
}

/// Every table's name and row count, as the database itself reports them.
async fn table_counts(db: &DatabaseConnection) -> BTreeMap<String, i64> {
    let backend = db.get_database_backend();
    let list = match backend {
        DbBackend::Postgres => {
            "SELECT table_name AS name FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
        }
        _ => "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
    };
    let rows = db.query_all_raw(Statement::from_string(backend, list)).await.expect("list the tables");
    let mut out = BTreeMap::new();
    for r in rows {
        let name: String = r.try_get("", "name").expect("table name");
        let q = format!("SELECT COUNT(*) AS n FROM \"{}\"", name.replace('"', "\"\""));
        let row = db.query_one_raw(Statement::from_string(backend, q)).await.expect("count rows").expect("one row");
        out.insert(name, row.try_get::<i64>("", "n").expect("a count"));
    }
    out
}

/// Stores the hostile records, runs every filter, compares with the reference semantics.
/// Records hold every hostile key; `skip_key` leaves keys a backend does not support out of
/// the queries.
async fn run(store: SqlStore, skip_key: impl Fn(&str) -> bool) {
    let t = fixtures::tenant();
    let corpus = corpus();
    let recs = records(t, &corpus, &hostile_keys());
    let keys: Vec<String> = hostile_keys().into_iter().filter(|k| !skip_key(k)).collect();

    let mut tx = store.begin(t, TxMode::ReadWrite).await.expect("begin");
    for r in &recs {
        tx.insert(r.clone()).await.unwrap_or_else(|e| panic!("insert of {:?} failed: {e}", r.id()));
    }
    tx.commit().await.expect("commit the hostile records");
    let before = table_counts(store.connection()).await;
    assert!(before.get("contacts").copied().unwrap_or(0) >= recs.len() as i64, "the contacts were stored: {before:?}");

    // Everything reads back exactly, in id order.
    let all = Query::new(Filter::All).limit(1000);
    let mut tx = store.begin(t, TxMode::ReadOnly).await.expect("begin");
    let page = tx.query(EntityKind::Contact, &all).await.expect("read everything back");
    assert_eq!(page.items, all.apply(&recs).expect("reference").items, "records do not round-trip exactly");
    drop(tx);

    let filters = filters(&corpus, &keys);
    let mut mismatches: Vec<String> = Vec::new();
    for chunk in filters.chunks(200) {
        let mut tx = store.begin(t, TxMode::ReadOnly).await.expect("begin");
        for f in chunk {
            let q = Query::new(f.clone()).limit(1000);
            let want = q.apply(&recs).expect("reference").items;
            let got = match tx.query(EntityKind::Contact, &q).await {
                Ok(p) => p.items,
                Err(e) => {
                    mismatches.push(format!("{f:?}: query failed: {e}"));
                    tx = store.begin(t, TxMode::ReadOnly).await.expect("begin");
                    continue;
                }
            };
            if got != want {
                let names = |rs: &[Record]| -> Vec<String> {
                    rs.iter()
                        .map(|r| match r {
                            Record::Contact(c) => format!("{:?}", c.given_name.chars().take(40).collect::<String>()),
                            other => other.id().to_string(),
                        })
                        .collect()
                };
                mismatches.push(format!("{f:?}\n    sql:       {:?}\n    reference: {:?}", names(&got), names(&want)));
                continue;
            }
            match tx.count(EntityKind::Contact, f).await {
                Ok(n) if n == want.len() as u64 => {}
                Ok(n) => mismatches.push(format!("{f:?}: count {n}, reference {}", want.len())),
                Err(e) => {
                    mismatches.push(format!("{f:?}: count failed: {e}"));
                    tx = store.begin(t, TxMode::ReadOnly).await.expect("begin");
                }
            }
        }
    }
    let shown: Vec<&String> = mismatches.iter().take(40).collect();
    assert!(
        mismatches.is_empty(),
        "{} of {} filters disagree with the reference semantics; first ones:\n{}",
        mismatches.len(),
        filters.len(),
        shown.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("\n")
    );

    // Nothing was dropped, deleted or added by any of it.
    let after = table_counts(store.connection()).await;
    assert_eq!(after, before, "tables or row counts changed while querying");
    let mut tx = store.begin(t, TxMode::ReadOnly).await.expect("begin");
    assert_eq!(tx.count(EntityKind::Contact, &Filter::All).await.expect("count"), recs.len() as u64);
}

/// Custom-field keys SQLite does not handle (left out of the SQLite runs only):
/// - keys containing `"`: documented as unsupported (treated as null);
/// - KNOWN BUG, reported: keys containing `\`. The key is put into a JSON path as `$."<key>"`
///   and SQLite decodes JSON escapes in quoted path labels, so `a\b` looks up `a<backspace>`
///   (found nothing: wrong results), `a\\b` looks up `a\b` (another key's values), and `\`
///   makes the path malformed (every filter on it fails with "bad JSON path"). Escaping `\`
///   and `"` in the label (`\\`, `\"`) fixes both cases on the bundled SQLite 3.51.
fn sqlite_unsupported_key(_key: &str) -> bool {
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_strings_sqlite_in_memory() {
    run(SqlStore::sqlite_in_memory().await.expect("open in-memory SQLite"), sqlite_unsupported_key).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_strings_sqlite_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    run(SqlStore::sqlite(dir.path().join("crm.db")).await.expect("open SQLite file"), sqlite_unsupported_key).await;
}

#[cfg(feature = "postgres")]
mod postgres {
    use uuid::Uuid;

    use super::*;

    /// A fresh schema on the `CRM_PG_URL` server, and a URL whose connections use it.
    pub(crate) async fn fresh_schema(prefix: &str) -> (String, String) {
        let base = std::env::var("CRM_PG_URL")
            .expect("CRM_PG_URL must name a PostgreSQL database (see scripts/pg.sh; scripts/test.sh sets it)");
        let schema = format!("{prefix}_{}", Uuid::now_v7().simple());
        let admin = sea_orm::Database::connect(base.as_str()).await.expect("connect to CRM_PG_URL");
        admin.execute_unprepared(&format!("CREATE SCHEMA {schema}")).await.expect("create a test schema");
        admin.close().await.expect("close");
        let sep = if base.contains('?') { '&' } else { '?' };
        (format!("{base}{sep}options=-csearch_path%3D{schema}"), schema)
    }

    pub(crate) async fn drop_schema(schema: &str) {
        let base = std::env::var("CRM_PG_URL").expect("CRM_PG_URL");
        let admin = sea_orm::Database::connect(base.as_str()).await.expect("connect to CRM_PG_URL");
        admin.execute_unprepared(&format!("DROP SCHEMA {schema} CASCADE")).await.expect("drop the test schema");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn hostile_strings_postgres() {
        let (url, schema) = fresh_schema("inj").await;
        let store = SqlStore::postgres_with(&url, 4).await.expect("connect to PostgreSQL");
        let row = store
            .connection()
            .query_one_raw(Statement::from_string(DbBackend::Postgres, "SELECT current_schema() AS s"))
            .await
            .expect("current_schema()")
            .expect("one row");
        assert_eq!(row.try_get::<String>("", "s").expect("schema"), schema, "search_path from the URL applies");
        run(store, |_| false).await;
        drop_schema(&schema).await;
    }
}
