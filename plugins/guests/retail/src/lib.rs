//! The retail plugin: stock levels and barcodes on products, and low-stock alerts on orders.
//!
//! Adds stock on hand, reorder level, an EAN-13 barcode and a category to every product,
//! computes whether the product needs reordering, checks barcode check digits, and when an
//! order is placed notifies the team and flags the ordered products that are at or below
//! their reorder level (reading them with the `read-related` capability).

use crm_plugin_sdk::{
    Action, Capability, Entity, EntityKind, Event, EventKind, Field, FieldDef, FieldError, Host, Manifest, Plugin,
    export_plugin,
};

/// The plugin id, which namespaces its fields (`retail.stock_on_hand`).
pub const ID: &str = "retail";

/// Field keys (all on products).
pub mod fields {
    /// Units in stock (integer ≥ 0).
    pub const STOCK: &str = "stock_on_hand";
    /// Reorder when stock falls to this level (integer ≥ 0).
    pub const REORDER_LEVEL: &str = "reorder_level";
    /// EAN-13 barcode (13 digits with a valid check digit).
    pub const BARCODE: &str = "barcode";
    /// Product category (single-select).
    pub const CATEGORY: &str = "category";
    /// Whether stock is at or below the reorder level (computed).
    pub const NEEDS_REORDER: &str = "needs_reorder";
}

/// Product categories.
pub const CATEGORIES: [&str; 7] = ["grocery", "household", "apparel", "electronics", "toys", "garden", "other"];

/// The tag added to products that need reordering.
pub const REORDER_TAG: &str = "reorder";

/// At most this many products of one order are checked for stock (one host read each).
pub const MAX_PRODUCTS_CHECKED: usize = 50;

/// The plugin.
#[derive(Clone, Copy, Debug, Default)]
pub struct Retail;

impl Plugin for Retail {
    fn describe(&self) -> Manifest {
        use fields::*;
        Manifest::builder(ID, "Retail", env!("CARGO_PKG_VERSION"))
            .fields(
                EntityKind::Product,
                [
                    FieldDef::integer(STOCK).label("Stock on hand").min(0),
                    FieldDef::integer(REORDER_LEVEL).min(0).help("Reorder when stock on hand falls to this level"),
                    FieldDef::text(BARCODE)
                        .label("Barcode (EAN-13)")
                        .pattern("^[0-9]{13}$")
                        .indexed()
                        .help("13 digits, the last one a check digit"),
                    FieldDef::single_select(CATEGORY, CATEGORIES).indexed(),
                    FieldDef::boolean(NEEDS_REORDER).computed().indexed(),
                ],
            )
            .subscribe(EventKind::OrderPlaced, [EntityKind::Order])
            .capability(Capability::ReadRelated)
            .capability(Capability::Log)
            .build()
    }

    fn validate(&self, _host: &dyn Host, entity: &Entity, _before: Option<&Entity>) -> Vec<FieldError> {
        if entity.kind != EntityKind::Product {
            return Vec::new();
        }
        validate_product(entity)
    }

    fn compute(&self, _host: &dyn Host, entity: &Entity) -> Vec<Field> {
        if entity.kind != EntityKind::Product {
            return Vec::new();
        }
        vec![Field::new(fields::NEEDS_REORDER, needs_reorder(entity))]
    }

    fn on_event(&self, host: &dyn Host, event: &Event) -> Result<Vec<Action>, String> {
        match event {
            Event::OrderPlaced(order) => Ok(order_placed(host, order)),
            _ => Ok(Vec::new()),
        }
    }
}

export_plugin!(Retail);

/// Whether `code` is a valid EAN-13: 13 ASCII digits whose last digit is the check digit
/// (weights 1, 3, 1, 3… over the first twelve; the check digit brings the sum to a multiple of 10).
pub fn ean13_valid(code: &str) -> bool {
    code.len() == 13
        && code.bytes().all(|b| b.is_ascii_digit())
        && code.bytes().last().map(|b| u32::from(b - b'0')) == Some(ean13_check_digit(code))
}

