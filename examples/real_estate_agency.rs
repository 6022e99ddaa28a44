//! A real-estate agency on the embedded SQLite store, extended by the `real_estate` plugin
//! (a sandboxed WebAssembly component built from `plugins/guests/examples/real-estate`).
//!
//! It loads the plugin, records a few property listings as deals with the plugin's fields,
//! shows a bad listing refused with the plugin's own message, queries listings by plugin
//! fields (bedrooms ≥ 3, list price < 900,000, status active), wins a deal and shows what the
//! plugin did in reaction: the listing marked sold and a key hand-over task.
//!
//! ```sh
//! plugins/build-guests.sh --no-test          # builds plugins/dist/real-estate.wasm
//! cargo run --example real_estate_agency --features plugins
//! ```

use crm::model::StageKind;
use crm::plugins::{Grants, HostConfig, PluginHost};
use crm::prelude::*;
use crm::query::{Filter, Query};
use rust_decimal::Decimal;

fn eur(n: i64) -> Money {
    Money::new(Decimal::from(n), Currency::EUR)
}

fn custom_text(d: &Deal, key: &str) -> String {
    match d.custom.get(key) {
        Some(Value::Text(s)) => s.clone(),
        Some(Value::Int(i)) => i.to_string(),
        Some(Value::Decimal(x)) => x.to_string(),
        Some(Value::Money(m)) => format!("{} {}", m.amount, m.currency.code()),
        Some(other) => format!("{other:?}"),
        None => "-".into(),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let wasm = root.join("plugins/dist/real-estate.wasm");
    let cache = std::env::temp_dir().join("crm-plugin-cache");
    let host = PluginHost::new(HostConfig::default().cache_dir(&cache))?;
    let info = host
        .install_file(&wasm, Grants::all())
        .map_err(|e| format!("{}: {e} (build it with plugins/build-guests.sh)", wasm.display()))?;
    println!(
        "Loaded plugin `{}` {} ({} fields, from cache: {})",
        info.id,
        info.version,
        info.fields.len(),
        info.from_cache
    );
    for f in &info.fields {
        println!("  {:<9} {:<34} {}", f.entity_kind.as_str(), f.key, f.label);
    }

    let crm = Crm::builder(SqlStore::sqlite_in_memory().await?).extensions(host.extensions()).build()?;
    crm.ensure_indexes().await?;
    let cx = crm.as_actor(&Actor::system(TenantId::new()));

    // (address, bedrooms, bathrooms, m², price, status)
    let listings = [
        ("4 Harbour View, Seaport", 3, 2, "120", 850_000, "active"),
        ("17 Mill Lane, Oldtown", 4, 3, "165", 690_000, "active"),
        ("2/9 Quay Street, Seaport", 2, 1, "70", 420_000, "active"),
        ("88 Ridge Road, Hillside", 5, 4, "310", 1_450_000, "active"),
        ("31 Orchard Close, Oldtown", 3, 2, "118", 640_000, "under_offer"),
    ];
    let mut deals = Vec::new();
    for (addr, beds, baths, area, price, status) in listings {
        let deal = cx
            .deals()
            .create(
                NewDeal::new(addr)
                    .amount(eur(price))
                    .custom("real_estate.property_address", addr)
                    .custom("real_estate.property_type", "house")
                    .custom("real_estate.bedrooms", beds as i64)
                    .custom("real_estate.bathrooms", baths as i64)
                    .custom("real_estate.floor_area_m2", Value::Decimal(area.parse()?))
                    .custom("real_estate.list_price", eur(price))
                    .custom("real_estate.listing_status", status),
            )
            .await?;
        deals.push(deal);
    }
    println!("\nListings");
    for d in &deals {
        println!(
            "  {:<28} {:>2} bed  {:>14}  {:>13}/m²  {}",
            d.name,
            custom_text(d, "real_estate.bedrooms"),
            custom_text(d, "real_estate.list_price"),
            custom_text(d, "real_estate.price_per_m2"),
            custom_text(d, "real_estate.listing_status"),
        );
    }

    // The plugin's rules refuse a bad listing, with its own message.
    let bad = cx
        .deals()
        .create(
            NewDeal::new("5 Tiny Street")
                .custom("real_estate.property_address", "5 Tiny Street, Oldtown")
                .custom("real_estate.bedrooms", 1i64)
                .custom("real_estate.bathrooms", 4i64)
                .custom("real_estate.listing_status", "sold"),
        )
        .await;
    println!("\nA bad listing is refused:");
    match bad {
        Err(Error::Validation(errs)) => {
            for e in &errs.0 {
                println!("  {}: {}", e.field, e.message);
            }
        }
        other => return Err(format!("expected the plugin to refuse the listing, got {other:?}").into()),
    }

    // Query by plugin fields like built-in ones.
    let filter = Filter::gte("custom.real_estate.bedrooms", 3i64)
        .and(Filter::lt("custom.real_estate.list_price", eur(900_000)))
        .and(Filter::eq("custom.real_estate.listing_status", "active"));
    let found = cx.deals().list(&Query::new(filter).sort_asc("custom.real_estate.list_price")).await?;
    println!("\n3+ bedrooms, under 900,000 EUR, active:");
    for d in &found.items {
        println!("  {:<28} {}", d.name, custom_text(d, "real_estate.list_price"));
    }

    // Win a deal: the plugin marks the listing sold and schedules the key hand-over.
    let pipeline = cx.pipelines().default_pipeline().await?;
    let won = pipeline.stages.iter().find(|s| s.kind == StageKind::Won).ok_or("no won stage")?.id;
    let sold = cx.deals().move_to_stage(deals[1].id, won).await?;
    let sold = cx.deals().get(sold.id).await?;
    println!("\nWon `{}`: listing status is now `{}`", sold.name, custom_text(&sold, "real_estate.listing_status"));
    println!("The plugin's actions:");
    for a in host.take_actions() {
        println!(
            "  {} -> {}",
            a.action,
            if a.outcome.is_ok() { "applied".to_owned() } else { format!("{:?}", a.outcome) }
        );
    }
    let tasks = cx.activities().list(&Query::new(Filter::eq("kind", "task"))).await?;
    for t in &tasks.items {
        println!("  task: {} (due {})", t.subject, t.due_at.map(|d| d.date_naive().to_string()).unwrap_or_default());
    }
    Ok(())
}
