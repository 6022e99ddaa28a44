//! The `crm` binary run as a shell runs it, on a temporary folder with a real SQLite file:
//! `init`, the record commands, filters and sorts, `--json`, import with its progress in a
//! non-terminal, export, completions, and errors with their exit codes.

mod analytics;
mod workflows;

use std::path::Path;

use assert_cmd::Command;
use serde_json::Value;

/// `crm` in `dir`, with no CRM_* variable from the caller's environment.
fn crm(dir: &Path) -> Command {
    let mut c = Command::cargo_bin("crm").expect("the crm binary");
    c.current_dir(dir);
    for v in ["CRM_CONFIG", "CRM_DB", "CRM_TENANT", "CRM_USER"] {
        c.env_remove(v);
    }
    c
}

/// Runs `args`, expecting success; its standard output.
fn ok(dir: &Path, args: &[&str]) -> String {
    let out = crm(dir).args(args).output().expect("run crm");
    assert!(out.status.success(), "crm {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf-8")
}

/// Runs `args` with `--json`, expecting success; the JSON it printed.
fn json(dir: &Path, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    serde_json::from_str(&ok(dir, &all)).expect("JSON output")
}

/// Runs `args`, expecting failure with `code`; standard error.
fn fails(dir: &Path, args: &[&str], code: i32) -> String {
    let out = crm(dir).args(args).output().expect("run crm");
    assert_eq!(out.status.code(), Some(code), "crm {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stdout.is_empty(), "a failed command prints nothing on standard output");
    String::from_utf8(out.stderr).expect("utf-8")
}

fn initialised() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let made = json(dir.path(), &["init"]);
    assert_eq!(made["db"], "crm.db");
    assert!(dir.path().join("crm.db").exists() && dir.path().join("crm.toml").exists());
    dir
}

#[test]
fn init_makes_a_crm_once_and_commands_without_one_say_what_to_do() {
    let empty = tempfile::tempdir().unwrap();
    let err = fails(empty.path(), &["contacts", "list"], 3);
    assert!(err.contains("crm init"), "{err}");
    let dir = initialised();
    let err = fails(dir.path(), &["init"], 3);
    assert!(err.contains("--force"), "{err}");
    let tenant = std::fs::read_to_string(dir.path().join("crm.toml")).unwrap();
    ok(dir.path(), &["init", "--force", "--file", "other.db"]);
    assert_ne!(std::fs::read_to_string(dir.path().join("crm.toml")).unwrap(), tenant, "a new tenant");
    // Flags and environment variables point elsewhere.
    let t = Value::String(uuid_of(&tenant));
    let n = crm(empty.path())
        .args(["contacts", "count", "--json"])
        .env("CRM_DB", dir.path().join("crm.db"))
        .env("CRM_TENANT", t.as_str().unwrap())
        .output()
        .unwrap();
    assert!(n.status.success(), "{}", String::from_utf8_lossy(&n.stderr));
    assert_eq!(serde_json::from_slice::<Value>(&n.stdout).unwrap()["count"], 0);
}

fn uuid_of(config: &str) -> String {
    config.lines().find_map(|l| l.strip_prefix("tenant = ")).unwrap().trim_matches('"').to_owned()
}

