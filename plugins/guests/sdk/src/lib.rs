//! Write CRM plugins in Rust.
//!
//! A plugin is a WebAssembly component implementing the `crm:plugin@0.2.0` contract
//! (`wit/since_v0.2.0/crm-plugin.wit` in this crate, the one source the host is generated from
//! too). This crate generates the bindings with `wit-bindgen`,
//! re-exports the contract's types, and adds what makes them pleasant to use: field
//! builders ([`FieldDef`]), typed entity accessors ([`Entity::custom_int`], …), exact money
//! ([`Money::div_rounded`]), a [`Host`] abstraction with a [`testing::MockHost`], and
//! [`register_plugin!`], so a plugin is one [`Plugin`] impl.
//!
//! ```
//! use crm_plugin_sdk::*;
//!
//! /// Flags big deals.
//! #[derive(Default)]
//! struct BigDeals;
//!
//! impl Plugin for BigDeals {
//!     fn describe(&self) -> Manifest {
//!         Manifest::builder("big_deals", "Big deals", "0.1.0")
//!             .fields(EntityKind::Deal, [
//!                 FieldDef::money("budget").min(0),
//!                 FieldDef::boolean("big").computed(),
//!             ])
//!             .build()
//!     }
//!
//!     fn compute(&self, _host: &dyn Host, deal: &Entity) -> Vec<Field> {
//!         let big = deal.custom_money("budget").and_then(|m| m.to_decimal().ok()).map(|d| d >= 100_000.into());
//!         vec![Field::new("big", big)]
//!     }
//! }
//!
//! register_plugin!(BigDeals);
//!
//! // The rules are plain Rust: test them natively.
//! let deal = Entity::new(EntityKind::Deal, "d1").with_custom("budget", Money::from_minor(25_000_000, "EUR"));
//! let host = testing::MockHost::new();
//! assert_eq!(BigDeals.compute(&host, &deal), vec![Field::new("big", true)]);
//! assert!(BigDeals.describe().problems().is_empty());
//! ```
//!
//! Build the component with `cargo build --release --target wasm32-wasip2` (crate type
//! `cdylib`); the `.wasm` in `target/wasm32-wasip2/release/` is the plugin.

pub mod bindings;
mod checks;
pub mod decimal;
mod entity;
pub mod host;
mod schema;
pub mod testing;
mod value;

pub use bindings::crm::plugin::host::LogLevel;
pub use bindings::crm::plugin::types::{
    Action, AddTag, Capability, CheckInput, CheckResult, Constraints, CoreReads, CreateTask, DealStatus, Entity,
    EntityKind, EntityRef, EntityUpdate, ErrorCode, Event, EventKind, Field, FieldDefinition, FieldError, FieldType,
    FieldValue, Manifest, Money, Notify, SelectOption, SetField, Stage, StageChange, Subscription,
};
pub use checks::{Check, field_checks};
pub use decimal::{Decimal, NumberError};
pub use host::{Host, WasmHost};
pub use schema::{FieldDef, ManifestBuilder, valid_key};

/// A plugin: implement this once and export it with [`register_plugin!`].
///
/// Every method gets the [`Host`] to log or read related records through, so the rules can
/// be unit-tested natively with [`testing::MockHost`]. The host creates the plugin with
/// [`Default`] for each call and may use a fresh instance each time: keep no state in it.
pub trait Plugin {
    /// The manifest: id, fields, subscriptions, capabilities. Must not depend on input.
    fn describe(&self) -> Manifest;

    /// Cross-field rules for a record about to be saved (`before` is `None` on create).
    /// The host has already checked each value against its field definition. The record
    /// shows the standard fields the manifest [reads](ManifestBuilder::reads) and this
    /// plugin's custom fields.
    fn validate(&self, _host: &dyn Host, _entity: &Entity, _before: Option<&Entity>) -> Vec<FieldError> {
        Vec::new()
    }

    /// The values of this plugin's computed fields for the record about to be saved, called
    /// when [`validate`](Plugin::validate) found no problem (both run in one call into the
    /// plugin, the contract's `check`).
    fn compute(&self, _host: &dyn Host, _entity: &Entity) -> Vec<Field> {
        Vec::new()
    }

    /// Reacts to a committed event; `Err` is logged by the host and changes nothing.
    fn on_event(&self, _host: &dyn Host, _event: &Event) -> Result<Vec<Action>, String> {
        Ok(Vec::new())
    }
}

impl EntityKind {
    /// The contract's name for the kind (`"deal"`, `"case"`).
    pub fn name(self) -> &'static str {
        match self {
            EntityKind::Contact => "contact",
            EntityKind::Company => "company",
            EntityKind::Deal => "deal",
            EntityKind::Product => "product",
            EntityKind::Order => "order",
            EntityKind::Invoice => "invoice",
            EntityKind::Case => "case",
            EntityKind::Activity => "activity",
            EntityKind::Campaign => "campaign",
        }
    }
}

