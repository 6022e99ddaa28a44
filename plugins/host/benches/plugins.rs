//! What the plugin host costs, against the floor of the same work without WebAssembly.
//!
//! - **import**: `companies().import` of property listings (address, type, bedrooms,
//!   bathrooms, floor area, price, status) on a `MemoryStore`, in one batch, with the
//!   real-estate plugin (its `check`, rules and computed fields, runs for every row, in the sandbox) and
//!   with a native extension that registers the same fields and runs no rules (the floor: the
//!   core still checks every value against the field definitions). The difference divided by
//!   the rows is the plugin's per-entity overhead.
//! - **create**: one `companies().create` with and without the plugin (a fresh instance for
//!   the save's one `check`, the path of interactive saves), called from the runtime's
//!   `block_on` and from a task on a worker thread.
//! - **load**: installing the plugin on a new host, compiling it (cold) and from the
//!   compiled-artifact cache (cached).
//!
//! The import's per-entity overhead is also measured in **paired rounds**: each round imports
//! the same listings once with each extension, in alternating order, and the summary takes the
//! medians. Memory-allocator effects (pages returned to the OS and faulted back, which depend
//! on what the previous import left behind) swing single figures by tens of percent on a
//! small machine; the paired medians are what `BENCHMARKS.md` records. The summary is printed
//! and written to `target/crm-bench/plugins-summary.md`.
//!
//! `cargo bench -p crm-plugins --bench plugins` (needs `plugins/build-guests.sh --no-test`
//! first). Under `cargo test --all-targets` every benchmark runs once, on a few rows.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use crm_core::model::FieldDefinition;
use crm_core::{
    actor::Actor, ids::TenantId, memory::MemoryStore, money::Currency, money::Money, service::Crm,
    service::ImportOptions, service::NewCompany, service::Session, service::extension::Extension, value::Value,
};
use crm_plugins::{Grants, HostConfig, PluginHost};
use rust_decimal::Decimal;

const PLUGIN: &str = "real_estate";

/// `cargo bench` passes `--bench`; under `cargo test` each benchmark runs once on small input.
fn smoke() -> bool {
    !std::env::args().any(|a| a == "--bench")
}

fn rows_per_import() -> usize {
    if smoke() { 20 } else { 1_000 }
}

fn wasm() -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../dist/real-estate.wasm");
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e} (run plugins/build-guests.sh first)", p.display()))
}

/// The plugin's fields without its rules: what the core checks on its own.
struct SameFields(Vec<FieldDefinition>);

impl Extension for SameFields {
    fn id(&self) -> &str {
        PLUGIN
    }

    fn fields(&self) -> Vec<FieldDefinition> {
        self.0.clone()
    }
}

fn session(ext: Arc<dyn Extension>) -> Session {
    let crm = Crm::builder(MemoryStore::new()).extension_arc(ext).build().expect("crm");
    crm.as_actor(&Actor::system(TenantId::from_uuid(uuid::Uuid::now_v7())))
}

/// A valid listing; `i` varies every value the rules look at.
fn listing(i: usize) -> NewCompany {
    let beds = (i % 5) as i64 + 1;
    NewCompany::new(format!("Listing {i}"))
        .custom("real_estate.property_address", format!("{i} Harbour Street, Portside"))
        .custom("real_estate.property_type", "house")
        .custom("real_estate.bedrooms", beds)
        .custom("real_estate.bathrooms", beds)
        .custom("real_estate.floor_area_m2", Value::Decimal(Decimal::from(60 + (i % 90) as i64)))
        .custom("real_estate.list_price", Money::new(Decimal::from(250_000 + i as i64 * 100), Currency::EUR))
        .custom("real_estate.listing_status", "active")
}

struct Setup {
    host: PluginHost,
    plugin: Arc<dyn Extension>,
    native: Arc<dyn Extension>,
}

fn setup(cache: &Path) -> Setup {
    let host = PluginHost::new(HostConfig::default().cache_dir(cache)).expect("host");
    host.install(&wasm(), Grants::all()).expect("install");
    let plugin = host.extension(PLUGIN).expect("installed");
    let native: Arc<dyn Extension> = Arc::new(SameFields(plugin.fields()));
    Setup { host, plugin, native }
}

fn cache_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("crm-plugins-bench-cache")
}

