//! The plugin lifecycle: contract versions, the compiled-artifact cache, capability grants,
//! the field history across restarts, manifests refused at install, and the real-estate, retail
//! and guide (`plugins/README.md`) plugins through a real CRM.

use crm_core::prelude::*;
use crm_core::query::{Filter, Query};
use crm_plugins::{Capability, Grants, HostConfig, InstallError, PluginHost};
use rust_decimal::Decimal;

use crate::common::{dist, eur};

#[test]
fn a_component_built_against_another_major_is_refused_by_name() {
    let host = PluginHost::new(HostConfig::default()).unwrap();
    let err = host.install(&dist("future-major.wasm"), Grants::all()).unwrap_err();
    match &err {
        InstallError::UnsupportedVersion { found, supported } => {
            assert_eq!(found, "crm:plugin/plugin@2.0.0");
            assert_eq!(supported, "0.2.x");
        }
        other => panic!("expected UnsupportedVersion, got {other:?}"),
    }
    assert!(err.to_string().contains("crm:plugin@0.2.x"), "{err}");
    assert!(host.plugins().is_empty(), "nothing is installed");
    // The current contract loads.
    let info = host.install(&dist("retail.wasm"), Grants::all()).unwrap();
    assert_eq!(info.id, "retail");
    // What it is shown of records is part of what it is.
    assert_eq!(info.reads.get(&EntityKind::Product), Some(&vec!["sku".to_owned(), "name".to_owned()]));
    assert_eq!(info.reads.get(&EntityKind::Contact), None, "it reads no standard field of contacts");
}

#[test]
fn compiled_plugins_are_cached_by_hash_and_reused() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let wasm = dist("real-estate.wasm");
    let first =
        PluginHost::new(HostConfig::default().cache_dir(&cache)).unwrap().install(&wasm, Grants::none()).unwrap();
    assert!(!first.from_cache);
    let mut files: Vec<_> =
        std::fs::read_dir(&cache).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    files.sort_by_key(|f| !f.ends_with(".cwasm"));
    assert_eq!(files.len(), 2, "the artifact and the plugin's field history: {files:?}");
    assert_eq!(files[1], "real_estate.fields.json");
    assert!(files[0].starts_with(&first.sha256) && files[0].ends_with(".cwasm"), "{files:?}");
    // A new host (a restarted process) loads the artifact instead of compiling.
    let second =
        PluginHost::new(HostConfig::default().cache_dir(&cache)).unwrap().install(&wasm, Grants::none()).unwrap();
    assert!(second.from_cache);
    assert_eq!(second.fields, first.fields);
    // A corrupted artifact is not trusted blindly: it is recompiled and rewritten.
    std::fs::write(cache.join(&files[0]), b"garbage").unwrap();
    let third =
        PluginHost::new(HostConfig::default().cache_dir(&cache)).unwrap().install(&wasm, Grants::none()).unwrap();
    assert!(!third.from_cache);
    assert!(std::fs::metadata(cache.join(&files[0])).unwrap().len() > 1000);
}

#[test]
fn capabilities_need_both_the_manifest_and_the_grant() {
    let host = PluginHost::new(HostConfig::default()).unwrap();
    let info = host.install(&dist("retail.wasm"), Grants::none().allow(Capability::Log)).unwrap();
    assert_eq!(info.requested, [Capability::ReadRelated, Capability::Log].into());
    assert_eq!(info.effective, [Capability::Log].into());
    // The real-estate plugin does not ask for read-related: granting it gives nothing.
    let info = host.install(&dist("real-estate.wasm"), Grants::all()).unwrap();
    assert!(!info.effective.contains(&Capability::ReadRelated));
}

#[test]
fn reinstalling_the_same_plugin_is_an_upgrade_that_keeps_its_fields() {
    let host = PluginHost::new(HostConfig::default()).unwrap();
    let a = host.install(&dist("real-estate.wasm"), Grants::none()).unwrap();
    let b = host.install(&dist("real-estate.wasm"), Grants::none()).unwrap();
    assert_eq!(a.fields, b.fields);
    assert!(b.hidden_fields.is_empty());
    assert_eq!(host.plugins().len(), 1);
}