#[test]
fn records_are_created_listed_filtered_sorted_updated_and_deleted() {
    let dir = initialised();
    let d = dir.path();
    let ada = json(d, &["contacts", "create", "given_name=Ada", "family_name=Lovelace", "email=ada@example.org"]);
    assert_eq!(ada["emails"][0]["address"], "ada@example.org");
    json(d, &["contacts", "create", "given_name=Bob", "family_name=Byte", "lifecycle_stage=customer"]);
    json(d, &["contacts", "create", "given_name=Cy", "family_name=Clay", "lifecycle_stage=customer"]);

    let names = |v: &Value| -> Vec<String> {
        v.as_array().unwrap().iter().map(|c| c["given_name"].as_str().unwrap().to_owned()).collect()
    };
    let all = json(d, &["contacts", "list", "--sort", "-family_name"]);
    assert_eq!(names(&all), ["Ada", "Cy", "Bob"]);
    let customers = json(d, &["contacts", "list", "-f", "lifecycle_stage=customer", "-s", "given_name"]);
    assert_eq!(names(&customers), ["Bob", "Cy"]);
    assert_eq!(json(d, &["contacts", "count", "-f", "family_name^=L"])["count"], 1);
    assert_eq!(json(d, &["contacts", "count", "-f", "given_name=Ada|Cy"])["count"], 2);
    assert_eq!(json(d, &["contacts", "list", "--limit", "1"]).as_array().unwrap().len(), 1);
    // People read a line per record.
    let lines = ok(d, &["contacts", "list", "-s", "given_name"]);
    assert!(lines.lines().next().unwrap().ends_with("Ada Lovelace"), "{lines}");

    let id = ada["id"].as_str().unwrap();
    let changed = json(d, &["contacts", "update", id, "job_title=Analyst", "tags=[\"math\"]"]);
    assert_eq!((changed["job_title"].as_str(), changed["version"].as_u64()), (Some("Analyst"), Some(2)));
    assert_eq!(json(d, &["contacts", "get", id])["tags"][0], "math");
    assert!(ok(d, &["contacts", "get", id]).contains("job_title: Analyst"));
    ok(d, &["contacts", "delete", id]);
    let err = fails(d, &["contacts", "get", id], 1);
    assert!(err.contains("no contact with id"), "{err}");
    // Other kinds.
    let acme = json(d, &["companies", "create", "name=Acme", "domain=acme.example"]);
    assert_eq!(acme["domain"], "acme.example");
    assert_eq!(json(d, &["companies", "list"]).as_array().unwrap().len(), 1);
    assert_eq!(json(d, &["deals", "count"])["count"], 0);
}

#[test]
fn cases_and_campaigns_are_made_and_reports_read_for_people_and_scripts() {
    let dir = initialised();
    let d = dir.path();
    let ada = json(d, &["contacts", "create", "given_name=Ada"]);
    let of_ada = format!("contact_id={}", ada["id"].as_str().unwrap());
    let new_case = ["cases", "create", "subject=Broken widget", "type=problem", "priority=high", "tags=rma, urgent"];
    let case = json(d, &[&new_case[..], &[of_ada.as_str()]].concat());
    assert_eq!((case["priority"].as_str(), case["channel"].as_str()), (Some("high"), Some("web")));
    assert_eq!(case["tags"], serde_json::json!(["rma", "urgent"]));
    let err = fails(d, &["cases", "create", "subject=No type", &of_ada], 1);
    assert!(err.contains("type"), "{err}");
    let err = fails(d, &["cases", "create", "subject=X", "type=gripe", &of_ada], 1);
    assert!(err.contains("gripe"), "{err}");

    let deal = json(d, &["deals", "create", "name=Fleet renewal", "amount=1000", "currency=EUR"]);
    let pipeline = deal["pipeline_id"].as_str().unwrap();
    let report = json(d, &["reports", "pipeline", pipeline]);
    let counted: u64 = report["stages"].as_array().unwrap().iter().map(|s| s["count"].as_u64().unwrap()).sum();
    assert_eq!(counted, 1, "{report}");
    let lines = ok(d, &["reports", "pipeline", pipeline]);
    assert!(lines.contains("1 deals  1000.00 EUR") && lines.contains("forecast: "), "{lines}");

    let spring = json(d, &["campaigns", "create", "name=Spring", "channel=email", "budget=500", "currency=EUR"]);
    assert_eq!(spring["budget"]["amount"], "500");
    let err = fails(d, &["campaigns", "create", "name=Autumn", "channel=email", "budget=500"], 1);
    assert!(err.contains("currency"), "{err}");
    let results = ok(d, &["reports", "campaign", spring["id"].as_str().unwrap()]);
    assert!(results.starts_with("Spring: 0 members"), "{results}");
    let err = fails(d, &["reports", "campaign", "01a24d82-8140-72c8-96cd-37747ae60ef6"], 1);
    assert!(err.contains("campaign"), "{err}");

    let acme = json(d, &["companies", "create", "name=Acme"]);
    let (from, to) =
        (format!("from_id={}", ada["id"].as_str().unwrap()), format!("to_id={}", acme["id"].as_str().unwrap()));
    let link = json(d, &["relations", "create", "from_kind=contact", &from, "to_kind=company", &to, "label=works_at"]);
    assert_eq!(link["label"], "works_at");
    assert_eq!(json(d, &["relations", "count"])["count"], 1);
}

