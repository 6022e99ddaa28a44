//! The bindings wit-bindgen generates for the `crm-plugin` world of the contract this crate owns
//! (`wit/since_v0.2.0/`, the one WIT source the host is generated from too).
//!
//! Plugin authors rarely need this module: the useful types are re-exported at the crate
//! root and [`register_plugin!`](crate::register_plugin) does the exporting.
#![allow(missing_docs)]

wit_bindgen::generate!({
    world: "crm-plugin",
    path: "wit/since_v0.2.0",
    // The export macro is used from plugin crates, so it must be public, and it must find
    // the generated types here rather than in the plugin crate.
    pub_export_macro: true,
    export_macro_name: "__export_crm_plugin_world",
    default_bindings_module: "crm_plugin_sdk::bindings",
    additional_derives: [PartialEq, Eq],
});
