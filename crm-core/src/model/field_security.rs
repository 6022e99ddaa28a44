//! Field-level security: the sensitive fields of a record, and who may read or edit them.
//!
//! Some fields are sensitive: a contact's birthday, family notes and credit terms; a company's
//! tax id, account balance and credit terms; and every custom field defined
//! [`sensitive`](crate::model::FieldDefinition::sensitive). A user reads such a field only if one
//! of their roles grants it ([`FieldGrant`]: `read`, or `edit` which includes reading it) — every
//! other field follows the record's access alone. For the user, a field they may not read is
//! withheld: cleared from what they get (a custom value is absent from the record's map), kept
//! as stored when they save the record, refused when they set it, and refused in filters and
//! sorts, so it cannot be probed. Sensitive fields are not indexed for search.

use serde::{Deserialize, Serialize};

use crate::entity::EntityKind;
use crate::macros::str_enum;
use crate::model::{BuiltinRole, Record};

str_enum! {
    /// How far a role opens a sensitive field.
    pub enum FieldAccess {
        /// Read it.
        Read = "read",
        /// Read and change it.
        Edit = "edit",
    }
}

/// A role's grant on one sensitive field of one kind.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FieldGrant {
    /// The record kind.
    pub kind: EntityKind,
    /// The field: a built-in sensitive field ([`sensitive_fields`]) or `custom.<key>` of a
    /// custom field defined sensitive.
    pub field: String,
    /// Read, or read and edit.
    pub access: FieldAccess,
}

impl FieldGrant {
    /// `access` to `field` of `kind` records.
    pub fn new(kind: EntityKind, field: impl Into<String>, access: FieldAccess) -> Self {
        FieldGrant { kind, field: field.into(), access }
    }
}

/// The built-in sensitive fields of `kind` (custom fields are sensitive by their definition).
pub fn sensitive_fields(kind: EntityKind) -> &'static [&'static str] {
    match kind {
        EntityKind::Contact => &["birthday", "family_notes", "credit_terms"],
        EntityKind::Company => &["tax_id", "account_balance", "credit_terms"],
        _ => &[],
    }
}

impl BuiltinRole {
    /// What it opens of the sensitive fields (administrators: every one, custom ones too).
    pub fn field_grants(self) -> Vec<FieldGrant> {
        use EntityKind::{Company, Contact};
        use FieldAccess::{Edit, Read};
        let g = |kind, field: &str, access| FieldGrant::new(kind, field, access);
        match self {
            BuiltinRole::Administrator => Vec::new(),
            BuiltinRole::SalesManager => vec![
                g(Contact, "birthday", Edit),
                g(Contact, "family_notes", Edit),
                g(Contact, "credit_terms", Edit),
                g(Company, "tax_id", Read),
                g(Company, "account_balance", Read),
                g(Company, "credit_terms", Edit),
            ],
            BuiltinRole::SalesRep => vec![
                g(Contact, "birthday", Edit),
                g(Contact, "family_notes", Edit),
                g(Contact, "credit_terms", Read),
                g(Company, "credit_terms", Read),
            ],
            BuiltinRole::SupportAgent => vec![g(Contact, "birthday", Read)],
            BuiltinRole::Marketing => vec![g(Contact, "birthday", Read)],
            BuiltinRole::ReadOnly => Vec::new(),
        }
    }

    /// Whether it opens every sensitive field, present and future.
    pub fn opens_every_field(self) -> bool {
        self == BuiltinRole::Administrator
    }
}

/// Clears `field` of `rec`: a built-in sensitive field to none, a custom value out of the
/// map. False when the record has no such field to clear.
pub(crate) fn clear_field(rec: &mut Record, field: &str) -> bool {
    if let Some(key) = field.strip_prefix("custom.") {
        return rec.custom_mut().is_some_and(|c| c.remove(key).is_some());
    }
    match (rec, field) {
        (Record::Contact(c), "birthday") => c.birthday.take().is_some(),
        (Record::Contact(c), "family_notes") => c.family_notes.take().is_some(),
        (Record::Contact(c), "credit_terms") => c.credit_terms.take().is_some(),
        (Record::Company(c), "tax_id") => c.tax_id.take().is_some(),
        (Record::Company(c), "account_balance") => c.account_balance.take().is_some(),
        (Record::Company(c), "credit_terms") => c.credit_terms.take().is_some(),
        _ => false,
    }
}

/// The value of the sensitive `field` of `rec`, as JSON (null: none, or no such field), to
/// compare a write with what is stored.
pub(crate) fn value_of(rec: &Record, field: &str) -> serde_json::Value {
    use serde_json::to_value as json;
    if let Some(key) = field.strip_prefix("custom.") {
        return rec.custom().and_then(|c| c.get(key)).and_then(|v| json(v).ok()).unwrap_or_default();
    }
    let v = match (rec, field) {
        (Record::Contact(c), "birthday") => json(c.birthday),
        (Record::Contact(c), "family_notes") => json(&c.family_notes),
        (Record::Contact(c), "credit_terms") => json(c.credit_terms),
        (Record::Company(c), "tax_id") => json(&c.tax_id),
        (Record::Company(c), "account_balance") => json(c.account_balance),
        (Record::Company(c), "credit_terms") => json(c.credit_terms),
        _ => Ok(serde_json::Value::Null),
    };
    v.unwrap_or_default()
}

/// Sets `field` of `to` to its value in `from` (records of one kind).
pub(crate) fn copy_field(to: &mut Record, from: &Record, field: &str) {
    if let Some(key) = field.strip_prefix("custom.") {
        let value = from.custom().and_then(|c| c.get(key)).cloned();
        if let Some(custom) = to.custom_mut() {
            match value {
                Some(v) => custom.insert(key.to_owned(), v),
                None => custom.remove(key),
            };
        }
        return;
    }
    match (to, from, field) {
        (Record::Contact(x), Record::Contact(y), "birthday") => x.birthday = y.birthday,
        (Record::Contact(x), Record::Contact(y), "family_notes") => x.family_notes.clone_from(&y.family_notes),
        (Record::Contact(x), Record::Contact(y), "credit_terms") => x.credit_terms.clone_from(&y.credit_terms),
        (Record::Company(x), Record::Company(y), "tax_id") => x.tax_id.clone_from(&y.tax_id),
        (Record::Company(x), Record::Company(y), "account_balance") => x.account_balance.clone_from(&y.account_balance),
        (Record::Company(x), Record::Company(y), "credit_terms") => x.credit_terms.clone_from(&y.credit_terms),
        _ => {}
    }
}

/// Sets the sensitive standard `field` of `rec` from its JSON (as [`value_of`] gives it):
/// what unsealing a sealed field does. False when `rec` has no such field or the JSON is not
/// its type.
#[cfg(feature = "seal")]
pub(crate) fn set_field(rec: &mut Record, field: &str, v: serde_json::Value) -> bool {
    use serde_json::from_value as from;
    match (rec, field) {
        (Record::Contact(c), "birthday") => from(v).map(|x| c.birthday = x).is_ok(),
        (Record::Contact(c), "family_notes") => from(v).map(|x| c.family_notes = x).is_ok(),
        (Record::Contact(c), "credit_terms") => from(v).map(|x| c.credit_terms = x).is_ok(),
        (Record::Company(c), "tax_id") => from(v).map(|x| c.tax_id = x).is_ok(),
        (Record::Company(c), "account_balance") => from(v).map(|x| c.account_balance = x).is_ok(),
        (Record::Company(c), "credit_terms") => from(v).map(|x| c.credit_terms = x).is_ok(),
        _ => false,
    }
}
