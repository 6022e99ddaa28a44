//! Sandboxed WebAssembly plugins for the `crm` library.
//!
//! A plugin is a WebAssembly component built against the `crm:plugin@0.2.0` contract
//! (`plugins/guests/sdk/wit/since_v0.2.0/crm-plugin.wit`, usually through the `crm-plugin-sdk` crate). It adds typed
//! custom fields to CRM records, checks cross-field rules before a save, computes derived
//! fields, and reacts to committed events with a few well-defined actions.
//!
//! [`PluginHost`] runs plugins on wasmtime with no ambient authority: every call gets a fresh
//! instance in a fresh store with a memory limit, a CPU budget (fuel), a wall-clock deadline,
//! a stack limit and an empty WASI context (no files, environment, network; stderr captured).
//! The rows of one batch of a bulk import share an instance (one tenant, one transaction; each
//! call still gets the full budget), which is replaced after any failed call.
//! A plugin that traps, loops, exhausts memory or returns oversized or ill-typed results
//! fails that call with [`crm_core::error::Error::Plugin`] naming it; the host keeps running, and a
//! plugin failing repeatedly is disabled until re-enabled.
//!
//! Each installed plugin is a [`crm_core::service::extension::Extension`]: pass [`PluginHost::extensions`] to the
//! [`CrmBuilder`](crm_core::service::CrmBuilder) and its fields, rules and reactions apply like built-in ones.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use crm_core::{service::Crm, memory::MemoryStore};
//! use crm_plugins::{Grants, HostConfig, PluginHost};
//!
//! let host = PluginHost::new(HostConfig::default().cache_dir("/var/cache/my-app/plugins"))?;
//! let wasm = std::fs::read("plugins/dist/real-estate.wasm")?;
//! let info = host.install(&wasm, Grants::all())?;
//! assert_eq!(info.id, "real_estate");
//! let crm = Crm::builder(MemoryStore::new()).extensions(host.extensions()).build()?;
//! # Ok(()) }
//! ```

mod bindings;
mod cache;
mod config;
mod convert;
mod error;
mod ext;
mod manifest;
mod sandbox;
mod waits;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use crm_core::model::FieldDefinition;
use crm_core::{entity::EntityRef, service::extension::Extension};

pub use config::{Capability, Grants, HostConfig};
pub use error::{InstallError, PluginFailure};
pub use manifest::{MAX_FIELDS, MAX_SUBSCRIPTIONS};
pub use sandbox::LogLine;

use bindings::{CrmPluginPre, wit};
use sandbox::{Sandbox, State};

/// The contract version this host serves (`crm:plugin@0.2.x`).
pub const CONTRACT_VERSION: &str = "0.2.0";

/// Severity of a plugin's log line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogSeverity {
    /// Very detailed tracing.
    Trace,
    /// Debugging detail.
    Debug,
    /// Normal operation.
    Info,
    /// Something unexpected the plugin handled.
    Warn,
    /// Something failed.
    Error,
}

impl From<bindings::LogLevel> for LogSeverity {
    fn from(l: bindings::LogLevel) -> Self {
        use bindings::LogLevel as L;
        match l {
            L::Trace => LogSeverity::Trace,
            L::Debug => LogSeverity::Debug,
            L::Info => LogSeverity::Info,
            L::Warn => LogSeverity::Warn,
            L::Error => LogSeverity::Error,
        }
    }
}

/// Truncates untrusted text for error messages.
pub(crate) fn sandbox_trunc(s: &str) -> String {
    if s.chars().count() > 80 { format!("{}…", s.chars().take(80).collect::<String>()) } else { s.to_owned() }
}

