#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

pub use crm_core::*;

/// Date and time types (re-exported crate).
pub use chrono;
/// Decimal numbers for money amounts (re-exported from `rust_decimal`).
pub use rust_decimal::Decimal;
/// UUIDs (re-exported crate).
pub use uuid;
