//! Internal macros.

/// [`str_enum!`] without the conversion into a filter value, for enums of the modules
/// [`value`](crate::value) itself builds on (`EntityKind`; `value` converts it).
macro_rules! str_enum_core {
    (
        $(#[$($m:tt)*])*
        pub enum $name:ident { $( $(#[$vm:meta])* $var:ident = $s:literal ),* $(,)? }
    ) => {
        $(#[$($m)*])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $( $(#[$vm])* $var ),* }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$var),*];

            /// The stable string form.
            pub fn as_str(&self) -> &'static str {
                match self { $($name::$var => $s),* }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($s => Ok($name::$var),)*
                    other => Err(format!(
                        "`{}` is not one of: {}",
                        other,
                        [$($s),*].join(", ")
                    )),
                }
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <::std::borrow::Cow<'de, str> as ::serde::Deserialize>::deserialize(d)?;
                s.parse().map_err(::serde::de::Error::custom)
            }
        }

        /// A string with one of the string forms, described by the enum's documentation.
        #[cfg(feature = "openapi")]
        impl ::utoipa::PartialSchema for $name {
            fn schema() -> ::utoipa::openapi::RefOr<::utoipa::openapi::schema::Schema> {
                $crate::openapi::str_enum_schema(
                    &[$($crate::macros::doc_line!($($m)*)),*],
                    &[$($s),*],
                )
            }
        }

        #[cfg(feature = "openapi")]
        impl ::utoipa::ToSchema for $name {
            fn name() -> ::std::borrow::Cow<'static, str> {
                ::std::borrow::Cow::Borrowed(stringify!($name))
            }
        }
    };
}

pub(crate) use str_enum_core;

/// The text of an attribute's tokens if it is a doc comment (`doc = "…"`), else `None`.
#[cfg(feature = "openapi")]
macro_rules! doc_line {
    (doc = $doc:literal) => {
        Some($doc)
    };
    ($($other:tt)*) => {
        None
    };
}

#[cfg(feature = "openapi")]
pub(crate) use doc_line;

/// Declares a fieldless enum with a stable string form used by serde, `Display`,
/// `FromStr`, filters and storage.
macro_rules! str_enum {
    (
        $(#[$($m:tt)*])*
        pub enum $name:ident { $( $(#[$vm:meta])* $var:ident = $s:literal ),* $(,)? }
    ) => {
        $crate::macros::str_enum_core! {
            $(#[$($m)*])*
            pub enum $name { $( $(#[$vm])* $var = $s ),* }
        }

        impl From<$name> for $crate::value::Value {
            fn from(x: $name) -> Self {
                $crate::value::Value::Text(x.as_str().to_owned())
            }
        }
    };
}

pub(crate) use str_enum;

/// Declares the input struct for a new record (`NewOrder`, `NewCase`…) and its builder setters
/// from one list, so that no field can lack its setter. Each field says how it is set:
///
/// - `some name(T)`: an `Option<T>` field; `name(value: impl Into<T>)` sets `Some(value)`;
/// - `some_exact name(T)`: as `some`, taking a `T` itself (numbers, so that a literal such as
///   `90` takes the field's type);
/// - `set name(T)`: a plain field; `name(value: impl Into<T>)` replaces it;
/// - `push name(T)`: a `Vec<T>` field; `name(value: impl Into<T>)` appends one;
/// - `custom`: the custom values; `custom(key, value)` sets one;
/// - `refs`: the ids in other systems; `external_ref(system, id)` adds one;
/// - `manual`: set by the constructor or by a hand-written method beside the declaration
///   (a setter that fills several fields, or takes something other than the field's value).
///
/// Each generated setter's documentation is the field's own. A field's `#[serde(…)]`
/// attributes follow its documentation and stay on the field.
macro_rules! new_input {
    (
        $(#[$m:meta])*
        pub struct $name:ident {
            $(
                $(#[doc = $doc:literal])*
                $(#[serde $serde:tt])*
                pub $field:ident : $ty:ty => $how:ident $( $setter:ident )? $( ( $arg:ty ) )?
            ),* $(,)?
        }
    ) => {
        $(#[$m])*
        pub struct $name {
            $( $(#[doc = $doc])* $(#[serde $serde])* pub $field: $ty, )*
        }

        impl $name {
            $( $crate::macros::new_input!(@setter [$($doc)*] $field $how $($setter)? $(($arg))?); )*
        }
    };
    (@setter [$($doc:literal)*] $field:ident some $setter:ident ($arg:ty)) => {
        $(#[doc = $doc])*
        pub fn $setter(mut self, value: impl Into<$arg>) -> Self {
            self.$field = Some(value.into());
            self
        }
    };
    (@setter [$($doc:literal)*] $field:ident some_exact $setter:ident ($arg:ty)) => {
        $(#[doc = $doc])*
        pub fn $setter(mut self, value: $arg) -> Self {
            self.$field = Some(value);
            self
        }
    };
    (@setter [$($doc:literal)*] $field:ident set $setter:ident ($arg:ty)) => {
        $(#[doc = $doc])*
        pub fn $setter(mut self, value: impl Into<$arg>) -> Self {
            self.$field = value.into();
            self
        }
    };
    (@setter [$($doc:literal)*] $field:ident push $setter:ident ($arg:ty)) => {
        $(#[doc = $doc])* #[doc = ""] #[doc = "Adds one; call it again for more."]
        pub fn $setter(mut self, value: impl Into<$arg>) -> Self {
            self.$field.push(value.into());
            self
        }
    };
    (@setter [$($doc:literal)*] $field:ident custom) => {
        /// Sets a custom field value (`key` as defined, e.g. `budget_code` or `real_estate.rooms`).
        pub fn custom(mut self, key: impl Into<String>, value: impl Into<$crate::value::Value>) -> Self {
            self.$field.insert(key.into(), value.into());
            self
        }
    };
    (@setter [$($doc:literal)*] $field:ident refs) => {
        /// Adds an id in another system (`system` such as `xero`, and the id there).
        pub fn external_ref(mut self, system: impl Into<String>, id: impl Into<String>) -> Self {
            self.$field.push($crate::model::ExternalRef::new(system, id));
            self
        }
    };
    (@setter [$($doc:literal)*] $field:ident manual) => {};
}

pub(crate) use new_input;

/// Declares a stored record: the struct with the header every record kind carries (its id,
/// tenant, version and times), then the kind's own fields as written.
///
/// ```text
/// record! {
///     /// A thing the business keeps.
///     #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
///     pub struct Thing(ThingId) {
///         /// Its name.
///         pub name: String,
///     }
/// }
/// ```
macro_rules! record {
    (
        $(#[$meta:meta])*
        pub struct $name:ident($id:ty) {
            $($body:tt)*
        }
    ) => {
        $(#[$meta])*
        pub struct $name {
            /// Id (UUIDv7).
            pub id: $id,
            /// Owning tenant.
            pub tenant_id: $crate::ids::TenantId,
            /// Version for optimistic concurrency: every write compares it.
            pub version: u64,
            /// Creation time.
            pub created_at: chrono::DateTime<chrono::Utc>,
            /// Last change.
            pub updated_at: chrono::DateTime<chrono::Utc>,
            $($body)*
        }
    };
}
pub(crate) use record;

/// A new record's struct literal with its header (see [`record!`]) filled in: a fresh id, the
/// tenant, version 1, created and updated at one instant. In a service,
/// `new_record!(uow, Product { sku, name, … })` takes all three from the unit of work;
/// `new_record!(id, tenant, at, Product { … })` gives them.
macro_rules! new_record {
    ($uow:ident, $ty:ident { $($rest:tt)* }) => {
        $crate::macros::new_record!($uow.new_id(), $uow.s.tenant(), $uow.now, $ty { $($rest)* })
    };
    ($id:expr, $tenant:expr, $at:expr, $ty:ident { $($rest:tt)* }) => {{
        let at = $at;
        $ty { id: $id, tenant_id: $tenant, version: 1, created_at: at, updated_at: at, $($rest)* }
    }};
}

pub(crate) use new_record;