/// What an installed plugin is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PluginInfo {
    /// Its id, which namespaces its fields (`real_estate.bedrooms`).
    pub id: String,
    /// Its human-readable name.
    pub name: String,
    /// Its own version.
    pub version: String,
    /// Its fields, with namespaced keys, as registered in the CRM.
    pub fields: Vec<FieldDefinition>,
    /// The capabilities it asked for.
    pub requested: BTreeSet<Capability>,
    /// The capabilities it has (asked for and granted).
    pub effective: BTreeSet<Capability>,
    /// The standard fields it reads, per kind (the only ones the records it is shown carry).
    pub reads: BTreeMap<crm_core::entity::EntityKind, Vec<String>>,
    /// Fields of the previous version that this version no longer declares (hidden; their
    /// stored values are kept).
    pub hidden_fields: Vec<String>,
    /// The SHA-256 of its wasm, hex.
    pub sha256: String,
    /// Whether it was loaded from the compiled-artifact cache.
    pub from_cache: bool,
}

/// A notification a plugin sent with the `notify` action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notification {
    /// The plugin.
    pub plugin: String,
    /// The message.
    pub message: String,
    /// The record it concerns.
    pub about: Option<EntityRef>,
}

/// One action a plugin asked for in `on-event`, and what the host did with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppliedAction {
    /// The plugin.
    pub plugin: String,
    /// What was asked (e.g. `set-field real_estate.listing_status = sold on deal 0190…`).
    pub action: String,
    /// `Ok` when applied, else why it was skipped.
    pub outcome: Result<(), String>,
}

pub(crate) struct Installed {
    pub(crate) info: PluginInfo,
    /// Field definitions with bare keys.
    pub(crate) defs: Vec<FieldDefinition>,
    /// Fields earlier versions declared and this one does not (bare keys), with their types.
    pub(crate) hidden_defs: Vec<FieldDefinition>,
    pub(crate) subscriptions: Vec<wit::Subscription>,
    /// The standard fields it reads, per kind.
    pub(crate) reads: manifest::Reads,
    pub(crate) pre: CrmPluginPre<State>,
    pub(crate) failures: AtomicU32,
    pub(crate) disabled: AtomicBool,
    /// Set when its batch export failed where single calls succeed: it is called one record
    /// at a time.
    pub(crate) batch_off: AtomicBool,
}

impl Installed {
    pub(crate) fn is_disabled(&self) -> bool {
        self.disabled.load(Ordering::Relaxed)
    }

    pub(crate) fn can(&self, c: Capability) -> bool {
        self.info.effective.contains(&c)
    }

    pub(crate) fn own_field(&self, kind: crm_core::entity::EntityKind, key: &str) -> Option<&FieldDefinition> {
        self.defs.iter().find(|d| d.entity_kind == kind && d.key == key)
    }

    /// The standard fields it reads on `kind` (none when it declared none).
    pub(crate) fn reads(&self, kind: crm_core::entity::EntityKind) -> &[&'static str] {
        self.reads.get(&kind).map_or(&[], Vec::as_slice)
    }
}

pub(crate) struct HostInner {
    pub(crate) sandbox: Sandbox,
    pub(crate) plugins: RwLock<BTreeMap<String, Arc<Installed>>>,
    pub(crate) notifications: Mutex<VecDeque<Notification>>,
    pub(crate) actions: Mutex<VecDeque<AppliedAction>>,
}

/// The most calls' budget (fuel and deadline) one batch call gets, however many records it
/// checks.
pub const BATCH_BUDGET_CALLS: usize = 4;

/// Most notifications, applied actions and log lines kept for
/// [`PluginHost::take_notifications`], [`PluginHost::take_actions`] and
/// [`PluginHost::take_logs`] (older ones are dropped).
pub const MAX_KEPT: usize = 1_000;

/// Appends to one of the host's kept queues, dropping the oldest beyond [`MAX_KEPT`].
pub(crate) fn keep<T>(queue: &Mutex<VecDeque<T>>, items: impl IntoIterator<Item = T>) {
    let mut items = items.into_iter().peekable();
    if items.peek().is_none() {
        return;
    }
    if let Ok(mut q) = queue.lock() {
        for item in items {
            if q.len() >= MAX_KEPT {
                q.pop_front();
            }
            q.push_back(item);
        }
    }
}

/// Empties one of the host's kept queues, oldest first.
fn take<T>(queue: &Mutex<VecDeque<T>>) -> Vec<T> {
    queue.lock().map(|mut q| q.drain(..).collect()).unwrap_or_default()
}

