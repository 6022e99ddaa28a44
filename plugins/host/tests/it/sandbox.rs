//! The sandbox against the hostile fixture plugin (`plugins/guests/fixtures/hostile`): every kind of
//! misbehaviour fails the one call with `Error::Plugin` naming the plugin, writes nothing, and
//! leaves the host able to run the next call on a fresh instance.
//!
//! The hostile plugin declares fields on deals, products and contacts (so its `check` runs for
//! those) and subscribes to every event of every kind. A deal's `name` (a contact's given name)
//! selects its mode; a company (no hostile fields, so no save-path hooks) named after a mode
//! drives `on-event` alone.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crm_core::{
    actor::Actor, entity::EntityKind, entity::EntityRef, error::Error, event::Change, event::EventQuery,
    event::StoredEvent, ids::TenantId, memory::MemoryStore, model::StageKind, money::Currency, money::Money,
    query::Filter, service::Crm, service::NewCompany, service::NewContact, service::NewDeal, service::Session,
    value::Value,
};
use crm_plugins::{Capability, Grants, HostConfig, InstallError, PluginHost, PluginInfo};

use crate::common::dist;

pub(crate) const ID: &str = "hostile";
/// `PANIC_MESSAGE` of `plugins/guests/fixtures/hostile/src/lib.rs`.
const PANIC_MESSAGE: &str = "hostile plugin panicked on purpose";
/// `STDERR_MESSAGE` of `plugins/guests/fixtures/hostile/src/lib.rs`.
const STDERR_MESSAGE: &str = "hostile plugin wrote to stderr";
/// A name no mode matches: the plugin behaves and computes `score` = its length.
pub(crate) const BENIGN: &str = "Acme renewal";
/// Generous bound on one failing call (CI machines are slow).
pub(crate) const CALL_BOUND: Duration = Duration::from_secs(1);
/// What a runaway loop may take before it is stopped (fuel; or the 100 ms deadline when fuel is off).
const LOOP_BOUND: Duration = Duration::from_millis(150);

/// Runs a `loop` deal and returns the plugin's message, checking the call was stopped within
/// [`LOOP_BOUND`]; a second attempt absorbs one scheduling hiccup of a loaded machine.
async fn stopped_loop(fx: &Fixture) -> String {
    let started = Instant::now();
    let message = failing_deal(fx, "loop").await;
    if started.elapsed() >= LOOP_BOUND {
        let again = Instant::now();
        let message = failing_deal(fx, "loop").await;
        let elapsed = again.elapsed();
        assert!(elapsed < LOOP_BOUND, "the loop ran for {elapsed:?} twice");
        return message;
    }
    message
}

/// Compiled plugins are cached across tests and runs; installs are serialized so that only the
/// first one compiles and writes the artifact.
fn cache_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("crm-plugins-sandbox-cache")
}

static INSTALL: Mutex<()> = Mutex::new(());

pub(crate) fn install(host: &PluginHost, file: &str, grants: Grants) -> PluginInfo {
    let wasm = dist(file);
    let _guard = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    host.install(&wasm, grants).unwrap_or_else(|e| panic!("installing {file}: {e}"))
}

pub(crate) struct Fixture {
    pub(crate) host: PluginHost,
    pub(crate) crm: Crm,
    pub(crate) cx: Session,
}

pub(crate) fn fixture_with(config: HostConfig, plugins: &[&str]) -> Fixture {
    let host = PluginHost::new(config.cache_dir(cache_dir())).expect("host");
    for p in plugins {
        install(&host, p, Grants::all());
    }
    let crm = Crm::builder(MemoryStore::new()).extensions(host.extensions()).build().expect("crm");
    let cx = crm.as_actor(&Actor::system(TenantId::from_uuid(uuid::Uuid::now_v7())));
    Fixture { host, crm, cx }
}

