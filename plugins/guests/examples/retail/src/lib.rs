//! The retail plugin: stock and barcodes on products, lifetime value and loyalty on contacts.
//!
//! Adds a supplier SKU, an EAN-13 barcode, stock on hand, a reorder level and a category to
//! every product, and a lifetime value with a loyalty tier to every contact. It computes
//! whether a product needs reordering and a contact's tier, checks barcode check digits, and
//! when an order is placed takes the ordered quantities off stock (creating a reorder task on
//! products that fall to their reorder level) and adds the order total to the customer's
//! lifetime value. It reads the products and the contact with the `read-related` capability.

use crm_plugin_sdk::{
    Action, Capability, Decimal, Entity, EntityKind, Event, EventKind, Field, FieldDef, FieldError, Host, Manifest,
    Money, Plugin, register_plugin,
};

/// The plugin id, which namespaces its fields (`retail.stock_on_hand`).
pub const ID: &str = "retail";

/// Field keys.
pub mod fields {
    /// The supplier's SKU of a product (text, [`SUPPLIER_SKU_PATTERN`](super::SUPPLIER_SKU_PATTERN)).
    pub const SUPPLIER_SKU: &str = "supplier_sku";
    /// GTIN/EAN-13 barcode of a product (13 digits with a valid check digit).
    pub const BARCODE: &str = "barcode";
    /// Units of a product in stock (integer ≥ 0).
    pub const STOCK: &str = "stock_on_hand";
    /// Reorder a product when stock falls to this level (integer ≥ 0).
    pub const REORDER_LEVEL: &str = "reorder_level";
    /// Product category (single-select).
    pub const CATEGORY: &str = "category";
    /// Whether a product's stock is at or below its reorder level (computed).
    pub const NEEDS_REORDER: &str = "needs_reorder";
    /// What a contact has ordered in total (money, maintained by the plugin).
    pub const LIFETIME_VALUE: &str = "lifetime_value";
    /// A contact's loyalty tier (single-select, computed from the lifetime value).
    pub const LOYALTY_TIER: &str = "loyalty_tier";
}

/// The pattern of a supplier SKU: three capital letters, `-`, four to eight digits.
pub const SUPPLIER_SKU_PATTERN: &str = "^[A-Z]{3}-[0-9]{4,8}$";

/// Product categories.
pub const CATEGORIES: [&str; 7] = ["grocery", "household", "apparel", "electronics", "toys", "garden", "other"];

/// Loyalty tiers, lowest first.
pub const TIERS: [&str; 4] = ["bronze", "silver", "gold", "platinum"];

/// A contact's lifetime value below `TIER_LIMITS[i]` (in any currency) means `TIERS[i]`;
/// from the last limit up, the top tier.
pub const TIER_LIMITS: [i64; 3] = [1_000, 5_000, 20_000];

/// The tag added to products that need reordering.
pub const REORDER_TAG: &str = "reorder";

/// Days until a reorder task is due.
pub const REORDER_DUE_DAYS: u32 = 1;

/// At most this many distinct products of one order are read and updated (one host read each).
pub const MAX_PRODUCTS: usize = 50;

/// The plugin.
#[derive(Clone, Copy, Debug, Default)]
pub struct Retail;

impl Plugin for Retail {
    fn describe(&self) -> Manifest {
        Manifest::builder(ID, "Retail", env!("CARGO_PKG_VERSION"))
            .fields(EntityKind::Product, product_fields())
            .fields(EntityKind::Contact, contact_fields())
            .subscribe(EventKind::OrderPlaced, [EntityKind::Order])
            // What `on_event` looks at: the order's lines and total, and the products' names.
            .reads(
                EntityKind::Order,
                ["number", "contact_id", "total", "currency", "line_product_ids", "line_quantities"],
            )
            .reads(EntityKind::Product, ["sku", "name"])
            .capability(Capability::ReadRelated)
            .capability(Capability::Log)
            .build()
    }