impl HostInner {
    pub(crate) fn get(&self, id: &str) -> Option<Arc<Installed>> {
        self.plugins.read().ok()?.get(id).cloned()
    }

    /// Runs one call against `p` (unless it is disabled), counting failures and disabling it
    /// past the threshold.
    pub(crate) fn run<T: Send, R: Send>(
        &self,
        p: &Installed,
        reader: Option<sandbox::RelatedReader>,
        f: impl Fn(&bindings::CrmPlugin, &mut wasmtime::Store<State>) -> wasmtime::Result<T> + Sync,
        post: impl Fn(T) -> Result<R, PluginFailure> + Sync,
    ) -> Result<R, PluginFailure> {
        if p.is_disabled() {
            return Err(PluginFailure::Disabled(self.sandbox.config.max_consecutive_failures));
        }
        let work = || {
            let mut runner =
                self.sandbox.runner(&p.pre, &p.info.id, p.can(Capability::Log), p.can(Capability::ReadRelated), reader);
            let raw = runner.call(&f);
            self.settle(p, raw.and_then(&post))
        };
        off_runtime(work, || Err(PluginFailure::Trap("the call's thread failed".into())))
    }

    /// Books the outcome of one call of `p`: a success resets its failure count, a failure
    /// counts (see [`failed`](Self::failed)). Once `p` is disabled, results are refused.
    fn settle<R>(&self, p: &Installed, result: Result<R, PluginFailure>) -> Result<R, PluginFailure> {
        if p.is_disabled() {
            return Err(PluginFailure::Disabled(self.sandbox.config.max_consecutive_failures));
        }
        match &result {
            Ok(_) => p.failures.store(0, Ordering::Relaxed),
            Err(e) => self.failed(p, e),
        }
        result
    }

    /// Runs `p` on many items on one instance, through a batch export: `many` handles up to
    /// `chunk` items in one call and must return one result per item. The call gets the budget of
    /// [`BATCH_BUDGET_CALLS`] calls at most (of fewer when the chunk is smaller), so a stalled
    /// batch call costs little more than a stalled single one.
    ///
    /// A chunk whose call fails, or that answers for another number of items, is run again item
    /// by item through `one` (on a fresh instance after a failure), so each failure is that
    /// item's alone and counted once; the rest of the items go one by one
    /// too. When every item of such a chunk then succeeds, the batch export itself misbehaves
    /// (or needs more than its budget): the plugin is called one item at a time from then on.
    pub(crate) fn run_chunked<I: Sync, T: Send, R: Send>(
        &self,
        p: &Installed,
        items: &[I],
        chunk: usize,
        many: impl Fn(&bindings::CrmPlugin, &mut wasmtime::Store<State>, &[I]) -> wasmtime::Result<Vec<T>> + Sync,
        one: impl Fn(&bindings::CrmPlugin, &mut wasmtime::Store<State>, &I) -> wasmtime::Result<T> + Sync,
        post: impl Fn(usize, T) -> Result<R, PluginFailure> + Sync,
    ) -> Vec<Result<R, PluginFailure>> {
        let max = self.sandbox.config.max_consecutive_failures;
        let work = || {
            let mut runner =
                self.sandbox.runner(&p.pre, &p.info.id, p.can(Capability::Log), p.can(Capability::ReadRelated), None);
            let mut out = Vec::with_capacity(items.len());
            let settle = |i: usize, raw: Result<T, PluginFailure>| self.settle(p, raw.and_then(|t| post(i, t)));
            let mut batched = !p.batch_off.load(Ordering::Relaxed);
            for part in items.chunks(chunk.max(1)) {
                if p.is_disabled() {
                    out.extend(part.iter().map(|_| Err(PluginFailure::Disabled(max))));
                    continue;
                }
                let mut retried = false;
                if batched && part.len() > 1 {
                    let calls = part.len().min(BATCH_BUDGET_CALLS);
                    let raw = runner.call_for(calls, |inst, store| many(inst, store, part));
                    match raw {
                        Ok(results) if results.len() == part.len() => {
                            let at = out.len();
                            out.extend(results.into_iter().enumerate().map(|(k, r)| settle(at + k, Ok(r))));
                            continue;
                        }
                        Ok(results) => tracing::warn!(plugin = %p.info.id, got = results.len(), want = part.len(),
                            "a batch call answered for another number of records; checking them one by one"),
                        Err(e) => tracing::debug!(plugin = %p.info.id, error = %e,
                            "a batch call failed; checking its records one by one"),
                    }
                    batched = false;
                    retried = true;
                }
                let at = out.len();
                for item in part {
                    if p.is_disabled() {
                        out.push(Err(PluginFailure::Disabled(max)));
                        continue;
                    }
                    let raw = runner.call(|inst, store| one(inst, store, item));
                    out.push(settle(out.len(), raw));
                }
                if retried && out[at..].iter().all(Result::is_ok) {
                    tracing::warn!(plugin = %p.info.id,
                        "the plugin's batch export failed where its single calls succeed; calling it one record at a time");
                    p.batch_off.store(true, Ordering::Relaxed);
                }
            }
            out
        };
        off_runtime(work, || {
            items.iter().map(|_| Err(PluginFailure::Trap("the call's thread failed".into()))).collect()
        })
    }

