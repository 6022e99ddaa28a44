//! What a plugin can ask of the host: logging and reading related records.
//!
//! Plugin code receives a `&dyn Host` instead of calling the WIT imports directly, so the same
//! rules run inside the component ([`WasmHost`]) and in native unit tests
//! ([`MockHost`](crate::testing::MockHost)).

use crate::{Entity, EntityKind, LogLevel};

/// Longest log line the SDK sends; longer messages are cut (the host cuts too).
pub const MAX_LOG_LEN: usize = 4096;

/// The host's services, as a plugin sees them.
pub trait Host {
    /// Writes a log line (dropped by the host unless the `log` capability is granted).
    fn log(&self, level: LogLevel, message: &str);

    /// Reads a record of the same tenant: `Ok(None)` if it does not exist, `Err` if the
    /// `read-related` capability is not granted or the read failed.
    fn get_related(&self, kind: EntityKind, id: &str) -> Result<Option<Entity>, String>;

    /// Logs at debug level.
    fn debug(&self, message: &str) {
        self.log(LogLevel::Debug, message);
    }

    /// Logs at info level.
    fn info(&self, message: &str) {
        self.log(LogLevel::Info, message);
    }

    /// Logs at warn level.
    fn warn(&self, message: &str) {
        self.log(LogLevel::Warn, message);
    }

    /// Logs at error level.
    fn error(&self, message: &str) {
        self.log(LogLevel::Error, message);
    }
}

/// The real host, through the component's imports. Only usable inside a WebAssembly
/// component; on other targets its methods panic with a hint to use
/// [`MockHost`](crate::testing::MockHost).
#[derive(Clone, Copy, Debug, Default)]
pub struct WasmHost;

#[cfg(target_arch = "wasm32")]
impl Host for WasmHost {
    fn log(&self, level: LogLevel, message: &str) {
        crate::bindings::crm::plugin::host::log(level, truncate(message, MAX_LOG_LEN));
    }

    fn get_related(&self, kind: EntityKind, id: &str) -> Result<Option<Entity>, String> {
        crate::bindings::crm::plugin::host::get_related(kind, id)
    }
}

#[cfg(not(target_arch = "wasm32"))]
impl Host for WasmHost {
    fn log(&self, _level: LogLevel, _message: &str) {
        not_in_a_component()
    }

    fn get_related(&self, _kind: EntityKind, _id: &str) -> Result<Option<Entity>, String> {
        not_in_a_component()
    }
}

#[cfg(not(target_arch = "wasm32"))]
fn not_in_a_component() -> ! {
    panic!(
        "the CRM host exists only inside a WebAssembly component; \
         pass crm_plugin_sdk::testing::MockHost to your rules in native tests"
    )
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
pub fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Makes panics visible to the host: the panic message and location go to `host.log` at
/// error level (when the `log` capability is granted), then to the default hook (stderr,
/// which the host may capture). [`register_plugin!`](crate::register_plugin) installs it before
/// the first call. Does nothing outside a WebAssembly component, so native tests keep the
/// normal test-harness output.
pub fn install_panic_hook() {
    #[cfg(target_arch = "wasm32")]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            let previous = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                WasmHost.log(LogLevel::Error, &format!("plugin panicked: {info}"));
                previous(info);
            }));
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_respects_character_boundaries() {
        assert_eq!(truncate("héllo", 2), "h");
        assert_eq!(truncate("héllo", 3), "hé");
        assert_eq!(truncate("abc", 10), "abc");
    }

    #[test]
    #[should_panic(expected = "MockHost")]
    fn the_wasm_host_explains_itself_in_native_code() {
        WasmHost.info("hello");
    }
}
