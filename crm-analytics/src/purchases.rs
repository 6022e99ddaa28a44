//! The orders the customer reports count as purchases, and the one currency they must be in.

use std::collections::BTreeSet;

use crm_core::error::{Error, FieldErrorCode, Result};
use crm_core::money::Currency;
use crm_core::query::Filter;

/// The order statuses that count as a purchase: placed, and not since cancelled or returned.
pub(crate) const PURCHASED: [&str; 3] = ["placed", "paid", "fulfilled"];

/// The orders `filter` selects that are purchases by a customer (`customer_field`:
/// `contact_id` or `company_id`), in `currency` when one is given.
pub(crate) fn purchases(filter: &Filter, customer_field: &str, currency: Option<Currency>) -> Filter {
    let f = filter.clone().and(Filter::is_in("status", PURCHASED)).and(Filter::is_null(customer_field).not());
    match currency {
        Some(c) => f.and(Filter::eq("currency", c.code())),
        None => f,
    }
}

/// The one currency the orders found were in (`None` when there were none); orders in
/// several are an error naming `currency`, saying what the currency is chosen for (`to`: "to
/// score spend in").
pub(crate) fn one_currency(currencies: BTreeSet<Currency>, to: &str) -> Result<Option<Currency>> {
    if currencies.len() > 1 {
        let codes: Vec<&str> = currencies.iter().map(|c| c.code()).collect();
        return Err(Error::invalid(
            "currency",
            FieldErrorCode::CurrencyMismatch,
            format!("the orders are in {}: choose the currency {to}", codes.join(", ")),
        ));
    }
    Ok(currencies.into_iter().next())
}