    /// Counts a failure of `p` (a failed call, or a reaction that broke the contract) and
    /// disables it past the threshold.
    pub(crate) fn failed(&self, p: &Installed, e: &PluginFailure) {
        let max = self.sandbox.config.max_consecutive_failures;
        let n = p.failures.fetch_add(1, Ordering::Relaxed) + 1;
        tracing::warn!(plugin = %p.info.id, failures = n, error = %e, "plugin call failed");
        if n >= max && !p.disabled.swap(true, Ordering::Relaxed) {
            tracing::error!(plugin = %p.info.id, failures = n, "plugin disabled after repeated failures");
        }
    }

    pub(crate) fn record_action(&self, a: AppliedAction) {
        match &a.outcome {
            Ok(()) => tracing::info!(plugin = %a.plugin, action = %a.action, "plugin action applied"),
            Err(e) => tracing::warn!(plugin = %a.plugin, action = %a.action, error = %e, "plugin action skipped"),
        }
        keep(&self.actions, [a]);
    }
}

/// Loads, sandboxes and runs plugins. Cheap to clone; share one per process.
#[derive(Clone)]
pub struct PluginHost {
    inner: Arc<HostInner>,
}

impl std::fmt::Debug for PluginHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<String> = self.plugins().into_iter().map(|p| p.id).collect();
        f.debug_struct("PluginHost").field("plugins", &ids).finish_non_exhaustive()
    }
}

impl PluginHost {
    /// A host with one wasmtime engine (fuel and epoch interruption on) and an epoch ticker thread.
    pub fn new(config: HostConfig) -> Result<PluginHost, InstallError> {
        if let Some(dir) = &config.cache_dir {
            cache::ensure_dir(dir)?;
        }
        let sandbox = Sandbox::new(config).map_err(|e| InstallError::Instantiate(format!("{e:#}")))?;
        Ok(PluginHost {
            inner: Arc::new(HostInner {
                sandbox,
                plugins: RwLock::new(BTreeMap::new()),
                notifications: Mutex::new(VecDeque::new()),
                actions: Mutex::new(VecDeque::new()),
            }),
        })
    }