#[test]
fn garbage_is_not_a_component() {
    let host = PluginHost::new(HostConfig::default()).unwrap();
    for bytes in [&b"not wasm at all"[..], b"\0asm\x01\0\0\0", b""] {
        let err = host.install(bytes, Grants::all()).unwrap_err();
        assert!(matches!(err, InstallError::InvalidComponent(_)), "{err:?}");
    }
}

#[tokio::test]
async fn an_order_placed_lowers_stock_creates_reorder_tasks_and_raises_loyalty() {
    let host = PluginHost::new(HostConfig::default()).unwrap();
    host.install(&dist("retail.wasm"), Grants::all()).unwrap();
    let crm = Crm::builder(MemoryStore::new()).extensions(host.extensions()).build().unwrap();
    let cx = crm.as_actor(&Actor::system(TenantId::from_uuid(uuid::Uuid::now_v7())));

    // The declarative constraints and the plugin's checksum rule guard product fields.
    let bad = cx
        .products()
        .create(NewProduct::new("MUG-1", "Mug", eur(12)).custom("retail.barcode", "4006381333932"))
        .await
        .unwrap_err();
    assert!(
        matches!(&bad, Error::Validation(v) if v.0.iter().any(|e| e.field == "custom.retail.barcode" && e.message.contains("check digit"))),
        "{bad:?}"
    );
    let bad = cx
        .products()
        .create(NewProduct::new("MUG-1", "Mug", eur(12)).custom("retail.supplier_sku", "mug-1"))
        .await
        .unwrap_err();
    assert!(
        matches!(&bad, Error::Validation(v) if v.0[0].field == "custom.retail.supplier_sku" && v.0[0].code == FieldErrorCode::InvalidFormat),
        "{bad:?}"
    );

    let mug = cx
        .products()
        .create(
            NewProduct::new("MUG-1", "Mug", eur(12))
                .custom("retail.barcode", "4006381333931")
                .custom("retail.supplier_sku", "ACM-1234")
                .custom("retail.stock_on_hand", 10i64)
                .custom("retail.reorder_level", 5i64),
        )
        .await
        .unwrap();
    assert_eq!(mug.custom.get("retail.needs_reorder"), Some(&Value::Bool(false)), "computed at create");
    let tee = cx
        .products()
        .create(
            NewProduct::new("TEE-1", "T-shirt", eur(20))
                .custom("retail.stock_on_hand", 100i64)
                .custom("retail.reorder_level", 10i64),
        )
        .await
        .unwrap();
    let ada = cx.contacts().create(NewContact::new("Ada", "Lovelace")).await.unwrap();

    let order = cx
        .orders()
        .create(
            NewOrder::for_contact(ada.id)
                .currency(Currency::EUR)
                .line(LineItem::for_product(&mug, Decimal::from(6)))
                .line(LineItem::for_product(&tee, Decimal::from(2)))
                .placed(),
        )
        .await
        .unwrap();

    let mug = cx.products().get(mug.id).await.unwrap();
    assert_eq!(mug.custom.get("retail.stock_on_hand"), Some(&Value::Int(4)));
    assert_eq!(mug.custom.get("retail.needs_reorder"), Some(&Value::Bool(true)), "recomputed on the plugin's write");
    assert!(mug.tags.contains(&"reorder".to_owned()), "{:?}", mug.tags);
    let tee = cx.products().get(tee.id).await.unwrap();
    assert_eq!(tee.custom.get("retail.stock_on_hand"), Some(&Value::Int(98)));
    assert!(!tee.tags.contains(&"reorder".to_owned()));

    let tasks = cx.activities().list(&Query::new(Filter::eq("kind", "task"))).await.unwrap();
    let titles: Vec<&str> = tasks.items.iter().map(|t| t.subject.as_str()).collect();
    assert_eq!(titles, ["Reorder MUG-1"]);

    let ada = cx.contacts().get(ada.id).await.unwrap();
    assert_eq!(ada.custom.get("retail.lifetime_value"), Some(&Value::Money(order.total)));
    assert_eq!(ada.custom.get("retail.loyalty_tier"), Some(&Value::Text("bronze".into())), "{:?}", ada.custom);
    let actions = host.take_actions();
    assert!(actions.iter().all(|a| a.outcome.is_ok()), "{actions:?}");
    // The plugin's own writes did not re-trigger it: one stock update per product, one
    // lifetime-value update.
    assert_eq!(actions.iter().filter(|a| a.action.starts_with("set-field")).count(), 3, "{actions:?}");
}

