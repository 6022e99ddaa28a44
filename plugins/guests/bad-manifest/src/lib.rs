//! A test fixture: a plugin whose manifest the host must refuse at install. The SDK's builders
//! check nothing (`Manifest::problems` is a separate call), so this one breaks the rules in
//! several ways at once: a bad id, a version that is not semver, a field declared twice, a
//! pattern that is not a regular expression, a select without options, a required computed
//! field, a bound that is not a decimal, and a read of an unknown field.

use crm_plugin_sdk::{EntityKind, FieldDef, Manifest, Plugin, SelectOption, register_plugin};

/// The plugin.
#[derive(Clone, Copy, Debug, Default)]
pub struct BadManifest;

impl Plugin for BadManifest {
    fn describe(&self) -> Manifest {
        Manifest::builder("Bad-Id", "Bad manifest", "1.0")
            .fields(
                EntityKind::Deal,
                [
                    FieldDef::text("colour"),
                    FieldDef::text("colour"),
                    FieldDef::text("code").pattern("(unclosed"),
                    FieldDef::single_select("grade", Vec::<SelectOption>::new()),
                    FieldDef::integer("total").computed().required(),
                    FieldDef::integer("size").min("ten"),
                ],
            )
            .reads(EntityKind::Deal, ["no_such_field"])
            .build()
    }
}

register_plugin!(BadManifest);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sdk_sees_the_problems_the_host_refuses() {
        assert!(BadManifest.describe().problems().len() >= 6, "{:?}", BadManifest.describe().problems());
    }
}
