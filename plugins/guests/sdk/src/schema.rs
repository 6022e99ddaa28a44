//! Declaring a plugin: typed field-definition builders and the manifest.

use core::fmt::Display;

use crate::decimal::parse_decimal;
use crate::{
    Capability, Constraints, CoreReads, EntityKind, EventKind, FieldDefinition, FieldType, Manifest, SelectOption,
    Subscription,
};

/// Most fields one plugin may declare (the host enforces the same limit).
pub const MAX_FIELDS: usize = 200;
/// Most options a select field may have (the CRM's limit).
pub const MAX_OPTIONS: usize = 500;
/// Longest key (plugin id, field name, option value).
pub const MAX_KEY_LEN: usize = 63;

/// Whether `s` is a valid key: 1–63 lower-case ASCII letters, digits or `_`, starting with a
/// letter. Plugin ids, field names and option values all follow this rule.
pub fn valid_key(s: &str) -> bool {
    let mut bytes = s.bytes();
    matches!(bytes.next(), Some(b'a'..=b'z'))
        && s.len() <= MAX_KEY_LEN
        && bytes.all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_'))
}

/// `"price_per_bedroom"` → `"Price per bedroom"`.
fn humanize(key: &str) -> String {
    let spaced = key.replace('_', " ");
    let mut chars = spaced.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

impl From<&str> for SelectOption {
    /// An option whose label is derived from its value (`under_offer` → `Under offer`).
    fn from(value: &str) -> Self {
        SelectOption { value: value.to_owned(), label: humanize(value) }
    }
}

impl From<(&str, &str)> for SelectOption {
    /// An option from `(value, label)`.
    fn from((value, label): (&str, &str)) -> Self {
        SelectOption { value: value.to_owned(), label: label.to_owned() }
    }
}

/// A builder for one custom field; the entity kind is given when it is added to a manifest
/// with [`ManifestBuilder::fields`].
///
/// ```
/// use crm_plugin_sdk::FieldDef;
/// let address = FieldDef::text("property_address").label("Address").required().length(5, 200);
/// let bedrooms = FieldDef::integer("bedrooms").range(0, 50);
/// let status = FieldDef::single_select("listing_status", ["active", "sold"]).indexed();
/// # let _ = (address, bedrooms, status);
/// ```
#[derive(Clone, Debug)]
#[must_use = "a field definition does nothing until it is added to a manifest"]
pub struct FieldDef {
    name: String,
    label: Option<String>,
    field_type: FieldType,
    required: bool,
    constraints: Constraints,
    computed: bool,
    indexed: bool,
    help: Option<String>,
    checks: Vec<crate::checks::Check>,
}

macro_rules! simple_types {
    ($( $(#[$doc:meta])* $fn:ident => $case:ident; )*) => {$(
        $(#[$doc])*
        pub fn $fn(name: &str) -> Self {
            Self::of(name, FieldType::$case)
        }
    )*};
}

impl FieldDef {
    /// A field of any type (prefer the typed constructors).
    pub fn of(name: &str, field_type: FieldType) -> Self {
        FieldDef {
            name: name.to_owned(),
            label: None,
            field_type,
            required: false,
            constraints: Constraints { min: None, max: None, min_length: None, max_length: None, pattern: None },
            computed: false,
            indexed: false,
            help: None,
            checks: Vec::new(),
        }
    }

    simple_types! {
        /// Short single-line text.
        text => Text;
        /// Multi-line text.
        long_text => LongText;
        /// A whole number.
        integer => Integer;
        /// An exact decimal.
        decimal => Decimal;
        /// Money.
        money => Money;
        /// Yes/no.
        boolean => Boolean;
        /// A date.
        date => Date;
        /// A UTC date-time.
        datetime => Datetime;
        /// An email address.
        email => Email;
        /// A URL.
        url => Url;
        /// A phone number.
        phone => Phone;
    }

    /// One of `options` (values, or `(value, label)` pairs).
    pub fn single_select<O: Into<SelectOption>>(name: &str, options: impl IntoIterator<Item = O>) -> Self {
        Self::of(name, FieldType::SingleSelect(options.into_iter().map(Into::into).collect()))
    }

    /// Any subset of `options`.
    pub fn multi_select<O: Into<SelectOption>>(name: &str, options: impl IntoIterator<Item = O>) -> Self {
        Self::of(name, FieldType::MultiSelect(options.into_iter().map(Into::into).collect()))
    }

    /// A link to a record of kind `to`.
    pub fn reference(name: &str, to: EntityKind) -> Self {
        Self::of(name, FieldType::Reference(to))
    }

    /// The label shown to users (default: the name, humanised).
    pub fn label(mut self, label: &str) -> Self {
        self.label = Some(label.to_owned());
        self
    }

    /// Every record must have a value.
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }

    /// The value is produced by `compute`.
    pub fn computed(mut self) -> Self {
        self.computed = true;
        self
    }

    /// The host indexes the field.
    pub fn indexed(mut self) -> Self {
        self.indexed = true;
        self
    }

    /// Help text.
    pub fn help(mut self, help: &str) -> Self {
        self.help = Some(help.to_owned());
        self
    }

    /// Text length between `min` and `max` characters, inclusive.
    pub fn length(self, min: u32, max: u32) -> Self {
        self.min_length(min).max_length(max)
    }

    /// At least `n` characters.
    pub fn min_length(mut self, n: u32) -> Self {
        self.constraints.min_length = Some(n);
        self
    }

    /// At most `n` characters.
    pub fn max_length(mut self, n: u32) -> Self {
        self.constraints.max_length = Some(n);
        self
    }

    /// Value between `min` and `max`, inclusive: integers, [`Decimal`](crate::decimal::Decimal)s
    /// or decimal strings (`"0.01"`).
    pub fn range(self, min: impl Display, max: impl Display) -> Self {
        self.min(min).max(max)
    }

    /// Value at least `min`.
    pub fn min(mut self, min: impl Display) -> Self {
        self.constraints.min = Some(min.to_string());
        self
    }

    /// Value at most `max`.
    pub fn max(mut self, max: impl Display) -> Self {
        self.constraints.max = Some(max.to_string());
        self
    }

    /// Text must match this regular expression (Rust `regex` syntax; the host anchors it).
    pub fn pattern(mut self, pattern: &str) -> Self {
        self.constraints.pattern = Some(pattern.to_owned());
        self
    }

    /// Adds a rule on the field's value that the definition cannot express (a check digit):
    /// the SDK runs it before [`validate`](crate::Plugin::validate) and refuses the record with
    /// its reason (see [`field_checks`](crate::field_checks)).
    pub fn check(mut self, rule: crate::checks::Check) -> Self {
        self.checks.push(rule);
        self
    }

    /// The finished definition for records of `kind`.
    pub fn on(self, kind: EntityKind) -> FieldDefinition {
        FieldDefinition {
            label: self.label.unwrap_or_else(|| humanize(&self.name)),
            name: self.name,
            entity: kind,
            field_type: self.field_type,
            required: self.required,
            constraints: self.constraints,
            computed: self.computed,
            indexed: self.indexed,
            help: self.help,
        }
    }
}

/// Builds a [`Manifest`]; see [`Manifest::builder`].
#[derive(Clone, Debug)]
#[must_use = "call .build() to get the manifest"]
pub struct ManifestBuilder {
    manifest: Manifest,
    checks: Vec<(EntityKind, String, crate::checks::Check)>,
}

impl Manifest {
    /// Starts a manifest for the plugin `id` (e.g. `real_estate`), named `name`, at `version`
    /// (usually `env!("CARGO_PKG_VERSION")`).
    ///
    /// ```
    /// use crm_plugin_sdk::{Capability, EntityKind, EventKind, FieldDef, Manifest};
    /// let m = Manifest::builder("boats", "Boats", "0.1.0")
    ///     .fields(EntityKind::Deal, [FieldDef::decimal("length_m").min("0.5")])
    ///     .subscribe(EventKind::Created, [EntityKind::Deal])
    ///     .reads(EntityKind::Deal, ["name", "amount"])
    ///     .capability(Capability::Log)
    ///     .build();
    /// assert!(m.problems().is_empty());
    /// assert_eq!(m.field(EntityKind::Deal, "length_m").map(|f| f.label.as_str()), Some("Length m"));
    /// ```
    pub fn builder(id: &str, name: &str, version: &str) -> ManifestBuilder {
        ManifestBuilder {
            manifest: Manifest {
                id: id.to_owned(),
                name: name.to_owned(),
                version: version.to_owned(),
                fields: Vec::new(),
                subscriptions: Vec::new(),
                capabilities: Vec::new(),
                reads: Vec::new(),
            },
            checks: Vec::new(),
        }
    }

    /// The field `name` declared on `kind`.
    pub fn field(&self, kind: EntityKind, name: &str) -> Option<&FieldDefinition> {
        self.fields.iter().find(|f| f.entity == kind && f.name == name)
    }

    /// Checks the manifest the way the host does at install (everything except compiling
    /// patterns); each problem is one sentence. Call it from a unit test of your plugin.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if !valid_key(&self.id) {
            out.push(format!(
                "plugin id `{}` must be 1–63 lower-case letters, digits or `_`, starting with a letter",
                self.id
            ));
        }
        if self.name.trim().is_empty() {
            out.push("the plugin needs a name".to_owned());
        }
        let semver = self.version.split('.').collect::<Vec<_>>();
        if semver.len() != 3 || semver.iter().any(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit())) {
            out.push(format!("version `{}` must be MAJOR.MINOR.PATCH", self.version));
        }
        if self.fields.len() > MAX_FIELDS {
            out.push(format!("{} fields declared; the limit is {MAX_FIELDS}", self.fields.len()));
        }
        for (i, f) in self.fields.iter().enumerate() {
            field_problems(f, &mut out);
            if self.fields[..i].iter().any(|g| g.entity == f.entity && g.name == f.name) {
                out.push(format!("field `{}` is declared twice on {}", f.name, f.entity.name()));
            }
        }
        for (i, c) in self.capabilities.iter().enumerate() {
            if self.capabilities[..i].contains(c) {
                out.push(format!("capability `{}` is listed twice", c.name()));
            }
        }
        for (i, r) in self.reads.iter().enumerate() {
            if self.reads[..i].iter().any(|q| q.entity == r.entity) {
                out.push(format!("reads for {} are listed twice; list every field in one call", r.entity.name()));
            }
            for (j, f) in r.fields.iter().enumerate() {
                if r.fields[..j].contains(f) {
                    out.push(format!("`{f}` is read twice on {}", r.entity.name()));
                }
            }
        }
        for (i, s) in self.subscriptions.iter().enumerate() {
            if self.subscriptions[..i].iter().any(|t| t.event == s.event) {
                out.push(format!(
                    "event `{}` is subscribed twice; list every kind in one subscription",
                    s.event.name()
                ));
            }
        }
        out
    }
}

