//! Install-time checks of a plugin's manifest.

use std::collections::{BTreeMap, BTreeSet};

use crm_core::entity::EntityKind;
use crm_core::model::{FieldDefinition, valid_key};

use crate::bindings::wit;
use crate::convert::{LINE_FIELDS, field_from_wit, has_lines, kind_from_wit};

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

/// The standard fields a plugin reads, per kind, in the order it declared them.
pub(crate) type Reads = BTreeMap<EntityKind, Vec<&'static str>>;

/// A manifest's checked content.
pub(crate) struct Checked {
    /// Field definitions with bare keys.
    pub(crate) defs: Vec<FieldDefinition>,
    /// The standard fields it reads.
    pub(crate) reads: Reads,
}

/// Checks a manifest; returns its field definitions (bare keys) and reads, or every problem
/// found, each written `<where>: <what>`.
pub(crate) fn check(m: &wit::Manifest) -> Result<Checked, Vec<String>> {
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
    let reads = check_reads(&m.reads, &mut errs);
    if errs.is_empty() { Ok(Checked { defs, reads }) } else { Err(errs) }
}

/// Each kind at most once; each name a standard field of that kind (or, on orders and deals,
/// a line-item list), at most once.
fn check_reads(reads: &[wit::CoreReads], errs: &mut Vec<String>) -> Reads {
    let mut out = Reads::new();
    for (i, r) in reads.iter().enumerate() {
        let kind = kind_from_wit(r.entity);
        if out.contains_key(&kind) {
            errs.push(format!("reads[{i}].entity: {kind} is listed twice"));
            continue;
        }
        let mut names: Vec<&'static str> = Vec::new();
        for (j, name) in r.fields.iter().enumerate() {
            let known = kind
                .std_field(name)
                .map(|f| f.name)
                .or_else(|| has_lines(kind).then(|| LINE_FIELDS.into_iter().find(|l| l == name)).flatten());
            match known {
                Some(n) if names.contains(&n) => errs.push(format!("reads[{i}].fields[{j}]: `{n}` is listed twice")),
                Some(n) => names.push(n),
                None => errs.push(format!(
                    "reads[{i}].fields[{j}]: `{}` is not a standard field of {kind} records",
                    crate::sandbox_trunc(name)
                )),
            }
        }
        out.insert(kind, names);
    }
    out
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

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(reads: Vec<wit::CoreReads>) -> wit::Manifest {
        wit::Manifest {
            id: "shop".into(),
            name: "Shop".into(),
            version: "1.0.0".into(),
            fields: Vec::new(),
            subscriptions: Vec::new(),
            capabilities: Vec::new(),
            reads,
        }
    }

    fn reads(entity: wit::EntityKind, fields: &[&str]) -> wit::CoreReads {
        wit::CoreReads { entity, fields: fields.iter().map(|f| f.to_string()).collect() }
    }

    #[test]
    fn reads_name_standard_fields_and_line_lists_per_kind() {
        let m = manifest(vec![
            reads(wit::EntityKind::Order, &["total", "line_quantities", "number"]),
            reads(wit::EntityKind::Product, &["sku"]),
        ]);
        let checked = check(&m).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(checked.reads.get(&EntityKind::Order), Some(&vec!["total", "line_quantities", "number"]));
        assert_eq!(checked.reads.get(&EntityKind::Product), Some(&vec!["sku"]));
        assert_eq!(checked.reads.get(&EntityKind::Deal), None, "a kind not listed shows no standard field");
    }

    #[test]
    fn unknown_repeated_and_misplaced_reads_are_refused_by_position() {
        let m = manifest(vec![
            reads(wit::EntityKind::Contact, &["given_name", "salary", "given_name"]),
            reads(wit::EntityKind::Company, &["line_skus"]),
            reads(wit::EntityKind::Contact, &["email"]),
        ]);
        let errs = check(&m).err().expect("refused");
        assert_eq!(
            errs,
            [
                "reads[0].fields[1]: `salary` is not a standard field of contact records",
                "reads[0].fields[2]: `given_name` is listed twice",
                "reads[1].fields[0]: `line_skus` is not a standard field of company records",
                "reads[2].entity: contact is listed twice",
            ]
        );
    }
}