#[tokio::test]
async fn a_declared_capability_the_embedder_did_not_grant_is_refused_at_call_time() {
    // Retail asks for read-related (it reads the ordered products); this embedder grants only log.
    let host = PluginHost::new(HostConfig::default()).unwrap();
    host.install(&dist("retail.wasm"), Grants::none().allow(Capability::Log)).unwrap();
    let crm = Crm::builder(MemoryStore::new()).extensions(host.extensions()).build().unwrap();
    let cx = crm.as_actor(&Actor::system(TenantId::from_uuid(uuid::Uuid::now_v7())));
    let mug = cx
        .products()
        .create(
            NewProduct::new("MUG-1", "Mug", eur(12))
                .custom("retail.stock_on_hand", 10i64)
                .custom("retail.reorder_level", 5i64),
        )
        .await
        .expect("save-path hooks need no capability");
    let ada = cx.contacts().create(NewContact::new("Ada", "Lovelace")).await.unwrap();
    cx.orders()
        .create(
            NewOrder::for_contact(ada.id)
                .currency(Currency::EUR)
                .line(LineItem::for_product(&mug, Decimal::from(6)))
                .placed(),
        )
        .await
        .expect("a failed reaction never undoes the order");
    // The reaction was refused: no stock change, no task, no action applied.
    let after = cx.products().get(mug.id).await.unwrap();
    assert_eq!(after.custom.get("retail.stock_on_hand"), Some(&Value::Int(10)));
    assert_eq!(after.version, mug.version);
    let tasks = cx.activities().list(&Query::new(Filter::eq("kind", "task"))).await.unwrap();
    assert!(tasks.items.is_empty(), "{:?}", tasks.items);
    assert!(host.take_actions().is_empty());
    assert!(host.is_enabled("retail"), "one refusal does not disable it");
}

#[test]
fn the_contract_the_host_serves_is_the_sdks_released_folder() {
    // One WIT source, owned by the SDK, in the folder of the release it was frozen at; the host
    // is generated from it and serves that version.
    let wit = include_str!("../../../guests/sdk/wit/since_v0.2.0/crm-plugin.wit");
    assert!(wit.contains(&format!("package crm:plugin@{};", crm_plugins::CONTRACT_VERSION)));
    assert!(
        crm_plugins::CONTRACT_VERSION.starts_with("0.2."),
        "a new contract series gets a since_v folder of its own"
    );
}

