//! Rules on one field's value that a definition cannot express (a check digit, a checksum), declared
//! with the field ([`FieldDef::check`](crate::FieldDef::check)) and run by the SDK before
//! [`Plugin::validate`](crate::Plugin::validate): no `validate` to write for them.

use std::cell::RefCell;

use crate::{Entity, EntityKind, FieldError, FieldValue, Plugin};

/// A rule on one field's value: `Err` says why the value is refused.
pub type Check = fn(&FieldValue) -> Result<(), String>;

thread_local! {
    /// The checks of the manifest built last (a plugin builds the same one every time).
    static CHECKS: RefCell<Vec<(EntityKind, String, Check)>> = const { RefCell::new(Vec::new()) };
}

/// Keeps the checks of the manifest being built.
pub(crate) fn register(checks: Vec<(EntityKind, String, Check)>) {
    CHECKS.with(|c| *c.borrow_mut() = checks);
}

/// The errors the field checks of `plugin`'s manifest find in `entity` (each refused field
/// once, with its check's reason); an absent or null value is not checked (`required` is the
/// host's).
///
/// ```
/// use crm_plugin_sdk::*;
///
/// fn even(v: &FieldValue) -> Result<(), String> {
///     match v.as_int() {
///         Some(n) if n % 2 == 0 => Ok(()),
///         _ => Err("must be even".into()),
///     }
/// }
///
/// #[derive(Default)]
/// struct Pairs;
/// impl Plugin for Pairs {
///     fn describe(&self) -> Manifest {
///         Manifest::builder("pairs", "Pairs", "1.0.0")
///             .fields(EntityKind::Deal, [FieldDef::integer("seats").check(even)])
///             .build()
///     }
/// }
///
/// let deal = Entity::new(EntityKind::Deal, "d1").with_custom("seats", 3);
/// let errors = field_checks(&Pairs, &deal);
/// assert_eq!((errors[0].field.as_str(), errors[0].message.as_str()), ("seats", "must be even"));
/// assert!(field_checks(&Pairs, &Entity::new(EntityKind::Deal, "d2").with_custom("seats", 4)).is_empty());
/// ```
pub fn field_checks<P: Plugin + ?Sized>(plugin: &P, entity: &Entity) -> Vec<FieldError> {
    let _ = plugin.describe();
    CHECKS.with(|c| {
        c.borrow()
            .iter()
            .filter(|(kind, _, _)| *kind == entity.kind)
            .filter_map(|(_, name, rule)| {
                let value = entity.custom_value(name).filter(|v| !v.is_null())?;
                rule(value).err().map(|why| FieldError::invalid_format(name.clone(), why))
            })
            .collect()
    })
}