    /// Installs a plugin from its component bytes, or upgrades the installed plugin with the
    /// same id. The component is validated (imports, exports, contract version), compiled (or
    /// loaded from the artifact cache), asked to `describe` itself under the sandbox limits,
    /// and its manifest checked. An upgrade may add fields freely; fields it no longer declares
    /// are hidden (their stored values stay); a field whose type changes is refused.
    ///
    /// `grants` caps what the plugin may do: it gets only the capabilities it asked for *and*
    /// that are granted here.
    pub fn install(&self, wasm: &[u8], grants: Grants) -> Result<PluginInfo, InstallError> {
        let sb = &self.inner.sandbox;
        // The cheap checks first: nothing is compiled for a component refused by its imports.
        check_world(wasm)?;
        let (component, sha256, from_cache) = cache::load(&sb.engine, sb.config.cache_dir.as_deref(), wasm)?;
        let pre = sb.prepare(&component).map_err(|e| InstallError::Instantiate(format!("{e:#}")))?;
        let manifest = off_runtime(
            || {
                sb.call(&pre, "(installing)", false, false, None, |inst, store| {
                    inst.crm_plugin_plugin().call_describe(store)
                })
            },
            || Err(PluginFailure::Trap("the call's thread failed".into())),
        );
        let manifest = manifest.map_err(InstallError::Describe)?;
        let size = ext::manifest_size(&manifest);
        if size > sb.config.max_output_bytes {
            return Err(InstallError::Describe(PluginFailure::OutputTooLarge(format!(
                "the manifest is {size} bytes; the limit is {}",
                sb.config.max_output_bytes
            ))));
        }
        let manifest::Checked { defs, reads } = manifest::check(&manifest).map_err(InstallError::Manifest)?;
        let requested: BTreeSet<Capability> = manifest
            .capabilities
            .iter()
            .map(|c| match c {
                wit::Capability::ReadRelated => Capability::ReadRelated,
                wit::Capability::Log => Capability::Log,
            })
            .collect();
        let effective = requested.iter().copied().filter(|c| grants.allows(*c)).collect();
        let id = manifest.id.clone();
        // Every field any earlier version declared, with its type: hidden ones are still stored,
        // so a later version may bring one back only with the same type. A host with a cache
        // directory remembers them across restarts.
        let mut hidden_defs = Vec::new();
        let earlier: Vec<FieldDefinition> = match self.inner.get(&id) {
            Some(old) => old.defs.iter().chain(&old.hidden_defs).cloned().collect(),
            None => sb.config.cache_dir.as_deref().map(|dir| cache::field_history(dir, &id)).unwrap_or_default(),
        };
        for od in &earlier {
            match defs.iter().find(|d| d.entity_kind == od.entity_kind && d.key == od.key) {
                Some(nd) if manifest::type_family(nd) != manifest::type_family(od) => {
                    return Err(InstallError::TypeChange {
                        plugin: id,
                        field: format!("{} {}", od.entity_kind, od.key),
                        from: manifest::type_family(od),
                        to: manifest::type_family(nd),
                    });
                }
                Some(_) => {}
                None => hidden_defs.push(od.clone()),
            }
        }
        let mut hidden: Vec<String> = hidden_defs.iter().map(|d| format!("{id}.{}", d.key)).collect();
        hidden.sort();
        hidden.dedup();
        let fields = defs
            .iter()
            .map(|d| {
                let mut d = d.clone();
                d.key = format!("{id}.{}", d.key);
                d
            })
            .collect();
        let info = PluginInfo {
            id: id.clone(),
            name: manifest.name.clone(),
            version: manifest.version.clone(),
            fields,
            requested,
            effective,
            reads: reads.iter().map(|(k, names)| (*k, names.iter().map(|n| (*n).to_owned()).collect())).collect(),
            hidden_fields: hidden,
            sha256,
            from_cache,
        };
        let installed = Installed {
            info: info.clone(),
            defs,
            hidden_defs,
            subscriptions: manifest.subscriptions,
            reads,
            pre,
            failures: AtomicU32::new(0),
            disabled: AtomicBool::new(false),
            batch_off: AtomicBool::new(false),
        };
        if let Some(dir) = sb.config.cache_dir.as_deref() {
            // Only what installed is cached: a refused component leaves nothing behind.
            if !from_cache {
                cache::keep(dir, &info.sha256, &sb.engine, &component);
            }
            let all: Vec<FieldDefinition> = installed.defs.iter().chain(&installed.hidden_defs).cloned().collect();
            if let Err(e) = cache::save_field_history(dir, &id, &all) {
                tracing::warn!(plugin = %id, error = %e, "could not keep the plugin's field history");
            }
        }
        if let Ok(mut map) = self.inner.plugins.write() {
            map.insert(id, Arc::new(installed));
        }
        Ok(info)
    }

    /// Reads and installs a plugin file (see [`install`](Self::install)).
    pub fn install_file(&self, path: impl AsRef<std::path::Path>, grants: Grants) -> Result<PluginInfo, InstallError> {
        let wasm = std::fs::read(path)?;
        self.install(&wasm, grants)
    }

