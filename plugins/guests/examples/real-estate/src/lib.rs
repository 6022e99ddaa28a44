//! The real-estate plugin: property listings on deals and companies.
//!
//! Adds the property's address, type, bedrooms, bathrooms, floor area, listing price, status
//! and URL to every deal and company (a company may be an agency, so the address is required
//! on deals only), computes the price per m², checks the listing rules, and when a deal is won
//! marks its listing sold and schedules the key hand-over.

use crm_plugin_sdk::{
    Action, Capability, DealStatus, Decimal, Entity, EntityKind, Event, EventKind, Field, FieldDef, FieldError, Host,
    Manifest, Money, Plugin, StageChange, register_plugin,
};

/// The plugin id, which namespaces its fields (`real_estate.bedrooms`).
pub const ID: &str = "real_estate";

/// Field keys (the same on deals and companies).
pub mod fields {
    /// Street address of the property (text; required on deals).
    pub const ADDRESS: &str = "property_address";
    /// Kind of property (single-select, [`PROPERTY_TYPES`](super::PROPERTY_TYPES)).
    pub const PROPERTY_TYPE: &str = "property_type";
    /// Number of bedrooms (integer 0–50, indexed).
    pub const BEDROOMS: &str = "bedrooms";
    /// Number of bathrooms (integer 0–50).
    pub const BATHROOMS: &str = "bathrooms";
    /// Floor area in square metres (decimal, greater than zero).
    pub const FLOOR_AREA: &str = "floor_area_m2";
    /// Listing price (money, at least zero, greater than zero when given; indexed).
    pub const LIST_PRICE: &str = "list_price";
    /// Listing status (single-select, [`STATUSES`](super::STATUSES), indexed).
    pub const STATUS: &str = "listing_status";
    /// Public listing page (URL).
    pub const URL: &str = "listing_url";
    /// Listing price divided by floor area (computed money).
    pub const PRICE_PER_M2: &str = "price_per_m2";
}

/// Property types.
pub const PROPERTY_TYPES: [(&str, &str); 5] = [
    ("house", "House"),
    ("apartment", "Apartment"),
    ("townhouse", "Townhouse"),
    ("land", "Land"),
    ("commercial", "Commercial"),
];

/// Listing statuses, in the order a listing usually goes through them.
pub const STATUSES: [(&str, &str); 4] =
    [("active", "Active"), ("under_offer", "Under offer"), ("sold", "Sold"), ("withdrawn", "Withdrawn")];

/// The status a won deal's listing moves to.
pub const SOLD: &str = "sold";
/// The task created when a deal is won.
pub const HANDOVER_TASK: &str = "Hand over keys";
/// Days until the hand-over task is due.
pub const HANDOVER_DUE_DAYS: u32 = 3;
/// Most bathrooms a listing may have beyond its bedrooms.
pub const EXTRA_BATHROOMS: i64 = 2;

/// The plugin.
#[derive(Clone, Copy, Debug, Default)]
pub struct RealEstate;

impl Plugin for RealEstate {
    fn describe(&self) -> Manifest {
        Manifest::builder(ID, "Real estate", env!("CARGO_PKG_VERSION"))
            .fields(EntityKind::Deal, listing_fields(true))
            .fields(EntityKind::Company, listing_fields(false))
            .subscribe(EventKind::DealStageChanged, [EntityKind::Deal])
            .capability(Capability::Log)
            .build()
    }

    fn validate(&self, _host: &dyn Host, entity: &Entity, _before: Option<&Entity>) -> Vec<FieldError> {
        if !has_listing(entity.kind) {
            return Vec::new();
        }
        validate_listing(entity)
    }

    fn compute(&self, _host: &dyn Host, entity: &Entity) -> Vec<Field> {
        if !has_listing(entity.kind) {
            return Vec::new();
        }
        vec![Field::new(fields::PRICE_PER_M2, price_per_m2(entity))]
    }

    fn on_event(&self, host: &dyn Host, event: &Event) -> Result<Vec<Action>, String> {
        match event {
            Event::DealStageChanged(change) if change.to_status == DealStatus::Won => Ok(deal_won(host, change)),
            _ => Ok(Vec::new()),
        }
    }
}

register_plugin!(RealEstate);