#[test]
fn bad_input_is_refused_with_the_field_and_the_right_exit_code_writing_nothing() {
    let dir = initialised();
    let d = dir.path();
    let err = fails(d, &["contacts", "list", "-f", "shoe_size=9"], 2);
    assert!(err.contains("no field `shoe_size`"), "{err}");
    let err = fails(d, &["contacts", "list", "-f", "lifecycle_stage"], 2);
    assert!(err.contains("FIELD=VALUE"), "{err}");
    let err = fails(d, &["contacts", "list", "-f", "birthday>not-a-date"], 2);
    assert!(err.contains("not a date"), "{err}");
    let err = fails(d, &["contacts", "list", "--limit", "0"], 2);
    assert!(err.contains("--limit"), "{err}");
    // Refused by the CRM: every field named, as JSON for scripts.
    let out = crm(d).args(["contacts", "create", "given_name=Ada", "email=nope", "--json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let problem: Value = serde_json::from_slice(&out.stderr).unwrap();
    assert_eq!(problem["fields"][0]["field"], "emails[0]");
    assert_eq!(problem["fields"][0]["code"], "invalid_format");
    let err = fails(d, &["contacts", "create", "given_name=Ada", "shoe_size=9"], 1);
    assert!(err.contains("shoe_size: contact records have no field"), "{err}");
    let err = fails(d, &["invoices", "create", "number=1"], 1);
    assert!(err.contains("not created this way"), "{err}");
    let err = fails(d, &["contacts", "update", "01a24d82-8140-72c8-96cd-37747ae60ef6", "id=x"], 1);
    assert!(err.contains("no contact with id"), "{err}");
    assert_eq!(json(d, &["contacts", "count"])["count"], 0, "nothing written");
    // A user who is not one of the tenant's.
    let err = fails(d, &["contacts", "list", "--user", "01a24d82-8140-72c8-96cd-37747ae60ef6"], 1);
    assert!(err.contains("not a user of this tenant"), "{err}");
    // A token issuer without its audience and keys, or with keys that are not a JWK set.
    let err = fails(d, &["serve", "--jwt-issuer", "https://login.example.com/"], 2);
    assert!(err.contains("--jwt-audience") && err.contains("--jwt-jwks"), "{err}");
    std::fs::write(d.join("jwks.json"), "{\"keys\": 7}").unwrap();
    let jwt = ["--jwt-issuer", "https://login.example.com/", "--jwt-audience", "crm", "--jwt-jwks", "jwks.json"];
    let err = fails(d, &[&["serve", "--listen", "127.0.0.1:0"][..], &jwt[..]].concat(), 2);
    assert!(err.contains("not a JWK set"), "{err}");
}

#[test]
fn a_hubspot_export_imports_with_progress_off_a_terminal_and_exports_again() {
    let dir = initialised();
    let d = dir.path();
    let mut file = String::from("Record ID,First Name,Last Name,Email,Lifecycle Stage\n");
    for i in 0..1200 {
        file.push_str(&format!("{i},Person,No{i},p{i}@example.org,Lead\n"));
    }
    file.push_str("9999,,,not-an-email,Lead\n");
    std::fs::write(d.join("hubspot.csv"), file).unwrap();
    let out = crm(d).args(["import", "hubspot.csv", "--preset", "hubspot", "--rejected", "bad.csv"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.starts_with("imported 1200, updated 0, set aside 1"), "{stdout}");
    assert!(stdout.contains("line 1202"), "{stdout}");
    assert!(!String::from_utf8_lossy(&out.stderr).contains('\r'), "no progress drawn off a terminal");
    assert!(std::fs::read_to_string(d.join("bad.csv")).unwrap().contains("not-an-email"));
    assert_eq!(json(d, &["contacts", "count", "-f", "external_refs=hubspot:42"])["count"], 1);

    let done = ok(d, &["export", "contacts", "--out", "out.csv", "-f", "family_name^=No11"]);
    assert!(done.starts_with("exported 111 contact"), "No11, No110 to No119, No1100 to No1199: {done}");
    let csv = std::fs::read_to_string(d.join("out.csv")).unwrap();
    assert_eq!(csv.lines().count(), 112, "a header and the rows");
    let jsonl = ok(d, &["export", "contacts", "--format", "jsonl", "-f", "family_name=No7"]);
    let one: Value = serde_json::from_str(jsonl.trim()).unwrap();
    assert_eq!(one["emails"][0]["address"], "p7@example.org");
}

#[test]
fn completions_are_printed_for_a_shell() {
    let dir = tempfile::tempdir().unwrap();
    let bash = ok(dir.path(), &["completions", "bash"]);
    assert!(bash.contains("contacts") && bash.contains("complete"), "{}", &bash[..200.min(bash.len())]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_answers_a_program_holding_a_key_issued_from_the_command_line() {
    let dir = initialised();
    let d = dir.path();
    let bot = json(d, &["users", "create", "name=Sync bot", "email=bot@acme.example", "roles=read_only"]);
    let key = json(d, &["api-keys", "issue", "nightly sync", "--for", bot["id"].as_str().unwrap()]);
    let secret = key["secret"].as_str().unwrap().to_owned();
    json(d, &["contacts", "create", "given_name=Ada", "family_name=Lovelace"]);

    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("crm"))
        .args(["serve", "--listen", "127.0.0.1:0", "--rate-limit", "1", "--burst", "2"])
        .args(["--allow-origin", "https://app.example.com"])
        .current_dir(d)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut line).unwrap();
    let base = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .expect("the address")
        .trim_end_matches('/')
        .to_owned();
    let http = reqwest::Client::new();
    let listed = http
        .get(format!("{base}/contacts"))
        .bearer_auth(&secret)
        .header("origin", "https://app.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(listed.headers()["access-control-allow-origin"], "https://app.example.com");
    let listed: Value = listed.json().await.unwrap();
    assert_eq!(listed["items"][0]["family_name"], "Lovelace");
    let refused = http
        .post(format!("{base}/contacts"))
        .bearer_auth(&secret)
        .json(&serde_json::json!({"given_name": "Bo"}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), reqwest::StatusCode::FORBIDDEN, "a read-only key");
    let anonymous = http.get(format!("{base}/contacts")).send().await.unwrap();
    assert_eq!(anonymous.status(), reqwest::StatusCode::UNAUTHORIZED);
    let mut limited = Vec::new();
    for _ in 0..3 {
        limited.push(http.get(format!("{base}/contacts")).bearer_auth(&secret).send().await.unwrap().status());
    }
    assert!(limited.contains(&reqwest::StatusCode::TOO_MANY_REQUESTS), "over --rate-limit 1 --burst 2: {limited:?}");
    child.kill().unwrap();
    child.wait().unwrap();
    ok(d, &["api-keys", "revoke", key["id"].as_str().unwrap()]);
}

/// `crm serve` in `dir` with `args`; the child and the address it printed.
fn serving(dir: &Path, args: &[&str]) -> (std::process::Child, String) {
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("crm"))
        .arg("serve")
        .args(args)
        .current_dir(dir)
        .env_remove("CRM_PORTAL_SECRET")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut line).unwrap();
    (child, line)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_runs_the_customer_portal_sending_links_through_smtp() {
    let dir = initialised();
    let d = dir.path();
    json(d, &["contacts", "create", "given_name=Ann", "family_name=Lee", "email=ann@example.com"]);
    let maildir = d.join("maildir");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../crm-integrations/tests/servers/smtp_server.py");
    let mut smtp = std::process::Command::new("python3")
        .arg(script)
        .arg("--maildir")
        .arg(&maildir)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs the SMTP test server (scripts/test.sh installs aiosmtpd)");
    let mut ready = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(smtp.stdout.take().unwrap()), &mut ready).unwrap();
    let smtp_port = ready.trim().strip_prefix("READY ").expect("the SMTP server's port").to_owned();

    // Settings that cannot work are refused before anything is served.
    let err = fails(d, &["serve", "--portal-url", "http://127.0.0.1:1/portal"], 2);
    assert!(err.contains("--portal-secret"), "{err}");
    let short = ["--portal-secret", "short", "--portal-from", "help@acme.example", "--smtp-host", "127.0.0.1"];
    let err = fails(d, &[&["serve", "--portal-url", "http://127.0.0.1:1/portal"][..], &short[..]].concat(), 2);
    assert!(err.contains("secret") && err.contains("32 bytes"), "{err}");

    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let base = format!("http://127.0.0.1:{port}");
    let portal = format!("{base}/portal");
    let (mut child, line) = serving(
        d,
        &[
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--portal-url",
            &portal,
            "--portal-secret",
            "a secret of more than thirty-two bytes",
            "--portal-from",
            "help@acme.example",
            "--portal-brand",
            "Acme",
            "--smtp-host",
            "127.0.0.1",
            "--smtp-port",
            &smtp_port,
            "--smtp-security",
            "none",
        ],
    );
    assert!(line.contains(&portal), "{line}");
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let asked = http.post(format!("{portal}/sign-in")).form(&[("email", "ann@example.com")]).send().await.unwrap();
    assert_eq!(asked.status(), reqwest::StatusCode::OK);
    let mail = std::fs::read_dir(maildir.join("new")).unwrap().next().expect("a mail").unwrap().path();
    let mail = std::fs::read(mail).unwrap();
    let mail = mail_parser::MessageParser::default().parse(&mail).unwrap();
    assert_eq!(mail.subject(), Some("Your sign-in link for Acme"));
    let text = mail.body_text(0).unwrap();
    let link = text.split_whitespace().find(|w| w.starts_with(&portal)).expect("the link").to_owned();
    let page = http.get(link).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("id=\"sign-in\""), "{page}");
    child.kill().unwrap();
    child.wait().unwrap();
    smtp.kill().unwrap();
    smtp.wait().unwrap();
}

#[test]
fn plugins_are_installed_beside_the_config_and_loaded_by_every_command_while_enabled() {
    let dir = initialised();
    let d = dir.path();
    let dist = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/dist");
    let wasm = dist.join("real-estate.wasm");
    assert!(wasm.exists(), "plugins/build-guests.sh builds {}", wasm.display());
    let bedrooms = [
        "deals",
        "create",
        "title=4 Harbour View",
        "real_estate.bedrooms=3",
        "real_estate.property_address=4 Harbour View",
    ];

    let installed = json(d, &["plugin", "install", wasm.to_str().unwrap(), "--grant", "log"]);
    assert_eq!((installed["id"].as_str(), installed["enabled"].as_bool()), (Some("real_estate"), Some(false)));
    assert!(installed["fields"].as_array().unwrap().iter().any(|f| f["key"] == "real_estate.bedrooms"));
    assert!(d.join("plugins/real_estate.wasm").exists(), "a copy beside the config");
    let config = std::fs::read_to_string(d.join("crm.toml")).unwrap();
    assert!(config.contains("[[plugin]]") && config.contains("grants = [\"log\"]"), "{config}");
    let err = fails(d, &bedrooms, 1);
    assert!(err.contains("real_estate.bedrooms"), "not loaded while disabled: {err}");

    let listed = json(d, &["plugin", "list"]);
    assert_eq!(listed[0]["enabled"], false);
    ok(d, &["plugin", "enable", "real_estate"]);
    let deal = json(d, &bedrooms);
    assert_eq!(deal["custom"]["real_estate.bedrooms"]["int"], 3, "{deal}");
    let err = fails(d, &["deals", "create", "title=Flat", "real_estate.bedrooms=3"], 1);
    assert!(err.contains("real_estate.property_address"), "the plugin's rules apply: {err}");
    let err =
        fails(d, &["deals", "create", "title=Flat", "real_estate.bedrooms=many", "real_estate.property_address=x"], 1);
    assert!(err.contains("real_estate.bedrooms") && err.contains("not a number"), "the plugin's field is typed: {err}");
    assert!(ok(d, &["plugin", "list"]).contains("real_estate"));

    // Refusals: an unknown plugin, a component the host refuses, a file that is not there.
    let err = fails(d, &["plugin", "enable", "nope"], 2);
    assert!(err.contains("crm plugin list"), "{err}");
    let bad = dist.join("bad-manifest.wasm");
    let err = fails(d, &["plugin", "install", bad.to_str().unwrap()], 2);
    assert!(err.contains("bad-manifest.wasm"), "{err}");
    fails(d, &["plugin", "install", "missing.wasm"], 1);
    assert_eq!(json(d, &["plugin", "list"]).as_array().unwrap().len(), 1, "nothing recorded from refusals");

    // Disabled again, the field is unknown; the values already stored stay.
    ok(d, &["plugin", "disable", "real_estate"]);
    fails(d, &bedrooms, 1);
    let kept = json(d, &["deals", "get", deal["id"].as_str().unwrap()]);
    assert_eq!(kept["custom"]["real_estate.bedrooms"]["int"], 3);
}

/// A webhook receiver on loopback answering 204: its URL and how many deliveries it got.
fn webhook_receiver() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hooks", listener.local_addr().unwrap());
    let got = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = got.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            // Read the head, then as much body as Content-Length says.
            while let Ok(n) = s.read(&mut chunk) {
                buf.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&buf).to_string();
                if let Some(end) = text.find("\r\n\r\n") {
                    let len = text[..end]
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_owned())
                        })
                        .and_then(|v| v.parse::<usize>().ok())
                        .unwrap_or(0);
                    if buf.len() >= end + 4 + len {
                        break;
                    }
                }
                if n == 0 {
                    break;
                }
            }
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let _ = s.write_all(b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n");
        }
    });
    (url, got)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn automation_run_does_what_fell_due_once() {
    use crm::prelude::*;
    let dir = initialised();
    let d = dir.path();
    let contact = json(d, &["contacts", "create", "given_name=Ann", "family_name=Lee"]);
    // What fell due, written through the library on the same file: an invoice due ten days ago,
    // an urgent case opened two days ago, and a webhook subscription.
    let config: toml::Value = toml::from_str(&std::fs::read_to_string(d.join("crm.toml")).unwrap()).unwrap();
    let tenant = TenantId::from_uuid(config["tenant"].as_str().unwrap().parse().unwrap());
    let (url, got) = webhook_receiver();
    {
        let crm = crm::sqlite(d.join("crm.db")).await.unwrap();
        let cx = crm.as_actor(&Actor::system(tenant));
        let ann = ContactId::from_uuid(contact["id"].as_str().unwrap().parse().unwrap());
        let today = cx.now().date_naive();
        let line = LineItem::new("Kettle", 1.into(), Money::new(40.into(), Currency::EUR));
        let input = NewInvoice::for_contact(ann).line(line).issued(today - chrono::Duration::days(40));
        let invoice = cx.invoices().create(input.due(today - chrono::Duration::days(10))).await.unwrap();
        cx.invoices().send(invoice.id).await.unwrap();
        let late = NewCase::new("Leaks", CaseType::Problem, CaseChannel::Phone).contact(ann).priority(Priority::Urgent);
        cx.cases().open(late.opened_at(cx.now() - chrono::Duration::days(2))).await.unwrap();
    }
    // The subscription, from the command line.
    let err = fails(d, &["webhooks", "add", &url, "--kind", "widget"], 2);
    assert!(err.contains("widget"), "{err}");
    let made = json(d, &["webhooks", "add", &url, "--description", "ERP"]);
    assert!(made["secret"].as_str().unwrap().starts_with("whsec_"), "{made}");
    let listed = json(d, &["webhooks", "list"]);
    assert_eq!((listed[0]["id"].clone(), listed[0].get("secret")), (made["id"].clone(), None), "{listed}");
    let done = json(d, &["automation", "run", "--allow-private-targets"]);
    assert_eq!(done["overdue_invoices"].as_array().unwrap().len(), 1, "{done}");
    assert_eq!(done["sla_breaches"].as_array().unwrap().len(), 1, "{done}");
    let delivered = done["webhooks_delivered"].as_u64().unwrap();
    assert!(delivered >= 4, "every event so far: {done}");
    assert_eq!(got.load(std::sync::atomic::Ordering::SeqCst) as u64, delivered);
    assert_eq!(done["webhooks_failed"], serde_json::json!([]));
    let invoices = json(d, &["invoices", "list"]);
    assert_eq!(invoices[0]["status"], "overdue", "{invoices}");

    // Run again: nothing new is due, and nothing is delivered twice but the run's own changes.
    let again = json(d, &["automation", "run", "--allow-private-targets"]);
    assert_eq!(
        (again["overdue_invoices"].clone(), again["sla_breaches"].clone()),
        (serde_json::json!([]), serde_json::json!([]))
    );
    let text = ok(d, &["automation", "run", "--no-webhooks"]);
    assert!(text.contains("0 invoice(s) now overdue") && !text.contains("webhook"), "{text}");
    ok(d, &["webhooks", "remove", made["id"].as_str().unwrap()]);
    assert_eq!(json(d, &["webhooks", "list"]), serde_json::json!([]));
    fails(d, &["webhooks", "remove", made["id"].as_str().unwrap()], 2);
}

