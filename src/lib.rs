//! # crm
//!
//! An embeddable customer-relationship-management library. See [`crm_core`] for the domain.
pub use crm_core::*;