impl EventKind {
    /// The contract's name for the event kind (`"deal-stage-changed"`).
    pub fn name(self) -> &'static str {
        match self {
            EventKind::Created => "created",
            EventKind::Updated => "updated",
            EventKind::DealStageChanged => "deal-stage-changed",
            EventKind::OrderPlaced => "order-placed",
            EventKind::Deleted => "deleted",
        }
    }
}

impl Capability {
    /// The contract's name for the capability (`"read-related"`).
    pub fn name(self) -> &'static str {
        match self {
            Capability::ReadRelated => "read-related",
            Capability::Log => "log",
        }
    }
}

impl Event {
    /// The kind of this event.
    pub fn kind(&self) -> EventKind {
        match self {
            Event::Created(_) => EventKind::Created,
            Event::Updated(_) => EventKind::Updated,
            Event::DealStageChanged(_) => EventKind::DealStageChanged,
            Event::OrderPlaced(_) => EventKind::OrderPlaced,
            Event::Deleted(_) => EventKind::Deleted,
        }
    }

    /// The record the event is about, as committed (`None` for a deletion).
    pub fn entity(&self) -> Option<&Entity> {
        match self {
            Event::Created(e) | Event::OrderPlaced(e) => Some(e),
            Event::Updated(u) => Some(&u.after),
            Event::DealStageChanged(c) => Some(&c.deal),
            Event::Deleted(_) => None,
        }
    }
}

/// Exports a [`Plugin`] (a type implementing `Plugin + Default`) as the component's
/// `crm:plugin/plugin` interface. Use it once, at the root of a `cdylib` crate.
///
/// It also installs a panic hook that forwards panic messages to the host's log.
#[macro_export]
macro_rules! register_plugin {
    ($plugin:ty) => {
        const _: () = {
            struct CrmPluginExports;

            impl $crate::bindings::exports::crm::plugin::plugin::Guest for CrmPluginExports {
                fn describe() -> $crate::Manifest {
                    $crate::__private::describe::<$plugin>()
                }

                fn check(
                    entity: $crate::Entity,
                    before: ::core::option::Option<$crate::Entity>,
                ) -> $crate::CheckResult {
                    $crate::__private::check::<$plugin>(entity, before)
                }

                fn check_many(items: ::std::vec::Vec<$crate::CheckInput>) -> ::std::vec::Vec<$crate::CheckResult> {
                    items.into_iter().map(|i| $crate::__private::check::<$plugin>(i.entity, i.before)).collect()
                }

                fn on_event(
                    event: $crate::Event,
                ) -> ::core::result::Result<::std::vec::Vec<$crate::Action>, ::std::string::String> {
                    $crate::__private::on_event::<$plugin>(event)
                }
            }

    $crate::bindings::__export_crm_plugin_world!(CrmPluginExports with_types_in $crate::bindings);
        };
    };
}

/// Glue used by [`register_plugin!`]; not a public API.
#[doc(hidden)]
pub mod __private {
    use crate::{Action, CheckResult, Entity, Event, Manifest, Plugin, WasmHost, host};

    pub fn describe<P: Plugin + Default>() -> Manifest {
        host::install_panic_hook();
        P::default().describe()
    }

    pub fn check<P: Plugin + Default>(entity: Entity, before: Option<Entity>) -> CheckResult {
        host::install_panic_hook();
        let plugin = P::default();
        let mut errors = crate::field_checks(&plugin, &entity);
        errors.extend(plugin.validate(&WasmHost, &entity, before.as_ref()));
        let computed = if errors.is_empty() { plugin.compute(&WasmHost, &entity) } else { Vec::new() };
        CheckResult { errors, computed }
    }

    pub fn on_event<P: Plugin + Default>(event: Event) -> Result<Vec<Action>, String> {
        host::install_panic_hook();
        P::default().on_event(&WasmHost, &event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Refuses records without `size` and computes `double`; its `compute` must not run on a
    /// refused record.
    #[derive(Default)]
    struct Strict;

    impl Plugin for Strict {
        fn describe(&self) -> Manifest {
            Manifest::builder("strict", "Strict", "1.0.0").build()
        }

        fn validate(&self, _host: &dyn Host, e: &Entity, _before: Option<&Entity>) -> Vec<FieldError> {
            if e.custom_int("size").is_some() { Vec::new() } else { vec![FieldError::required("size", "needed")] }
        }

        fn compute(&self, _host: &dyn Host, e: &Entity) -> Vec<Field> {
            let size = e.custom_int("size").expect("compute runs only on valid records");
            vec![Field::new("double", size * 2)]
        }
    }

    #[test]
    fn check_runs_compute_only_when_validate_accepts() {
        let deal = |size: Option<i64>| Entity::new(EntityKind::Deal, "d1").with_custom("size", size);
        let ok = __private::check::<Strict>(deal(Some(21)), None);
        assert!(ok.errors.is_empty());
        assert_eq!(ok.computed, vec![Field::new("double", 42)]);
        let refused = __private::check::<Strict>(deal(None), None);
        assert_eq!(refused.errors, vec![FieldError::required("size", "needed")]);
        assert!(refused.computed.is_empty());
    }
}
