//! The real-estate plugin: property listings on deals.
//!
//! Adds the listing's address, bedrooms, list price, status and URL to every deal, computes
//! the price per bedroom, refuses a sold listing without a positive price, and when a deal is
//! won marks the listing sold and schedules the key hand-over.

use crm_plugin_sdk::{
    Action, Capability, DealStatus, Decimal, Entity, EntityKind, Event, EventKind, Field, FieldDef, FieldError, Host,
    Manifest, Money, Plugin, export_plugin,
};

/// The plugin id, which namespaces its fields (`real_estate.bedrooms`).
pub const ID: &str = "real_estate";

/// Field keys.
pub mod fields {
    /// Street address of the property (text, required).
    pub const ADDRESS: &str = "property_address";
    /// Number of bedrooms (integer 0–50).
    pub const BEDROOMS: &str = "bedrooms";
    /// Asking price (money, required).
    pub const LIST_PRICE: &str = "list_price";
    /// Listing status (single-select).
    pub const STATUS: &str = "listing_status";
    /// Public listing page (URL).
    pub const URL: &str = "listing_url";
    /// List price divided by bedrooms (computed money).
    pub const PRICE_PER_BEDROOM: &str = "price_per_bedroom";
}

/// Listing statuses, in the order a listing usually goes through them.
pub const STATUSES: [(&str, &str); 5] = [
    ("coming_soon", "Coming soon"),
    ("active", "Active"),
    ("under_offer", "Under offer"),
    ("sold", "Sold"),
    ("withdrawn", "Withdrawn"),
];

/// The status a won deal's listing moves to.
pub const SOLD: &str = "sold";
/// The task created when a deal is won.
pub const HANDOVER_TASK: &str = "Hand over keys";
/// Days until the hand-over task is due.
pub const HANDOVER_DUE_DAYS: u32 = 3;

/// The plugin.
#[derive(Clone, Copy, Debug, Default)]
pub struct RealEstate;

impl Plugin for RealEstate {
    fn describe(&self) -> Manifest {
        use fields::*;
        Manifest::builder(ID, "Real estate", env!("CARGO_PKG_VERSION"))
            .fields(
                EntityKind::Deal,
                [
                    FieldDef::text(ADDRESS)
                        .label("Property address")
                        .required()
                        .length(5, 200)
                        .help("Street, number and town of the property"),
                    FieldDef::integer(BEDROOMS).range(0, 50),
                    FieldDef::money(LIST_PRICE).label("List price").required().min(0),
                    FieldDef::single_select(STATUS, STATUSES).label("Listing status").indexed(),
                    FieldDef::url(URL).label("Listing URL"),
                    FieldDef::money(PRICE_PER_BEDROOM)
                        .label("Price per bedroom")
                        .computed()
                        .help("List price divided by bedrooms, rounded to the currency's minor unit"),
                ],
            )
            .subscribe(EventKind::DealStageChanged, [EntityKind::Deal])
            .capability(Capability::Log)
            .build()
    }

    fn validate(&self, _host: &dyn Host, deal: &Entity, _before: Option<&Entity>) -> Vec<FieldError> {
        if deal.kind != EntityKind::Deal {
            return Vec::new();
        }
        validate_listing(deal)
    }

    fn compute(&self, _host: &dyn Host, deal: &Entity) -> Vec<Field> {
        if deal.kind != EntityKind::Deal {
            return Vec::new();
        }
        vec![Field::new(fields::PRICE_PER_BEDROOM, price_per_bedroom(deal))]
    }

    fn on_event(&self, host: &dyn Host, event: &Event) -> Result<Vec<Action>, String> {
        let Event::DealStageChanged(change) = event else {
            return Ok(Vec::new());
        };
        if change.to_status != DealStatus::Won {
            return Ok(Vec::new());
        }
        let deal = &change.deal;
        let mut actions = Vec::new();
        if deal.custom_text(fields::STATUS) != Some(SOLD) {
            actions.push(Action::set_field(deal.reference(), fields::STATUS, SOLD));
        }
        actions.push(Action::create_task(HANDOVER_TASK, HANDOVER_DUE_DAYS, deal.reference()));
        host.info(&format!("deal {} won in stage `{}`: listing marked sold", deal.id, change.to_stage.name));
        Ok(actions)
    }
}

