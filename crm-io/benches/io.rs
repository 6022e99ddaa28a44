//! crm-io against its floor, in one run on one machine.
//!
//! - `import/typed` and `import/csv`: 100,000 contacts (`CRM_BENCH_ROWS`) into a fresh SQLite
//!   file, in batches of 1,000: through the typed bulk import (`Contacts::import`, the floor)
//!   and through `ContactImport` from the same rows written as a HubSpot-style CSV file (header
//!   mapping, cell reading, then the same typed import). Target: the CSV import at ≥ 0.7× the
//!   typed import's throughput.
//! - `export/csv` and `export/jsonl`: the same contacts streamed out (to a sink), beside the
//!   floor of reading the same pages through `Contacts::list` without writing anything.
//!
//! - `dedupe/scan`: `Contacts::find_duplicates` with the default rules over 1,000,000 contacts
//!   (`CRM_BENCH_SCAN`) on SQLite, one in a hundred planted as a second record of an earlier
//!   person (the address in capitals, the given name misspelt); timed three times, with how
//!   many planted pairs it found. Target: under a minute.
//!
//! Criterion's report covers each case; the paired rounds summarised at the end (ratios of
//! medians, rows/s) are what `BENCHMARKS.md` records. Under `cargo test --all-targets` each
//! case runs once on 300 rows as a smoke test.

use std::io::sink;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use crm_core::entity::EntityKind;
use crm_core::model::{Contact, FieldDefinition, FieldType};
use crm_core::prelude::*;
use crm_core::service::ImportOptions;
use crm_io::{ContactImport, Export, Preset, Table, export_csv, export_jsonl};
use crm_storage::SqlStore;
use tokio::runtime::Runtime;

const GIVEN: [&str; 8] = ["Ada", "Alan", "Grace", "Linus", "Barbara", "Dennis", "Radia", "Hedy"];
const FAMILY: [&str; 8] = ["Lovelace", "Turing", "Hopper", "Torvalds", "Liskov", "Ritchie", "Perlman", "Lamarr"];
const STAGES: [&str; 4] = ["Lead", "Marketing Qualified Lead", "Opportunity", "Customer"];
const REGIONS: [&str; 5] = ["north", "south", "east", "west", "central"];

fn benchmarking() -> bool {
    std::env::args().any(|a| a == "--bench")
}

fn rows() -> usize {
    if !benchmarking() {
        return 300;
    }
    std::env::var("CRM_BENCH_ROWS").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000)
}

/// Row `i` as cells: given, family, email, phone, stage, tags, region.
fn cells(i: usize) -> [String; 7] {
    let (g, f) = (GIVEN[i % 8], FAMILY[(i / 8) % 8]);
    [
        g.to_owned(),
        f.to_owned(),
        format!("{}.{}{i}@example{}.com", g.to_lowercase(), f.to_lowercase(), i % 50),
        format!("+44 20 7946 0{:03}", i % 1000),
        STAGES[i % 4].to_owned(),
        if i.is_multiple_of(3) { "newsletter".into() } else { "trade-show; vip".into() },
        REGIONS[(i / 7) % 5].to_owned(),
    ]
}

fn csv_file(n: usize) -> Vec<u8> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(["First Name", "Last Name", "Email", "Phone Number", "Lifecycle Stage", "Tags", "Region"]).unwrap();
    for i in 0..n {
        w.write_record(cells(i)).unwrap();
    }
    w.into_inner().unwrap()
}

/// The same rows as typed inputs, built as a program holding them would.
fn typed(n: usize) -> Vec<NewContact> {
    (0..n)
        .map(|i| {
            let [g, f, email, phone, stage, tags, region] = cells(i);
            let stage = match stage.as_str() {
                "Lead" => LifecycleStage::Lead,
                "Marketing Qualified Lead" => LifecycleStage::MarketingQualifiedLead,
                "Opportunity" => LifecycleStage::Opportunity,
                _ => LifecycleStage::Customer,
            };
            let mut c = NewContact::new(g, f).email(email).phone(phone).lifecycle_stage(stage).custom("region", region);
            for t in tags.split("; ") {
                c = c.tag(t);
            }
            c
        })
        .collect()
}