/// The product rules: stock figures are not negative and the barcode is a valid EAN-13.
pub fn validate_product(product: &Entity) -> Vec<FieldError> {
    use fields::*;
    let mut errors = Vec::new();
    for (key, what) in [(STOCK, "stock on hand"), (REORDER_LEVEL, "the reorder level")] {
        if let Some(n) = product.custom_int(key)
            && n < 0
        {
            errors.push(FieldError::out_of_range(key, format!("{what} cannot be negative (got {n})")));
        }
    }
    if let Some(code) = product.custom_text(BARCODE) {
        let digits = code.len() == 13 && code.bytes().all(|b| b.is_ascii_digit());
        if !digits {
            errors.push(FieldError::invalid_format(BARCODE, "an EAN-13 barcode is exactly 13 digits"));
        } else if !ean13_valid(code) {
            errors.push(FieldError::invalid_format(
                BARCODE,
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

/// The actions for a placed order: one notification about the order, and for each ordered
/// product at or below its reorder level a notification and the [`REORDER_TAG`]. Products
/// are read through the host; if reading is not allowed the stock check is skipped (and
/// logged), the order notification is still sent.
pub fn order_placed(host: &dyn Host, order: &Entity) -> Vec<Action> {
    let number = order.core_text("number").unwrap_or(&order.id);
    let total = match (order.core_value("total").and_then(|v| v.as_decimal()), order.core_text("currency")) {
        (Some(t), Some(c)) => format!(" for {t} {c}"),
        _ => String::new(),
    };
    let mut actions = vec![Action::notify(format!("Order {number} placed{total}"), Some(order.reference()))];

    let mut product_ids: Vec<&str> =
        order.core_list("product_ids").unwrap_or_default().iter().map(|s| s.as_str()).collect();
    product_ids.sort_unstable();
    product_ids.dedup();
    if product_ids.len() > MAX_PRODUCTS_CHECKED {
        host.warn(&format!(
            "order {number} has {} products; checking stock of the first {MAX_PRODUCTS_CHECKED}",
            product_ids.len()
        ));
        product_ids.truncate(MAX_PRODUCTS_CHECKED);
    }
    for id in product_ids {
        let product = match host.get_related(EntityKind::Product, id) {
            Ok(Some(p)) => p,
            Ok(None) => {
                host.warn(&format!("order {number}: product {id} does not exist"));
                continue;
            }
            Err(e) => {
                host.warn(&format!("order {number}: stock not checked: {e}"));
                break;
            }
        };
        if needs_reorder(&product) == Some(true) {
            let name = product.core_text("name").unwrap_or(id);
            let stock = product.custom_int(fields::STOCK).unwrap_or_default();
            let level = product.custom_int(fields::REORDER_LEVEL).unwrap_or_default();
            actions.push(Action::notify(
                format!("Reorder {name}: {stock} in stock, reorder level {level} (after order {number})"),
                Some(product.reference()),
            ));
            actions.push(Action::add_tag(product.reference(), REORDER_TAG));
        }
    }
    actions
}

#[cfg(test)]
mod tests {
    use super::*;
    use crm_plugin_sdk::testing::MockHost;
    use crm_plugin_sdk::{ErrorCode, FieldType, FieldValue, LogLevel};

    fn product(id: &str, stock: i64, level: i64) -> Entity {
        Entity::new(EntityKind::Product, id)
            .with_core("name", format!("Product {id}"))
            .with_core("sku", format!("SKU-{id}"))
            .with_custom(fields::STOCK, stock)
            .with_custom(fields::REORDER_LEVEL, level)
            .with_custom(fields::BARCODE, "4006381333931")
            .with_custom(fields::CATEGORY, "household")
    }

    fn order(product_ids: &[&str]) -> Entity {
        Entity::new(EntityKind::Order, "o1")
            .with_core("number", "SO-1001")
            .with_core("total", FieldValue::Decimal("129.90".into()))
            .with_core("currency", "EUR")
            .with_core("product_ids", FieldValue::IdList(product_ids.iter().map(|s| s.to_string()).collect()))
    }

    #[test]
    fn manifest_declares_the_product_fields() {
        let m = Retail.describe();
        assert_eq!(m.problems(), Vec::<String>::new());
        assert_eq!(m.id, ID);
        assert!(m.fields.iter().all(|f| f.entity == EntityKind::Product));
        let stock = m.field(EntityKind::Product, fields::STOCK).unwrap();
        assert_eq!((stock.field_type.clone(), stock.constraints.min.as_deref()), (FieldType::Integer, Some("0")));
        let barcode = m.field(EntityKind::Product, fields::BARCODE).unwrap();
        assert_eq!(barcode.constraints.pattern.as_deref(), Some("^[0-9]{13}$"));
        let flag = m.field(EntityKind::Product, fields::NEEDS_REORDER).unwrap();
        assert!(flag.computed);
        assert_eq!(flag.field_type, FieldType::Boolean);
        assert!(m.capabilities.contains(&Capability::ReadRelated));
        assert_eq!(m.subscriptions[0].event, EventKind::OrderPlaced);
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
        let errors = validate_product(&wrong_digit);
        assert_eq!(errors.len(), 1);
        assert_eq!((errors[0].field.as_str(), errors[0].code), (fields::BARCODE, ErrorCode::InvalidFormat));
        assert!(errors[0].message.contains("should be 1"), "{}", errors[0].message);
        let short = product("p1", 5, 2).with_custom(fields::BARCODE, "12345");
        assert!(validate_product(&short)[0].message.contains("exactly 13 digits"));
        assert_eq!(validate_product(&product("p1", 5, 2)), vec![]);
        assert_eq!(validate_product(&product("p1", 5, 2).with_custom(fields::BARCODE, None::<String>)), vec![]);
    }

    #[test]
    fn negative_stock_figures_are_refused() {
        let errors = Retail.validate(&MockHost::new(), &product("p1", -1, -2), None);
        let fields: Vec<_> = errors.iter().map(|e| (e.field.as_str(), e.code)).collect();
        assert_eq!(fields, [(fields::STOCK, ErrorCode::OutOfRange), (fields::REORDER_LEVEL, ErrorCode::OutOfRange)]);
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
    fn placing_an_order_notifies_and_flags_low_stock_products() {
        let host = MockHost::new()
            .with_entity(product("p-low", 1, 3))
            .with_entity(product("p-ok", 40, 3))
            .with_entity(product("p-edge", 3, 3));
        let o = order(&["p-ok", "p-low", "p-edge", "p-low", "p-gone"]);
        let actions = Retail.on_event(&host, &Event::OrderPlaced(o.clone())).unwrap();
        let low = product("p-low", 1, 3).reference();
        let edge = product("p-edge", 3, 3).reference();
        assert_eq!(
            actions,
            vec![
                Action::notify("Order SO-1001 placed for 129.90 EUR", Some(o.reference())),
                Action::notify(
                    "Reorder Product p-edge: 3 in stock, reorder level 3 (after order SO-1001)",
                    Some(edge.clone())
                ),
                Action::add_tag(edge, REORDER_TAG),
                Action::notify(
                    "Reorder Product p-low: 1 in stock, reorder level 3 (after order SO-1001)",
                    Some(low.clone())
                ),
                Action::add_tag(low, REORDER_TAG),
            ]
        );
        assert_eq!(host.reads().len(), 4, "each distinct product is read once");
        assert_eq!(host.logs(), vec![(LogLevel::Warn, "order SO-1001: product p-gone does not exist".to_owned())]);
    }

    #[test]
    fn without_read_access_only_the_order_is_announced() {
        let host = MockHost::new().with_entity(product("p-low", 1, 3)).deny_read_related();
        let o = order(&["p-low", "p-other"]);
        let actions = Retail.on_event(&host, &Event::OrderPlaced(o.clone())).unwrap();
        assert_eq!(actions, vec![Action::notify("Order SO-1001 placed for 129.90 EUR", Some(o.reference()))]);
        assert_eq!(host.reads().len(), 1, "stops at the first refusal");
        assert_eq!(host.logs().len(), 1);
        assert!(host.logs()[0].1.contains("not granted"));
    }

    #[test]
    fn large_orders_check_a_bounded_number_of_products() {
        let ids: Vec<String> = (0..80).map(|i| format!("p{i:02}")).collect();
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        let host = MockHost::new();
        Retail.on_event(&host, &Event::OrderPlaced(order(&refs))).unwrap();
        assert_eq!(host.reads().len(), MAX_PRODUCTS_CHECKED, "reads are capped");
        assert!(host.logs()[0].1.contains("80 products"));
    }

    #[test]
    fn an_order_without_number_or_total_still_notifies() {
        let bare = Entity::new(EntityKind::Order, "o-9");
        let actions = order_placed(&MockHost::new(), &bare);
        assert_eq!(actions, vec![Action::notify("Order o-9 placed", Some(bare.reference()))]);
    }
}
