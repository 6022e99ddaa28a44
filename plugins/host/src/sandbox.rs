//! The wasmtime side: one engine with fuel and epoch interruption, one linker, and a fresh
//! store per call with memory, instance and table limits and an empty WASI context.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store, StoreLimits, StoreLimitsBuilder, Trap};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::bindings::{CrmPlugin, CrmPluginPre, LogLevel, wit};
use crate::config::HostConfig;
use crate::error::PluginFailure;

/// How often the epoch advances.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(10);
/// Most log lines kept per call (later ones are counted, not kept).
const MAX_LOG_LINES: usize = 100;
/// Longest log line kept, in bytes.
const MAX_LOG_LINE: usize = 2_000;
/// Captured stderr per call, in bytes.
const STDERR_CAPACITY: usize = 16 * 1024;

/// Reads a related record for `get-related` (set only during `on-event`).
pub(crate) type RelatedReader = Box<dyn FnMut(wit::EntityKind, &str) -> Result<Option<wit::Entity>, String> + Send>;

/// A line a plugin wrote to the host's log (`host.log`, with the `log` capability), or what
/// it wrote to stderr during a call (a panic's message, say), which the host captures whatever
/// the plugin's capabilities.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct LogLine {
    /// The plugin's id (`(installing)` while it describes itself at install).
    pub plugin: String,
    /// Severity (`Warn` for stderr).
    pub level: crate::LogSeverity,
    /// The text (truncated to 2,000 bytes).
    pub message: String,
    /// Whether the plugin wrote it to stderr rather than through `host.log`.
    pub stderr: bool,
}

/// Per-call state of one store.
pub(crate) struct State {
    limits: StoreLimits,
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) plugin: String,
    pub(crate) can_log: bool,
    pub(crate) can_read: bool,
    pub(crate) reader: Option<RelatedReader>,
    pub(crate) logs: VecDeque<LogLine>,
    pub(crate) dropped_logs: usize,
    pub(crate) last_error: Option<String>,
    /// A capability the plugin used without having it, during the current call.
    violation: Option<String>,
    stderr: MemoryOutputPipe,
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

/// At most `max` bytes of `s` (cut at a character boundary, marked `…`), in a string of its
/// own: a kept line never holds on to the memory of the whole message.
fn truncate(mut s: String, max: usize) -> String {
    if s.len() <= max {
        s.shrink_to_fit();
        return s;
    }
    let mut cut = max;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    let mut kept = String::with_capacity(cut + '…'.len_utf8());
    kept.push_str(&s[..cut]);
    kept.push('…');
    kept
}

impl crate::bindings::crm::plugin::types::Host for State {}

impl crate::bindings::crm::plugin::host::Host for State {
    fn log(&mut self, level: LogLevel, message: String) {
        let message = truncate(message, MAX_LOG_LINE);
        if matches!(level, LogLevel::Error) {
            // Kept even without the `log` capability: the SDK's panic hook reports panics here.
            self.last_error = Some(message.clone());
        }
        if !self.can_log {
            return;
        }
        if self.logs.len() >= MAX_LOG_LINES {
            self.dropped_logs += 1;
            return;
        }
        let level = crate::LogSeverity::from(level);
        match level {
            crate::LogSeverity::Error => tracing::error!(plugin = %self.plugin, "{message}"),
            crate::LogSeverity::Warn => tracing::warn!(plugin = %self.plugin, "{message}"),
            crate::LogSeverity::Info => tracing::info!(plugin = %self.plugin, "{message}"),
            _ => tracing::debug!(plugin = %self.plugin, "{message}"),
        }
        self.logs.push_back(LogLine { plugin: self.plugin.clone(), level, message, stderr: false });
    }

    fn get_related(&mut self, kind: wit::EntityKind, id: String) -> Result<Option<wit::Entity>, String> {
        if !self.can_read {
            let refusal = "the read-related capability was not granted to this plugin";
            self.violation.get_or_insert_with(|| format!("get-related ({refusal}, or not declared in its manifest)"));
            return Err(refusal.into());
        }
        match self.reader.as_mut() {
            Some(read) => read(kind, &id),
            None => Err("get-related is available only in on-event".into()),
        }
    }
}

