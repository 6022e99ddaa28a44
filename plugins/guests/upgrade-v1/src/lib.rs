//! Version 1 of the `upgrade` fixture: `size` (integer) and `colour` (text) on deals.
use crm_plugin_sdk::*;

/// The plugin.
#[derive(Default)]
pub struct Upgrade;

impl Plugin for Upgrade {
    fn describe(&self) -> Manifest {
        Manifest::builder("upgrade", "Upgrade fixture", env!("CARGO_PKG_VERSION"))
            .fields(EntityKind::Deal, [FieldDef::integer("size"), FieldDef::text("colour")])
            .build()
    }
}

register_plugin!(Upgrade);