fn field_problems(f: &FieldDefinition, out: &mut Vec<String>) {
    let name = &f.name;
    if !valid_key(name) {
        out.push(format!("field name `{name}` must be 1–63 lower-case letters, digits or `_`, starting with a letter"));
    }
    if f.label.trim().is_empty() {
        out.push(format!("field `{name}` needs a label"));
    }
    if f.required && f.computed {
        out.push(format!("field `{name}` cannot be both required and computed"));
    }
    let numeric = matches!(f.field_type, FieldType::Integer | FieldType::Decimal | FieldType::Money);
    let textual = matches!(
        f.field_type,
        FieldType::Text | FieldType::LongText | FieldType::Email | FieldType::Url | FieldType::Phone
    );
    let c = &f.constraints;
    if !numeric && (c.min.is_some() || c.max.is_some()) {
        out.push(format!("field `{name}`: min/max apply only to integer, decimal and money fields"));
    }
    if !textual && (c.min_length.is_some() || c.max_length.is_some() || c.pattern.is_some()) {
        out.push(format!("field `{name}`: length and pattern apply only to text-like fields"));
    }
    let bound = |b: &Option<String>, which: &str, out: &mut Vec<String>| match b.as_deref().map(parse_decimal) {
        Some(Err(e)) => {
            out.push(format!("field `{name}`: {which} {e}"));
            None
        }
        Some(Ok(d)) => {
            if matches!(f.field_type, FieldType::Integer) && !d.fract().is_zero() {
                out.push(format!("field `{name}`: {which} of an integer field must be whole"));
            }
            Some(d)
        }
        None => None,
    };
    let (min, max) = (bound(&c.min, "min", out), bound(&c.max, "max", out));
    if let (Some(min), Some(max)) = (min, max)
        && min > max
    {
        out.push(format!("field `{name}`: min {min} is greater than max {max}"));
    }
    if let (Some(min), Some(max)) = (c.min_length, c.max_length)
        && min > max
    {
        out.push(format!("field `{name}`: min length {min} is greater than max length {max}"));
    }
    if c.pattern.as_deref().is_some_and(|p| p.is_empty()) {
        out.push(format!("field `{name}`: the pattern is empty"));
    }
    if let FieldType::SingleSelect(options) | FieldType::MultiSelect(options) = &f.field_type {
        if options.is_empty() || options.len() > MAX_OPTIONS {
            out.push(format!("field `{name}` needs 1–{MAX_OPTIONS} options"));
        }
        for (i, o) in options.iter().enumerate() {
            if !valid_key(&o.value) {
                out.push(format!("field `{name}`: option `{}` must be a lower-case key", o.value));
            }
            if o.label.trim().is_empty() {
                out.push(format!("field `{name}`: option `{}` needs a label", o.value));
            }
            if options[..i].iter().any(|p| p.value == o.value) {
                out.push(format!("field `{name}`: option `{}` appears twice", o.value));
            }
        }
    }
}