/// The engine, the linker and the epoch ticker shared by every plugin of a host.
pub(crate) struct Sandbox {
    pub(crate) engine: Engine,
    pub(crate) linker: Linker<State>,
    pub(crate) config: HostConfig,
    /// The latest log lines of every plugin, oldest first.
    pub(crate) logs: Mutex<VecDeque<LogLine>>,
    stop: Arc<AtomicBool>,
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl Sandbox {
    pub(crate) fn new(config: HostConfig) -> wasmtime::Result<Self> {
        let mut c = Config::new();
        c.wasm_component_model(true);
        c.consume_fuel(config.fuel_per_call.is_some());
        c.epoch_interruption(true);
        c.max_wasm_stack(config.max_stack_bytes);
        let engine = Engine::new(&c)?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
        // wasi:io/poll without blocking (see `waits`).
        linker.allow_shadowing(true);
        crate::waits::sync_poll::add_to_linker::<State, crate::waits::HasNoWait>(&mut linker, |s| {
            crate::waits::NoWait(&mut s.table)
        })?;
        linker.allow_shadowing(false);
        CrmPlugin::add_to_linker::<State, wasmtime::component::HasSelf<State>>(&mut linker, |s| s)?;
        let stop = Arc::new(AtomicBool::new(false));
        let (e, flag) = (engine.clone(), stop.clone());
        std::thread::Builder::new().name("crm-plugins-epoch".into()).spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                std::thread::sleep(EPOCH_TICK);
                e.increment_epoch();
            }
        })?;
        Ok(Sandbox { engine, linker, config, logs: Mutex::default(), stop })
    }

    /// Ticks of the epoch deadline for one call.
    fn deadline_ticks(&self) -> u64 {
        (self.config.deadline.as_millis() / EPOCH_TICK.as_millis()).max(1) as u64
    }

    /// Compiles (or loads from the artifact cache) and links a component.
    pub(crate) fn prepare(&self, component: &Component) -> wasmtime::Result<CrmPluginPre<State>> {
        CrmPluginPre::new(self.linker.instantiate_pre(component)?)
    }

    /// Runs `f` against a fresh instance in a fresh store, under every limit.
    pub(crate) fn call<R>(
        &self,
        pre: &CrmPluginPre<State>,
        plugin: &str,
        can_log: bool,
        can_read: bool,
        reader: Option<RelatedReader>,
        f: impl FnOnce(&CrmPlugin, &mut Store<State>) -> wasmtime::Result<R>,
    ) -> Result<R, PluginFailure> {
        self.runner(pre, plugin, can_log, can_read, reader).call(f)
    }

    /// A runner for several calls in a row (one batch of one tenant's write): they share an
    /// instance until one fails, which is then replaced by a fresh one.
    pub(crate) fn runner<'a>(
        &'a self,
        pre: &'a CrmPluginPre<State>,
        plugin: &'a str,
        can_log: bool,
        can_read: bool,
        reader: Option<RelatedReader>,
    ) -> Runner<'a> {
        Runner { sandbox: self, pre, plugin, can_log, can_read, reader, live: None }
    }

    /// A fresh store under every limit, with an empty WASI context.
    fn new_store(&self, plugin: &str, can_log: bool, can_read: bool, reader: Option<RelatedReader>) -> Store<State> {
        let stderr = MemoryOutputPipe::new(STDERR_CAPACITY);
        let wasi = wasmtime_wasi::WasiCtxBuilder::new().stderr(stderr.clone()).build();
        let limits = StoreLimitsBuilder::new()
            .memory_size(self.config.memory_limit_bytes)
            .instances(16)
            .memories(8)
            .tables(16)
            .table_elements(100_000)
            .trap_on_grow_failure(true)
            .build();
        let state = State {
            limits,
            wasi,
            table: ResourceTable::new(),
            plugin: plugin.to_owned(),
            can_log,
            can_read,
            reader,
            logs: VecDeque::new(),
            dropped_logs: 0,
            last_error: None,
            violation: None,
            stderr,
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limits);
        store.epoch_deadline_trap();
        store
    }

    /// Gives a store the full budget of `calls` calls: fuel and the wall-clock deadline.
    fn budget(&self, store: &mut Store<State>, calls: usize) {
        let calls = calls.max(1) as u64;
        if let Some(fuel) = self.config.fuel_per_call {
            // Cannot fail: fuel is enabled on the engine whenever a budget is configured.
            let _ = store.set_fuel(fuel.saturating_mul(calls));
        }
        store.set_epoch_deadline(self.deadline_ticks().saturating_mul(calls));
    }

    fn classify(&self, e: wasmtime::Error, state: &State) -> PluginFailure {
        let panic_text = || {
            let stderr = String::from_utf8_lossy(&state.stderr.contents()).trim().to_owned();
            state.last_error.clone().or((!stderr.is_empty()).then(|| truncate(stderr, MAX_LOG_LINE)))
        };
        if let Some(trap) = e.downcast_ref::<Trap>() {
            return match trap {
                Trap::OutOfFuel => PluginFailure::OutOfFuel(self.config.fuel_per_call.unwrap_or(0)),
                Trap::Interrupt => PluginFailure::Timeout(self.config.deadline.as_millis() as u64),
                Trap::StackOverflow => PluginFailure::StackOverflow,
                // A Rust guest keeps its own stack in linear memory; running off its start (deep
                // recursion) is an out-of-bounds access before the native stack guard fires.
                Trap::MemoryOutOfBounds => PluginFailure::Trap(format!(
                    "{trap} (likely the plugin's own stack overflowing, e.g. unbounded recursion){}",
                    panic_text().map(|p| format!(": {p}")).unwrap_or_default()
                )),
                other => PluginFailure::Trap(match panic_text() {
                    Some(p) => format!("{other}: {p}"),
                    None => other.to_string(),
                }),
            };
        }
        if e.downcast_ref::<crate::waits::WouldWait>().is_some() {
            return PluginFailure::Waited;
        }
        let text = format!("{e:#}");
        if text.contains("forcing trap when growing memory") || text.contains("memory") && text.contains("limit") {
            return PluginFailure::MemoryLimit(self.config.memory_limit_bytes);
        }
        PluginFailure::Trap(match panic_text() {
            Some(p) => format!("{text}: {p}"),
            None => text,
        })
    }
}