pub(crate) fn fixture(config: HostConfig) -> Fixture {
    fixture_with(config, &["hostile.wasm"])
}

/// The message of an `Error::Plugin` from the hostile plugin; anything else fails the test.
pub(crate) fn plugin_message<T: std::fmt::Debug>(what: &str, r: crm_core::error::Result<T>) -> String {
    match r {
        Err(Error::Plugin { plugin, message }) => {
            assert_eq!(plugin, ID, "{what}: the error names the plugin");
            println!("{what}: plugin `{plugin}` failed: {message}");
            message
        }
        other => panic!("{what}: expected Error::Plugin from `{ID}`, got {other:?}"),
    }
}

async fn events(cx: &Session) -> Vec<StoredEvent> {
    cx.events(&EventQuery::after(0, 1_000)).await.expect("events")
}

async fn deal_count(cx: &Session) -> u64 {
    cx.deals().count(&Filter::All).await.expect("count deals")
}

/// Creates a deal named `mode` and returns the plugin's error message, after checking that the
/// failed call wrote nothing (no deal, no event) and took less than [`CALL_BOUND`].
pub(crate) async fn failing_deal(fx: &Fixture, mode: &str) -> String {
    let (deals, evs) = (deal_count(&fx.cx).await, events(&fx.cx).await.len());
    let started = Instant::now();
    let r = fx.cx.deals().create(NewDeal::new(mode)).await;
    let elapsed = started.elapsed();
    println!("{mode}: failed after {elapsed:?}");
    let message = plugin_message(mode, r);
    assert!(elapsed < CALL_BOUND, "{mode}: the call took {elapsed:?}");
    assert_eq!(deal_count(&fx.cx).await, deals, "{mode}: a deal was written");
    assert_eq!(events(&fx.cx).await.len(), evs, "{mode}: an event was written");
    assert!(fx.host.take_actions().is_empty(), "{mode}: no reaction ran");
    message
}

/// A benign deal saves, with the plugin's computed score: the plugin works again, on a fresh
/// instance, after whatever the previous call did.
pub(crate) async fn benign_deal_works(fx: &Fixture) {
    let before = deal_count(&fx.cx).await;
    let deal = fx.cx.deals().create(NewDeal::new(BENIGN)).await.expect("a benign deal saves after a failure");
    assert_eq!(
        deal.custom.get("hostile.score"),
        Some(&Value::Int(BENIGN.len() as i64)),
        "the plugin computed its score"
    );
    assert_eq!(deal_count(&fx.cx).await, before + 1);
    assert!(fx.host.is_enabled(ID));
}

// ---- CPU: fuel and the epoch deadline ----

#[tokio::test]
async fn an_infinite_loop_is_stopped_by_fuel() {
    let fx = fixture(HostConfig::default());
    let message = stopped_loop(&fx).await;
    assert!(message.contains("ran out of fuel"), "{message}");
    assert!(message.contains("100000000"), "the message names the budget: {message}");
    benign_deal_works(&fx).await;
}

#[tokio::test]
async fn an_infinite_loop_is_stopped_by_the_epoch_deadline_without_fuel() {
    let fx = fixture(HostConfig::default().fuel(None).deadline(Duration::from_millis(100)));
    let message = stopped_loop(&fx).await;
    assert!(message.contains("timed out after 100 ms"), "{message}");
    benign_deal_works(&fx).await;
}

// ---- memory and stack ----

#[tokio::test]
async fn a_memory_bomb_hits_the_memory_limit() {
    // The defaults: the deadline is a backstop well above the work a call may do, so a memory
    // bomb is reported as what it is, not as a timeout, even on a loaded machine.
    let fx = fixture(HostConfig::default());
    let message = failing_deal(&fx, "alloc").await;
    assert!(message.contains(&format!("exceeded its memory limit of {} bytes", 64 << 20)), "{message}");
    benign_deal_works(&fx).await;
}

