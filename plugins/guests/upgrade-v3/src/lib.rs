//! Version 3 of the `upgrade` fixture: brings `colour` back as an integer, a type change the
//! host must refuse whether `colour` is declared or hidden.
use crm_plugin_sdk::*;

/// The plugin.
#[derive(Default)]
pub struct Upgrade;

impl Plugin for Upgrade {
    fn describe(&self) -> Manifest {
        Manifest::builder("upgrade", "Upgrade fixture", env!("CARGO_PKG_VERSION"))
            .fields(EntityKind::Deal, [FieldDef::integer("size"), FieldDef::integer("colour")])
            .build()
    }
}

register_plugin!(Upgrade);