    fn validate(&self, _host: &dyn Host, entity: &Entity, _before: Option<&Entity>) -> Vec<FieldError> {
        match entity.kind {
            EntityKind::Product => validate_product(entity),
            _ => Vec::new(),
        }
    }

    fn compute(&self, _host: &dyn Host, entity: &Entity) -> Vec<Field> {
        match entity.kind {
            EntityKind::Product => vec![Field::new(fields::NEEDS_REORDER, needs_reorder(entity))],
            EntityKind::Contact => {
                vec![Field::new(fields::LOYALTY_TIER, loyalty_tier(entity.custom_money(fields::LIFETIME_VALUE)))]
            }
            _ => Vec::new(),
        }
    }

    fn on_event(&self, host: &dyn Host, event: &Event) -> Result<Vec<Action>, String> {
        match event {
            Event::OrderPlaced(order) => Ok(order_placed(host, order)),
            _ => Ok(Vec::new()),
        }
    }
}

register_plugin!(Retail);

/// The fields on products.
pub fn product_fields() -> Vec<FieldDef> {
    use fields::*;
    vec![
        FieldDef::text(SUPPLIER_SKU)
            .label("Supplier SKU")
            .pattern(SUPPLIER_SKU_PATTERN)
            .help("Three capital letters, a dash and 4–8 digits, e.g. ACM-12345"),
        FieldDef::text(BARCODE)
            .label("Barcode (GTIN/EAN-13)")
            .pattern("^[0-9]{13}$")
            .indexed()
            .help("13 digits, the last one a check digit"),
        FieldDef::integer(STOCK).label("Stock on hand").min(0),
        FieldDef::integer(REORDER_LEVEL).min(0).help("Reorder when stock on hand falls to this level"),
        FieldDef::single_select(CATEGORY, CATEGORIES).indexed(),
        FieldDef::boolean(NEEDS_REORDER).computed().indexed(),
    ]
}

/// The fields on contacts.
pub fn contact_fields() -> Vec<FieldDef> {
    use fields::*;
    vec![
        FieldDef::money(LIFETIME_VALUE).label("Lifetime value").help("Total of the contact's placed orders"),
        FieldDef::single_select(LOYALTY_TIER, TIERS)
            .computed()
            .help("From the lifetime value: below 1,000 bronze, 5,000 silver, 20,000 gold, then platinum"),
    ]
}

/// Whether `code` is a valid EAN-13: 13 ASCII digits whose last digit is the check digit
/// (weights 1, 3, 1, 3… over the first twelve; the check digit brings the sum to a multiple of 10).
pub fn ean13_valid(code: &str) -> bool {
    code.len() == 13
        && code.bytes().all(|b| b.is_ascii_digit())
        && code.bytes().last().map(|b| u32::from(b - b'0')) == Some(ean13_check_digit(code))
}

/// The product rule: the barcode is a valid EAN-13. (Ranges and the patterns are checked by
/// the host from the field definitions.)
pub fn validate_product(product: &Entity) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if let Some(code) = product.custom_text(fields::BARCODE) {
        let digits = code.len() == 13 && code.bytes().all(|b| b.is_ascii_digit());
        if !digits {
            errors.push(FieldError::invalid_format(fields::BARCODE, "an EAN-13 barcode is exactly 13 digits"));
        } else if !ean13_valid(code) {
            errors.push(FieldError::invalid_format(
                fields::BARCODE,
                format!("`{code}` is not a valid EAN-13: its check digit should be {}", ean13_check_digit(code)),
            ));
        }
    }
    errors
}

/// The check digit the first twelve digits of `code` call for (`code` must be ASCII digits).
fn ean13_check_digit(code: &str) -> u32 {
    let sum: u32 =
        code.bytes().take(12).enumerate().map(|(i, b)| u32::from(b - b'0') * if i % 2 == 0 { 1 } else { 3 }).sum();
    (10 - sum % 10) % 10
}

/// Whether stock on hand is at or below the reorder level; `None` when either is unknown.
pub fn needs_reorder(product: &Entity) -> Option<bool> {
    Some(product.custom_int(fields::STOCK)? <= product.custom_int(fields::REORDER_LEVEL)?)
}

