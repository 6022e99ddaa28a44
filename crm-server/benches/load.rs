//! The HTTP API under load: one client, then 32 at once, listing 50 contacts and creating
//! contacts over loopback, beside the same operations made by as many tasks as in-process
//! library calls, in the same run, on SQLite (and on PostgreSQL when `CRM_PG_URL` is set and the `postgres` feature
//! is on).
//!
//! ```sh
//! cargo bench -p crm-server --bench load                      # SQLite
//! CRM_PG_URL=postgres://… cargo bench -p crm-server --features bench-postgres --bench load
//! ```
//!
//! Each round runs every phase once, the library first and then HTTP; three rounds, and the
//! table reports each figure's median over them. The summary is printed and written to
//! `target/crm-bench/http-summary.md`. Under `cargo test --all-targets` it runs once, small, as
//! a smoke test.

use std::time::{Duration, Instant};

use crm::prelude::*;
use crm::service::{NewApiKey, NewContact, NewUser};

/// Whether `cargo bench` runs this (else `cargo test`, as a smoke test).
fn benchmarking() -> bool {
    std::env::args().any(|a| a == "--bench")
}

/// What one phase measured: every call's latency, and the wall time of the whole phase.
struct Phase {
    latencies: Vec<Duration>,
    wall: Duration,
}

impl Phase {
    fn percentile(&self, p: f64) -> Duration {
        let mut l = self.latencies.clone();
        l.sort();
        l[((l.len() as f64 * p).ceil() as usize).clamp(1, l.len()) - 1]
    }

    fn throughput(&self) -> f64 {
        self.latencies.len() as f64 / self.wall.as_secs_f64()
    }
}

/// Runs `op` `per_client` times in each of `clients` concurrent tasks.
async fn phase<F, Fut>(clients: usize, per_client: usize, op: F) -> Phase
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let started = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|c| {
            let op = op.clone();
            tokio::spawn(async move {
                let mut l = Vec::with_capacity(per_client);
                for i in 0..per_client {
                    let t = Instant::now();
                    op(c * per_client + i).await;
                    l.push(t.elapsed());
                }
                l
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await.expect("a client"));
    }
    Phase { latencies, wall: started.elapsed() }
}

/// The four phases of one round on `crm`, through `base` (the server over the same CRM).
async fn round(crm: &Crm, key: &str, base: &str, clients: usize, per_client: usize, round: usize) -> [Phase; 4] {
    let http = reqwest::Client::builder().pool_max_idle_per_host(clients).build().expect("client");
    let cx = crm.authenticate(key).await.expect("the key");
    let q = Query::new(Filter::All).limit(50);
    let lib_list = phase(clients, per_client, {
        let (cx, q) = (cx.clone(), q.clone());
        move |_| {
            let (cx, q) = (cx.clone(), q.clone());
            async move {
                assert_eq!(cx.contacts().list(&q).await.expect("list").items.len(), 50);
            }
        }
    })
    .await;
    let http_list = phase(clients, per_client, {
        let (http, url, key) = (http.clone(), format!("{base}/v1/contacts?limit=50"), key.to_owned());
        move |_| {
            let (http, url, key) = (http.clone(), url.clone(), key.clone());
            async move {
                let res = http.get(&url).bearer_auth(&key).send().await.expect("list");
                assert!(res.status().is_success(), "{}", res.status());
                res.bytes().await.expect("the page");
            }
        }
    })
    .await;
    let lib_create = phase(clients, per_client, {
        let cx = cx.clone();
        move |i| {
            let cx = cx.clone();
            async move {
                let c = NewContact::new("Lib", format!("R{round}-{i}")).email(format!("lib{round}.{i}@load.example"));
                cx.contacts().create(c).await.expect("create");
            }
        }
    })
    .await;
    let http_create = phase(clients, per_client, {
        let (http, url, key) = (http.clone(), format!("{base}/v1/contacts"), key.to_owned());
        move |i| {
            let (http, url, key) = (http.clone(), url.clone(), key.clone());
            async move {
                let body = serde_json::json!({
                    "given_name": "Http", "family_name": format!("R{round}-{i}"),
                    "email": format!("http{round}.{i}@load.example"),
                });
                let res = http.post(&url).bearer_auth(&key).json(&body).send().await.expect("create");
                assert_eq!(res.status(), reqwest::StatusCode::CREATED);
                res.bytes().await.expect("the record");
            }
        }
    })
    .await;
    [lib_list, http_list, lib_create, http_create]
}

