//! Host bindings generated from the contract the SDK owns, `plugins/guests/sdk/wit/since_v0.2.0/`
//! (package `crm:plugin@0.2.0`): one WIT source for both sides. Each released contract keeps a
//! folder of its own (`since_v<version>`), so a host can serve several.

wasmtime::component::bindgen!({
    world: "crm-plugin",
    path: "../guests/sdk/wit/since_v0.2.0",
});

pub(crate) use crm::plugin::host::LogLevel;
pub(crate) use crm::plugin::types as wit;
