//! Export at scale: 1,000,000 contacts (`CRM_BENCH_EXPORT`) in a SQLite file streamed out as
//! CSV, JSON Lines and XLSX, each beside the floor of reading the same rows' stored JSON with
//! plain rusqlite, in one run. For each: the time (median of three rounds, rows/s) and the
//! process's peak resident memory during that export alone (the kernel's high-water mark,
//! reset before each with `/proc/self/clear_refs`), beside the resident memory it started from.
//! Constant memory means the peak stays near the start whatever the row count.
//!
//! Run with `cargo bench -p crm-io --all-features --bench export_scale`. Under
//! `cargo test --all-targets` it runs once on 2,000 rows as a smoke test.

use std::io::{self, Write};
use std::time::Instant;

use crm_core::model::Contact;
use crm_core::prelude::*;
use crm_core::service::ImportOptions;
use crm_io::{Export, export_csv, export_jsonl, export_xlsx};
use crm_storage::SqlStore;

/// A writer that only counts bytes.
#[derive(Default)]
struct Count(u64);

impl Write for Count {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A field of `/proc/self/status`, in MiB.
fn status_mib(field: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb: f64 = status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    kb / 1024.0
}

/// Resets the peak to the current resident size; returns that size.
fn reset_peak() -> f64 {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    status_mib("VmRSS:")
}

fn person(i: usize) -> NewContact {
    const GIVEN: [&str; 8] = ["Ada", "Alan", "Grace", "Linus", "Barbara", "Dennis", "Radia", "Hedy"];
    const FAMILY: [&str; 8] = ["Lovelace", "Turing", "Hopper", "Torvalds", "Liskov", "Ritchie", "Perlman", "Lamarr"];
    let (g, f) = (GIVEN[i % 8], FAMILY[(i / 8) % 8]);
    NewContact::new(g, f)
        .email(format!("{}.{}{i}@example{}.com", g.to_lowercase(), f.to_lowercase(), i % 50))
        .phone(format!("+44 20 7946 0{:03}", i % 1000))
        .tag(if i.is_multiple_of(3) { "newsletter" } else { "vip" })
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let n: usize = if bench {
        std::env::var("CRM_BENCH_EXPORT").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000)
    } else {
        2_000
    };
    let rounds = if bench { 3 } else { 1 };
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("crm.db");
    let (crm, tenant) = rt.block_on(async {
        let crm = Crm::new(SqlStore::sqlite(&path).await.expect("sqlite"));
        let tenant = TenantId::new();
        let cx = crm.as_actor(&Actor::system(tenant));
        let t = Instant::now();
        let options = ImportOptions::default().batch_size(5_000);
        let report = cx.contacts().import((0..n).map(person), &options, |_| {}).await.expect("seed");
        assert_eq!(report.imported.len(), n);
        eprintln!("seeded {n} contacts in {:.1} s", t.elapsed().as_secs_f64());
        (crm, tenant)
    });
    let cx = crm.as_actor(&Actor::system(tenant));
    let spec = Export::new(Query::default());

    type Case<'a> = (&'a str, Box<dyn Fn() -> u64 + 'a>);
    let cases: Vec<Case<'_>> = vec![
        (
            "floor: rusqlite SELECT data",
            Box::new(|| {
                let db = rusqlite::Connection::open(&path).expect("open");
                let mut st = db.prepare("SELECT data FROM contacts").expect("prepare");
                let mut rows = st.query([]).expect("query");
                let (mut out, mut k) = (Count::default(), 0u64);
                while let Some(r) = rows.next().expect("row") {
                    let data: String = r.get(0).expect("data");
                    out.write_all(data.as_bytes()).expect("write");
                    k += 1;
                }
                k
            }),
        ),
        ("csv", Box::new(|| rt.block_on(export_csv::<Contact>(&cx, &spec, Count::default())).expect("csv"))),
        ("jsonl", Box::new(|| rt.block_on(export_jsonl::<Contact>(&cx, &spec, Count::default())).expect("jsonl"))),
        ("xlsx", Box::new(|| rt.block_on(export_xlsx::<Contact>(&cx, &spec, Count::default())).expect("xlsx"))),
    ];
    println!("| export of {n} contacts | median time | rows/s | peak RSS (started at) |");
    println!("|---|---|---|---|");
    let mut floor = None;
    for (name, run) in &cases {
        let (mut times, mut peaks, mut starts) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..rounds {
            starts.push(reset_peak());
            let t = Instant::now();
            let k = run();
            times.push(t.elapsed().as_secs_f64());
            peaks.push(status_mib("VmHWM:"));
            assert_eq!(k as usize, n, "{name} exported every row");
        }
        let (t, peak, start) = (median(times), median(peaks), median(starts));
        let ratio = floor.map_or(String::new(), |f: f64| format!(" ({:.2}× the floor's rows/s)", f / t));
        floor.get_or_insert(t);
        println!("| {name} | {t:.2} s | {:.0}{ratio} | {peak:.0} MiB ({start:.0} MiB) |", n as f64 / t);
    }
}
