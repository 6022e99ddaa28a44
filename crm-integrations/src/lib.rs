//! The `crm` library's connections to the outside world.
//!
//! - [`email`] (feature `email`, default): send email to contacts from templates through SMTP,
//!   every message filed as an email activity on the recipients, the deal and the campaign.
//! - [`webhooks`] (feature `webhooks`, default): the outbox delivered to subscriber URLs,
//!   signed by the Standard Webhooks scheme, with retries, a dead-letter state and refusal of
//!   private targets; checks of Xero's and QuickBooks Online's webhook signatures.
//!
//! Everything here sits on crm-core's public API (a [`Session`](crm_core::service::Session) acting for
//! a user or the system); nothing here is needed to use the CRM itself.

#[cfg(feature = "accounting")]
pub mod accounting;
#[cfg(feature = "email")]
pub mod email;
mod error;
#[cfg(feature = "webhooks")]
pub mod webhooks;

pub use error::{IntegrationError, Result};