/// The loyalty tier of a lifetime value (thresholds [`TIER_LIMITS`], in any currency);
/// `None` when there is no value or it cannot be read.
pub fn loyalty_tier(lifetime_value: Option<&Money>) -> Option<&'static str> {
    let amount = lifetime_value?.to_decimal().ok()?;
    let below = TIER_LIMITS.iter().position(|&limit| amount < Decimal::from(limit));
    Some(TIERS[below.unwrap_or(TIER_LIMITS.len())])
}

/// The actions for a placed order: stock updates (and reorder tasks and tags) for its
/// products, then the customer's new lifetime value. Anything that cannot be read is
/// logged and skipped; the rest still happens.
pub fn order_placed(host: &dyn Host, order: &Entity) -> Vec<Action> {
    let number = order.core_text("number").unwrap_or(&order.id);
    let mut actions = Vec::new();
    for (id, quantity) in ordered_products(host, order, number) {
        let product = match host.get_related(EntityKind::Product, &id) {
            Ok(Some(p)) => p,
            Ok(None) => {
                host.warn(&format!("order {number}: product {id} does not exist"));
                continue;
            }
            Err(e) => {
                host.warn(&format!("order {number}: stock not updated: {e}"));
                break;
            }
        };
        actions.extend(take_from_stock(host, number, &product, quantity));
    }
    actions.extend(add_to_lifetime_value(host, order, number));
    actions
}

/// The distinct products of the order's lines (`line_product_ids`, `line_quantities`) with
/// their total quantity, in order of first appearance, at most [`MAX_PRODUCTS`]. Lines
/// without a product are skipped; lines with a quantity that is not a positive decimal are
/// skipped with a warning.
pub fn ordered_products(host: &dyn Host, order: &Entity, number: &str) -> Vec<(String, Decimal)> {
    let ids = order.core_list("line_product_ids").unwrap_or_default();
    let quantities = order.core_list("line_quantities").unwrap_or_default();
    if ids.len() != quantities.len() {
        host.warn(&format!(
            "order {number}: {} line products but {} line quantities; using the first {}",
            ids.len(),
            quantities.len(),
            ids.len().min(quantities.len())
        ));
    }
    let mut products: Vec<(String, Decimal)> = Vec::new();
    let mut skipped = 0usize;
    for (id, quantity) in ids.iter().zip(quantities).filter(|(id, _)| !id.is_empty()) {
        let quantity = match crm_plugin_sdk::decimal::parse_decimal(quantity) {
            Ok(q) if q > Decimal::ZERO => q,
            _ => {
                host.warn(&format!("order {number}: product {id} has quantity `{quantity}`; line skipped"));
                continue;
            }
        };
        if let Some((_, total)) = products.iter_mut().find(|(p, _)| p == id) {
            *total = total.saturating_add(quantity);
        } else if products.len() < MAX_PRODUCTS {
            products.push((id.clone(), quantity));
        } else {
            skipped += 1;
        }
    }
    if skipped > 0 {
        host.warn(&format!(
            "order {number}: more than {MAX_PRODUCTS} products; stock of {skipped} more lines not updated"
        ));
    }
    products
}

/// A quantity in whole stock units: a fractional quantity uses up a whole unit (`1.5` → 2).
pub fn whole_units(quantity: Decimal) -> i64 {
    i64::try_from(quantity.ceil()).unwrap_or(if quantity > Decimal::ZERO { i64::MAX } else { i64::MIN })
}