/// Calls into one plugin, reusing its instance from call to call until a call fails (a trap
/// poisons the whole store) or the plugin writes to stderr (kept for the failure's message);
/// each call gets the full fuel budget and wall-clock deadline again.
pub(crate) struct Runner<'a> {
    sandbox: &'a Sandbox,
    pre: &'a CrmPluginPre<State>,
    plugin: &'a str,
    can_log: bool,
    can_read: bool,
    reader: Option<RelatedReader>,
    live: Option<(Store<State>, CrmPlugin)>,
}

impl Runner<'_> {
    /// Runs `f` under every limit, on the live instance or a fresh one.
    pub(crate) fn call<R>(
        &mut self,
        f: impl FnOnce(&CrmPlugin, &mut Store<State>) -> wasmtime::Result<R>,
    ) -> Result<R, PluginFailure> {
        self.call_for(1, f)
    }

    /// [`call`](Self::call) for a call doing the work of `calls` calls (a batch export): it
    /// gets that many times the budget of one.
    pub(crate) fn call_for<R>(
        &mut self,
        calls: usize,
        f: impl FnOnce(&CrmPlugin, &mut Store<State>) -> wasmtime::Result<R>,
    ) -> Result<R, PluginFailure> {
        let sb = self.sandbox;
        let (mut store, inst) = match self.live.take() {
            Some(live) => live,
            None => {
                let mut store = sb.new_store(self.plugin, self.can_log, self.can_read, self.reader.take());
                sb.budget(&mut store, 1);
                match self.pre.instantiate(&mut store) {
                    Ok(inst) => (store, inst),
                    Err(e) => {
                        let failure = sb.classify(e, store.data());
                        self.retire(store);
                        return Err(failure);
                    }
                }
            }
        };
        sb.budget(&mut store, calls);
        store.data_mut().last_error = None;
        match f(&inst, &mut store) {
            Ok(_) if store.data().violation.is_some() => {
                let used = store.data_mut().violation.take().unwrap_or_default();
                self.retire(store);
                Err(PluginFailure::Capability(used))
            }
            Ok(v) => {
                if store.data().stderr.contents().is_empty() {
                    crate::keep(&sb.logs, store.data_mut().logs.drain(..));
                    self.live = Some((store, inst));
                } else {
                    self.retire(store);
                }
                Ok(v)
            }
            Err(e) => {
                let failure = sb.classify(e, store.data());
                self.retire(store);
                Err(failure)
            }
        }
    }

    /// Drops a store, keeping its related-record reader for the next one, and its log lines and
    /// stderr for [`PluginHost::take_logs`](crate::PluginHost::take_logs).
    fn retire(&mut self, store: Store<State>) {
        let state = store.into_data();
        if state.dropped_logs > 0 && state.can_log {
            tracing::warn!(plugin = %state.plugin, dropped = state.dropped_logs, "plugin log lines dropped");
        }
        self.reader = state.reader;
        let stderr = String::from_utf8_lossy(&state.stderr.contents()).trim().to_owned();
        let stderr = (!stderr.is_empty()).then(|| {
            let message = truncate(stderr, MAX_LOG_LINE);
            tracing::warn!(plugin = %state.plugin, "plugin stderr: {message}");
            LogLine { plugin: state.plugin.clone(), level: crate::LogSeverity::Warn, message, stderr: true }
        });
        crate::keep(&self.sandbox.logs, state.logs.into_iter().chain(stderr));
    }
}

impl Drop for Runner<'_> {
    fn drop(&mut self) {
        if let Some((store, _)) = self.live.take() {
            self.retire(store);
        }
    }
}
