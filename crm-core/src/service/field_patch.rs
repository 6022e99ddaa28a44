//! Changing a record's fields named at run time: a JSON patch applied through the kind's own
//! update, so its rules apply ([`Session::update_fields`]).

use std::collections::HashMap;

use super::Session;
use crate::entity::{EntityKind, EntityRef};
use crate::error::{Error, FieldErrorCode, Result};
use crate::model::*;
use crate::query::Field;
use crate::value::{Value, ValueType};

/// The kinds whose records [`Session::update_fields`] changes.
pub const UPDATABLE: &[EntityKind] = &[
    EntityKind::Contact,
    EntityKind::Company,
    EntityKind::Deal,
    EntityKind::Activity,
    EntityKind::Product,
    EntityKind::Order,
    EntityKind::Invoice,
    EntityKind::Case,
    EntityKind::Campaign,
    EntityKind::Segment,
    EntityKind::User,
    EntityKind::Team,
];

/// The standard fields that filters read but no record stores as such: each is worked out
/// from other fields (a contact's `email` is its first address in `emails`), so it is set
/// through those.
const DERIVED: &[(EntityKind, &[&str])] = &[
    (
        EntityKind::Contact,
        &[
            "email",
            "phone",
            "city",
            "country",
            "consent_status",
            "rfm_recency",
            "rfm_frequency",
            "rfm_monetary",
            "rfm_code",
            "rfm_segment",
            "rfm_scored_at",
        ],
    ),
    (EntityKind::Company, &["phone", "city", "country"]),
    (EntityKind::Deal, &["currency", "stage_entered_at", "days_to_close", "visited_stage_ids"]),
    (EntityKind::Product, &["currency"]),
    (EntityKind::Order, &["product_ids"]),
    (EntityKind::Invoice, &["balance_due"]),
    (EntityKind::Payment, &["currency", "unapplied", "invoice_ids"]),
    (EntityKind::CampaignMember, &["converted_at"]),
];

/// Whether the standard field `name` of `kind` is worked out from others, so that it cannot be
/// set by name ([`Session::update_fields`] refuses it).
///
/// ```
/// use crm_core::entity::EntityKind;
/// use crm_core::service::derived;
/// assert!(derived(EntityKind::Contact, "email"));
/// assert!(!derived(EntityKind::Contact, "emails"));
/// ```
pub fn derived(kind: EntityKind, name: &str) -> bool {
    DERIVED.iter().any(|(k, names)| *k == kind && names.contains(&name))
}

