//! A test fixture: `check` behaves (a contact's `size` is doubled into `double`), but
//! `check-many` always traps. It exports the contract by hand instead of through
//! `register_plugin!`, which would give it a working `check-many`. A host must still check
//! every record of a batch (one by one) and then stop calling the broken export.

use crm_plugin_sdk::bindings::exports::crm::plugin::plugin::Guest;
use crm_plugin_sdk::*;

/// The plugin's rules, as an SDK plugin.
#[derive(Default)]
pub struct Doubler;

impl Plugin for Doubler {
    fn describe(&self) -> Manifest {
        Manifest::builder("batch_broken", "Batch-broken fixture", env!("CARGO_PKG_VERSION"))
            .fields(EntityKind::Contact, [FieldDef::integer("size"), FieldDef::integer("double").computed()])
            .build()
    }

    fn compute(&self, _host: &dyn Host, contact: &Entity) -> Vec<Field> {
        vec![Field::new("double", contact.custom_int("size").map(|s| s.saturating_mul(2)))]
    }
}

/// The hand-written export.
struct Exports;

impl Guest for Exports {
    fn describe() -> Manifest {
        crm_plugin_sdk::__private::describe::<Doubler>()
    }

    fn check(entity: Entity, before: Option<Entity>) -> CheckResult {
        crm_plugin_sdk::__private::check::<Doubler>(entity, before)
    }

    fn check_many(items: Vec<CheckInput>) -> Vec<CheckResult> {
        panic!("check-many is broken on purpose ({} records)", items.len())
    }

    fn on_event(_event: Event) -> Result<Vec<Action>, String> {
        Ok(Vec::new())
    }
}

crm_plugin_sdk::bindings::__export_crm_plugin_world!(Exports with_types_in crm_plugin_sdk::bindings);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_doubles_the_size() {
        let c = Entity::new(EntityKind::Contact, "c1").with_custom("size", 21);
        assert_eq!(Exports::check(c, None).computed, vec![Field::new("double", 42)]);
        assert!(Doubler.describe().problems().is_empty());
    }
}