/// Whether records of `kind` carry the listing fields (deals and companies).
pub fn has_listing(kind: EntityKind) -> bool {
    matches!(kind, EntityKind::Deal | EntityKind::Company)
}

/// The listing fields; the address is required when `address_required` (on deals).
pub fn listing_fields(address_required: bool) -> Vec<FieldDef> {
    use fields::*;
    let address = FieldDef::text(ADDRESS)
        .label("Property address")
        .length(5, 200)
        .help("Street, number and town of the property");
    vec![
        if address_required { address.required() } else { address },
        FieldDef::single_select(PROPERTY_TYPE, PROPERTY_TYPES).label("Property type"),
        FieldDef::integer(BEDROOMS).range(0, 50).indexed(),
        FieldDef::integer(BATHROOMS).range(0, 50).help("At most two more than the bedrooms"),
        FieldDef::decimal(FLOOR_AREA).label("Floor area (m²)").min(0).help("Greater than zero"),
        FieldDef::money(LIST_PRICE).label("Listing price").min(0).indexed().help("Greater than zero when given"),
        FieldDef::single_select(STATUS, STATUSES).label("Listing status").indexed(),
        FieldDef::url(URL).label("Listing URL"),
        FieldDef::money(PRICE_PER_M2)
            .label("Price per m²")
            .computed()
            .help("Listing price divided by floor area, rounded to the currency's minor unit"),
    ]
}

/// The listing rules: a given price is greater than zero, a sold listing has a price, the
/// floor area is greater than zero, and there are at most two more bathrooms than bedrooms.
/// (Ranges and types are checked by the host from the field definitions.)
pub fn validate_listing(listing: &Entity) -> Vec<FieldError> {
    use fields::*;
    let mut errors = Vec::new();
    match listing.custom_money(LIST_PRICE).map(|m| (m, m.to_decimal())) {
        None if listing.custom_text(STATUS) == Some(SOLD) => {
            errors.push(FieldError::required(LIST_PRICE, "a sold listing needs its listing price"));
        }
        None => {}
        Some((m, Err(e))) => {
            errors.push(FieldError::invalid_format(LIST_PRICE, format!("listing price {}: {e}", m.currency)));
        }
        Some((m, Ok(amount))) if amount <= Decimal::ZERO => errors.push(FieldError::out_of_range(
            LIST_PRICE,
            format!("the listing price must be greater than zero (got {} {})", m.amount, m.currency),
        )),
        Some(_) => {}
    }
    if let Some(area) = listing.custom_decimal(FLOOR_AREA)
        && area <= Decimal::ZERO
    {
        errors.push(FieldError::out_of_range(
            FLOOR_AREA,
            format!("the floor area must be greater than zero (got {area})"),
        ));
    }
    if let (Some(bedrooms), Some(bathrooms)) = (listing.custom_int(BEDROOMS), listing.custom_int(BATHROOMS))
        && bathrooms > bedrooms.saturating_add(EXTRA_BATHROOMS)
    {
        errors.push(FieldError::rule(
            BATHROOMS,
            format!(
                "{bathrooms} bathrooms for {bedrooms} bedrooms: at most {} are allowed (bedrooms + {EXTRA_BATHROOMS})",
                bedrooms.saturating_add(EXTRA_BATHROOMS)
            ),
        ));
    }
    errors
}

/// The listing price divided by the floor area, rounded half away from zero to the currency's
/// minor unit; `None` when either is missing, the area is not positive, or the price cannot be read.
pub fn price_per_m2(listing: &Entity) -> Option<Money> {
    let area = listing.custom_decimal(fields::FLOOR_AREA).filter(|a| *a > Decimal::ZERO)?;
    listing.custom_money(fields::LIST_PRICE)?.div_rounded(area).ok()
}

/// Whether the listing has a readable listing price greater than zero (what a sold listing needs).
pub fn has_positive_price(listing: &Entity) -> bool {
    listing.custom_money(fields::LIST_PRICE).and_then(|m| m.to_decimal().ok()).is_some_and(|p| p > Decimal::ZERO)
}

