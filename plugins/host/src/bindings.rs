//! Host bindings generated from `plugins/wit/crm-plugin.wit` (package `crm:plugin@0.2.0`).

wasmtime::component::bindgen!({
    world: "crm-plugin",
    path: "../wit",
});

pub(crate) use crm::plugin::host::LogLevel;
pub(crate) use crm::plugin::types as wit;
