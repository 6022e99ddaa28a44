//! Install-time checks of a plugin's manifest.

use std::collections::BTreeSet;

use crm_core::model::{FieldDefinition, valid_key};

use crate::bindings::wit;
use crate::convert::{field_from_wit, kind_from_wit};

/// Most fields one plugin may declare.
pub const MAX_FIELDS: usize = 200;
/// Most subscriptions one plugin may declare.
pub const MAX_SUBSCRIPTIONS: usize = 50;

fn plain_key(s: &str) -> bool {
    valid_key(s) && !s.contains('.')
}

fn semver(s: &str) -> bool {
    let core = s.split(['-', '+']).next().unwrap_or("");
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts.iter().all(|p| !p.is_empty() && p.len() <= 9 && p.bytes().all(|b| b.is_ascii_digit()))
        && s.len() <= 64
}

/// Checks a manifest; returns the field definitions (bare keys) or every problem found, each
/// written `<where>: <what>`.
pub(crate) fn check(m: &wit::Manifest) -> Result<Vec<FieldDefinition>, Vec<String>> {
    let mut errs = Vec::new();
    if !plain_key(&m.id) {
        errs.push(format!(
            "id: `{}` must be 1–63 lower-case letters, digits or `_`, starting with a letter",
            crate::sandbox_trunc(&m.id)
        ));
    }
    if m.name.trim().is_empty() || m.name.chars().count() > 100 {
        errs.push("name: must be 1–100 characters".into());
    }
    if !semver(&m.version) {
        errs.push(format!("version: `{}` is not a semantic version (like 1.2.0)", crate::sandbox_trunc(&m.version)));
    }
    if m.fields.len() > MAX_FIELDS {
        errs.push(format!("fields: {} declared; at most {MAX_FIELDS} are allowed", m.fields.len()));
        return Err(errs);
    }
    let mut defs = Vec::new();
    let mut seen = BTreeSet::new();
    for (i, f) in m.fields.iter().enumerate() {
        let at = format!("fields[{i}]");
        if !plain_key(&f.name) {
            errs.push(format!(
                "{at}.name: `{}` must be 1–63 lower-case letters, digits or `_`, starting with a letter",
                crate::sandbox_trunc(&f.name)
            ));
        }
        if f.label.chars().count() > 200 {
            errs.push(format!("{at}.label: longer than 200 characters"));
        }
        if !seen.insert((kind_from_wit(f.entity), f.name.clone())) {
            errs.push(format!("{at}.name: `{}` is declared twice for {} records", f.name, kind_from_wit(f.entity)));
        }
        if let wit::FieldType::SingleSelect(opts) | wit::FieldType::MultiSelect(opts) = &f.field_type {
            for (j, o) in opts.iter().enumerate() {
                if !plain_key(&o.value)
                    && !o.value.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
                {
                    errs.push(format!("{at}.options[{j}].value: use lower-case letters, digits and `_`"));
                }
                if o.label.trim().is_empty() {
                    errs.push(format!("{at}.options[{j}].label: must not be empty"));
                }
            }
        }
        if let Some(h) = &f.help
            && h.chars().count() > 1_000
        {
            errs.push(format!("{at}.help: longer than 1,000 characters"));
        }
        match field_from_wit(f) {
            Ok(mut def) => {
                if def.label.trim().is_empty() {
                    // A missing label defaults to the key, as the SDK does.
                    def.label = f.name.clone();
                }
                errs.extend(def.validate(&at).into_iter().map(|e| format!("{}: {}", e.field, e.message)));
                defs.push(def);
            }
            Err(e) => errs.push(format!("{at}.{e}")),
        }
    }
    if m.subscriptions.len() > MAX_SUBSCRIPTIONS {
        errs.push(format!("subscriptions: at most {MAX_SUBSCRIPTIONS} are allowed"));
    }
    if errs.is_empty() { Ok(defs) } else { Err(errs) }
}

/// A short description of a field type, for upgrade diffs.
pub(crate) fn type_family(def: &FieldDefinition) -> String {
    use crm_core::model::FieldType as T;
    match &def.field_type {
        T::Reference { to } => format!("reference to {to}"),
        T::Enum { .. } => "single-select".into(),
        T::MultiEnum { .. } => "multi-select".into(),
        other => format!("{other:?}").to_lowercase(),
    }
}
