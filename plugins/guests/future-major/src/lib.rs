//! A fixture for the host's version check: a component built against `crm:plugin@2.0.0`
//! (`wit/crm-plugin.wit` in this crate), a major version the host does not serve. Installing
//! `dist/future-major.wasm` must fail with `UnsupportedVersion` before any of it runs.

mod bindings {
    #![allow(missing_docs)]
    wit_bindgen::generate!({
        world: "crm-plugin",
        path: "wit",
    });
}

use bindings::exports::crm::plugin::plugin::Guest;

/// What `describe` returns.
pub const DESCRIPTION: &str = "future_major: a plugin for crm:plugin@2.0.0";

/// The plugin.
pub struct FutureMajor;

impl Guest for FutureMajor {
    fn describe() -> String {
        DESCRIPTION.to_owned()
    }
}

bindings::export!(FutureMajor with_types_in bindings);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_itself() {
        assert_eq!(FutureMajor::describe(), DESCRIPTION);
    }

    #[test]
    fn is_built_against_the_next_major_version() {
        let wit = include_str!("../wit/crm-plugin.wit");
        assert!(wit.contains("package crm:plugin@2.0.0;"));
        assert!(!wit.contains("import "), "the fixture imports nothing");
    }
}