/// Measures on `crm`: seeds a tenant, serves it, runs the rounds with one client and with 32;
/// the summary lines.
async fn measure(backend: &str, crm: Crm) -> Vec<String> {
    let (loads, seed, rounds): (&[(usize, usize)], usize, usize) =
        if benchmarking() { (&[(1, 400), (32, 100)], 2_000, 3) } else { (&[(1, 3), (4, 3)], 60, 1) };
    let tenant = TenantId::new();
    let sys = crm.as_actor(&Actor::system(tenant));
    let admin = sys.users().create(NewUser::new("Load Admin", "load@bench.example").role("administrator")).await;
    let (_, key) = sys.api_keys().issue(NewApiKey::new("load", admin.expect("admin").id)).await.expect("key");
    let cx = crm.authenticate(&key).await.expect("the key");
    for i in 0..seed {
        cx.contacts().create(NewContact::new("Seed", format!("S{i}"))).await.expect("seed");
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let options = crm_server::Options::default().rate_limit(None).metrics(false);
    let served = crm.clone();
    let server = tokio::spawn(async move {
        crm_server::serve_with(served, listener, &options, async move {
            let _ = stopped.await;
        })
        .await
    });
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let mut lines = Vec::new();
    for (n, &(clients, per_client)) in loads.iter().enumerate() {
        let mut all: Vec<[Phase; 4]> = Vec::new();
        for r in 0..rounds {
            all.push(round(&crm, &key, &base, clients, per_client, n * rounds + r).await);
        }
        let median = |f: &dyn Fn(&[Phase; 4]) -> f64| {
            let mut v: Vec<f64> = all.iter().map(f).collect();
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        for (op, lib, srv) in [("list 50", 0, 1), ("create", 2, 3)] {
            let (lib_tp, srv_tp) = (median(&|p| p[lib].throughput()), median(&|p| p[srv].throughput()));
            let (lib_50, srv_50) = (median(&|p| ms(p[lib].percentile(0.5))), median(&|p| ms(p[srv].percentile(0.5))));
            let (lib_99, srv_99) = (median(&|p| ms(p[lib].percentile(0.99))), median(&|p| ms(p[srv].percentile(0.99))));
            lines.push(format!(
                "| {backend} | {op} | {clients} | {lib_tp:.0} | {srv_tp:.0} | {lib_50:.2} / {lib_99:.2} | {srv_50:.2} / {srv_99:.2} | {:+.2} |",
                srv_99 - lib_99
            ));
        }
    }
    let _ = stop.send(());
    let _ = server.await;
    lines
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let dir = tempfile::tempdir().expect("a directory");
    let mut lines = vec![
        "| backend | operation | clients | library ops/s | HTTP ops/s | library p50 / p99 ms | HTTP p50 / p99 ms | HTTP adds at p99 (ms) |"
            .to_owned(),
        "|---|---|---|---|---|---|---|---|".to_owned(),
    ];
    rt.block_on(async {
        let crm = crm::sqlite(dir.path().join("load.db")).await.expect("SQLite");
        lines.extend(measure("SQLite", crm).await);
        #[cfg(feature = "bench-postgres")]
        match std::env::var("CRM_PG_URL") {
            Ok(url) => lines.extend(measure("PostgreSQL", crm::postgres(&url).await.expect("PostgreSQL")).await),
            Err(_) => println!("CRM_PG_URL not set: PostgreSQL skipped"),
        }
    });
    let summary = lines.join("\n");
    println!("{summary}");
    if benchmarking() {
        let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/crm-bench");
        let _ = std::fs::create_dir_all(&out);
        let _ = std::fs::write(out.join("http-summary.md"), summary + "\n");
    }
}
