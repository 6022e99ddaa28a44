//! A stand-in host for native unit tests of plugin rules.
//!
//! ```
//! use crm_plugin_sdk::testing::MockHost;
//! use crm_plugin_sdk::{Entity, EntityKind, Host, LogLevel};
//! let host = MockHost::new().with_entity(Entity::new(EntityKind::Product, "p1").with_custom("stock_on_hand", 2));
//! let p = host.get_related(EntityKind::Product, "p1").unwrap().unwrap();
//! assert_eq!(p.custom_int("stock_on_hand"), Some(2));
//! assert_eq!(host.get_related(EntityKind::Product, "p2"), Ok(None));
//! host.info("checked");
//! assert_eq!(host.logs(), vec![(LogLevel::Info, "checked".to_owned())]);
//! assert!(MockHost::new().deny_read_related().get_related(EntityKind::Product, "p1").is_err());
//! ```

use std::cell::RefCell;

use crate::{Entity, EntityKind, Host, LogLevel};

/// The error [`MockHost`] returns when `read-related` is not granted.
pub const READ_DENIED: &str = "capability `read-related` is not granted to this plugin";

/// A host that serves records from memory and records log lines and reads.
#[derive(Debug, Default)]
pub struct MockHost {
    entities: Vec<Entity>,
    read_denied: bool,
    logs: RefCell<Vec<(LogLevel, String)>>,
    reads: RefCell<Vec<(EntityKind, String)>>,
}

impl MockHost {
    /// A host with no records that grants every capability.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a record `get_related` can return.
    pub fn with_entity(mut self, entity: Entity) -> Self {
        self.entities.push(entity);
        self
    }

    /// Makes `get_related` fail as it does when `read-related` is not granted.
    pub fn deny_read_related(mut self) -> Self {
        self.read_denied = true;
        self
    }

    /// The log lines written so far.
    pub fn logs(&self) -> Vec<(LogLevel, String)> {
        self.logs.borrow().clone()
    }

    /// The `(kind, id)` of every `get_related` call so far, denied ones included.
    pub fn reads(&self) -> Vec<(EntityKind, String)> {
        self.reads.borrow().clone()
    }
}

impl Host for MockHost {
    fn log(&self, level: LogLevel, message: &str) {
        self.logs.borrow_mut().push((level, message.to_owned()));
    }

    fn get_related(&self, kind: EntityKind, id: &str) -> Result<Option<Entity>, String> {
        self.reads.borrow_mut().push((kind, id.to_owned()));
        if self.read_denied {
            return Err(READ_DENIED.to_owned());
        }
        Ok(self.entities.iter().find(|e| e.kind == kind && e.id == id).cloned())
    }
}