#[tokio::test]
async fn the_memory_limit_is_the_configured_one() {
    let fx = fixture(HostConfig::default().memory_limit(16 << 20).deadline(Duration::from_secs(2)));
    let message = failing_deal(&fx, "alloc").await;
    assert!(message.contains(&format!("exceeded its memory limit of {} bytes", 16 << 20)), "{message}");
    benign_deal_works(&fx).await;
}

#[tokio::test]
async fn unbounded_recursion_overflows_the_stack() {
    // A Rust guest's own stack lives in its linear memory and usually runs out before the
    // native stack guard: either way the call fails with a message that says so.
    let fx = fixture(HostConfig::default());
    let message = failing_deal(&fx, "recurse").await;
    assert!(message.contains("overflowed its call stack") || message.contains("stack overflowing"), "{message}");
    benign_deal_works(&fx).await;
}

#[tokio::test]
async fn unbounded_recursion_hits_a_small_native_stack_limit() {
    let fx = fixture(HostConfig { max_stack_bytes: 64 << 10, ..HostConfig::default() });
    let message = failing_deal(&fx, "recurse").await;
    assert!(message.contains("overflowed its call stack"), "{message}");
    benign_deal_works(&fx).await;
}

// ---- traps ----

async fn panic_case(fx: &Fixture) {
    let message = failing_deal(fx, "panic").await;
    assert!(message.starts_with("trapped"), "{message}");
    assert!(message.contains(PANIC_MESSAGE), "the guest's panic text is reported: {message}");
    let stderr: Vec<_> = fx.host.take_logs().into_iter().filter(|l| l.stderr).collect();
    assert_eq!(stderr.len(), 1, "the panic's stderr output is logged once: {stderr:?}");
    assert_eq!(stderr[0].plugin, ID);
    assert!(stderr[0].message.contains(PANIC_MESSAGE), "{:?}", stderr[0]);
    benign_deal_works(fx).await;
}

/// Save-path calls made on a multi-thread runtime run on the caller's thread (the runtime's
/// other tasks move away); a panic's stderr output still reaches the host.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_traps_with_the_panic_message_on_a_multi_thread_runtime() {
    panic_case(&fixture(HostConfig::default())).await;
}

/// What a plugin writes to stderr without failing is captured into the host's log, attributed
/// to the plugin, whatever its capabilities; the write goes through.
#[tokio::test]
async fn what_a_plugin_writes_to_stderr_reaches_the_log() {
    let host = PluginHost::new(HostConfig::default().cache_dir(cache_dir())).expect("host");
    install(&host, "hostile.wasm", Grants::none());
    let crm = Crm::builder(MemoryStore::new()).extensions(host.extensions()).build().expect("crm");
    let cx = crm.as_actor(&Actor::system(TenantId::from_uuid(uuid::Uuid::now_v7())));
    let deal = cx.deals().create(NewDeal::new("stderr")).await.expect("writing to stderr is no failure");
    assert_eq!(deal.custom.get("hostile.score"), Some(&Value::Int(6)), "the plugin computed its score");
    let logs = host.take_logs();
    let stderr: Vec<_> = logs.iter().filter(|l| l.stderr).collect();
    assert_eq!(stderr.len(), 1, "{logs:?}");
    assert_eq!((stderr[0].plugin.as_str(), stderr[0].message.as_str()), (ID, STDERR_MESSAGE));
    assert_eq!(stderr[0].level, crm_plugins::LogSeverity::Warn);
    assert!(host.take_logs().is_empty(), "taken once");
    cx.deals().create(NewDeal::new(BENIGN)).await.expect("the next call works");
    assert!(host.take_logs().is_empty(), "a quiet call logs nothing");
}

/// The save path inside a tokio runtime, as embedders run it.
#[tokio::test]
async fn a_panic_traps_with_the_panic_message() {
    panic_case(&fixture(HostConfig::default())).await;
}

