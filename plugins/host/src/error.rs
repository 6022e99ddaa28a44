//! Why a plugin call or an installation failed.

/// What went wrong inside a plugin, or with what it returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PluginFailure {
    /// It used up its CPU budget (fuel) for one call.
    #[error("ran out of fuel (its CPU budget of {0} units per call)")]
    OutOfFuel(u64),
    /// It ran past its wall-clock deadline for one call.
    #[error("timed out after {0} ms (its wall-clock deadline, not its CPU budget)")]
    Timeout(u64),
    /// It tried to wait (sleep, or poll something not ready): a call may not block, since
    /// neither fuel nor the deadline can stop a thread waiting in the host.
    #[error("tried to wait (a sleep or a blocking poll); a plugin call may not block")]
    Waited,
    /// It exhausted its call stack (e.g. unbounded recursion).
    #[error("overflowed its call stack")]
    StackOverflow,
    /// It tried to grow its memory past the limit.
    #[error("exceeded its memory limit of {0} bytes")]
    MemoryLimit(usize),
    /// It trapped (a panic, an `unreachable`, a bad memory access…); the message holds the
    /// panic text when the plugin reported one.
    #[error("trapped: {0}")]
    Trap(String),
    /// It returned more than the host accepts.
    #[error("returned an oversized result: {0}")]
    OutputTooLarge(String),
    /// It returned something the contract does not allow (a field it does not own, a value
    /// of the wrong type, a malformed decimal…).
    #[error("broke the contract: {0}")]
    Contract(String),
    /// It used a capability it does not have (not declared in its manifest, or not granted by
    /// the embedder); the call is refused even if the plugin carried on.
    #[error("used a capability it does not have: {0}")]
    Capability(String),
    /// It is disabled after failing repeatedly; re-enable it with `PluginHost::enable`.
    #[error("is disabled after {0} consecutive failures")]
    Disabled(u32),
}

/// Why a plugin could not be installed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InstallError {
    /// The bytes are not a valid WebAssembly component.
    #[error("not a valid WebAssembly component: {0}")]
    InvalidComponent(String),
    /// The component imports something the host does not provide (files, sockets, HTTP…).
    #[error(
        "imports `{0}`, which plugins may not use (allowed: crm:plugin/host and WASI cli/io/clocks/random/filesystem, which the host serves empty)"
    )]
    ForbiddenImport(String),
    /// The component imports a `crm:plugin` interface the contract does not have (only
    /// `crm:plugin/host` and `crm:plugin/types` are served).
    #[error(
        "imports `{0}`, an interface the crm:plugin contract does not have (it serves crm:plugin/host and crm:plugin/types)"
    )]
    UnknownInterface(String),
    /// The component was built against a contract version this host does not serve.
    #[error("was built against {found}; this host supports crm:plugin@{supported}")]
    UnsupportedVersion {
        /// What the component exports (e.g. `crm:plugin/plugin@2.0.0`), or `nothing`.
        found: String,
        /// The supported version range.
        supported: String,
    },
    /// `describe` failed.
    #[error("describe failed: {0}")]
    Describe(PluginFailure),
    /// The manifest is invalid; every problem is listed (`field: message`).
    #[error("invalid manifest: {}", .0.join("; "))]
    Manifest(Vec<String>),
    /// The upgrade changes a field in a way that needs a data migration.
    #[error("the upgrade of `{plugin}` changes field `{field}` from {from} to {to}; a type change needs a migration")]
    TypeChange {
        /// The plugin.
        plugin: String,
        /// The field (bare key, with its entity kind).
        field: String,
        /// The old type.
        from: String,
        /// The new type.
        to: String,
    },
    /// The artifact cache could not be used (I/O).
    #[error("artifact cache: {0}")]
    Cache(#[from] std::io::Error),
    /// The host failed to set up the instance.
    #[error("could not prepare an instance: {0}")]
    Instantiate(String),
}