#[tokio::test]
async fn upgrades_add_fields_hide_dropped_ones_and_refuse_type_changes_even_of_hidden_ones() {
    let host = PluginHost::new(HostConfig::default()).unwrap();
    let v1 = host.install(&dist("upgrade-v1.wasm"), Grants::none()).unwrap();
    assert_eq!(v1.version, "0.1.0");
    let keys: Vec<&str> = v1.fields.iter().map(|f| f.key.as_str()).collect();
    assert_eq!(keys, ["upgrade.size", "upgrade.colour"]);
    let crm = Crm::builder(MemoryStore::new()).extensions(host.extensions()).build().unwrap();
    let cx = crm.as_actor(&Actor::system(TenantId::from_uuid(uuid::Uuid::now_v7())));
    let deal = cx
        .deals()
        .create(NewDeal::new("Boat").custom("upgrade.size", 3i64).custom("upgrade.colour", "red"))
        .await
        .unwrap();
    let at = EntityRef::new(EntityKind::Deal, deal.id);

    // Version 2 drops `colour`: hidden, its stored value kept through later writes, new
    // values refused.
    let v2 = host.install(&dist("upgrade-v2.wasm"), Grants::none()).unwrap();
    assert_eq!((v2.version.as_str(), v2.hidden_fields.as_slice()), ("0.2.0", &["upgrade.colour".to_owned()][..]));
    cx.set_custom_value(at, "upgrade.size", Value::Int(4)).await.expect("the same CRM sees the upgrade");
    let kept = cx.deals().get(deal.id).await.unwrap();
    assert_eq!(kept.custom.get("upgrade.size"), Some(&Value::Int(4)));
    assert_eq!(kept.custom.get("upgrade.colour"), Some(&Value::Text("red".into())), "hidden, not deleted");
    let refused = cx.set_custom_value(at, "upgrade.colour", Value::Text("blue".into())).await.unwrap_err();
    assert!(
        matches!(&refused, Error::Validation(v) if v.0[0].field == "custom.upgrade.colour" && v.0[0].code == FieldErrorCode::UnknownField),
        "{refused:?}"
    );

    // Version 3 brings `colour` back as an integer: refused, although v2 no longer declares it,
    // and the installed version stays v2.
    let err = host.install(&dist("upgrade-v3.wasm"), Grants::none()).unwrap_err();
    match &err {
        InstallError::TypeChange { plugin, field, from, to } => {
            assert_eq!((plugin.as_str(), field.as_str()), ("upgrade", "deal colour"));
            assert_eq!((from.as_str(), to.as_str()), ("text", "number"));
        }
        other => panic!("expected TypeChange, got {other:?}"),
    }
    assert_eq!(host.plugins()[0].version, "0.2.0");
    // Straight from v1 it is refused too.
    let fresh = PluginHost::new(HostConfig::default()).unwrap();
    fresh.install(&dist("upgrade-v1.wasm"), Grants::none()).unwrap();
    assert!(matches!(fresh.install(&dist("upgrade-v3.wasm"), Grants::none()), Err(InstallError::TypeChange { .. })));

    // Reinstalling v1 brings `colour` back with its type and its stored value.
    let again = host.install(&dist("upgrade-v1.wasm"), Grants::none()).unwrap();
    assert!(again.hidden_fields.is_empty(), "{:?}", again.hidden_fields);
    let deal = cx.deals().get(deal.id).await.unwrap();
    assert_eq!(deal.custom.get("upgrade.colour"), Some(&Value::Text("red".into())));
    cx.set_custom_value(at, "upgrade.colour", Value::Text("blue".into())).await.expect("writable again");
}

/// A host with a cache directory remembers every field a plugin declared, so a restart (a new
/// host on the same directory) refuses a type change of a hidden field as the same host would,
/// and reports the hidden field.
#[test]
fn the_field_history_survives_a_restart_through_the_cache_directory() {
    let dir = tempfile::tempdir().unwrap();
    let host = || PluginHost::new(HostConfig::default().cache_dir(dir.path())).unwrap();
    host().install(&dist("upgrade-v1.wasm"), Grants::none()).unwrap();
    let v2 = host().install(&dist("upgrade-v2.wasm"), Grants::none()).unwrap();
    assert_eq!(v2.hidden_fields, ["upgrade.colour"], "v1's field is hidden after a restart too");
    let err = host().install(&dist("upgrade-v3.wasm"), Grants::none()).unwrap_err();
    assert!(
        matches!(&err, InstallError::TypeChange { field, from, to, .. } if field == "deal colour" && from == "text" && to == "number"),
        "{err:?}"
    );
    // Without the directory's memory the type change would have gone through.
    assert!(PluginHost::new(HostConfig::default()).unwrap().install(&dist("upgrade-v3.wasm"), Grants::none()).is_ok());
}