/// The same without a tokio runtime.
#[test]
fn a_panic_traps_with_the_panic_message_outside_tokio() {
    futures::executor::block_on(panic_case(&fixture(HostConfig::default())));
}

#[tokio::test]
async fn a_panic_in_on_event_skips_the_reaction_but_keeps_the_write() {
    // on-event runs on a blocking thread, so this holds inside tokio too.
    let fx = fixture(HostConfig::default());
    let co = fx.cx.companies().create(NewCompany::new("panic")).await.expect("events never undo a write");
    assert!(fx.host.take_actions().is_empty());
    let stored = fx.cx.record(EntityRef::new(EntityKind::Company, co.id)).await.expect("read").expect("company");
    assert_eq!(stored.version(), co.version);
    benign_deal_works(&fx).await;
}

// ---- oversized results ----

#[tokio::test]
async fn a_48_mib_string_is_refused_as_oversized() {
    // Filling 48 MiB of fresh guest memory can take longer than the default deadline
    // on a slow machine; this case is about size, so it gets more time.
    let fx = fixture(HostConfig::default().deadline(Duration::from_secs(2)));
    let message = failing_deal(&fx, "huge-string:48").await;
    let size: usize = message
        .strip_prefix("returned an oversized result: ")
        .and_then(|rest| rest.strip_suffix(" bytes; the limit is 1048576"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("not an oversized-result message: {message}"));
    assert!(size >= 48 << 20, "the whole 48 MiB were counted: {size}");
    benign_deal_works(&fx).await;

    // The same through the direct validation entry point.
    let draft = fx.cx.deals().create(NewDeal::new("draft")).await.expect("deal");
    let mut rec = crm_core::model::Record::Deal(draft);
    if let crm_core::model::Record::Deal(d) = &mut rec {
        d.name = "huge-string:48".into();
    }
    let message = plugin_message("host.validate huge-string:48", fx.host.validate(ID, &rec));
    assert!(message.contains("oversized"), "{message}");
    benign_deal_works(&fx).await;
}

#[tokio::test]
async fn too_many_items_are_refused_as_oversized() {
    let fx = fixture(HostConfig::default());
    let message = failing_deal(&fx, "huge-list:2000").await;
    assert!(message.contains("oversized") && message.contains("2000 items; the limit is 1000"), "{message}");
    benign_deal_works(&fx).await;
}

#[tokio::test]
async fn an_oversized_on_event_error_skips_the_reaction_but_keeps_the_write() {
    let fx = fixture(HostConfig::default());
    let co = fx.cx.companies().create(NewCompany::new("huge-string:48")).await.expect("events never undo a write");
    assert!(fx.host.take_actions().is_empty());
    let stored = fx.cx.record(EntityRef::new(EntityKind::Company, co.id)).await.expect("read").expect("company");
    assert_eq!(stored.version(), co.version, "nothing changed the company after its creation");
    assert!(fx.host.is_enabled(ID));
    benign_deal_works(&fx).await;
}

// ---- capabilities ----

#[tokio::test]
async fn an_undeclared_capability_is_refused_at_call_time() {
    // The hostile plugin does not declare read-related; in `read` mode it calls get-related
    // anyway and, when refused, reports a field error as if nothing happened. The host refuses
    // the whole call.
    let fx = fixture(HostConfig::default());
    let message = failing_deal(&fx, "read").await;
    assert!(message.contains("used a capability it does not have: get-related"), "{message}");
    benign_deal_works(&fx).await;

    // In on-event too (a company: no save-path hooks): the call fails, no action runs, the
    // write stands.
    let co = fx.cx.companies().create(NewCompany::new("read")).await.expect("events never undo a write");
    assert!(fx.host.take_actions().is_empty());
    let stored = fx.cx.record(EntityRef::new(EntityKind::Company, co.id)).await.expect("read").expect("company");
    assert_eq!(stored.version(), co.version, "nothing changed the company after its creation");
    benign_deal_works(&fx).await;
}

#[tokio::test]
async fn effective_capabilities_are_requested_and_granted() {
    let log: BTreeSet<Capability> = [Capability::Log].into();
    let all = PluginHost::new(HostConfig::default().cache_dir(cache_dir())).expect("host");
    let info = install(&all, "hostile.wasm", Grants::all());
    assert_eq!(info.requested, log, "hostile asks only for log");
    assert_eq!(info.effective, log, "granting everything gives only what was asked for");
    assert!(!info.effective.contains(&Capability::ReadRelated));

    let none = PluginHost::new(HostConfig::default().cache_dir(cache_dir())).expect("host");
    let info = install(&none, "hostile.wasm", Grants::none());
    assert_eq!(info.requested, log);
    assert_eq!(info.effective, BTreeSet::new(), "nothing granted, nothing effective");

    let read_only = PluginHost::new(HostConfig::default().cache_dir(cache_dir())).expect("host");
    let info = install(&read_only, "hostile.wasm", Grants::none().allow(Capability::ReadRelated));
    assert_eq!(info.effective, BTreeSet::new(), "a grant of something not asked for gives nothing");

    // Without any grant the plugin still works, and `read` is still refused.
    let crm = Crm::builder(MemoryStore::new()).extensions(none.extensions()).build().expect("crm");
    let cx = crm.as_actor(&Actor::system(TenantId::from_uuid(uuid::Uuid::now_v7())));
    let deal = cx.deals().create(NewDeal::new(BENIGN)).await.expect("benign");
    assert_eq!(deal.custom.get("hostile.score"), Some(&Value::Int(BENIGN.len() as i64)));
    let err = cx.deals().create(NewDeal::new("read")).await.expect_err("read is refused");
    assert!(err.to_string().contains("used a capability it does not have"), "{err}");
}

// ---- contract violations ----

#[tokio::test]
async fn ill_typed_or_foreign_computed_values_write_nothing() {
    let fx = fixture(HostConfig::default());
    let message = failing_deal(&fx, "wrong-type").await;
    assert!(message.contains("computed a bad value") || message.contains("contract"), "{message}");
    benign_deal_works(&fx).await;

    let message = failing_deal(&fx, "bad-money").await;
    assert!(message.contains("broke the contract") && message.contains("1e3"), "{message}");
    benign_deal_works(&fx).await;

    let message = failing_deal(&fx, "foreign-field").await;
    assert!(message.contains("broke the contract") && message.contains("listing_status"), "{message}");
    benign_deal_works(&fx).await;
}

/// Asserts every recorded action is a skipped contract violation, and returns them.
fn skipped_contract_violations(host: &PluginHost, expected: usize) -> Vec<crm_plugins::AppliedAction> {
    let actions = host.take_actions();
    println!("{actions:#?}");
    assert_eq!(actions.len(), expected, "{actions:#?}");
    for a in &actions {
        assert_eq!(a.plugin, ID);
        let err = a.outcome.as_ref().expect_err("the action is skipped");
        assert!(err.starts_with("contract violation"), "{err}");
    }
    actions
}

#[tokio::test]
async fn setting_a_foreign_field_in_on_event_is_skipped() {
    let fx = fixture_with(HostConfig::default(), &["hostile.wasm", "real-estate.wasm"]);
    // Its compute refuses a deal named `foreign-field`; create it while the plugin is off, then
    // drive on-event with a stage move (which skips validate and compute).
    assert!(fx.host.disable(ID));
    let deal = fx
        .cx
        .deals()
        .create(
            NewDeal::new("foreign-field")
                .custom("real_estate.property_address", "12 Elm Street, Springfield")
                .custom("real_estate.list_price", Money::new(rust_decimal::Decimal::from(450_000), Currency::EUR)),
        )
        .await
        .expect("deal");
    assert!(fx.host.enable(ID));
    fx.host.take_actions();
    let pipeline = fx.cx.pipelines().default_pipeline().await.expect("pipeline");
    let next = pipeline
        .stages
        .iter()
        .find(|s| s.kind == StageKind::Open && s.id != deal.stage_id)
        .expect("a second open stage")
        .id;
    let moved = fx.cx.deals().move_to_stage(deal.id, next).await.expect("the move itself stands");
    let actions = skipped_contract_violations(&fx.host, 3);
    assert!(actions[0].outcome.as_ref().unwrap_err().contains("`listing_status` is not one of its deal fields"));
    assert!(actions[1].outcome.as_ref().unwrap_err().contains("`real_estate.listing_status` is not one of its"));
    let now = fx.cx.deals().get(deal.id).await.expect("deal");
    assert_eq!(now.version, moved.version, "no action wrote to the deal");
    assert_eq!(now.custom, deal.custom, "custom values unchanged");
    assert!(!now.custom.contains_key("real_estate.listing_status"));
    assert!(!now.custom.contains_key("hostile.mode"));
}

#[tokio::test]
async fn setting_a_computed_field_or_a_field_of_another_kind_is_skipped() {
    let fx = fixture(HostConfig::default());
    // Both modes pass validate and compute (score = name length); only on-event misbehaves.
    let deal = fx.cx.deals().create(NewDeal::new("set-computed")).await.expect("deal");
    let actions = skipped_contract_violations(&fx.host, 1);
    assert!(actions[0].outcome.as_ref().unwrap_err().contains("`score` is computed"), "{actions:?}");
    let now = fx.cx.deals().get(deal.id).await.expect("deal");
    assert_eq!(now.version, deal.version, "the deal was not written again");
    assert_eq!(now.custom.get("hostile.score"), Some(&Value::Int("set-computed".len() as i64)), "not 99");
    benign_deal_works(&fx).await;
    fx.host.take_actions();

    let deal = fx.cx.deals().create(NewDeal::new("wrong-kind")).await.expect("deal");
    let actions = skipped_contract_violations(&fx.host, 1);
    assert!(actions[0].outcome.as_ref().unwrap_err().contains("not one of its company fields"), "{actions:?}");
    assert_eq!(fx.cx.deals().get(deal.id).await.expect("deal").version, deal.version);
    assert_eq!(fx.cx.companies().count(&Filter::All).await.expect("count"), 0, "no company appeared");
    benign_deal_works(&fx).await;
}

// ---- reactions do not loop ----

#[tokio::test]
async fn a_plugins_own_change_is_not_dispatched_back_to_it() {
    let fx = fixture(HostConfig::default());
    // A company named `huge-list:1`: hostile has no company fields (no save-path hooks), and
    // on-event answers any event about it with one `add-tag t0`. Were its own change sent back,
    // it would react again.
    let co = fx.cx.companies().create(NewCompany::new("huge-list:1")).await.expect("company");
    let actions = fx.host.take_actions();
    println!("{actions:#?}");
    assert_eq!(actions.len(), 1, "one reaction, to the creation only: {actions:#?}");
    assert_eq!(actions[0].outcome, Ok(()), "{actions:#?}");
    let stored = fx.cx.record(EntityRef::new(EntityKind::Company, co.id)).await.expect("read").expect("company");
    let crm_core::model::Record::Company(stored) = stored else { panic!("not a company") };
    assert_eq!(stored.tags, vec!["t0".to_owned()]);
    assert_eq!(stored.version, co.version + 1, "written once by the reaction");
    let about: Vec<Change> = events(&fx.cx)
        .await
        .into_iter()
        .filter(|e| e.event.subject == EntityRef::new(EntityKind::Company, co.id))
        .map(|e| e.event.change)
        .collect();
    assert_eq!(about.len(), 2, "created, then tagged once: {about:?}");
    assert_eq!(about[0], Change::Created);
    assert!(matches!(&about[1], Change::Updated { .. }), "{about:?}");
}

// ---- repeated failures disable the plugin ----

#[tokio::test]
async fn repeated_failures_disable_the_plugin_until_re_enabled() {
    let fx = fixture(HostConfig { max_consecutive_failures: 3, ..HostConfig::default() });
    for i in 1..=3 {
        assert!(fx.host.is_enabled(ID), "enabled before failure {i}");
        let message = failing_deal(&fx, "loop").await;
        assert!(message.contains("ran out of fuel") || message.contains("timed out"), "{message}");
    }
    assert!(!fx.host.is_enabled(ID), "disabled after 3 consecutive failures");

    // Its hooks no longer run: the same write now succeeds, without a computed score…
    let deal = fx.cx.deals().create(NewDeal::new("loop")).await.expect("the disabled plugin's hooks are skipped");
    assert_eq!(deal.custom.get("hostile.score"), None);
    assert!(fx.host.take_actions().is_empty());
    // …but its fields' declarative constraints still apply.
    let err = fx
        .cx
        .deals()
        .create(NewDeal::new(BENIGN).custom("hostile.mode", 42i64))
        .await
        .expect_err("a number in the text field `hostile.mode` is refused");
    assert!(matches!(err, Error::Validation(_)), "{err:?}");
    let err = fx
        .cx
        .deals()
        .create(NewDeal::new(BENIGN).custom("hostile.score", 7i64))
        .await
        .expect_err("the computed field `hostile.score` cannot be set");
    assert!(matches!(err, Error::Validation(_)), "{err:?}");

    assert!(fx.host.enable(ID));
    assert!(fx.host.is_enabled(ID));
    let message = failing_deal(&fx, "loop").await;
    assert!(message.contains("ran out of fuel") || message.contains("timed out"), "{message}");
    assert!(fx.host.is_enabled(ID), "one failure after re-enabling does not disable it");
    benign_deal_works(&fx).await;
    assert!(!fx.host.enable("no_such_plugin"));
}

#[tokio::test]
async fn a_success_resets_the_failure_count() {
    let fx = fixture(HostConfig { max_consecutive_failures: 3, ..HostConfig::default() });
    for _ in 0..2 {
        failing_deal(&fx, "alloc").await;
    }
    benign_deal_works(&fx).await;
    for _ in 0..2 {
        failing_deal(&fx, "huge-list:2000").await;
    }
    assert!(fx.host.is_enabled(ID), "failures are counted consecutively");
    failing_deal(&fx, "loop").await;
    assert!(!fx.host.is_enabled(ID));
}

// ---- installation ----

#[test]
fn random_bytes_are_not_a_component() {
    let host = PluginHost::new(HostConfig::default()).expect("host");
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let junk: Vec<u8> = (0..4096)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    match host.install(&junk, Grants::all()) {
        Err(InstallError::InvalidComponent(m)) => println!("random bytes: {m}"),
        other => panic!("expected InvalidComponent, got {other:?}"),
    }
    assert!(host.plugins().is_empty());
}

#[test]
fn a_core_module_is_not_a_component() {
    let host = PluginHost::new(HostConfig::default()).expect("host");
    match host.install(b"\0asm\x01\0\0\0", Grants::all()) {
        Err(InstallError::InvalidComponent(m)) => println!("core module: {m}"),
        other => panic!("expected InvalidComponent, got {other:?}"),
    }
    assert!(host.plugins().is_empty());
}

// ---- what a plugin is shown ----

#[tokio::test]
async fn a_plugin_is_shown_only_the_standard_fields_it_reads_and_its_own_custom_fields() {
    let fx = fixture_with(HostConfig::default(), &["hostile.wasm", "real-estate.wasm"]);
    // The hostile plugin reads a deal's `name` only; this deal has an amount, an owner, a
    // stage and tags too, and a real-estate field, none of which it may see.
    let r = fx
        .cx
        .deals()
        .create(
            NewDeal::new("core-names")
                .amount(Money::new(1_000.into(), Currency::EUR))
                .tag("vip")
                .custom("hostile.mode", "x")
                .custom("real_estate.property_address", "12 Elm Street"),
        )
        .await;
    match r {
        Err(Error::Validation(errs)) => {
            let messages: Vec<&str> = errs.0.iter().map(|e| e.message.as_str()).collect();
            assert_eq!(messages, ["core [name] custom [mode]"], "{errs:?}");
        }
        other => panic!("expected the plugin's refusal naming what it saw, got {other:?}"),
    }
    assert_eq!(deal_count(&fx.cx).await, 0, "the refused deal was not written");
}

// ---- batches: one misbehaving row fails alone ----

#[tokio::test]
async fn in_a_batch_import_only_the_misbehaving_rows_fail_and_the_rest_are_computed() {
    let fx = fixture(HostConfig::default());
    let names = ["Ada", "panic", "Grace", "wrong-type", "loop", "Edsger"];
    let rows: Vec<NewContact> = names.iter().map(|n| NewContact::new(*n, "Tester")).collect();
    let report = fx
        .cx
        .contacts()
        .import(rows, &crm_core::service::ImportOptions::default().batch_size(names.len()), |_| {})
        .await
        .expect("the import runs");
    let rejected: Vec<usize> = report.rejected.iter().map(|r| r.row).collect();
    assert_eq!(rejected, [1, 3, 4], "{:?}", report.rejected);
    for r in &report.rejected {
        assert!(matches!(&r.error, Error::Plugin { plugin, .. } if plugin == ID), "row {}: {:?}", r.row, r.error);
    }
    assert_eq!(report.imported.len(), 3);
    for (id, name) in report.imported.iter().zip(["Ada", "Grace", "Edsger"]) {
        let c = fx.cx.contacts().get(*id).await.expect("imported");
        assert_eq!(c.given_name, name);
        assert_eq!(c.custom.get("hostile.score"), Some(&Value::Int(name.len() as i64)), "{name}: its own score");
    }
    assert_eq!(fx.cx.contacts().count(&Filter::All).await.expect("count"), 3, "nothing else was written");
    assert!(fx.host.is_enabled(ID), "three failures, none in a row of five");
}

#[tokio::test]
async fn a_broken_batch_export_falls_back_to_single_checks_and_is_then_left_alone() {
    // `batch-broken` traps in every `check-many`; its `check` doubles a contact's `size`.
    let fx = fixture_with(HostConfig::default(), &["batch-broken.wasm"]);
    let plugin = "batch_broken";
    assert!(fx.host.is_batched(plugin));
    for round in 0..2 {
        let rows: Vec<NewContact> = (0..40i64)
            .map(|i| NewContact::new(format!("Row {i}"), format!("Round {round}")).custom("batch_broken.size", i))
            .collect();
        let report = fx
            .cx
            .contacts()
            .import(rows, &crm_core::service::ImportOptions::default().batch_size(40), |_| {})
            .await
            .expect("the import runs");
        assert!(report.rejected.is_empty(), "round {round}: {:?}", report.rejected);
        assert_eq!(report.imported.len(), 40);
        for (i, id) in report.imported.iter().enumerate() {
            let c = fx.cx.contacts().get(*id).await.expect("imported");
            assert_eq!(c.custom.get("batch_broken.double"), Some(&Value::Int(2 * i as i64)), "round {round} row {i}");
        }
        assert!(!fx.host.is_batched(plugin), "round {round}: the broken export is no longer called");
        assert!(fx.host.is_enabled(plugin), "round {round}: a broken batch export is not a failure of the records");
    }
    assert!(fx.host.enable(plugin));
    assert!(fx.host.is_batched(plugin), "re-enabling tries the batch export again");
}