export_plugin!(RealEstate);

/// The listing rules: prices and bedrooms are not negative, and a sold listing has a
/// positive list price.
pub fn validate_listing(deal: &Entity) -> Vec<FieldError> {
    use fields::*;
    let mut errors = Vec::new();
    if let Some(n) = deal.custom_int(BEDROOMS)
        && n < 0
    {
        errors.push(FieldError::out_of_range(BEDROOMS, format!("bedrooms cannot be negative (got {n})")));
    }
    let price = match deal.custom_money(LIST_PRICE).map(|m| (m, m.to_decimal())) {
        None => None,
        Some((m, Err(e))) => {
            errors.push(FieldError::invalid_format(LIST_PRICE, format!("list price {}: {e}", m.currency)));
            None
        }
        Some((m, Ok(amount))) => {
            if amount.is_sign_negative() && !amount.is_zero() {
                errors.push(FieldError::out_of_range(
                    LIST_PRICE,
                    format!("the list price cannot be negative (got {} {})", m.amount, m.currency),
                ));
            }
            Some(amount)
        }
    };
    if deal.custom_text(STATUS) == Some(SOLD) {
        match price {
            None if !errors.iter().any(|e| e.field == LIST_PRICE) => {
                errors.push(FieldError::required(LIST_PRICE, "a sold listing needs its list price"))
            }
            Some(p) if p <= Decimal::ZERO => {
                errors.push(FieldError::rule(LIST_PRICE, "a sold listing needs a list price greater than zero"))
            }
            _ => {}
        }
    }
    errors
}