    /// The installed plugins.
    pub fn plugins(&self) -> Vec<PluginInfo> {
        self.inner.plugins.read().map(|m| m.values().map(|p| p.info.clone()).collect()).unwrap_or_default()
    }

    /// Whether plugin `id` is installed and enabled.
    pub fn is_enabled(&self, id: &str) -> bool {
        self.inner.get(id).is_some_and(|p| !p.is_disabled())
    }

    /// Re-enables a plugin disabled after repeated failures (and resets its failure count).
    /// Returns false when no such plugin is installed.
    pub fn enable(&self, id: &str) -> bool {
        self.inner
            .get(id)
            .map(|p| {
                p.failures.store(0, Ordering::Relaxed);
                p.disabled.store(false, Ordering::Relaxed);
                p.batch_off.store(false, Ordering::Relaxed);
            })
            .is_some()
    }

    /// Whether batches (bulk imports) reach plugin `id` through its batch export, `check-many`.
    /// False once that export failed where the plugin's single `check` calls succeeded on the
    /// same records: it is then called one record at a time, until [`enable`](Self::enable).
    pub fn is_batched(&self, id: &str) -> bool {
        self.inner.get(id).is_some_and(|p| !p.batch_off.load(Ordering::Relaxed))
    }

    /// Disables a plugin: its fields stay registered (and their declarative constraints
    /// enforced), but its rules, computations and reactions do not run.
    pub fn disable(&self, id: &str) -> bool {
        self.inner.get(id).map(|p| p.disabled.store(true, Ordering::Relaxed)).is_some()
    }

    /// The CRM extension of one installed plugin: it reads the plugin's current version, so
    /// upgrades apply to a CRM already built.
    pub fn extension(&self, id: &str) -> Option<Arc<dyn Extension>> {
        self.inner.get(id).map(|_| {
            Arc::new(ext::PluginExtension { host: self.inner.clone(), id: id.to_owned(), stash: Default::default() })
                as _
        })
    }

    /// The CRM extensions of every installed plugin, for
    /// [`CrmBuilder::extensions`](crm_core::service::CrmBuilder::extensions). Install plugins before
    /// building the CRM; a plugin installed later needs a new `Crm`.
    pub fn extensions(&self) -> Vec<Arc<dyn Extension>> {
        self.plugins().iter().filter_map(|p| self.extension(&p.id)).collect()
    }

    /// Takes the notifications plugins sent (oldest first).
    pub fn take_notifications(&self) -> Vec<Notification> {
        take(&self.inner.notifications)
    }

    /// Takes the latest lines plugins logged, oldest first (at most [`MAX_KEPT`]):
    /// what they wrote with `host.log` when granted the `log` capability, and whatever they
    /// wrote to stderr (a panic's message, say). Each line is also emitted as a `tracing` event.
    pub fn take_logs(&self) -> Vec<LogLine> {
        take(&self.inner.sandbox.logs)
    }

    /// Takes the record of actions plugins asked for and what became of them (oldest first).
    pub fn take_actions(&self) -> Vec<AppliedAction> {
        take(&self.inner.actions)
    }

    /// Runs a plugin's `check` directly on a record, outside any save, e.g. to test a plugin or
    /// to check a draft in a form: its rules, and its computed values against its contract.
    /// Errors come back as they would from a save (and failures count as in a save).
    pub fn validate(&self, id: &str, record: &crm_core::model::Record) -> crm_core::error::Result<()> {
        let p = self.inner.get(id).ok_or_else(|| crm_core::error::Error::Plugin {
            plugin: id.to_owned(),
            message: "is not installed".into(),
        })?;
        ext::check_all(&self.inner, &p, &[(record, None)]).pop().unwrap_or(Ok(Vec::new())).map(|_| ())
    }
}