impl ManifestBuilder {
    /// Adds fields on records of `kind`.
    pub fn fields(mut self, kind: EntityKind, fields: impl IntoIterator<Item = FieldDef>) -> Self {
        for f in fields {
            self.checks.extend(f.checks.iter().map(|c| (kind, f.name.clone(), *c)));
            self.manifest.fields.push(f.on(kind));
        }
        self
    }

    /// Subscribes `on-event` to `event` for records of `kinds` (empty: every kind).
    pub fn subscribe(mut self, event: EventKind, kinds: impl IntoIterator<Item = EntityKind>) -> Self {
        self.manifest.subscriptions.push(Subscription { event, kinds: kinds.into_iter().collect() });
        self
    }

    /// Reads these standard fields of records of `kind` (`name`, `total`, `line_quantities`…).
    /// Records the plugin is shown carry only the standard fields it reads, in
    /// [`Entity::core`]; its own custom fields always. The host refuses a name the kind does
    /// not have. Calling it again for the same kind adds to the list.
    pub fn reads<'a>(mut self, kind: EntityKind, fields: impl IntoIterator<Item = &'a str>) -> Self {
        let names = fields.into_iter().map(str::to_owned);
        match self.manifest.reads.iter_mut().find(|r| r.entity == kind) {
            Some(r) => r.fields.extend(names),
            None => self.manifest.reads.push(CoreReads { entity: kind, fields: names.collect() }),
        }
        self
    }

    /// Asks for a capability.
    pub fn capability(mut self, capability: Capability) -> Self {
        self.manifest.capabilities.push(capability);
        self
    }

    /// The manifest.
    pub fn build(self) -> Manifest {
        crate::checks::register(self.checks);
        self.manifest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_gather_per_kind_and_repeats_are_problems() {
        let m = Manifest::builder("shop", "Shop", "1.0.0")
            .reads(EntityKind::Order, ["total", "currency"])
            .reads(EntityKind::Product, ["sku"])
            .reads(EntityKind::Order, ["line_quantities"])
            .build();
        assert_eq!(m.reads.len(), 2, "one entry per kind");
        assert_eq!(m.reads[0].entity, EntityKind::Order);
        assert_eq!(m.reads[0].fields, ["total", "currency", "line_quantities"]);
        assert!(m.problems().is_empty(), "{:?}", m.problems());
        let twice = Manifest::builder("shop", "Shop", "1.0.0").reads(EntityKind::Order, ["total", "total"]).build();
        assert_eq!(twice.problems(), ["`total` is read twice on order"]);
    }

    #[test]
    fn builder_fills_every_part_of_the_definition() {
        let f = FieldDef::text("property_address")
            .label("Address")
            .required()
            .length(5, 200)
            .help("Street and number")
            .on(EntityKind::Deal);
        assert_eq!(f.name, "property_address");
        assert_eq!(f.label, "Address");
        assert_eq!(f.entity, EntityKind::Deal);
        assert_eq!(f.field_type, FieldType::Text);
        assert!(f.required && !f.computed && !f.indexed);
        assert_eq!((f.constraints.min_length, f.constraints.max_length), (Some(5), Some(200)));
        assert_eq!(f.help.as_deref(), Some("Street and number"));
    }

    #[test]
    fn ranges_are_exact_decimal_strings() {
        let f = FieldDef::integer("bedrooms").range(0, 50).on(EntityKind::Deal);
        assert_eq!((f.constraints.min.as_deref(), f.constraints.max.as_deref()), (Some("0"), Some("50")));
        let f = FieldDef::money("price").min(crate::decimal::Decimal::new(1, 2)).on(EntityKind::Deal);
        assert_eq!(f.constraints.min.as_deref(), Some("0.01"));
    }

    #[test]
    fn labels_default_to_the_humanised_name() {
        let f = FieldDef::single_select("listing_status", ["under_offer", "sold"]).on(EntityKind::Deal);
        assert_eq!(f.label, "Listing status");
        let FieldType::SingleSelect(options) = f.field_type else { panic!("not a select") };
        assert_eq!(options[0], SelectOption { value: "under_offer".into(), label: "Under offer".into() });
    }

    #[test]
    fn keys_follow_the_crm_rule() {
        for ok in ["a", "real_estate", "x9_", &"a".repeat(63)] {
            assert!(valid_key(ok), "{ok}");
        }
        for bad in ["", "9a", "_a", "Real", "real.estate", "real-estate", "réal", &"a".repeat(64)] {
            assert!(!valid_key(bad), "{bad}");
        }
    }

    #[test]
    fn problems_finds_every_kind_of_mistake() {
        let m = Manifest::builder("Bad.Id", " ", "1.0")
            .fields(
                EntityKind::Deal,
                [
                    FieldDef::text("dup"),
                    FieldDef::text("dup"),
                    FieldDef::integer("n").range(5, 1).required().computed(),
                    FieldDef::integer("frac").min("0.5"),
                    FieldDef::decimal("bad_min").min("1e3"),
                    FieldDef::boolean("flag").max(1).pattern("x"),
                    FieldDef::text("t").length(10, 2).pattern(""),
                    FieldDef::single_select("s", ["ok", "ok", "Not-Key"]),
                    FieldDef::multi_select("empty", Vec::<&str>::new()),
                    FieldDef::text("Bad Name").label(" "),
                ],
            )
            .capability(Capability::Log)
            .capability(Capability::Log)
            .subscribe(EventKind::Created, [])
            .subscribe(EventKind::Created, [EntityKind::Deal])
            .build();
        let problems = m.problems();
        let expect = [
            "plugin id `Bad.Id`",
            "needs a name",
            "version `1.0`",
            "`dup` is declared twice",
            "both required and computed",
            "min 5 is greater than max 1",
            "`frac`: min of an integer field must be whole",
            "`bad_min`: min `1e3` is not a decimal",
            "`flag`: min/max apply only",
            "`flag`: length and pattern apply only",
            "min length 10 is greater than max length 2",
            "the pattern is empty",
            "option `ok` appears twice",
            "option `Not-Key` must be a lower-case key",
            "`empty` needs 1–500 options",
            "field name `Bad Name`",
            "field `Bad Name` needs a label",
            "capability `log` is listed twice",
            "event `created` is subscribed twice",
        ];
        for e in expect {
            assert!(problems.iter().any(|p| p.contains(e)), "missing {e:?} in {problems:#?}");
        }
        assert_eq!(problems.len(), expect.len(), "{problems:#?}");
    }
}
