//! Version 2 of the `upgrade` fixture: drops `colour` (hidden, its values kept).
use crm_plugin_sdk::*;

/// The plugin.
#[derive(Default)]
pub struct Upgrade;

impl Plugin for Upgrade {
    fn describe(&self) -> Manifest {
        Manifest::builder("upgrade", "Upgrade fixture", env!("CARGO_PKG_VERSION"))
            .fields(EntityKind::Deal, [FieldDef::integer("size")])
            .build()
    }
}

register_plugin!(Upgrade);