/// The list price divided by the number of bedrooms, rounded half away from zero to the
/// currency's minor unit; `None` when either is missing, bedrooms is not positive, or the
/// price cannot be read.
pub fn price_per_bedroom(deal: &Entity) -> Option<Money> {
    let bedrooms = deal.custom_int(fields::BEDROOMS).filter(|&n| n > 0)?;
    deal.custom_money(fields::LIST_PRICE)?.div_rounded(Decimal::from(bedrooms)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crm_plugin_sdk::testing::MockHost;
    use crm_plugin_sdk::{ErrorCode, FieldType, FieldValue, LogLevel, Stage, StageChange};

    fn listing() -> Entity {
        Entity::new(EntityKind::Deal, "0190a0c4-0000-7000-8000-000000000001")
            .with_version(3)
            .with_core("name", "12 Elm Street")
            .with_custom(fields::ADDRESS, "12 Elm Street, Springfield")
            .with_custom(fields::BEDROOMS, 3)
            .with_custom(fields::LIST_PRICE, Money::parse("450000.00", "EUR").unwrap())
            .with_custom(fields::STATUS, "active")
    }

    fn validate(deal: &Entity) -> Vec<FieldError> {
        RealEstate.validate(&MockHost::new(), deal, None)
    }

    fn codes(errors: &[FieldError]) -> Vec<(&str, ErrorCode)> {
        errors.iter().map(|e| (e.field.as_str(), e.code)).collect()
    }

    #[test]
    fn manifest_declares_the_listing_fields() {
        let m = RealEstate.describe();
        assert_eq!(m.problems(), Vec::<String>::new());
        assert_eq!(m.id, ID);
        assert_eq!(m.fields.len(), 6);
        assert!(m.fields.iter().all(|f| f.entity == EntityKind::Deal));
        let address = m.field(EntityKind::Deal, fields::ADDRESS).unwrap();
        assert!(address.required);
        assert_eq!((address.constraints.min_length, address.constraints.max_length), (Some(5), Some(200)));
        let bedrooms = m.field(EntityKind::Deal, fields::BEDROOMS).unwrap();
        assert_eq!(bedrooms.field_type, FieldType::Integer);
        assert_eq!((bedrooms.constraints.min.as_deref(), bedrooms.constraints.max.as_deref()), (Some("0"), Some("50")));
        let status = m.field(EntityKind::Deal, fields::STATUS).unwrap();
        assert!(status.indexed);
        let FieldType::SingleSelect(options) = &status.field_type else { panic!("status is not a select") };
        let values: Vec<_> = options.iter().map(|o| o.value.as_str()).collect();
        assert_eq!(values, ["coming_soon", "active", "under_offer", "sold", "withdrawn"]);
        assert_eq!(m.field(EntityKind::Deal, fields::URL).unwrap().field_type, FieldType::Url);
        let ppb = m.field(EntityKind::Deal, fields::PRICE_PER_BEDROOM).unwrap();
        assert!(ppb.computed && !ppb.required);
        assert_eq!(ppb.field_type, FieldType::Money);
        assert_eq!(m.subscriptions.len(), 1);
        assert_eq!(m.subscriptions[0].event, EventKind::DealStageChanged);
    }

    #[test]
    fn an_active_listing_is_valid() {
        assert_eq!(validate(&listing()), vec![]);
        assert_eq!(validate(&listing().with_custom(fields::LIST_PRICE, None::<Money>)), vec![]);
    }

    #[test]
    fn a_sold_listing_needs_a_price() {
        let deal = listing().with_custom(fields::STATUS, SOLD).with_custom(fields::LIST_PRICE, None::<Money>);
        assert_eq!(codes(&validate(&deal)), [(fields::LIST_PRICE, ErrorCode::Required)]);
    }

    #[test]
    fn a_sold_listing_needs_a_positive_price() {
        let deal =
            listing().with_custom(fields::STATUS, SOLD).with_custom(fields::LIST_PRICE, Money::from_minor(0, "EUR"));
        let errors = validate(&deal);
        assert_eq!(codes(&errors), [(fields::LIST_PRICE, ErrorCode::Rule)]);
        assert!(errors[0].message.contains("greater than zero"));
        let sold = listing().with_custom(fields::STATUS, SOLD);
        assert_eq!(validate(&sold), vec![]);
    }

    #[test]
    fn negative_prices_and_bedrooms_are_refused() {
        let deal = listing()
            .with_custom(fields::BEDROOMS, -1)
            .with_custom(fields::LIST_PRICE, Money::parse("-5.00", "EUR").unwrap());
        let errors = validate(&deal);
        assert_eq!(
            codes(&errors),
            [(fields::BEDROOMS, ErrorCode::OutOfRange), (fields::LIST_PRICE, ErrorCode::OutOfRange)]
        );
        assert!(errors[1].message.contains("-5.00 EUR"), "{}", errors[1].message);
        // Sold with a negative price: one error about the sign, one about the rule.
        let sold = deal.with_custom(fields::STATUS, SOLD);
        assert_eq!(codes(&validate(&sold)).len(), 3);
    }

    #[test]
    fn a_malformed_price_is_reported_once() {
        let bad = crm_plugin_sdk::Money { amount: "12,5".into(), currency: "EUR".into() };
        let deal = listing().with_custom(fields::STATUS, SOLD).with_custom(fields::LIST_PRICE, bad);
        assert_eq!(codes(&validate(&deal)), [(fields::LIST_PRICE, ErrorCode::InvalidFormat)]);
    }

    #[test]
    fn other_kinds_are_ignored() {
        let contact = Entity::new(EntityKind::Contact, "c1").with_custom(fields::BEDROOMS, -3);
        assert_eq!(validate(&contact), vec![]);
        assert_eq!(RealEstate.compute(&MockHost::new(), &contact), vec![]);
    }

    #[test]
    fn price_per_bedroom_rounds_to_the_minor_unit() {
        let compute = |deal: &Entity| RealEstate.compute(&MockHost::new(), deal);
        assert_eq!(
            compute(&listing()),
            vec![Field::new(fields::PRICE_PER_BEDROOM, Money::parse("150000.00", "EUR").unwrap())]
        );
        let odd = listing().with_custom(fields::LIST_PRICE, Money::parse("1000000.00", "EUR").unwrap());
        assert_eq!(price_per_bedroom(&odd).unwrap().amount, "333333.33");
        let up = listing().with_custom(fields::LIST_PRICE, Money::parse("200000.00", "EUR").unwrap());
        assert_eq!(price_per_bedroom(&up).unwrap().amount, "66666.67");
        let half = listing()
            .with_custom(fields::BEDROOMS, 2)
            .with_custom(fields::LIST_PRICE, Money::parse("0.05", "EUR").unwrap());
        assert_eq!(price_per_bedroom(&half).unwrap().amount, "0.03", "half a cent rounds away from zero");
        let yen = listing().with_custom(fields::LIST_PRICE, Money::parse("50000000", "JPY").unwrap());
        assert_eq!(price_per_bedroom(&yen).unwrap(), Money::parse("16666667", "JPY").unwrap());
        let dinar = listing().with_custom(fields::LIST_PRICE, Money::parse("100", "KWD").unwrap());
        assert_eq!(price_per_bedroom(&dinar).unwrap().amount, "33.333");
    }

    #[test]
    fn price_per_bedroom_is_null_without_bedrooms_or_price() {
        let null = vec![Field::new(fields::PRICE_PER_BEDROOM, FieldValue::Null)];
        let compute = |deal: &Entity| RealEstate.compute(&MockHost::new(), deal);
        assert_eq!(compute(&listing().with_custom(fields::BEDROOMS, 0)), null);
        assert_eq!(compute(&listing().with_custom(fields::BEDROOMS, None::<i64>)), null);
        assert_eq!(compute(&listing().with_custom(fields::LIST_PRICE, None::<Money>)), null);
        let bad = crm_plugin_sdk::Money { amount: "1e5".into(), currency: "EUR".into() };
        assert_eq!(compute(&listing().with_custom(fields::LIST_PRICE, bad)), null);
    }

    fn stage_change(deal: Entity, to_status: DealStatus) -> Event {
        Event::DealStageChanged(StageChange {
            deal,
            from_stage: Stage { id: "s-offer".into(), name: "Offer made".into() },
            to_stage: Stage { id: "s-won".into(), name: "Closed won".into() },
            to_status,
        })
    }

    #[test]
    fn winning_a_deal_marks_the_listing_sold_and_schedules_the_handover() {
        let host = MockHost::new();
        let deal = listing();
        let actions = RealEstate.on_event(&host, &stage_change(deal.clone(), DealStatus::Won)).unwrap();
        assert_eq!(
            actions,
            vec![
                Action::set_field(deal.reference(), fields::STATUS, SOLD),
                Action::create_task(HANDOVER_TASK, HANDOVER_DUE_DAYS, deal.reference()),
            ]
        );
        assert_eq!(host.logs().len(), 1);
        assert_eq!(host.logs()[0].0, LogLevel::Info);
        assert!(host.logs()[0].1.contains("Closed won"));
    }

    #[test]
    fn an_already_sold_listing_only_gets_the_task() {
        let deal = listing().with_custom(fields::STATUS, SOLD);
        let actions = RealEstate.on_event(&MockHost::new(), &stage_change(deal.clone(), DealStatus::Won)).unwrap();
        assert_eq!(actions, vec![Action::create_task(HANDOVER_TASK, HANDOVER_DUE_DAYS, deal.reference())]);
    }

    #[test]
    fn other_moves_and_events_do_nothing() {
        let host = MockHost::new();
        for status in [DealStatus::Open, DealStatus::Lost] {
            assert_eq!(RealEstate.on_event(&host, &stage_change(listing(), status)), Ok(vec![]));
        }
        assert_eq!(RealEstate.on_event(&host, &Event::Created(listing())), Ok(vec![]));
        assert!(host.logs().is_empty());
    }
}