/// The heights of the bars of `fill` in `svg` (legend swatches, 10 units high, left out).
fn bar_heights(svg: &str, fill: &str) -> Vec<f64> {
    svg.split("<rect")
        .skip(1)
        .filter(|r| r.contains(&format!("fill=\"{fill}\"")))
        .filter_map(|r| {
            let h = r.split("height=\"").nth(1)?.split('"').next()?.parse::<f64>().ok()?;
            (h != 10.0).then_some(h)
        })
        .collect()
}

#[test]
fn reports_are_drawn_as_svg_bar_charts() {
    let dir = initialised();
    let d = dir.path();
    let first = json(d, &["deals", "create", "name=Fleet", "amount=1000", "currency=EUR"]);
    let pipeline = first["pipeline_id"].as_str().unwrap().to_owned();
    let report = json(d, &["reports", "pipeline", &pipeline]);
    let stages = report["stages"].as_array().unwrap();
    let later = format!("stage={}", stages[2]["stage"]["name"].as_str().unwrap());
    json(d, &["deals", "create", "name=Vans", "amount=3000", "currency=EUR", &later]);

    ok(d, &["reports", "pipeline", &pipeline, "--chart", "pipeline.svg"]);
    let svg = std::fs::read_to_string(d.join("pipeline.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    let texts: Vec<&str> =
        svg.split("</text>").filter_map(|t| t.rsplit_once('>').map(|(_, text)| text.trim())).collect();
    for s in stages {
        assert!(texts.contains(&s["stage"]["name"].as_str().unwrap()), "every stage is labelled: {texts:?}");
    }
    let totals = bar_heights(&svg, "#2F5FB3");
    assert_eq!(totals.len(), 2, "a bar for each stage holding deals: {totals:?}");
    let ratio = totals[1] / totals[0];
    assert!((ratio - 3.0).abs() < 0.05, "bars in proportion to 1000 and 3000 EUR: {totals:?}");
    assert!(svg.contains("EUR"), "the axis names the currency");

    let spring = json(d, &["campaigns", "create", "name=Spring", "channel=email"]);
    ok(d, &["reports", "campaign", spring["id"].as_str().unwrap(), "--chart", "spring.svg"]);
    assert!(std::fs::read_to_string(d.join("spring.svg")).unwrap().contains("Spring (0 members)"));

    let err = fails(d, &["reports", "pipeline", &pipeline, "--chart", "pipeline.png"], 2);
    assert!(err.contains("SVG"), "{err}");
    assert!(!d.join("pipeline.png").exists());
}

/// Each request's path, and whether it carried the right token.
type Seen = std::sync::Arc<std::sync::Mutex<Vec<(String, bool)>>>;

/// A Xero-shaped API on loopback, as much as a sync of one organisation needs: one customer
/// contact, no invoices or payments; it answers only `Bearer access-1` for organisation `org-1`,
/// and returns (path, whether authorised) for each request.
fn xero_server() -> (String, Seen) {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}/api.xro/2.0/", listener.local_addr().unwrap());
    let seen: Seen = std::sync::Arc::default();
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let mut reader = BufReader::new(s.try_clone().unwrap());
            let mut head = Vec::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                head.push(line.trim_end().to_owned());
            }
            let path = head.first().and_then(|l| l.split_whitespace().nth(1)).unwrap_or_default().to_owned();
            let header = |name: &str| {
                head.iter()
                    .find_map(|l| {
                        l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.trim())
                    })
                    .unwrap_or_default()
                    .to_owned()
            };
            let authorised = header("authorization") == "Bearer access-1" && header("xero-tenant-id") == "org-1";
            log.lock().unwrap().push((path.clone(), authorised));
            let body = if !authorised {
                None
            } else if path.contains("/Contacts") && path.contains("page=1") {
                Some(serde_json::json!({"Contacts": [{
                    "ContactID": "7f2c3c55-1f47-4d1b-9c66-4f1d1a8b0c01", "Name": "Globex Ltd",
                    "EmailAddress": "ap@globex.example", "ContactStatus": "ACTIVE", "IsCustomer": true,
                    "DefaultCurrency": "GBP", "UpdatedDateUTC": "/Date(1764000000000+0000)/"
                }]}))
            } else if path.contains("/Contacts") {
                Some(serde_json::json!({"Contacts": []}))
            } else if path.contains("/Invoices") {
                Some(serde_json::json!({"Invoices": []}))
            } else if path.contains("/Payments") {
                Some(serde_json::json!({"Payments": []}))
            } else {
                Some(serde_json::json!({}))
            };
            let (status, body) = match body {
                Some(b) => ("200 OK", b.to_string()),
                None => ("401 Unauthorized", "{\"Title\":\"Unauthorized\"}".to_owned()),
            };
            let _ = write!(
                s,
                "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (base, seen)
}

