//! Holes found by hostile plugins beyond the fixture's first set, each held shut: a plugin
//! that sleeps (in `check` or in `describe`) is stopped at once and delays no other write; kept
//! log lines own only what they show; a component refused for its imports is refused before it
//! is compiled and leaves nothing in the artifact cache; an unknown contract interface is named
//! as such; a decimal the CRM cannot keep exactly is refused, never rounded.

use std::time::{Duration, Instant};

use crm_core::{actor::Actor, ids::TenantId, service::NewDeal, value::Value};
use crm_plugins::{Grants, HostConfig, InstallError, PluginFailure, PluginHost};

use crate::common::dist;
use crate::sandbox::{BENIGN, CALL_BOUND, benign_deal_works, failing_deal, fixture, install};

/// A sleep in `check` fails the call at once (it does not hold its tenant's write, which runs
/// `check`, for the 20 s it asks), and another tenant's save meanwhile is not held up either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_that_sleeps_is_stopped_at_once_and_holds_up_no_other_write() {
    let fx = fixture(HostConfig::default());
    let other = fx.crm.as_actor(&Actor::system(TenantId::from_uuid(uuid::Uuid::now_v7())));
    let theirs = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let started = Instant::now();
        let saved = other.deals().create(NewDeal::new(BENIGN)).await;
        (saved, started.elapsed())
    });
    let message = failing_deal(&fx, "sleep:20").await;
    assert!(message.contains("tried to wait"), "the failure says what the plugin did: {message}");
    let (saved, took) = theirs.await.expect("the other tenant's task");
    let deal = saved.expect("the other tenant's save goes through");
    assert_eq!(deal.custom.get("hostile.score"), Some(&Value::Int(BENIGN.len() as i64)));
    assert!(took < CALL_BOUND, "the other tenant's save took {took:?}");
    benign_deal_works(&fx).await;
}

/// A `describe` that sleeps for an hour ends the install with the same failure, not an hour
/// later.
#[test]
fn an_install_whose_describe_sleeps_ends_with_the_call() {
    let host = PluginHost::new(HostConfig::default()).expect("host");
    let started = Instant::now();
    let err = host.install(&dist("slow-describe.wasm"), Grants::all()).expect_err("refused");
    assert!(matches!(err, InstallError::Describe(PluginFailure::Waited)), "{err:?}");
    // Compiling the component is included; the plugin asked for an hour.
    assert!(started.elapsed() < Duration::from_secs(60), "took {:?}", started.elapsed());
}

/// Lines of 256 KiB logged through `host.log` are kept cut to 2,000 bytes in strings of their
/// own: what the host keeps is the size of what it shows, not of what the plugin sent.
#[tokio::test]
async fn kept_log_lines_own_only_what_they_show() {
    const SHOWN: usize = 2_000 + '…'.len_utf8();
    let fx = fixture(HostConfig::default());
    fx.cx.deals().create(NewDeal::new("log-big:64")).await.expect("logging is no failure");
    let logs = fx.host.take_logs();
    assert!(logs.len() >= 64, "the lines were kept: {}", logs.len());
    assert!(logs.len() <= crm_plugins::MAX_KEPT);
    for line in &logs {
        assert_eq!(line.message.len(), SHOWN, "cut to 2,000 bytes and marked");
        assert!(line.message.capacity() <= SHOWN, "a kept line owns {} bytes", line.message.capacity());
    }
    let owned: usize = logs.iter().map(|l| l.message.capacity() + l.plugin.capacity()).sum();
    assert!(owned < logs.len() * (SHOWN + 64), "{owned} bytes kept for {} lines", logs.len());
}

/// A component with only an import and nothing else: what the install checks see first.
fn component_importing(name: &str) -> Vec<u8> {
    use wasm_encoder::{Component, ComponentImportSection, ComponentTypeRef, ComponentTypeSection, InstanceType};
    let mut types = ComponentTypeSection::new();
    types.instance(&InstanceType::new());
    let mut imports = ComponentImportSection::new();
    imports.import(name, ComponentTypeRef::Instance(0));
    let mut component = Component::new();
    component.section(&types).section(&imports);
    component.finish()
}

fn files_in(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dir).expect("cache dir").map(|e| e.expect("entry").file_name().to_string_lossy().into()).collect()
}

/// Imports are checked on the parsed component before anything is compiled, and nothing a
/// refused install compiled is kept in the cache; a plugin that installs is cached.
#[test]
fn refused_components_are_refused_before_compiling_and_leave_no_artifact() {
    let dir = tempfile::tempdir().expect("temp dir");
    let host = PluginHost::new(HostConfig::default().cache_dir(dir.path())).expect("host");
    let err = host.install(&component_importing("wasi:sockets/tcp@0.2.0"), Grants::all()).expect_err("refused");
    assert!(matches!(&err, InstallError::ForbiddenImport(n) if n == "wasi:sockets/tcp@0.2.0"), "{err:?}");
    let err = host.install(&dist("slow-describe.wasm"), Grants::all()).expect_err("refused");
    assert!(matches!(err, InstallError::Describe(PluginFailure::Waited)), "{err:?}");
    assert_eq!(files_in(dir.path()), Vec::<String>::new(), "nothing refused is cached");

    install(&host, "upgrade-v1.wasm", Grants::all());
    let artifacts: Vec<String> = files_in(dir.path()).into_iter().filter(|f| f.ends_with(".cwasm")).collect();
    assert_eq!(artifacts.len(), 1, "an installed plugin is cached: {artifacts:?}");
}

/// A `crm:plugin` interface the contract does not have is named as unknown, not as another
/// contract version; a known one of another version is a version mismatch.
#[test]
fn an_unknown_contract_interface_is_named_as_such() {
    let host = PluginHost::new(HostConfig::default()).expect("host");
    let err = host.install(&component_importing("crm:plugin/storage@0.2.0"), Grants::all()).expect_err("refused");
    assert!(matches!(&err, InstallError::UnknownInterface(n) if n == "crm:plugin/storage@0.2.0"), "{err:?}");
    assert!(err.to_string().contains("does not have"), "{err}");
    let err = host.install(&component_importing("crm:plugin/host@9.0.0"), Grants::all()).expect_err("refused");
    assert!(
        matches!(&err, InstallError::UnsupportedVersion { found, .. } if found == "crm:plugin/host@9.0.0"),
        "{err:?}"
    );
    let err = host.install(b"\0asm\x01\0\0\0", Grants::all()).expect_err("refused");
    assert!(matches!(&err, InstallError::InvalidComponent(m) if m.contains("not a component")), "{err:?}");
}

/// Money with 29 decimal places is refused with the reason; it is not rounded to 28.
#[tokio::test]
async fn a_decimal_with_more_places_than_the_crm_keeps_is_refused_not_rounded() {
    let fx = fixture(HostConfig::default());
    let message = failing_deal(&fx, "long-fraction").await;
    assert!(message.contains("more than 28 decimal places"), "{message}");
    benign_deal_works(&fx).await;
}