async fn fresh(path: &Path) -> Session {
    let _ = std::fs::remove_file(path);
    let crm = Crm::new(SqlStore::sqlite(path).await.expect("open"));
    let cx = crm.as_actor(&Actor::system(TenantId::new()));
    let options = REGIONS.iter().map(|r| r.to_string()).collect();
    cx.custom_fields()
        .define(FieldDefinition::new(EntityKind::Contact, "region", "Region", FieldType::Enum { options }))
        .await
        .expect("define region");
    cx
}

fn db(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.db"))
}

async fn import_typed(path: &Path, n: usize) -> Duration {
    let cx = fresh(path).await;
    let rows = typed(n);
    let started = Instant::now();
    let report = cx.contacts().import(rows, &ImportOptions::default().batch_size(1000), |_| {}).await.expect("import");
    let took = started.elapsed();
    assert_eq!(report.imported.len(), n);
    took
}

async fn import_csv(path: &Path, file: &[u8], n: usize) -> Duration {
    let cx = fresh(path).await;
    let started = Instant::now();
    let table = Table::csv(file).expect("header");
    let report =
        ContactImport::new().preset(Preset::HubSpot).batch_size(1000).run(&cx, table, |_| {}).await.expect("import");
    let took = started.elapsed();
    assert_eq!(report.imported.len(), n, "{:?}", report.rejected.first());
    took
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn bench(c: &mut Criterion) {
    let rt = Runtime::new().expect("runtime");
    let n = rows();
    let dir = tempfile::tempdir().expect("dir");
    let file = csv_file(n);

    let mut g = c.benchmark_group("import");
    g.sample_size(10).measurement_time(Duration::from_secs(1));
    g.bench_function("typed", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| rt.block_on(import_typed(&db(dir.path(), "typed"), n))).sum())
    });
    g.bench_function("csv", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| rt.block_on(import_csv(&db(dir.path(), "csv"), &file, n))).sum())
    });
    g.finish();

    // The exports read the database the CSV import left.
    let cx = rt.block_on(async {
        let cx = fresh(&db(dir.path(), "export")).await;
        import_csv(&db(dir.path(), "export2"), &file, n).await;
        cx.contacts().import(typed(n), &ImportOptions::default().batch_size(1000), |_| {}).await.expect("import");
        cx
    });
    let spec = Export::new(Query::default().limit(1000));
    let list_all = || async {
        let mut q = Query::default().limit(1000);
        let mut seen = 0;
        loop {
            let page = cx.contacts().list(&q).await.expect("list");
            seen += page.items.len();
            match page.next {
                Some(next) => q.after = Some(next),
                None => return seen,
            }
        }
    };
    let mut g = c.benchmark_group("export");
    g.sample_size(10).measurement_time(Duration::from_secs(1));
    g.bench_function("floor_list", |b| b.iter(|| assert_eq!(rt.block_on(list_all()), n)));
    g.bench_function("csv", |b| b.iter(|| rt.block_on(export_csv::<Contact>(&cx, &spec, sink())).expect("export")));
    g.bench_function("jsonl", |b| b.iter(|| rt.block_on(export_jsonl::<Contact>(&cx, &spec, sink())).expect("export")));
    g.finish();

    // Paired rounds: each round runs every case once, alternating, on this machine now.
    let rounds = if benchmarking() { 5 } else { 1 };
    let (mut typed_s, mut csv_s, mut list_s, mut csv_out_s, mut jsonl_s) = (vec![], vec![], vec![], vec![], vec![]);
    for _ in 0..rounds {
        typed_s.push(rt.block_on(import_typed(&db(dir.path(), "typed"), n)).as_secs_f64());
        csv_s.push(rt.block_on(import_csv(&db(dir.path(), "csv"), &file, n)).as_secs_f64());
        let t = Instant::now();
        rt.block_on(list_all());
        list_s.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        rt.block_on(export_csv::<Contact>(&cx, &spec, sink())).expect("export");
        csv_out_s.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        rt.block_on(export_jsonl::<Contact>(&cx, &spec, sink())).expect("export");
        jsonl_s.push(t.elapsed().as_secs_f64());
    }
    let (ti, ci, l, co, jo) = (median(typed_s), median(csv_s), median(list_s), median(csv_out_s), median(jsonl_s));
    let rate = |s: f64| (n as f64 / s).round();
    println!("\ncrm-io summary, {n} contacts, medians of {rounds} paired rounds (SQLite file):");
    println!("  import typed (floor): {ti:.2} s ({} rows/s)", rate(ti));
    println!("  import CSV:           {ci:.2} s ({} rows/s), {:.2}x the floor's throughput", rate(ci), ti / ci);
    println!("  list all pages (floor): {l:.2} s ({} rows/s)", rate(l));
    println!("  export CSV:           {co:.2} s ({} rows/s), {:.2}x the floor's throughput", rate(co), l / co);
    println!("  export JSON Lines:    {jo:.2} s ({} rows/s), {:.2}x the floor's throughput", rate(jo), l / jo);
}