/// Checks what a component imports and exports before anything of it runs.
fn check_world(wasm: &[u8]) -> Result<(), InstallError> {
    const ALLOWED_WASI: [&str; 5] = ["wasi:cli/", "wasi:io/", "wasi:clocks/", "wasi:random/", "wasi:filesystem/"];
    /// The contract's interfaces a plugin may import.
    const HOST_INTERFACES: [&str; 2] = ["host", "types"];
    let (imports, exports) = component_names(wasm)?;
    // `0.x` versions are compatible within a minor, `1.x` and later within a major.
    let series = match CONTRACT_VERSION.split_once('.') {
        Some(("0", rest)) => format!("0.{}", rest.split('.').next().unwrap_or("0")),
        Some((major, _)) => major.to_owned(),
        None => CONTRACT_VERSION.to_owned(),
    };
    let supported = format!("{series}.x");
    let ours = |interface: &str, name: &str| name.starts_with(&format!("crm:plugin/{interface}@{series}."));
    for name in &imports {
        if let Some(rest) = name.strip_prefix("crm:plugin/") {
            let interface = rest.split('@').next().unwrap_or(rest);
            if !HOST_INTERFACES.contains(&interface) {
                return Err(InstallError::UnknownInterface(name.clone()));
            }
            if !ours(interface, name) {
                return Err(InstallError::UnsupportedVersion { found: name.clone(), supported });
            }
        } else if !ALLOWED_WASI.iter().any(|p| name.starts_with(p)) {
            return Err(InstallError::ForbiddenImport(name.clone()));
        }
    }
    match exports.iter().find(|n| n.starts_with("crm:plugin/plugin")) {
        Some(n) if ours("plugin", n) => Ok(()),
        Some(n) => Err(InstallError::UnsupportedVersion { found: n.clone(), supported }),
        None => Err(InstallError::UnsupportedVersion {
            found: if exports.is_empty() { "nothing".into() } else { exports.join(", ") },
            supported,
        }),
    }
}

/// The names a component imports and exports at its top level, read without compiling it.
fn component_names(wasm: &[u8]) -> Result<(Vec<String>, Vec<String>), InstallError> {
    use wasmparser::{Encoding, Parser, Payload};
    let invalid = |e: wasmparser::BinaryReaderError| InstallError::InvalidComponent(e.to_string());
    let (mut imports, mut exports, mut depth) = (Vec::new(), Vec::new(), 0usize);
    for payload in Parser::new(0).parse_all(wasm) {
        match payload.map_err(invalid)? {
            Payload::Version { encoding, .. } if depth == 0 && encoding != Encoding::Component => {
                return Err(InstallError::InvalidComponent(
                    "a core WebAssembly module, not a component (build for wasm32-wasip2)".into(),
                ));
            }
            Payload::ModuleSection { .. } | Payload::ComponentSection { .. } => depth += 1,
            Payload::End(_) if depth == 0 => break,
            Payload::End(_) => depth -= 1,
            Payload::ComponentImportSection(section) if depth == 0 => {
                for import in section {
                    imports.push(import.map_err(invalid)?.name.name.to_owned());
                }
            }
            Payload::ComponentExportSection(section) if depth == 0 => {
                for export in section {
                    exports.push(export.map_err(invalid)?.name.name.to_owned());
                }
            }
            _ => {}
        }
    }
    Ok((imports, exports))
}

/// Runs `work` where WebAssembly may block. wasmtime-wasi's synchronous WASI (a guest writing
/// to stderr, e.g. std's panic message) blocks on the ambient tokio runtime, which panics on a
/// runtime thread. On a multi-thread runtime, `work` runs right here under
/// [`block_in_place`](tokio::task::block_in_place) (the runtime's other tasks move to another
/// thread); on a current-thread runtime, on a thread of its own; outside a runtime, inline.
/// `failed` answers when `work` panics.
fn off_runtime<T: Send>(work: impl FnOnce() -> T + Send, failed: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current().map(|h| h.runtime_flavor()) {
        Err(_) => work(),
        Ok(RuntimeFlavor::MultiThread) => {
            let work = std::panic::AssertUnwindSafe(work);
            std::panic::catch_unwind(move || tokio::task::block_in_place(work)).unwrap_or_else(|_| failed())
        }
        Ok(_) => std::thread::scope(|s| s.spawn(work).join().unwrap_or_else(|_| failed())),
    }
}
