//! Reading and building entities, and the small records that point at them.

use crate::decimal::Decimal;
use crate::{Action, AddTag, CreateTask, Entity, EntityKind, EntityRef, Field, FieldError, FieldValue, Money};
use crate::{ErrorCode, Notify, SetField};

fn find<'a>(fields: &'a [Field], name: &str) -> Option<&'a FieldValue> {
    fields.iter().find(|f| f.name == name).map(|f| &f.value).filter(|v| !v.is_null())
}

fn put(fields: &mut Vec<Field>, name: &str, value: FieldValue) {
    match fields.iter_mut().find(|f| f.name == name) {
        Some(f) => f.value = value,
        None => fields.push(Field { name: name.to_owned(), value }),
    }
}

/// Generates a typed accessor pair for standard (`core_*`) and custom (`custom_*`) fields.
macro_rules! accessors {
    ($( $(#[$doc:meta])* $core:ident, $custom:ident -> $ty:ty = $conv:expr; )*) => {$(
        $(#[$doc])*
        ///
        /// Looks in the standard fields. `None` when the field is absent, null, or of another
        /// type (the host type-checks values, so that only happens for a wrong field name).
        pub fn $core(&self, name: &str) -> Option<$ty> {
            self.core_value(name).and_then($conv)
        }

        $(#[$doc])*
        ///
        /// Looks in this plugin's custom fields (bare key). `None` when the field is absent,
        /// null, or of another type.
        pub fn $custom(&self, name: &str) -> Option<$ty> {
            self.custom_value(name).and_then($conv)
        }
    )*};
}

impl Entity {
    /// An entity with no fields, version 0: useful to build test inputs and mock records.
    ///
    /// ```
    /// use crm_plugin_sdk::{Entity, EntityKind};
    /// let deal = Entity::new(EntityKind::Deal, "d-1").with_core("name", "12 Elm St").with_custom("bedrooms", 3);
    /// assert_eq!(deal.core_text("name"), Some("12 Elm St"));
    /// assert_eq!(deal.custom_int("bedrooms"), Some(3));
    /// assert_eq!(deal.custom_int("name"), None);
    /// ```
    pub fn new(kind: EntityKind, id: impl Into<String>) -> Self {
        Entity { kind, id: id.into(), version: 0, core: Vec::new(), custom: Vec::new() }
    }

    /// Sets the version.
    pub fn with_version(mut self, version: u64) -> Self {
        self.version = version;
        self
    }

    /// Sets a standard field, replacing any earlier value.
    pub fn with_core(mut self, name: &str, value: impl Into<FieldValue>) -> Self {
        put(&mut self.core, name, value.into());
        self
    }

    /// Sets one of this plugin's custom fields, replacing any earlier value.
    pub fn with_custom(mut self, name: &str, value: impl Into<FieldValue>) -> Self {
        put(&mut self.custom, name, value.into());
        self
    }

    /// A reference to this entity (for actions).
    pub fn reference(&self) -> EntityRef {
        EntityRef { kind: self.kind, id: self.id.clone() }
    }

    /// The value of a standard field; `None` when absent or null.
    pub fn core_value(&self, name: &str) -> Option<&FieldValue> {
        find(&self.core, name)
    }

    /// The value of one of this plugin's custom fields; `None` when absent or null.
    pub fn custom_value(&self, name: &str) -> Option<&FieldValue> {
        find(&self.custom, name)
    }

    accessors! {
        /// A text value (text, email, url, phone, single-select).
        core_text, custom_text -> &str = FieldValue::as_text;
        /// An integer value.
        core_int, custom_int -> i64 = FieldValue::as_int;
        /// A boolean value.
        core_bool, custom_bool -> bool = FieldValue::as_bool;
        /// A decimal (or integer) value as an exact decimal.
        core_decimal, custom_decimal -> Decimal = FieldValue::as_decimal;
        /// A money value.
        core_money, custom_money -> &Money = FieldValue::as_money;
        /// The items of a text or id list (multi-select, tags, related ids).
        core_list, custom_list -> &[String] = FieldValue::as_list;
        /// A record id.
        core_id, custom_id -> &str = FieldValue::as_id;
        /// A date, `YYYY-MM-DD`.
        core_date, custom_date -> &str = FieldValue::as_date;
    }

    /// Whether the custom field `name` changed between `before` and this entity
    /// (true on create, when there is no `before`).
    pub fn custom_changed(&self, before: Option<&Entity>, name: &str) -> bool {
        before.is_none_or(|b| b.custom_value(name) != self.custom_value(name))
    }
}

impl EntityRef {
    /// A reference to the record `id` of `kind`.
    pub fn new(kind: EntityKind, id: impl Into<String>) -> Self {
        EntityRef { kind, id: id.into() }
    }
}

impl FieldError {
    /// An error on `field`: a bare own-field key, `core.<name>`, or `""` for the whole record.
    pub fn new(field: impl Into<String>, code: ErrorCode, message: impl Into<String>) -> Self {
        FieldError { field: field.into(), code, message: message.into() }
    }

    /// `field` must have a value.
    pub fn required(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(field, ErrorCode::Required, message)
    }

    /// `field` breaks a business rule.
    pub fn rule(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(field, ErrorCode::Rule, message)
    }

    /// `field` is out of range.
    pub fn out_of_range(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(field, ErrorCode::OutOfRange, message)
    }

    /// `field` is malformed.
    pub fn invalid_format(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(field, ErrorCode::InvalidFormat, message)
    }

    /// An error on the standard field `name` (reported as `core.<name>`).
    pub fn core(name: &str, code: ErrorCode, message: impl Into<String>) -> Self {
        Self::new(format!("core.{name}"), code, message)
    }
}

impl Action {
    /// Sets this plugin's field `name` on `entity`.
    pub fn set_field(entity: EntityRef, name: impl Into<String>, value: impl Into<FieldValue>) -> Self {
        Action::SetField(SetField { entity, field: Field::new(name, value) })
    }

    /// Adds `tag` to `entity`.
    pub fn add_tag(entity: EntityRef, tag: impl Into<String>) -> Self {
        Action::AddTag(AddTag { entity, tag: tag.into() })
    }

    /// Creates a task `title`, due in `due_in_days` days, on `on`.
    pub fn create_task(title: impl Into<String>, due_in_days: u32, on: EntityRef) -> Self {
        Action::CreateTask(CreateTask { title: title.into(), due_in_days, on })
    }

    /// Notifies users with `message`, optionally about a record.
    pub fn notify(message: impl Into<String>, about: Option<EntityRef>) -> Self {
        Action::Notify(Notify { message: message.into(), about })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deal() -> Entity {
        Entity::new(EntityKind::Deal, "d1")
            .with_core("name", "12 Elm St")
            .with_core("amount", FieldValue::Decimal("450000.00".into()))
            .with_core("tags", FieldValue::text_list(["hot"]))
            .with_custom("bedrooms", 3)
            .with_custom("list_price", Money::from_minor(45_000_000, "EUR"))
            .with_custom("listing_url", None::<String>)
    }

    #[test]
    fn typed_accessors_read_the_right_list() {
        let d = deal();
        assert_eq!(d.core_text("name"), Some("12 Elm St"));
        assert_eq!(d.custom_text("name"), None);
        assert_eq!(d.custom_int("bedrooms"), Some(3));
        assert_eq!(d.core_decimal("amount"), Some(Decimal::new(45_000_000, 2)));
        assert_eq!(d.custom_money("list_price").map(|m| m.amount.as_str()), Some("450000.00"));
        assert_eq!(d.core_list("tags"), Some(&["hot".to_owned()][..]));
        assert_eq!(d.custom_text("listing_url"), None, "null reads as absent");
        assert!(d.custom_value("listing_url").is_none());
        assert_eq!(d.custom_bool("bedrooms"), None, "wrong type reads as absent");
    }

    #[test]
    fn builders_replace_values() {
        let d = deal().with_custom("bedrooms", 4);
        assert_eq!(d.custom_int("bedrooms"), Some(4));
        assert_eq!(d.custom.iter().filter(|f| f.name == "bedrooms").count(), 1);
    }

    #[test]
    fn change_detection_compares_own_fields() {
        let before = deal();
        let after = deal().with_custom("bedrooms", 4);
        assert!(after.custom_changed(Some(&before), "bedrooms"));
        assert!(!after.custom_changed(Some(&before), "list_price"));
        assert!(after.custom_changed(None, "list_price"));
    }

    #[test]
    fn errors_and_actions_have_the_documented_shape() {
        let e = FieldError::core("amount", ErrorCode::Rule, "too small");
        assert_eq!(e.field, "core.amount");
        let a = Action::set_field(deal().reference(), "listing_status", "sold");
        let Action::SetField(s) = a else { panic!("expected set-field") };
        assert_eq!((s.entity.kind, s.entity.id.as_str()), (EntityKind::Deal, "d1"));
        assert_eq!(s.field, Field::new("listing_status", "sold"));
    }
}