/// The plugin of `plugins/README.md`, built from the guide's own text (`guests/examples/readme-example`,
/// whose build fails if the code reaches 40 lines), loads and does what the guide says: the host
/// enforces its declared range and `required`, it computes the price per metre, and a won deal
/// gets the sea-trial task.
#[tokio::test]
async fn the_plugin_of_the_guide_builds_loads_and_works() {
    let host = PluginHost::new(HostConfig::default()).unwrap();
    let info = host.install(&dist("readme-example.wasm"), Grants::none()).unwrap();
    assert_eq!(info.id, "boats");
    let crm = Crm::builder(MemoryStore::new()).extensions(host.extensions()).build().unwrap();
    let cx = crm.as_actor(&Actor::system(TenantId::from_uuid(uuid::Uuid::now_v7())));
    let metres = |m: i64, tenths: u32| Value::Decimal(Decimal::new(m, tenths));

    let err = cx.deals().create(NewDeal::new("Sloop").custom("boats.length_m", metres(9, 0))).await.unwrap_err();
    assert!(
        matches!(&err, Error::Validation(v) if v.0.iter().any(|e| e.field == "custom.boats.price" && e.code == FieldErrorCode::Required)),
        "{err:?}"
    );
    let err = cx
        .deals()
        .create(NewDeal::new("Dinghy").custom("boats.length_m", metres(15, 1)).custom("boats.price", eur(900)))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Validation(v) if v.0.iter().any(|e| e.field == "custom.boats.length_m" && e.code == FieldErrorCode::OutOfRange)),
        "{err:?}"
    );

    let yacht = cx
        .deals()
        .create(
            NewDeal::new("Yacht")
                .amount(eur(250_000))
                .custom("boats.length_m", metres(125, 1))
                .custom("boats.price", eur(250_000)),
        )
        .await
        .unwrap();
    assert_eq!(yacht.custom.get("boats.price_per_metre"), Some(&Value::Money(eur(20_000))), "250,000 / 12.5");
    cx.deals().win(yacht.id).await.unwrap();
    let tasks = cx.activities().list(&Query::new(Filter::eq("kind", "task"))).await.unwrap();
    let titles: Vec<&str> = tasks.items.iter().map(|t| t.subject.as_str()).collect();
    assert_eq!(titles, ["Book the sea trial"]);
    assert_eq!(tasks.items[0].deal_ids, [yacht.id], "the task is on the won deal");
}

/// A component whose manifest breaks the rules is refused at install with every problem
/// listed by where it is, and nothing is installed.
#[test]
fn an_invalid_manifest_is_refused_with_every_problem_listed() {
    let host = PluginHost::new(HostConfig::default()).unwrap();
    let err = host.install(&dist("bad-manifest.wasm"), Grants::all()).unwrap_err();
    let InstallError::Manifest(problems) = &err else { panic!("expected InstallError::Manifest, got {err:?}") };
    for at in [
        "id:",
        "version:",
        "fields[1].name:",
        "fields[2].",
        "fields[3].",
        "fields[4].",
        "fields[5].",
        "reads[0].fields[0]:",
    ] {
        assert!(problems.iter().any(|p| p.starts_with(at)), "no problem at `{at}` in {problems:#?}");
    }
    assert!(problems.iter().any(|p| p.contains("declared twice")), "{problems:#?}");
    assert!(problems.iter().all(|p| !p.starts_with("fields[0]")), "the first `colour` is fine: {problems:#?}");
    assert!(err.to_string().starts_with("invalid manifest: "), "{err}");
    assert!(host.plugins().is_empty(), "nothing is installed");
}

