use crm_core::*;
use crm_plugins::*;

fn dist(name: &str) -> Vec<u8> {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../dist").join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e} (run plugins/build-guests.sh first)", p.display()))
}

#[tokio::test]
async fn real_estate_smoke() {
    let host = PluginHost::new(HostConfig::default()).unwrap();
    let info = host.install(&dist("real-estate.wasm"), Grants::all()).unwrap();
    println!("{info:#?}");
    let crm = Crm::builder(MemoryStore::new()).extensions(host.extensions()).build().unwrap();
    let cx = crm.as_actor(&Actor::system(TenantId::from_uuid(uuid::Uuid::now_v7())));
    let bad = cx
        .deals()
        .create(
            NewDeal::new("12 Elm St")
                .custom("real_estate.property_address", "12 Elm Street, Springfield")
                .custom("real_estate.listing_status", "sold")
                .custom("real_estate.list_price", Money::new(rust_decimal::Decimal::ZERO, Currency::EUR)),
        )
        .await;
    println!("{bad:?}");
    let deal = cx
        .deals()
        .create(
            NewDeal::new("12 Elm St")
                .custom("real_estate.property_address", "12 Elm Street, Springfield")
                .custom("real_estate.bedrooms", 3i64)
                .amount(Money::new(rust_decimal::Decimal::from(450000), Currency::EUR))
                .custom("real_estate.list_price", Money::new(rust_decimal::Decimal::from(450000), Currency::EUR)),
        )
        .await
        .unwrap();
    println!("{:?}", deal.custom);
    let pipeline = cx.pipelines().default_pipeline().await.unwrap();
    let won = pipeline.stages.iter().find(|s| s.kind == StageKind::Won).unwrap().id;
    let deal = cx.deals().move_to_stage(deal.id, won).await.unwrap();
    println!("{:?}", cx.deals().get(deal.id).await.unwrap().custom);
    println!("{:#?}", host.take_actions());
}
