//! A car dealer's fields on deals: the VIN (checked with its ISO 3779 check digit), mileage,
//! model year, make, the price, a computed price per km, and a handover task when a deal is won.
use crm_plugin_sdk::*;

/// The plugin.
#[derive(Default)]
pub struct Automotive;

impl Plugin for Automotive {
    fn describe(&self) -> Manifest {
        Manifest::builder("automotive", "Automotive", env!("CARGO_PKG_VERSION"))
            .fields(
                EntityKind::Deal,
                [
                    FieldDef::text("vin").label("VIN").pattern("[A-HJ-NPR-Z0-9]{17}").check(vin_check_digit).indexed(),
                    FieldDef::integer("mileage_km").range(0, 2_000_000),
                    FieldDef::integer("model_year").range(1900, 2100),
                    FieldDef::single_select("make", ["audi", "bmw", "ford", "toyota", "volkswagen"]),
                    FieldDef::money("price").required().min(0),
                    FieldDef::money("price_per_km").computed(),
                ],
            )
            .subscribe(EventKind::DealStageChanged, [EntityKind::Deal])
            .build()
    }

    fn compute(&self, _host: &dyn Host, deal: &Entity) -> Vec<Field> {
        let per_km = match (deal.custom_money("price"), deal.custom_int("mileage_km")) {
            (Some(price), Some(km)) if km > 0 => price.div_rounded(Decimal::from(km)).ok(),
            _ => None,
        };
        vec![Field::new("price_per_km", per_km)]
    }

    fn on_event(&self, _host: &dyn Host, event: &Event) -> Result<Vec<Action>, String> {
        Ok(match event {
            Event::DealStageChanged(c) if c.to_status == DealStatus::Won => {
                vec![Action::create_task("Prepare the handover", 3, c.deal.reference())]
            }
            _ => vec![],
        })
    }
}

register_plugin!(Automotive);

/// The ISO 3779 check digit (position 9) of a 17-character VIN.
pub fn vin_check_digit(v: &FieldValue) -> Result<(), String> {
    const WEIGHTS: [u32; 17] = [8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2];
    let vin = v.as_text().filter(|s| s.len() == 17).ok_or("a VIN has 17 characters")?;
    let value = |c: char| match c {
        '0'..='9' => c.to_digit(10),
        'A'..='H' => Some(c as u32 - 'A' as u32 + 1),
        'J'..='N' => Some(c as u32 - 'J' as u32 + 1),
        'P' => Some(7),
        'R'..='Z' => Some(c as u32 - 'R' as u32 + 9),
        _ => None,
    };
    let sum = vin.chars().zip(WEIGHTS).try_fold(0, |sum, (c, w)| value(c).map(|v| sum + v * w)).ok_or("not a VIN")?;
    let expected = match sum % 11 {
        10 => 'X',
        d => char::from_digit(d, 10).unwrap_or('?'),
    };
    if vin.chars().nth(8) == Some(expected) { Ok(()) } else { Err(format!("the check digit should be {expected}")) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vins_are_checked_by_their_check_digit() {
        assert_eq!(vin_check_digit(&"1M8GDM9AXKP042788".into()), Ok(()));
        assert_eq!(vin_check_digit(&"1M8GDM9A1KP042788".into()), Err("the check digit should be X".into()));
        assert!(vin_check_digit(&"SHORT".into()).is_err());
        assert!(Automotive.describe().problems().is_empty(), "{:?}", Automotive.describe().problems());
        let deal = Entity::new(EntityKind::Deal, "d").with_custom("vin", "1M8GDM9A1KP042788");
        assert_eq!(field_checks(&Automotive, &deal)[0].field, "vin");
    }
}
