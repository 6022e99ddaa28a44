//! What the plugin host's tests share: the built guest components and a money helper.

use crm_core::money::{Currency, Money};
use rust_decimal::Decimal;

/// A component built by `plugins/build-guests.sh` into `plugins/dist/`.
pub fn dist(name: &str) -> Vec<u8> {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../dist").join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e} (run plugins/build-guests.sh first)", p.display()))
}

/// `n` euros.
pub fn eur(n: i64) -> Money {
    Money::new(Decimal::from(n), Currency::EUR)
}
