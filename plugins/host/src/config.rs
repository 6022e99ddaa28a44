//! How the host is configured and what an embedder grants a plugin.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

/// Limits and settings of a [`PluginHost`](crate::PluginHost). The defaults suit plugins that
/// check and compute fields: 64 MiB of memory, 100 million fuel units (tens of milliseconds of
/// CPU) per call, a 512 KiB stack, and a 1 s wall-clock deadline as a backstop.
///
/// Fuel is the CPU budget: it counts the plugin's own work, so a plugin stops at the same point
/// however loaded the machine is, and the failure names it (`ran out of fuel`). The deadline is
/// kept well above what the fuel takes, for time fuel does not count (host calls); a call may
/// never wait (see [`PluginFailure::Waited`](crate::PluginFailure::Waited)), so neither limit is
/// needed to end a sleep.
#[derive(Clone, Debug)]
pub struct HostConfig {
    /// Linear memory a plugin may use per call, in bytes.
    pub memory_limit_bytes: usize,
    /// CPU budget per call in fuel units (about one per WebAssembly instruction); `None`
    /// turns fuel off and leaves only the deadline.
    pub fuel_per_call: Option<u64>,
    /// Wall-clock deadline per call (measured in 10 ms epoch ticks), a backstop for time spent
    /// outside fuel accounting; keep it well above what the fuel takes, or a loaded machine
    /// reports deadlines where the plugin only used its budget.
    pub deadline: Duration,
    /// Most WebAssembly stack per call, in bytes.
    pub max_stack_bytes: usize,
    /// Where compiled plugins are cached (keyed by the wasm's hash and the engine's
    /// compatibility hash); `None` compiles on every install.
    pub cache_dir: Option<PathBuf>,
    /// A plugin is disabled after this many consecutive failed calls.
    pub max_consecutive_failures: u32,
    /// Largest total size of one call's returned strings, in bytes.
    pub max_output_bytes: usize,
    /// Most items in one returned list (field errors, computed fields, actions).
    pub max_output_items: usize,
}

impl Default for HostConfig {
    fn default() -> Self {
        HostConfig {
            memory_limit_bytes: 64 << 20,
            fuel_per_call: Some(100_000_000),
            deadline: Duration::from_secs(1),
            max_stack_bytes: 512 << 10,
            cache_dir: None,
            max_consecutive_failures: 5,
            max_output_bytes: 1 << 20,
            max_output_items: 1_000,
        }
    }
}

impl HostConfig {
    /// Caches compiled plugins in `dir` (created when missing). The directory also remembers
    /// the fields each plugin declared, so an upgrade after a restart is checked against them
    /// (a field dropped by an earlier version is still known, and may not change type).
    pub fn cache_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cache_dir = Some(dir.into());
        self
    }

    /// Sets the memory limit per call.
    pub fn memory_limit(mut self, bytes: usize) -> Self {
        self.memory_limit_bytes = bytes;
        self
    }

    /// Sets the fuel per call (`None`: no fuel, deadline only).
    pub fn fuel(mut self, fuel: Option<u64>) -> Self {
        self.fuel_per_call = fuel;
        self
    }

    /// Sets the wall-clock deadline per call.
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }
}

/// A permission a plugin can ask for in its manifest. It has it only when the embedder grants
/// it too ([`Grants`]); the host checks at call time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Capability {
    /// Read other records of the tenant with `get-related` (during `on-event`).
    ReadRelated,
    /// Write to the host's log (`tracing`, target `crm_plugins`).
    Log,
}

/// What the embedder allows one plugin to do, whatever it asks for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Grants {
    pub(crate) capabilities: BTreeSet<Capability>,
}

impl Grants {
    /// Nothing: the plugin's fields, rules and reactions work; it cannot log or read records.
    pub fn none() -> Self {
        Grants::default()
    }

    /// Every capability.
    pub fn all() -> Self {
        Grants { capabilities: [Capability::ReadRelated, Capability::Log].into() }
    }

    /// Grants one capability.
    pub fn allow(mut self, c: Capability) -> Self {
        self.capabilities.insert(c);
        self
    }

    /// Whether `c` is granted.
    pub fn allows(&self, c: Capability) -> bool {
        self.capabilities.contains(&c)
    }
}
