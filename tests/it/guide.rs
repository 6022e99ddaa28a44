//! The host side of `plugins/README.md`, compiled and run as written: the code between the
//! `guide` markers below is the guide's second Rust block, word for word (a test compares them),
//! and the tests run it against the guide's plugin (`plugins/dist/readme-example.wasm`).

// guide:start
use std::path::Path;

use crm::plugins::{Grants, HostConfig, PluginHost};
use crm::prelude::*;

/// A CRM over `store` with the plugin at `wasm` installed.
async fn with_plugins(store: SqlStore, cache: &Path, wasm: &Path) -> Result<Crm, Box<dyn std::error::Error>> {
    let host = PluginHost::new(HostConfig::default().cache_dir(cache))?;
    host.install_file(wasm, Grants::all())?; // checks, compiles (or loads the cache), describes
    let crm = Crm::builder(store).extensions(host.extensions()).build()?;
    crm.ensure_indexes().await?; // indexes for `indexed` fields
    Ok(crm)
}

/// A boat for sale: a plugin's fields are set like custom fields, as `plugin.field`.
async fn list_boat(cx: &Session, name: &str, length_m: Decimal, price: Money) -> Result<Deal> {
    let deal = NewDeal::new(name).amount(price).custom("boats.length_m", length_m).custom("boats.price", price);
    cx.deals().create(deal).await
}

/// Boats under `max`, cheapest first: a plugin's fields filter and sort like built-in ones.
async fn boats_under(cx: &Session, max: Money) -> Result<Vec<Deal>> {
    let query = Query::new(Filter::lt("boats.price", max)).sort_asc("boats.price");
    Ok(cx.deals().list(&query).await?.items)
}
// guide:end

fn eur(n: i64) -> Money {
    Money::new(Decimal::from(n), Currency::EUR)
}

/// The guide's second Rust block.
fn guide_block() -> &'static str {
    let readme = include_str!("../../plugins/README.md");
    let mut blocks = readme.split("```rust\n").skip(1).map(|b| b.split("\n```").next().unwrap_or(""));
    blocks.nth(1).expect("plugins/README.md has a second ```rust block")
}

#[test]
fn the_guides_host_code_is_the_code_tested_here() {
    let me = include_str!("guide.rs");
    let start = me.find("// guide:start\n").expect("start marker") + "// guide:start\n".len();
    let end = me.find("// guide:end").expect("end marker");
    assert_eq!(guide_block().trim(), me[start..end].trim(), "plugins/README.md and tests/it/guide.rs differ");
}

#[tokio::test]
async fn the_guides_host_code_loads_the_guides_plugin_and_queries_its_fields() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqlStore::sqlite(dir.path().join("crm.db").to_str().unwrap()).await.unwrap();
    let wasm = Path::new(env!("CARGO_MANIFEST_DIR")).join("plugins/dist/readme-example.wasm");
    let crm = with_plugins(store, &dir.path().join("cache"), &wasm).await.expect("the guide's plugin loads");
    let cx = crm.as_actor(&Actor::system(TenantId::new()));
    list_boat(&cx, "Sea Breeze 32", Decimal::new(98, 1), eur(98_000)).await.unwrap();
    list_boat(&cx, "Dinghy", Decimal::from(3), eur(4_500)).await.unwrap();
    list_boat(&cx, "Ocean 80", Decimal::from(24), eur(900_000)).await.unwrap();

    let cheap = boats_under(&cx, eur(100_000)).await.unwrap();
    assert_eq!(cheap.iter().map(|d| d.name.as_str()).collect::<Vec<_>>(), ["Dinghy", "Sea Breeze 32"]);
    assert_eq!(cheap[1].custom.get("boats.price_per_metre"), Some(&Value::from(eur(10_000))), "computed by the plugin");

    // The host enforces the definitions; the error names the field as the CRM stores it.
    let err = list_boat(&cx, "Toy", Decimal::ONE, eur(50)).await.unwrap_err();
    assert!(matches!(&err, Error::Validation(v) if v.0.iter().any(|e| e.field == "custom.boats.length_m")), "{err:?}");
}