#[test]
fn sync_keeps_a_connections_tokens_sealed_and_pulls_the_customers() {
    let dir = initialised();
    let d = dir.path();
    let (base, seen) = xero_server();
    let key = "8f".repeat(32);
    let with = |args: &[&str], key: Option<&str>| {
        let mut c = crm(d);
        c.args(args).env_remove("CRM_SYNC_KEY");
        for v in ["CRM_SYNC_CLIENT_ID", "CRM_SYNC_CLIENT_SECRET", "CRM_SYNC_ACCESS_TOKEN", "CRM_SYNC_REFRESH_TOKEN"] {
            c.env_remove(v);
        }
        if let Some(k) = key {
            c.env("CRM_SYNC_KEY", k);
        }
        c.output().unwrap()
    };
    let connect =
        ["sync", "connect", "xero", "--org", "org-1", "--access-token", "access-1", "--refresh-token", "refresh-1"];
    let no_key = with(&connect, None);
    assert_eq!(no_key.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&no_key.stderr).contains("CRM_SYNC_KEY"));
    assert!(with(&connect, Some(&key)).status.success());
    let db = std::fs::read(d.join("crm.db")).unwrap();
    assert!(!db.windows(9).any(|w| w == b"refresh-1") && !db.windows(8).any(|w| w == b"access-1"), "sealed");

    let sync =
        ["sync", "xero", "--org", "org-1", "--base-currency", "GBP", "--client-id", "app", "--client-secret", "s"];
    let sync: Vec<&str> = [&sync[..], &["--base-url", &base, "--json"]].concat();
    let out = with(&sync, Some(&key));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((report["connection"].as_str(), report["customers"]["created"].as_u64()), (Some("xero:org-1"), Some(1)));
    let companies = json(d, &["companies", "list"]);
    assert_eq!(companies[0]["name"], "Globex Ltd", "{companies}");
    let requests = seen.lock().unwrap().clone();
    assert!(requests.iter().all(|(_, ok)| *ok), "every call carried the connection's token: {requests:?}");
    assert!(
        requests.iter().any(|(p, _)| p.contains("/Invoices")) && requests.iter().any(|(p, _)| p.contains("/Payments"))
    );

    // Again: nothing new. Another key does not open the tokens.
    let again: Value = serde_json::from_slice(&with(&sync, Some(&key)).stdout).unwrap();
    assert_eq!(again["customers"]["created"], 0, "{again}");
    let wrong = with(&sync, Some(&"11".repeat(32)));
    assert_eq!(wrong.status.code(), Some(1), "{}", String::from_utf8_lossy(&wrong.stderr));
}