/// Takes `quantity` off a product's stock: sets the new stock on hand (not below zero, which
/// is logged), and when it is at or below the reorder level creates a reorder task and tags
/// the product. A product without stock on hand is left alone.
pub fn take_from_stock(host: &dyn Host, number: &str, product: &Entity, quantity: Decimal) -> Vec<Action> {
    let Some(stock) = product.custom_int(fields::STOCK) else {
        host.debug(&format!("order {number}: product {} has no stock on hand; not updated", product.id));
        return Vec::new();
    };
    let units = whole_units(quantity);
    let mut new_stock = stock.saturating_sub(units);
    if new_stock < 0 {
        host.warn(&format!(
            "order {number}: product {} had {stock} in stock but {units} were ordered; stock set to 0",
            product.id
        ));
        new_stock = 0;
    }
    let mut actions = vec![Action::set_field(product.reference(), fields::STOCK, new_stock)];
    if product.custom_int(fields::REORDER_LEVEL).is_some_and(|level| new_stock <= level) {
        let what = [product.core_text("sku"), product.core_text("name")]
            .into_iter()
            .flatten()
            .find(|s| !s.trim().is_empty())
            .unwrap_or(&product.id);
        actions.push(Action::create_task(format!("Reorder {what}"), REORDER_DUE_DAYS, product.reference()));
        actions.push(Action::add_tag(product.reference(), REORDER_TAG));
    }
    actions
}

/// Adds the order's total (`total`, `currency`) to the lifetime value of its contact
/// (`contact_id`), read through the host. Nothing when the order has no contact; logged and
/// nothing when the total or contact cannot be read or the currencies differ.
pub fn add_to_lifetime_value(host: &dyn Host, order: &Entity, number: &str) -> Option<Action> {
    let contact_id = order.core_id("contact_id")?;
    let (Some(total), Some(currency)) = (order.core_decimal("total"), order.core_text("currency")) else {
        host.warn(&format!("order {number} has no total; lifetime value not updated"));
        return None;
    };
    let contact = match host.get_related(EntityKind::Contact, contact_id) {
        Ok(Some(c)) => c,
        Ok(None) => {
            host.warn(&format!("order {number}: contact {contact_id} does not exist"));
            return None;
        }
        Err(e) => {
            host.warn(&format!("order {number}: lifetime value not updated: {e}"));
            return None;
        }
    };
    match lifetime_value_plus(contact.custom_money(fields::LIFETIME_VALUE), total, currency) {
        Ok(value) => Some(Action::set_field(contact.reference(), fields::LIFETIME_VALUE, value)),
        Err(why) => {
            host.warn(&format!("order {number}: lifetime value of contact {contact_id} kept: {why}"));
            None
        }
    }
}