const SYLLABLES: [&str; 30] = [
    "ka", "lo", "mi", "ne", "ru", "sa", "to", "vi", "be", "do", "fa", "gu", "ha", "je", "ko", "li", "mo", "nu", "pa",
    "qui", "ra", "se", "ti", "vo", "wa", "xe", "ya", "zo", "bri", "cla",
];

/// Person `i` of the scan's data set: about 900 family names × 8 given names, unique
/// addresses and numbers.
fn person(i: usize) -> NewContact {
    let family = format!("{}{}", SYLLABLES[i % 30], SYLLABLES[(i / 30) % 30]);
    let given = GIVEN[(i / 900) % 8];
    NewContact::new(given, &family).email(format!("{}.{family}.{i}@example.com", given.to_lowercase())).phone(format!(
        "+1 415 {:03} {:04}",
        200 + (i / 10_000) % 800,
        i % 10_000
    ))
}

fn scan_size() -> usize {
    if !benchmarking() {
        return 300;
    }
    std::env::var("CRM_BENCH_SCAN").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000)
}

fn dedupe(c: &mut Criterion) {
    let _ = c;
    let rt = Runtime::new().expect("runtime");
    let n = scan_size();
    let dir = tempfile::tempdir().expect("dir");
    let cx = rt.block_on(async {
        let cx = fresh(&db(dir.path(), "scan")).await;
        // Every hundredth person comes again: the same address in capitals, a misspelt name.
        let rows = (0..n).map(|i| {
            if i % 100 == 99 {
                let twin = person(i - 1);
                let (given, family) = (format!("{}h", twin.given_name), twin.family_name.clone());
                NewContact::new(given, family).email(twin.emails[0].0.to_uppercase())
            } else {
                person(i)
            }
        });
        let report =
            cx.contacts().import(rows, &ImportOptions::default().batch_size(1000), |_| {}).await.expect("import");
        assert_eq!(report.imported.len(), n);
        cx
    });
    let planted = n / 100;
    let mut times = Vec::new();
    let mut found = 0;
    let rules = crm_core::service::DuplicateRules::default();
    for _ in 0..if benchmarking() { 3 } else { 1 } {
        let t = Instant::now();
        let scan = rt.block_on(cx.contacts().find_duplicates(&rules, |_| {})).expect("scan");
        times.push(t.elapsed().as_secs_f64());
        found = scan.pairs.iter().filter(|p| p.matched.contains(&crm_core::service::MatchField::Email)).count();
        println!(
            "dedupe scan: {} contacts, {} pairs compared, {} pairs reported, {} oversized blocks",
            scan.contacts,
            scan.compared,
            scan.pairs.len(),
            scan.oversized.len()
        );
    }
    let t = median(times);
    println!(
        "  dedupe scan of {n} contacts: {t:.1} s median ({} rows/s); planted pairs found by address: {found} of {planted}",
        (n as f64 / t).round()
    );
}

criterion_group!(benches, bench, dedupe);
criterion_main!(benches);
