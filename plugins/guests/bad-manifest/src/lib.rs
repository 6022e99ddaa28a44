//! A test fixture: a plugin whose manifest the host must refuse at install. It is built from
//! the contract's raw types, past the SDK's builders (which would catch most of these), and
//! breaks the rules in several ways at once: a bad id, a version that is not semver, a field
//! declared twice, a pattern that is not a regular expression, a select without options, a
//! required computed field, a bound that is not a decimal, and a read of an unknown field.

use crm_plugin_sdk::{
    Constraints, CoreReads, EntityKind, FieldDefinition, FieldType, Manifest, Plugin, register_plugin,
};

/// The plugin.
#[derive(Clone, Copy, Debug, Default)]
pub struct BadManifest;

fn field(name: &str, field_type: FieldType) -> FieldDefinition {
    FieldDefinition {
        name: name.into(),
        label: String::new(),
        entity: EntityKind::Deal,
        field_type,
        required: false,
        constraints: Constraints { min: None, max: None, min_length: None, max_length: None, pattern: None },
        computed: false,
        indexed: false,
        help: None,
    }
}

impl Plugin for BadManifest {
    fn describe(&self) -> Manifest {
        let mut pattern = field("code", FieldType::Text);
        pattern.constraints.pattern = Some("(unclosed".into());
        let mut computed = field("total", FieldType::Integer);
        computed.computed = true;
        computed.required = true;
        let mut bound = field("size", FieldType::Integer);
        bound.constraints.min = Some("ten".into());
        Manifest {
            id: "Bad-Id".into(),
            name: "Bad manifest".into(),
            version: "1.0".into(),
            fields: vec![
                field("colour", FieldType::Text),
                field("colour", FieldType::Text),
                pattern,
                field("grade", FieldType::SingleSelect(Vec::new())),
                computed,
                bound,
            ],
            subscriptions: Vec::new(),
            capabilities: Vec::new(),
            reads: vec![CoreReads { entity: EntityKind::Deal, fields: vec!["no_such_field".into()] }],
        }
    }
}

register_plugin!(BadManifest);