/// A won deal: its listing becomes sold (unless it already is, or it has no price, which a
/// sold listing needs: then a warning is logged) and a key hand-over task is created on it.
pub fn deal_won(host: &dyn Host, change: &StageChange) -> Vec<Action> {
    let deal = &change.deal;
    let mut actions = Vec::new();
    if deal.custom_text(fields::STATUS) != Some(SOLD) {
        if has_positive_price(deal) {
            actions.push(Action::set_field(deal.reference(), fields::STATUS, SOLD));
            host.info(&format!("deal {} won in stage `{}`: listing marked sold", deal.id, change.to_stage.name));
        } else {
            host.warn(&format!("deal {} won without a listing price: listing not marked sold", deal.id));
        }
    }
    actions.push(Action::create_task(HANDOVER_TASK, HANDOVER_DUE_DAYS, deal.reference()));
    actions
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
            .with_custom(fields::PROPERTY_TYPE, "house")
            .with_custom(fields::BEDROOMS, 3)
            .with_custom(fields::BATHROOMS, 2)
            .with_custom(fields::FLOOR_AREA, FieldValue::Decimal("120.5".into()))
            .with_custom(fields::LIST_PRICE, Money::parse("450000.00", "EUR").unwrap())
            .with_custom(fields::STATUS, "active")
    }

    fn validate(entity: &Entity) -> Vec<FieldError> {
        RealEstate.validate(&MockHost::new(), entity, None)
    }

    fn codes(errors: &[FieldError]) -> Vec<(&str, ErrorCode)> {
        errors.iter().map(|e| (e.field.as_str(), e.code)).collect()
    }

    fn options(t: &FieldType) -> Vec<&str> {
        let FieldType::SingleSelect(options) = t else { panic!("{t:?} is not a single-select") };
        options.iter().map(|o| o.value.as_str()).collect()
    }

    #[test]
    fn manifest_declares_the_listing_fields_on_deals_and_companies() {
        use fields::*;
        let m = RealEstate.describe();
        assert_eq!(m.problems(), Vec::<String>::new());
        assert_eq!(m.id, ID);
        let keys = [ADDRESS, PROPERTY_TYPE, BEDROOMS, BATHROOMS, FLOOR_AREA, LIST_PRICE, STATUS, URL, PRICE_PER_M2];
        for kind in [EntityKind::Deal, EntityKind::Company] {
            let on_kind: Vec<_> = m.fields.iter().filter(|f| f.entity == kind).map(|f| f.name.as_str()).collect();
            assert_eq!(on_kind, keys, "{kind:?}");
            let f = |key| m.field(kind, key).unwrap();
            assert_eq!(f(ADDRESS).required, kind == EntityKind::Deal, "address required on deals only");
            assert_eq!((f(ADDRESS).constraints.min_length, f(ADDRESS).constraints.max_length), (Some(5), Some(200)));
            assert_eq!(
                options(&f(PROPERTY_TYPE).field_type),
                ["house", "apartment", "townhouse", "land", "commercial"]
            );
            for key in [BEDROOMS, BATHROOMS] {
                assert_eq!(f(key).field_type, FieldType::Integer);
                let c = &f(key).constraints;
                assert_eq!((c.min.as_deref(), c.max.as_deref()), (Some("0"), Some("50")));
            }
            assert_eq!(f(FLOOR_AREA).field_type, FieldType::Decimal);
            assert_eq!(f(FLOOR_AREA).constraints.min.as_deref(), Some("0"));
            assert_eq!(f(LIST_PRICE).field_type, FieldType::Money);
            assert_eq!(f(LIST_PRICE).constraints.min.as_deref(), Some("0"));
            assert_eq!(options(&f(STATUS).field_type), ["active", "under_offer", "sold", "withdrawn"]);
            assert_eq!(f(URL).field_type, FieldType::Url);
            assert_eq!(f(PRICE_PER_M2).field_type, FieldType::Money);
            let indexed: Vec<_> = m.fields.iter().filter(|d| d.entity == kind && d.indexed).map(|d| &d.name).collect();
            assert_eq!(indexed, [BEDROOMS, LIST_PRICE, STATUS]);
            let computed: Vec<_> =
                m.fields.iter().filter(|d| d.entity == kind && d.computed).map(|d| &d.name).collect();
            assert_eq!(computed, [PRICE_PER_M2]);
            let required: Vec<_> =
                m.fields.iter().filter(|d| d.entity == kind && d.required).map(|d| &d.name).collect();
            assert_eq!(required.len(), usize::from(kind == EntityKind::Deal));
        }
        assert_eq!(m.fields.len(), 2 * keys.len());
        assert_eq!(m.subscriptions.len(), 1);
        assert_eq!(
            (m.subscriptions[0].event, &m.subscriptions[0].kinds[..]),
            (EventKind::DealStageChanged, &[EntityKind::Deal][..])
        );
        assert_eq!(m.capabilities, [Capability::Log]);
    }

    #[test]
    fn a_complete_listing_is_valid_on_deals_and_companies() {
        assert_eq!(validate(&listing()), vec![]);
        assert_eq!(validate(&listing().with_custom(fields::LIST_PRICE, None::<Money>)), vec![]);
        assert_eq!(validate(&Entity::new(EntityKind::Deal, "d-empty")), vec![]);
        let agency = Entity::new(EntityKind::Company, "c1").with_core("name", "Acme Realty");
        assert_eq!(validate(&agency), vec![], "an agency without any listing field is fine");
    }

    #[test]
    fn a_sold_listing_needs_a_price() {
        let deal = listing().with_custom(fields::STATUS, SOLD).with_custom(fields::LIST_PRICE, None::<Money>);
        assert_eq!(codes(&validate(&deal)), [(fields::LIST_PRICE, ErrorCode::Required)]);
        assert_eq!(validate(&listing().with_custom(fields::STATUS, SOLD)), vec![]);
        let company = Entity::new(EntityKind::Company, "c1").with_custom(fields::STATUS, SOLD);
        assert_eq!(codes(&validate(&company)), [(fields::LIST_PRICE, ErrorCode::Required)]);
    }

    #[test]
    fn a_given_price_must_be_greater_than_zero() {
        for status in ["active", SOLD] {
            let deal = listing()
                .with_custom(fields::STATUS, status)
                .with_custom(fields::LIST_PRICE, Money::from_minor(0, "EUR"));
            let errors = validate(&deal);
            assert_eq!(codes(&errors), [(fields::LIST_PRICE, ErrorCode::OutOfRange)], "{status}");
            assert!(errors[0].message.contains("greater than zero"), "{}", errors[0].message);
        }
        let negative = listing().with_custom(fields::LIST_PRICE, Money::parse("-5.00", "EUR").unwrap());
        let errors = validate(&negative);
        assert_eq!(codes(&errors), [(fields::LIST_PRICE, ErrorCode::OutOfRange)]);
        assert!(errors[0].message.contains("-5.00 EUR"), "{}", errors[0].message);
    }

    #[test]
    fn a_malformed_price_is_reported_once() {
        let bad = Money { amount: "12,5".into(), currency: "EUR".into() };
        let deal = listing().with_custom(fields::STATUS, SOLD).with_custom(fields::LIST_PRICE, bad);
        assert_eq!(codes(&validate(&deal)), [(fields::LIST_PRICE, ErrorCode::InvalidFormat)]);
    }

    #[test]
    fn the_floor_area_must_be_greater_than_zero() {
        let zero = listing().with_custom(fields::FLOOR_AREA, FieldValue::Decimal("0.0".into()));
        assert_eq!(codes(&validate(&zero)), [(fields::FLOOR_AREA, ErrorCode::OutOfRange)]);
        let tiny = listing().with_custom(fields::FLOOR_AREA, FieldValue::Decimal("0.01".into()));
        assert_eq!(validate(&tiny), vec![]);
    }

    #[test]
    fn bathrooms_are_at_most_bedrooms_plus_two() {
        let at_limit = listing().with_custom(fields::BEDROOMS, 1).with_custom(fields::BATHROOMS, 3);
        assert_eq!(validate(&at_limit), vec![]);
        let over = listing().with_custom(fields::BEDROOMS, 1).with_custom(fields::BATHROOMS, 4);
        let errors = validate(&over);
        assert_eq!(codes(&errors), [(fields::BATHROOMS, ErrorCode::Rule)]);
        assert!(errors[0].message.contains("at most 3"), "{}", errors[0].message);
        let studio = listing().with_custom(fields::BEDROOMS, 0).with_custom(fields::BATHROOMS, 2);
        assert_eq!(validate(&studio), vec![]);
        let unknown_bedrooms = listing().with_custom(fields::BEDROOMS, None::<i64>).with_custom(fields::BATHROOMS, 9);
        assert_eq!(validate(&unknown_bedrooms), vec![], "only checked when both are known");
    }

    #[test]
    fn every_broken_rule_is_reported() {
        let deal = listing()
            .with_custom(fields::STATUS, SOLD)
            .with_custom(fields::LIST_PRICE, Money::from_minor(0, "EUR"))
            .with_custom(fields::FLOOR_AREA, FieldValue::Decimal("0".into()))
            .with_custom(fields::BATHROOMS, 6);
        assert_eq!(
            codes(&validate(&deal)),
            [
                (fields::LIST_PRICE, ErrorCode::OutOfRange),
                (fields::FLOOR_AREA, ErrorCode::OutOfRange),
                (fields::BATHROOMS, ErrorCode::Rule)
            ]
        );
    }

    #[test]
    fn other_kinds_are_ignored() {
        let contact = Entity::new(EntityKind::Contact, "c1").with_custom(fields::STATUS, SOLD);
        assert_eq!(validate(&contact), vec![]);
        assert_eq!(RealEstate.compute(&MockHost::new(), &contact), vec![]);
    }

    #[test]
    fn price_per_m2_rounds_to_the_minor_unit() {
        let compute = |e: &Entity| RealEstate.compute(&MockHost::new(), e);
        let per_m2 = |price: &str, currency: &str, area: &str| {
            let e = listing()
                .with_custom(fields::LIST_PRICE, Money::parse(price, currency).unwrap())
                .with_custom(fields::FLOOR_AREA, FieldValue::Decimal(area.into()));
            price_per_m2(&e).unwrap()
        };
        assert_eq!(
            compute(&listing()),
            vec![Field::new(fields::PRICE_PER_M2, Money::parse("3734.44", "EUR").unwrap())]
        );
        assert_eq!(per_m2("300000.00", "EUR", "100"), Money::parse("3000.00", "EUR").unwrap());
        assert_eq!(per_m2("200000.00", "EUR", "3").amount, "66666.67");
        assert_eq!(per_m2("0.05", "EUR", "2").amount, "0.03", "half a cent rounds away from zero");
        assert_eq!(per_m2("50000000", "JPY", "3"), Money::parse("16666667", "JPY").unwrap());
        assert_eq!(per_m2("100", "KWD", "3").amount, "33.333");
        let company = Entity::new(EntityKind::Company, "c1")
            .with_custom(fields::LIST_PRICE, Money::parse("1000.00", "USD").unwrap())
            .with_custom(fields::FLOOR_AREA, FieldValue::Decimal("8".into()));
        assert_eq!(compute(&company), vec![Field::new(fields::PRICE_PER_M2, Money::parse("125.00", "USD").unwrap())]);
    }

    #[test]
    fn price_per_m2_is_null_without_area_or_price() {
        let null = vec![Field::new(fields::PRICE_PER_M2, FieldValue::Null)];
        let compute = |e: &Entity| RealEstate.compute(&MockHost::new(), e);
        assert_eq!(compute(&listing().with_custom(fields::FLOOR_AREA, FieldValue::Decimal("0".into()))), null);
        assert_eq!(compute(&listing().with_custom(fields::FLOOR_AREA, None::<Decimal>)), null);
        assert_eq!(compute(&listing().with_custom(fields::LIST_PRICE, None::<Money>)), null);
        let bad = Money { amount: "1e5".into(), currency: "EUR".into() };
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
    fn a_won_deal_without_a_price_is_not_marked_sold() {
        let host = MockHost::new();
        let deal = listing().with_custom(fields::LIST_PRICE, None::<Money>);
        let actions = RealEstate.on_event(&host, &stage_change(deal.clone(), DealStatus::Won)).unwrap();
        assert_eq!(actions, vec![Action::create_task(HANDOVER_TASK, HANDOVER_DUE_DAYS, deal.reference())]);
        assert_eq!(host.logs().len(), 1);
        assert_eq!(host.logs()[0].0, LogLevel::Warn);
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
