//! The workflow runner on a SQLite file, against the plain outbox read in the same run.
//!
//! A tenant has 100 enabled workflows on contacts: 97 listen to updates of `job_title` with a
//! condition on `department` that no contact meets (evaluated on every update, firing on none),
//! one tags every new contact, one gives every new contact a follow-up task, and one keeps a
//! birthday timer. `CRM_BENCH_CONTACTS` contacts (default 1,000; 20 under `cargo test`) are
//! created and then each updated once: two events each.
//!
//! - **throughput**: `Automation::run_pending` over those events (each update judged by 100
//!   rules with the record rebuilt as the change left it; each creation firing two rules and
//!   one timer), against reading the same events from the outbox in pages of 200.
//! - **latency**: one new contact committed, then `run_pending` until its rules' effects are
//!   committed, against reading that one event.
//!
//! Medians and ratios are printed at the end (what `BENCHMARKS.md` records):
//! `cargo bench -p crm-automation --bench runner -- --noplot`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use crm_automation::Automation;
use crm_core::actor::Actor;
use crm_core::event::EventQuery;
use crm_core::ids::TenantId;
use crm_core::model::{Step, Trigger};
use crm_core::prelude::*;
use crm_core::service::{CrmBuilder, NewWorkflow};
use crm_storage::SqlStore;
use tokio::runtime::Runtime;

fn contacts_wanted() -> usize {
    if !std::env::args().any(|a| a == "--bench") {
        return 20;
    }
    std::env::var("CRM_BENCH_CONTACTS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000)
}

/// A tenant with the 100 workflows.
async fn tenant_with_rules(crm: &Crm) -> TenantId {
    let tenant = TenantId::new();
    let cx = crm.as_actor(&Actor::system(tenant));
    for i in 0..97 {
        let rule = NewWorkflow::new(
            format!("Team {i} titles"),
            EntityKind::Contact,
            Trigger::Updated { fields: vec!["job_title".into()] },
        )
        .condition(Filter::eq("department", format!("Team {i}")))
        .step(Step::AddTags { tags: vec![format!("team-{i}")] });
        cx.workflows().create(rule).await.unwrap();
    }
    let tag = NewWorkflow::new("Tag new", EntityKind::Contact, Trigger::Created)
        .step(Step::AddTags { tags: vec!["new".into()] });
    let task = NewWorkflow::new("Call new", EntityKind::Contact, Trigger::Created).step(Step::CreateTask {
        title: "Call".into(),
        due_in: Some("1d".parse().unwrap()),
        assign_to: None,
    });
    let birthday = NewWorkflow::new(
        "Birthday",
        EntityKind::Contact,
        Trigger::Date { field: "birthday".into(), before: None, after: None, yearly: true, at: None },
    )
    .step(Step::AddTags { tags: vec!["birthday".into()] });
    for rule in [tag, task, birthday] {
        cx.workflows().create(rule).await.unwrap();
    }
    // The runner starts after the workflows' own events.
    Automation::new(crm.clone()).run_pending(tenant).await.unwrap();
    tenant
}

/// `n` contacts created, then each updated once.
async fn changes(crm: &Crm, tenant: TenantId, n: usize) {
    let cx = crm.as_actor(&Actor::system(tenant));
    let mut made = Vec::with_capacity(n);
    for i in 0..n {
        let born = chrono::NaiveDate::from_ymd_opt(1980 + (i % 30) as i32, 1 + (i % 12) as u32, 1 + (i % 28) as u32);
        let c = NewContact::new("Bench", format!("Contact {i}")).birthday(born.unwrap());
        made.push(cx.contacts().create(c).await.unwrap());
    }
    for mut c in made {
        c.job_title = Some("Buyer".into());
        c.department = Some("Sales".into());
        cx.contacts().update(c).await.unwrap();
    }
}

fn median(v: &Mutex<Vec<Duration>>) -> Duration {
    let mut v = v.lock().unwrap().clone();
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

fn bench(c: &mut Criterion) {
    let rt = Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let crm = rt.block_on(async {
        let store = SqlStore::sqlite(dir.path().join("bench.db")).await.unwrap();
        CrmBuilder::from_arc(Arc::new(store)).build().unwrap()
    });
    let n = contacts_wanted();
    let (lib, floor) = (Mutex::new(Vec::new()), Mutex::new(Vec::new()));
    let mut g = c.benchmark_group("runner");
    g.sample_size(10);
    g.bench_function("throughput", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let tenant = tenant_with_rules(&crm).await;
                    changes(&crm, tenant, n).await;
                    let store = crm.store().clone();
                    let from = Automation::new(crm.clone()).cursor(tenant).await.unwrap();
                    // The floor: the same events read from the outbox.
                    let t = Instant::now();
                    let mut q = EventQuery::after(from, 200);
                    let mut read = 0;
                    loop {
                        let page = store.read_events(tenant, &q).await.unwrap();
                        let Some(last) = page.last() else { break };
                        read += page.len();
                        q.after = last.seq;
                    }
                    floor.lock().unwrap().push(t.elapsed());
                    assert_eq!(read, 2 * n);
                    let t = Instant::now();
                    let report = Automation::new(crm.clone()).run_pending(tenant).await.unwrap();
                    let took = t.elapsed();
                    // Each creation fires two rules; the rules' own changes come back as events.
                    assert_eq!(report.fired.len(), 2 * n, "{:?}", report.failed);
                    lib.lock().unwrap().push(took);
                    total += took;
                }
                total
            })
        })
    });
    let (lat, lat_floor) = (Mutex::new(Vec::new()), Mutex::new(Vec::new()));
    let tenant = rt.block_on(tenant_with_rules(&crm));
    let auto = Automation::new(crm.clone());
    let cx = crm.as_actor(&Actor::system(tenant));
    let mut i = 0;
    g.bench_function("latency", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    i += 1;
                    let from = auto.cursor(tenant).await.unwrap();
                    let c = cx.contacts().create(NewContact::new("Late", format!("Comer {i}"))).await.unwrap();
                    let t = Instant::now();
                    let one = crm.store().read_events(tenant, &EventQuery::after(from, 10)).await.unwrap();
                    lat_floor.lock().unwrap().push(t.elapsed());
                    assert_eq!(one.len(), 1);
                    let t = Instant::now();
                    auto.run_pending(tenant).await.unwrap();
                    let took = t.elapsed();
                    assert_eq!(cx.contacts().get(c.id).await.unwrap().tags, ["new"]);
                    lat.lock().unwrap().push(took);
                    total += took;
                }
                total
            })
        })
    });
    g.finish();
    let (l, f) = (median(&lib), median(&floor));
    let events = 2 * n;
    println!(
        "\nrunner throughput, {events} events, 100 rules: library {:.3} s ({:.0} events/s), outbox read {:.4} s ({:.0} events/s), {:.1}× the read",
        l.as_secs_f64(),
        events as f64 / l.as_secs_f64(),
        f.as_secs_f64(),
        events as f64 / f.as_secs_f64().max(1e-9),
        l.as_secs_f64() / f.as_secs_f64().max(1e-9),
    );
    let (l, f) = (median(&lat), median(&lat_floor));
    println!(
        "runner latency, commit to effect: library {:.2} ms, reading the event {:.3} ms",
        l.as_secs_f64() * 1e3,
        f.as_secs_f64() * 1e3
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