fn bench_import(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let s = setup(&cache_dir());
    let n = rows_per_import();
    let mut g = c.benchmark_group("import");
    g.throughput(Throughput::Elements(n as u64));
    g.sample_size(20);
    for (name, ext) in [("native_fields", s.native.clone()), ("real_estate_plugin", s.plugin.clone())] {
        g.bench_function(format!("{n}_listings/{name}"), |b| {
            b.to_async(&rt).iter_batched(
                || (session(ext.clone()), (0..n).map(listing).collect::<Vec<_>>()),
                |(cx, rows)| async move {
                    let report = cx.companies().import(rows, &ImportOptions::default().batch_size(n), |_| {}).await;
                    let report = report.expect("import");
                    assert_eq!(report.imported.len(), n, "every listing is valid: {:?}", report.rejected);
                    cx // dropped after the timing: freeing the database is not the import
                },
                BatchSize::PerIteration,
            )
        });
    }
    g.finish();
    paired_rounds(&rt, &s, n);
    drop(s.host);
}

/// Median of `v` (sorted in place).
fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len().is_multiple_of(2) { (v[m - 1] + v[m]) / 2.0 } else { v[m] }
}

/// The import with each extension in alternating order, round after round; the summary gives
/// each one's median and the median of the per-round differences.
fn paired_rounds(rt: &tokio::runtime::Runtime, s: &Setup, n: usize) {
    let rounds = if smoke() { 2 } else { 60 };
    let time_one = |ext: &Arc<dyn Extension>| -> f64 {
        let (cx, rows) = (session(ext.clone()), (0..n).map(listing).collect::<Vec<_>>());
        let start = Instant::now();
        let report = rt.block_on(cx.companies().import(rows, &ImportOptions::default().batch_size(n), |_| {}));
        let took = start.elapsed().as_secs_f64();
        assert_eq!(report.expect("import").imported.len(), n);
        drop(cx);
        took
    };
    let (mut native, mut plugin, mut diff) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        let (a, b) = if round % 2 == 0 {
            let a = time_one(&s.native);
            (a, time_one(&s.plugin))
        } else {
            let b = time_one(&s.plugin);
            (time_one(&s.native), b)
        };
        native.push(a);
        plugin.push(b);
        diff.push(b - a);
    }
    let (native, plugin, diff) = (median(&mut native), median(&mut plugin), median(&mut diff));
    let per = |secs: f64| secs * 1e6 / n as f64;
    let summary = format!(
        "| import {n} listings ({rounds} paired rounds, medians) | {:.2} ms | native fields: {:.2} ms | \
         **{:.1} µs per entity** (median of differences: {:.1} µs) |\n",
        plugin * 1e3,
        native * 1e3,
        per(plugin - native),
        per(diff),
    );
    println!("\n{summary}");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/crm-bench");
    if !smoke() && std::fs::create_dir_all(&dir).is_ok() {
        let _ = std::fs::write(dir.join("plugins-summary.md"), &summary);
    }
}

fn bench_create(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let s = setup(&cache_dir());
    let mut g = c.benchmark_group("create");
    for (name, ext) in [("native_fields", s.native.clone()), ("real_estate_plugin", s.plugin.clone())] {
        let cx = session(ext);
        let mut i = 0;
        g.bench_function(format!("one_listing/{name}"), |b| {
            b.to_async(&rt).iter(|| {
                i += 1;
                let row = listing(i);
                let cx = &cx;
                async move { cx.companies().create(row).await.expect("create") }
            })
        });
        // The same from a task on one of the runtime's worker threads, as a server handler
        // runs it (`block_in_place` there hands the worker's other tasks to another thread).
        let mut j = 0;
        g.bench_function(format!("one_listing_on_a_worker/{name}"), |b| {
            b.to_async(&rt).iter(|| {
                j += 1;
                let (row, cx) = (listing(j), cx.clone());
                async move {
                    tokio::spawn(async move { cx.companies().create(row).await.expect("create") }).await.expect("task")
                }
            })
        });
    }
    g.finish();
}

fn bench_load(c: &mut Criterion) {
    let wasm = wasm();
    let mut g = c.benchmark_group("load");
    g.sample_size(10).measurement_time(Duration::from_secs(if smoke() { 1 } else { 10 }));
    g.bench_function("cold_compile", |b| {
        b.iter(|| {
            let host = PluginHost::new(HostConfig::default()).expect("host");
            let info = host.install(&wasm, Grants::all()).expect("install");
            assert!(!info.from_cache);
        })
    });
    let dir = tempfile::tempdir().expect("tempdir");
    PluginHost::new(HostConfig::default().cache_dir(dir.path()))
        .expect("host")
        .install(&wasm, Grants::all())
        .expect("warm the cache");
    g.bench_function("cached", |b| {
        b.iter(|| {
            let host = PluginHost::new(HostConfig::default().cache_dir(dir.path())).expect("host");
            let info = host.install(&wasm, Grants::all()).expect("install");
            assert!(info.from_cache);
        })
    });
    g.finish();
}

criterion_group!(benches, bench_import, bench_create, bench_load);
criterion_main!(benches);