/// `old + total` in `currency`, rounded to the currency's minor unit; just the total when
/// there is no old value. `Err` when the currencies differ or a number cannot be read.
pub fn lifetime_value_plus(old: Option<&Money>, total: Decimal, currency: &str) -> Result<Money, String> {
    let sum = match old {
        None => total,
        Some(old) if !old.currency.eq_ignore_ascii_case(currency) => {
            return Err(format!("it is in {}, the order in {currency}", old.currency));
        }
        Some(old) => {
            let old = old.to_decimal().map_err(|e| e.to_string())?;
            old.checked_add(total).ok_or("the sum is too large")?
        }
    };
    Money::new(sum, currency).rounded().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crm_plugin_sdk::testing::MockHost;
    use crm_plugin_sdk::{EntityRef, ErrorCode, FieldType, FieldValue, LogLevel};

    fn product(id: &str, stock: i64, level: i64) -> Entity {
        Entity::new(EntityKind::Product, id)
            .with_core("name", format!("Product {id}"))
            .with_core("sku", format!("SKU-{id}"))
            .with_custom(fields::SUPPLIER_SKU, "ACM-12345")
            .with_custom(fields::STOCK, stock)
            .with_custom(fields::REORDER_LEVEL, level)
            .with_custom(fields::BARCODE, "4006381333931")
            .with_custom(fields::CATEGORY, "household")
    }

    fn contact(id: &str, ltv: Option<Money>) -> Entity {
        Entity::new(EntityKind::Contact, id).with_core("name", "Ada").with_custom(fields::LIFETIME_VALUE, ltv)
    }

    fn eur(amount: &str) -> Money {
        Money::parse(amount, "EUR").unwrap()
    }

    /// An order with lines `(product id, quantity)` for 129.9 EUR (totals arrive normalised).
    fn order(lines: &[(&str, &str)]) -> Entity {
        let ids = FieldValue::text_list(lines.iter().map(|l| l.0));
        let quantities = FieldValue::text_list(lines.iter().map(|l| l.1));
        Entity::new(EntityKind::Order, "o1")
            .with_core("number", "SO-1001")
            .with_core("total", FieldValue::Decimal("129.9".into()))
            .with_core("currency", "EUR")
            .with_core("line_product_ids", ids.clone())
            .with_core("line_skus", ids)
            .with_core("line_quantities", quantities)
    }

    fn with_contact(order: Entity, id: &str) -> Entity {
        order.with_core("contact_id", FieldValue::Id(id.into()))
    }

    fn warnings(host: &MockHost) -> Vec<String> {
        host.logs().into_iter().filter(|(l, _)| *l == LogLevel::Warn).map(|(_, m)| m).collect()
    }

    #[test]
    fn manifest_declares_product_and_contact_fields() {
        use fields::*;
        let m = Retail.describe();
        assert_eq!(m.problems(), Vec::<String>::new());
        assert_eq!(m.id, ID);
        let keys = |kind| m.fields.iter().filter(|f| f.entity == kind).map(|f| f.name.as_str()).collect::<Vec<_>>();
        assert_eq!(keys(EntityKind::Product), [SUPPLIER_SKU, BARCODE, STOCK, REORDER_LEVEL, CATEGORY, NEEDS_REORDER]);
        assert_eq!(keys(EntityKind::Contact), [LIFETIME_VALUE, LOYALTY_TIER]);
        assert_eq!(m.fields.len(), 8);
        let p = |key| m.field(EntityKind::Product, key).unwrap();
        assert_eq!(p(SUPPLIER_SKU).constraints.pattern.as_deref(), Some("^[A-Z]{3}-[0-9]{4,8}$"));
        assert_eq!(p(BARCODE).constraints.pattern.as_deref(), Some("^[0-9]{13}$"));
        for key in [STOCK, REORDER_LEVEL] {
            assert_eq!((p(key).field_type.clone(), p(key).constraints.min.as_deref()), (FieldType::Integer, Some("0")));
        }
        assert!(p(NEEDS_REORDER).computed && p(NEEDS_REORDER).field_type == FieldType::Boolean);
        let ltv = m.field(EntityKind::Contact, LIFETIME_VALUE).unwrap();
        assert_eq!(ltv.field_type, FieldType::Money);
        assert!(!ltv.computed && !ltv.required);
        let tier = m.field(EntityKind::Contact, LOYALTY_TIER).unwrap();
        assert!(tier.computed);
        let FieldType::SingleSelect(options) = &tier.field_type else { panic!("tier is not a select") };
        assert_eq!(options.iter().map(|o| o.value.as_str()).collect::<Vec<_>>(), TIERS);
        assert_eq!(m.capabilities, [Capability::ReadRelated, Capability::Log]);
        assert_eq!(m.subscriptions.len(), 1);
        assert_eq!(
            (m.subscriptions[0].event, &m.subscriptions[0].kinds[..]),
            (EventKind::OrderPlaced, &[EntityKind::Order][..])
        );
    }

    #[test]
    fn ean13_check_digits() {
        // Real EAN-13 codes.
        for ok in ["4006381333931", "5901234123457", "9780306406157", "0000000000000", "9781234567897"] {
            assert!(ean13_valid(ok), "{ok}");
        }
        for bad in
            ["4006381333932", "5901234123450", "9780306406158", "400638133393", "40063813339310", "400638133393a"]
        {
            assert!(!ean13_valid(bad), "{bad}");
        }
        assert_eq!(ean13_check_digit("590123412345"), 7);
    }

    #[test]
    fn barcode_errors_say_what_is_wrong() {
        let wrong_digit = product("p1", 5, 2).with_custom(fields::BARCODE, "4006381333932");
        let errors = Retail.validate(&MockHost::new(), &wrong_digit, None);
        assert_eq!(errors.len(), 1);
        assert_eq!((errors[0].field.as_str(), errors[0].code), (fields::BARCODE, ErrorCode::InvalidFormat));
        assert!(errors[0].message.contains("should be 1"), "{}", errors[0].message);
        let short = product("p1", 5, 2).with_custom(fields::BARCODE, "12345");
        assert!(validate_product(&short)[0].message.contains("exactly 13 digits"));
        assert_eq!(validate_product(&product("p1", 5, 2)), vec![]);
        assert_eq!(validate_product(&product("p1", 5, 2).with_custom(fields::BARCODE, None::<String>)), vec![]);
        assert_eq!(Retail.validate(&MockHost::new(), &contact("c1", None), None), vec![]);
    }

    #[test]
    fn needs_reorder_at_or_below_the_level() {
        let compute = |p: &Entity| Retail.compute(&MockHost::new(), p);
        assert_eq!(compute(&product("p1", 2, 5)), vec![Field::new(fields::NEEDS_REORDER, true)]);
        assert_eq!(compute(&product("p1", 5, 5)), vec![Field::new(fields::NEEDS_REORDER, true)]);
        assert_eq!(compute(&product("p1", 6, 5)), vec![Field::new(fields::NEEDS_REORDER, false)]);
        let unknown = product("p1", 6, 5).with_custom(fields::REORDER_LEVEL, None::<i64>);
        assert_eq!(compute(&unknown), vec![Field::new(fields::NEEDS_REORDER, FieldValue::Null)]);
        assert_eq!(compute(&order(&[])), vec![], "orders have no computed fields");
    }

    #[test]
    fn loyalty_tiers_follow_the_lifetime_value_in_any_currency() {
        let tier = |amount: &str, currency: &str| loyalty_tier(Some(&Money::parse(amount, currency).unwrap()));
        assert_eq!(tier("0.00", "EUR"), Some("bronze"));
        assert_eq!(tier("999.99", "EUR"), Some("bronze"));
        assert_eq!(tier("1000.00", "EUR"), Some("silver"));
        assert_eq!(tier("4999.99", "USD"), Some("silver"));
        assert_eq!(tier("5000", "JPY"), Some("gold"));
        assert_eq!(tier("19999.999", "KWD"), Some("gold"));
        assert_eq!(tier("20000.00", "EUR"), Some("platinum"));
        assert_eq!(tier("-10.00", "EUR"), Some("bronze"));
        assert_eq!(loyalty_tier(None), None);
        assert_eq!(loyalty_tier(Some(&Money { amount: "1e9".into(), currency: "EUR".into() })), None);
        let compute = |c: &Entity| Retail.compute(&MockHost::new(), c);
        assert_eq!(compute(&contact("c1", Some(eur("7500.00")))), vec![Field::new(fields::LOYALTY_TIER, "gold")]);
        assert_eq!(compute(&contact("c1", None)), vec![Field::new(fields::LOYALTY_TIER, FieldValue::Null)]);
    }

    #[test]
    fn placing_an_order_takes_stock_and_flags_low_products() {
        let host = MockHost::new()
            .with_entity(product("p-low", 4, 3))
            .with_entity(product("p-ok", 40, 3))
            .with_entity(product("p-edge", 5, 3));
        let o = order(&[("p-ok", "2"), ("p-low", "1"), ("", "3"), ("p-edge", "1.5"), ("p-low", "2"), ("p-gone", "1")]);
        let actions = Retail.on_event(&host, &Event::OrderPlaced(o)).unwrap();
        let (ok, low, edge) = (
            EntityRef::new(EntityKind::Product, "p-ok"),
            product("p-low", 0, 0).reference(),
            product("p-edge", 0, 0).reference(),
        );
        assert_eq!(
            actions,
            vec![
                Action::set_field(ok, fields::STOCK, 38),
                Action::set_field(low.clone(), fields::STOCK, 1),
                Action::create_task("Reorder SKU-p-low", REORDER_DUE_DAYS, low.clone()),
                Action::add_tag(low, REORDER_TAG),
                Action::set_field(edge.clone(), fields::STOCK, 3),
                Action::create_task("Reorder SKU-p-edge", REORDER_DUE_DAYS, edge.clone()),
                Action::add_tag(edge, REORDER_TAG),
            ]
        );
        let reads: Vec<_> = host.reads().into_iter().map(|(_, id)| id).collect();
        assert_eq!(reads, ["p-ok", "p-low", "p-edge", "p-gone"], "each distinct product is read once");
        assert_eq!(warnings(&host), ["order SO-1001: product p-gone does not exist"]);
    }

    #[test]
    fn stock_never_goes_below_zero() {
        let host = MockHost::new();
        let p = product("p1", 2, 0).with_core("sku", "");
        let actions = take_from_stock(&host, "SO-1", &p, Decimal::from(5));
        assert_eq!(
            actions,
            vec![
                Action::set_field(p.reference(), fields::STOCK, 0),
                Action::create_task("Reorder Product p1", REORDER_DUE_DAYS, p.reference()),
                Action::add_tag(p.reference(), REORDER_TAG),
            ],
            "an empty SKU falls back to the name"
        );
        assert_eq!(warnings(&host).len(), 1);
        assert!(warnings(&host)[0].contains("stock set to 0"));
    }

    #[test]
    fn products_without_stock_or_level_are_handled() {
        let host = MockHost::new();
        let untracked = product("p1", 0, 0).with_custom(fields::STOCK, None::<i64>);
        assert_eq!(take_from_stock(&host, "SO-1", &untracked, Decimal::ONE), vec![]);
        let no_level = product("p2", 3, 0).with_custom(fields::REORDER_LEVEL, None::<i64>);
        assert_eq!(
            take_from_stock(&host, "SO-1", &no_level, Decimal::ONE),
            vec![Action::set_field(no_level.reference(), fields::STOCK, 2)]
        );
        assert!(warnings(&host).is_empty());
    }

    #[test]
    fn quantities_count_in_whole_units() {
        assert_eq!(whole_units(Decimal::new(15, 1)), 2);
        assert_eq!(whole_units(Decimal::new(3, 0)), 3);
        assert_eq!(whole_units(Decimal::new(3000, 3)), 3);
        assert_eq!(whole_units(Decimal::new(1, 2)), 1);
        assert_eq!(whole_units(Decimal::MAX), i64::MAX);
    }

    #[test]
    fn bad_lines_are_skipped_with_a_warning() {
        let host = MockHost::new();
        let o = order(&[("p1", "0"), ("p2", "-1"), ("p3", "x"), ("p4", "1")])
            .with_core("line_quantities", FieldValue::text_list(["0", "-1", "x", "1", "9"]));
        assert_eq!(ordered_products(&host, &o, "SO-1"), vec![("p4".to_owned(), Decimal::ONE)]);
        let w = warnings(&host);
        assert_eq!(w.len(), 4, "{w:?}");
        assert!(w[0].contains("4 line products but 5 line quantities"));
        assert!(w[3].contains("`x`"));
        assert_eq!(ordered_products(&host, &Entity::new(EntityKind::Order, "o2"), "o2"), vec![]);
    }

    #[test]
    fn large_orders_update_a_bounded_number_of_products() {
        let ids: Vec<String> = (0..80).map(|i| format!("p{i:02}")).collect();
        let lines: Vec<(&str, &str)> = ids.iter().map(|id| (id.as_str(), "1")).collect();
        let host = MockHost::new();
        Retail.on_event(&host, &Event::OrderPlaced(order(&lines))).unwrap();
        assert_eq!(host.reads().len(), MAX_PRODUCTS, "reads are capped");
        assert!(warnings(&host).iter().any(|w| w.contains("30 more lines")));
    }

    #[test]
    fn an_order_adds_its_total_to_the_contacts_lifetime_value() {
        let host = MockHost::new().with_entity(product("p1", 10, 2)).with_entity(contact("c1", Some(eur("900.00"))));
        let o = with_contact(order(&[("p1", "1")]), "c1");
        let actions = Retail.on_event(&host, &Event::OrderPlaced(o)).unwrap();
        let c1 = EntityRef::new(EntityKind::Contact, "c1");
        assert_eq!(
            actions,
            vec![
                Action::set_field(EntityRef::new(EntityKind::Product, "p1"), fields::STOCK, 9),
                Action::set_field(c1, fields::LIFETIME_VALUE, eur("1029.90")),
            ]
        );
        assert_eq!(host.reads().last(), Some(&(EntityKind::Contact, "c1".to_owned())));
        assert!(host.logs().is_empty());
    }

    #[test]
    fn a_first_order_starts_the_lifetime_value() {
        let host = MockHost::new().with_entity(contact("c1", None));
        let action = add_to_lifetime_value(&host, &with_contact(order(&[]), "c1"), "SO-1001");
        assert_eq!(
            action,
            Some(Action::set_field(EntityRef::new(EntityKind::Contact, "c1"), fields::LIFETIME_VALUE, eur("129.90")))
        );
    }

    #[test]
    fn lifetime_value_arithmetic() {
        assert_eq!(lifetime_value_plus(Some(&eur("0.10")), Decimal::new(2, 1), "EUR"), Ok(eur("0.30")));
        assert_eq!(lifetime_value_plus(None, Decimal::new(1005, 3), "EUR"), Ok(eur("1.01")), "rounded half away");
        assert_eq!(lifetime_value_plus(None, Decimal::new(1200, 0), "JPY").unwrap().amount, "1200");
        let err = lifetime_value_plus(Some(&eur("10.00")), Decimal::ONE, "USD").unwrap_err();
        assert!(err.contains("EUR") && err.contains("USD"), "{err}");
        let bad = Money { amount: "1,5".into(), currency: "EUR".into() };
        assert!(lifetime_value_plus(Some(&bad), Decimal::ONE, "EUR").is_err());
    }

    #[test]
    fn a_currency_mismatch_keeps_the_lifetime_value() {
        let host = MockHost::new().with_entity(contact("c1", Some(Money::parse("50.00", "USD").unwrap())));
        assert_eq!(add_to_lifetime_value(&host, &with_contact(order(&[]), "c1"), "SO-1001"), None);
        assert_eq!(warnings(&host).len(), 1);
        assert!(warnings(&host)[0].contains("kept"), "{:?}", warnings(&host));
    }

    #[test]
    fn orders_without_contact_total_or_readable_contact() {
        let host = MockHost::new();
        assert_eq!(add_to_lifetime_value(&host, &order(&[]), "SO-1001"), None);
        assert!(host.reads().is_empty(), "no contact, no read");
        let no_total = Entity::new(EntityKind::Order, "o9").with_core("contact_id", FieldValue::Id("c1".into()));
        assert_eq!(add_to_lifetime_value(&host, &no_total, "o9"), None);
        assert_eq!(add_to_lifetime_value(&host, &with_contact(order(&[]), "c-gone"), "SO-1001"), None);
        assert_eq!(warnings(&host).len(), 2);
    }

    #[test]
    fn without_read_access_nothing_is_changed() {
        let host =
            MockHost::new().with_entity(product("p1", 1, 3)).with_entity(contact("c1", None)).deny_read_related();
        let o = with_contact(order(&[("p1", "1"), ("p2", "1")]), "c1");
        assert_eq!(Retail.on_event(&host, &Event::OrderPlaced(o)), Ok(vec![]));
        assert_eq!(host.reads().len(), 2, "stops products at the first refusal, then tries the contact");
        assert_eq!(warnings(&host).len(), 2);
        assert!(warnings(&host).iter().all(|w| w.contains("not granted")));
    }

    #[test]
    fn other_events_do_nothing() {
        let host = MockHost::new();
        assert_eq!(Retail.on_event(&host, &Event::Created(order(&[("p1", "1")]))), Ok(vec![]));
        assert!(host.reads().is_empty());
    }
}