/// The real-estate plugin through a real CRM: the host's own checks and the plugin's rules
/// refuse bad listings with the plugin's messages, the price per m² is computed and follows
/// edits, and a won deal's listing becomes sold with a hand-over task.
#[tokio::test]
async fn the_real_estate_plugin_checks_listings_computes_the_price_per_m2_and_closes_won_deals() {
    let host = PluginHost::new(HostConfig::default()).unwrap();
    host.install(&dist("real-estate.wasm"), Grants::all()).unwrap();
    let crm = Crm::builder(MemoryStore::new()).extensions(host.extensions()).build().unwrap();
    let cx = crm.as_actor(&Actor::system(TenantId::from_uuid(uuid::Uuid::now_v7())));
    let listing = |name: &str| {
        NewDeal::new(name)
            .amount(eur(450_000))
            .custom("real_estate.property_address", format!("{name}, Springfield"))
            .custom("real_estate.bedrooms", 3i64)
            .custom("real_estate.bathrooms", 2i64)
            .custom("real_estate.floor_area_m2", Value::Decimal(Decimal::new(1205, 1)))
            .custom("real_estate.listing_status", "active")
    };
    let refused = |e: Error, field: &str, code: FieldErrorCode| {
        assert!(
            matches!(&e, Error::Validation(v) if v.0.iter().any(|f| f.field == field && f.code == code)),
            "{field}: {e:?}"
        );
        e.to_string()
    };

    // The plugin's rules: a sold listing needs a price; at most two bathrooms beyond the bedrooms.
    let e = cx.deals().create(listing("12 Elm St").custom("real_estate.listing_status", "sold")).await.unwrap_err();
    assert!(refused(e, "custom.real_estate.list_price", FieldErrorCode::Required).contains("sold listing"));
    let e = cx.deals().create(listing("3 Oak Ave").custom("real_estate.bathrooms", 6i64)).await.unwrap_err();
    assert!(refused(e, "custom.real_estate.bathrooms", FieldErrorCode::Rule).contains("at most 5"));
    // The host's own check of the declared range, before the plugin is asked.
    let e = cx.deals().create(listing("4 Ash Rd").custom("real_estate.bedrooms", 51i64)).await.unwrap_err();
    refused(e, "custom.real_estate.bedrooms", FieldErrorCode::OutOfRange);
    assert_eq!(cx.deals().count(&Filter::All).await.unwrap(), 0, "nothing refused was written");

    // 450,000 / 120.5 m² = 3,734.439… → 3,734.44 EUR.
    let deal = cx.deals().create(listing("12 Elm St").custom("real_estate.list_price", eur(450_000))).await.unwrap();
    let per_m2 = |d: &Deal| d.custom.get("real_estate.price_per_m2").cloned();
    assert_eq!(per_m2(&deal), Some(Value::Money(Money::new(Decimal::new(373_444, 2), Currency::EUR))));
    let at = EntityRef::new(EntityKind::Deal, deal.id);
    cx.set_custom_value(at, "real_estate.floor_area_m2", Value::Decimal(Decimal::from(100))).await.unwrap();
    let deal = cx.deals().get(deal.id).await.unwrap();
    assert_eq!(per_m2(&deal), Some(Value::Money(eur(4_500))), "recomputed on update");

    cx.deals().win(deal.id).await.unwrap();
    let deal = cx.deals().get(deal.id).await.unwrap();
    assert_eq!(deal.custom.get("real_estate.listing_status"), Some(&Value::Text("sold".into())));
    let tasks = cx.activities().list(&Query::new(Filter::eq("kind", "task"))).await.unwrap();
    let titles: Vec<&str> = tasks.items.iter().map(|t| t.subject.as_str()).collect();
    assert_eq!(titles, ["Hand over keys"]);
    assert_eq!(tasks.items[0].deal_ids, [deal.id]);
}

/// The realistic plugin the guide's size claim is held to (`guests/examples/automotive`): a
/// single-field rule (the VIN's check digit) declared with the field, no `validate` written.
#[tokio::test]
async fn the_automotive_plugin_checks_the_vin_computes_the_price_per_km_and_hands_over_won_cars() {
    let host = PluginHost::new(HostConfig::default()).unwrap();
    host.install(&dist("automotive.wasm"), Grants::none()).unwrap();
    let crm = Crm::builder(MemoryStore::new()).extensions(host.extensions()).build().unwrap();
    let cx = crm.as_actor(&Actor::system(TenantId::new()));
    let car = |vin: &str| {
        NewDeal::new("Estate car")
            .amount(eur(18_000))
            .custom("automotive.vin", vin)
            .custom("automotive.mileage_km", 60_000i64)
            .custom("automotive.make", "ford")
            .custom("automotive.price", eur(18_000))
    };

    let err = cx.deals().create(car("1M8GDM9A1KP042788")).await.unwrap_err();
    assert!(
        matches!(&err, Error::Validation(v) if v.0.iter().any(|e| e.field == "custom.automotive.vin" && e.message.contains("check digit should be X"))),
        "{err:?}"
    );
    let deal = cx.deals().create(car("1M8GDM9AXKP042788")).await.unwrap();
    assert_eq!(
        deal.custom.get("automotive.price_per_km"),
        Some(&Value::Money(Money::new(Decimal::new(30, 2), Currency::EUR)))
    );
    cx.deals().win(deal.id).await.unwrap();
    let tasks = cx.activities().list(&Query::new(Filter::eq("kind", "task"))).await.unwrap();
    assert_eq!(tasks.items.iter().map(|t| t.subject.as_str()).collect::<Vec<_>>(), ["Prepare the handover"]);
}
