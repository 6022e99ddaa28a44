//! Plugin fields are first-class: filterable and sortable through the query AST like
//! built-in ones, on the memory store, a SQLite file and PostgreSQL; `indexed` plugin fields
//! get an index on the SQL backends.

use std::sync::Arc;

use crm_core::prelude::*;
use crm_core::query::{Filter, Query};
use crm_core::service::CrmBuilder;
use crm_plugins::{Grants, HostConfig, PluginHost};
use crm_storage::SqlStore;

use crate::common::{dist, eur};
use sea_orm::{ConnectionTrait, Statement};

/// One text column of every row `sql` returns.
async fn column(store: &SqlStore, sql: &str, col: &str) -> Vec<String> {
    let db = store.connection();
    let rows = db.query_all_raw(Statement::from_string(db.get_database_backend(), sql)).await.unwrap();
    rows.iter().map(|r| r.try_get("", col).unwrap()).collect()
}

/// (name, bedrooms, list price, status)
const LISTINGS: [(&str, i64, i64, &str); 7] = [
    ("Oak Lane 1", 3, 850_000, "active"),
    ("Oak Lane 2", 4, 650_000, "active"),
    ("Elm Road 5", 2, 400_000, "active"),
    ("Pine Court 9", 5, 1_200_000, "active"),
    ("Birch Way 3", 3, 700_000, "sold"),
    ("Cedar Close 7", 3, 899_999, "active"),
    ("Maple Drive 2", 6, 900_000, "active"),
];

async fn scenario(store: Arc<dyn Store>) -> Crm {
    let host = PluginHost::new(HostConfig::default()).expect("host");
    host.install(&dist("real-estate.wasm"), Grants::none()).expect("install real-estate");
    let crm = CrmBuilder::from_arc(store).extensions(host.extensions()).build().expect("crm");
    crm.ensure_indexes().await.expect("indexes");
    // Twice: idempotent.
    crm.ensure_indexes().await.expect("indexes again");
    crm
}

async fn check_queries(crm: &Crm) {
    let cx = crm.as_actor(&Actor::system(TenantId::from_uuid(uuid::Uuid::now_v7())));
    for (name, beds, price, status) in LISTINGS {
        cx.deals()
            .create(
                NewDeal::new(name)
                    .custom("real_estate.property_address", format!("{name}, Springfield"))
                    .custom("real_estate.bedrooms", beds)
                    .custom("real_estate.list_price", eur(price))
                    .custom("real_estate.listing_status", status),
            )
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    // bedrooms >= 3 AND list price < 900,000 AND status = active, most expensive first.
    let filter = Filter::gte("custom.real_estate.bedrooms", 3i64)
        .and(Filter::lt("custom.real_estate.list_price", eur(900_000)))
        .and(Filter::eq("custom.real_estate.listing_status", "active"));
    let page = cx.deals().list(&Query::new(filter.clone()).sort_desc("custom.real_estate.list_price")).await.unwrap();
    let names: Vec<&str> = page.items.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, ["Cedar Close 7", "Oak Lane 1", "Oak Lane 2"]);
    assert_eq!(cx.deals().count(&filter).await.unwrap(), 3);
    // The guide's short form (`plugin.field`) names the same fields.
    let short = Filter::gte("real_estate.bedrooms", 3i64)
        .and(Filter::lt("real_estate.list_price", eur(900_000)))
        .and(Filter::eq("real_estate.listing_status", "active"));
    let page = cx.deals().list(&Query::new(short).sort_desc("real_estate.list_price")).await.unwrap();
    assert_eq!(page.items.iter().map(|d| d.name.as_str()).collect::<Vec<_>>(), names);
    // Sorting by a plugin integer field (ascending, ties by id) and a computed field.
    let page =
        cx.deals().list(&Query::new(Filter::All).sort_asc("custom.real_estate.bedrooms").limit(2)).await.unwrap();
    assert_eq!(page.items[0].name, "Elm Road 5");
    // A filter on an unknown plugin key is refused like an unknown custom field.
    let err = cx.deals().list(&Query::new(Filter::eq("custom.real_estate.nope", 1i64))).await.unwrap_err();
    assert!(
        matches!(&err, Error::Validation(v) if v.0[0].field == "filter.custom.real_estate.nope" && v.0[0].code == FieldErrorCode::UnknownField),
        "{err:?}"
    );
}

#[tokio::test]
async fn plugin_fields_filter_and_sort_in_memory() {
    let crm = scenario(Arc::new(MemoryStore::new())).await;
    check_queries(&crm).await;
}

#[tokio::test]
async fn plugin_fields_filter_and_sort_on_sqlite_with_an_index() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqlStore::sqlite(dir.path().join("crm.db")).await.unwrap();
    let crm = scenario(Arc::new(store.clone())).await;
    check_queries(&crm).await;
    let names = column(
        &store,
        "SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE 'ix_deals_cf_%' ORDER BY name",
        "name",
    )
    .await;
    assert!(names.contains(&"ix_deals_cf_real_estate__listing_status".to_owned()), "{names:?}");
    // SQLite's planner uses the index for the expression the query compiler writes.
    let detail = column(
        &store,
        "EXPLAIN QUERY PLAN SELECT id FROM deals WHERE tenant_id = x'00' AND (\"custom\" ->> '$.\"real_estate.listing_status\"') = 'x'",
        "detail",
    )
    .await;
    assert!(detail.iter().any(|d| d.contains("ix_deals_cf_real_estate__listing_status")), "{detail:?}");
    // Ranges, as the compiler writes them for integers and money: the tagged value within its
    // tag's range (`i:` to `i;`, `m:EUR:` to `m:EUR;`), which the index serves as a range search.
    for (key, lo, hi) in [("bedrooms", "i:", "i;"), ("list_price", "m:EUR:", "m:EUR;")] {
        let e = format!("(\"custom\" ->> '$.\"real_estate.{key}\"')");
        let detail = column(
            &store,
            &format!("EXPLAIN QUERY PLAN SELECT id FROM deals WHERE tenant_id = x'00' AND ({e} IS NOT NULL AND {e} >= '{lo}' AND {e} < '{hi}')"),
            "detail",
        )
        .await;
        let index = format!("ix_deals_cf_real_estate__{key}");
        assert!(detail.iter().any(|d| d.contains(&index) && d.contains('>') && d.contains('<')), "{key}: {detail:?}");
    }
}

#[tokio::test]
async fn plugin_fields_filter_and_sort_on_postgres_with_an_index() {
    let url = std::env::var("CRM_PG_URL")
        .expect("CRM_PG_URL must name a PostgreSQL database (see scripts/pg.sh; scripts/test.sh sets it)");
    let store = SqlStore::postgres_with(&url, 4).await.unwrap();
    let crm = scenario(Arc::new(store.clone())).await;
    check_queries(&crm).await;
    let defs = column(
        &store,
        "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_deals_cf_real_estate__listing_status_nf'",
        "indexdef",
    )
    .await;
    let def = defs.first().expect("the index exists");
    // NULLS FIRST: a list sorted on the field reads the index forwards (ascending) or backwards.
    assert!(def.contains("real_estate.listing_status") && def.contains("NULLS FIRST"), "{def}");
}