impl Session {
    /// Changes record `r` by `patch`, a JSON object of its fields (a custom field as
    /// `custom.KEY`, or inside a `custom` object; null clears; custom values given as text are
    /// read as their field's type), and saves it through the kind's own update at `version`
    /// when given (else the stored one), so the kind's rules apply as to any edit. A field the
    /// kind does not have is refused naming it. For code that names fields at run time: a
    /// command line, an HTTP API, an automation.
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// use crm_core::prelude::*;
    /// let crm = Crm::new(MemoryStore::new());
    /// let cx = crm.as_actor(&Actor::system(TenantId::new()));
    /// let ada = cx.contacts().create(NewContact::new("Ada", "Lovelace")).await?;
    /// let patch = serde_json::json!({"job_title": "Analyst"});
    /// let r = cx.update_fields(ada.entity_ref(), None, patch.as_object().unwrap()).await?;
    /// assert!(matches!(r, Record::Contact(c) if c.job_title.as_deref() == Some("Analyst")));
    /// let bad = serde_json::json!({"shoe_size": 9});
    /// let err = cx.update_fields(ada.entity_ref(), None, bad.as_object().unwrap()).await.unwrap_err();
    /// assert_eq!(err.field_errors()[0].field, "shoe_size");
    /// # Ok::<_, Error>(()) }).unwrap();
    /// ```
    pub async fn update_fields(
        &self,
        r: EntityRef,
        version: Option<u64>,
        patch: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<Record> {
        let (cx, kind, id) = (self, r.kind, r.id);
        // The custom fields' types, when the patch sets any (they read text values).
        let custom = patch.keys().any(|k| k == "custom" || matches!(Field::parse(k), Field::Custom(_)));
        let types: HashMap<String, ValueType> = match custom && kind.has_custom_fields() {
            true => cx
                .custom_fields()
                .registered(kind)
                .await?
                .into_iter()
                .map(|f| (f.definition.key.clone(), f.definition.field_type.value_type()))
                .collect(),
            false => HashMap::new(),
        };
        macro_rules! edit {
            ($E:ty, $svc:ident) => {{
                let mut rec: $E = cx.records::<$E>().get(<$E as Entity>::Id::from(id)).await?;
                if let Some(v) = version {
                    rec.set_version(v);
                }
                let rec: $E = patched(rec, patch, &types)?;
                Ok(cx.$svc().update(rec).await?.into_record())
            }};
        }
        match kind {
            EntityKind::Contact => edit!(Contact, contacts),
            EntityKind::Company => edit!(Company, companies),
            EntityKind::Deal => edit!(Deal, deals),
            EntityKind::Activity => edit!(Activity, activities),
            EntityKind::Product => edit!(Product, products),
            EntityKind::Order => edit!(Order, orders),
            EntityKind::Invoice => edit!(Invoice, invoices),
            EntityKind::Case => edit!(Case, cases),
            EntityKind::Campaign => edit!(Campaign, campaigns),
            EntityKind::Segment => edit!(Segment, segments),
            EntityKind::User => edit!(User, users),
            EntityKind::Team => edit!(Team, teams),
            other => Err(Error::invalid(
                "kind",
                FieldErrorCode::NotAnOption,
                format!("{other} records are not updated this way"),
            )),
        }
    }
}

/// Fields that are the record's identity: not patched.
const IDENTITY: &[&str] = &["id", "tenant_id", "version", "created_at", "updated_at"];

/// `rec` with `patch` applied.
/// Custom values given as text are read as their field's type (`types`, by key).
fn patched<E: Entity>(
    rec: E,
    patch: &serde_json::Map<String, serde_json::Value>,
    types: &HashMap<String, ValueType>,
) -> Result<E> {
    let mut whole = serde_json::to_value(&rec).map_err(|e| Error::storage(e.to_string()))?;
    let body = whole.as_object_mut().ok_or_else(|| Error::storage("a record is not an object"))?;
    let mut custom: Vec<(String, serde_json::Value)> = Vec::new();
    for (field, value) in patch {
        if field == "custom" {
            let Some(map) = value.as_object() else {
                return Err(Error::invalid("custom", FieldErrorCode::TypeMismatch, "an object of custom values"));
            };
            custom.extend(map.iter().map(|(k, v)| (k.clone(), v.clone())));
            continue;
        }
        match Field::parse(field) {
            Field::Custom(key) => custom.push((key, value.clone())),
            Field::Std(name) => {
                if IDENTITY.contains(&name.as_str()) {
                    return Err(Error::invalid(name, FieldErrorCode::ReadOnly, "a record's identity is not changed"));
                }
                if derived(E::KIND, &name) {
                    return Err(Error::invalid(
                        name.clone(),
                        FieldErrorCode::ReadOnly,
                        format!("`{name}` is worked out from other fields of a {}: set those", E::KIND),
                    ));
                }
                // A field without a value may be left out of the record's JSON altogether.
                if !body.contains_key(&name) && E::KIND.std_field(&name).is_none() {
                    return Err(Error::invalid(
                        name.clone(),
                        FieldErrorCode::UnknownField,
                        format!("{} records have no field `{name}`", E::KIND),
                    ));
                }
                body.insert(name, value.clone());
            }
        }
    }
    let mut rec: E = serde_json::from_value(whole).map_err(|e| {
        Error::invalid("body", FieldErrorCode::TypeMismatch, format!("the values do not fit a {} record: {e}", E::KIND))
    })?;
    if custom.is_empty() {
        return Ok(rec);
    }
    let Some(map) = rec.custom_mut() else {
        return Err(Error::invalid(
            "custom",
            FieldErrorCode::UnknownField,
            format!("{} records have no custom fields", E::KIND),
        ));
    };
    for (key, v) in custom {
        let mismatch = |m: String| Error::invalid(format!("custom.{key}"), FieldErrorCode::TypeMismatch, m);
        let ty = types.get(&key).copied();
        let value = match v {
            serde_json::Value::Null => None,
            serde_json::Value::String(s) => Some(match ty {
                Some(t) => t.read_text(&s).map_err(mismatch)?,
                None => Value::Text(s),
            }),
            serde_json::Value::Array(items) if ty.is_some_and(ValueType::is_list) => {
                let t = ty.unwrap_or(ValueType::TextList);
                let read = items
                    .iter()
                    .map(|i| match i {
                        serde_json::Value::String(s) => t.read_text(s).map_err(mismatch),
                        other => Err(mismatch(format!("`{other}` is not text"))),
                    })
                    .collect::<std::result::Result<Vec<_>, _>>()?;
                Some(Value::List(read))
            }
            serde_json::Value::Bool(b) => Some(Value::Bool(b)),
            serde_json::Value::Number(n) => Some(match n.as_i64() {
                Some(i) => Value::Int(i),
                None => Value::Decimal(n.to_string().parse().map_err(|_| {
                    Error::invalid(format!("custom.{key}"), FieldErrorCode::TypeMismatch, "not a number this CRM keeps")
                })?),
            }),
            other => {
                Some(serde_json::from_value(other).map_err(|e| {
                    Error::invalid(format!("custom.{key}"), FieldErrorCode::TypeMismatch, e.to_string())
                })?)
            }
        };
        match value {
            Some(v) => map.insert(key, v),
            None => map.remove(&key),
        };
    }
    Ok(rec)
}
