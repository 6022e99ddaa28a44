//! Webhooks: outbound delivery of the CRM's committed events to subscriber URLs (Standard
//! Webhooks: `webhook-id`, `webhook-timestamp`, `webhook-signature`), and verification of
//! the webhooks Xero and QuickBooks Online send.
//!
//! ```no_run
//! # async fn demo(cx: crm_core::service::Session) -> Result<(), crm_integrations::IntegrationError> {
//! use crm_integrations::webhooks::{DeliveryPolicy, Endpoint, WebhookSecret, WebhookSender, dispatch};
//!
//! let secret = WebhookSecret::generate();            // give `secret.expose()` to the receiver
//! let hooks = [Endpoint::new("erp", "https://erp.example.com/crm-events", secret)?];
//! let sender = WebhookSender::new(DeliveryPolicy::default())?;
//! let mut cursor = 0;                                  // persist it between passes
//! let report = dispatch(&cx, &sender, &hooks, cursor, 500).await?;
//! cursor = report.cursor;
//! # let _ = cursor; Ok(()) }
//! ```

mod delivery;
mod inbound;
mod signing;
mod subscriptions;

pub use delivery::{
    DeadLetter, DeliveryOutcome, DeliveryPolicy, DispatchReport, Endpoint, WebhookSender, dead_letters, dispatch,
    dispatch_pending, is_private, redeliver_dead_letters,
};
pub use inbound::{InboundError, VendorChange, parse_quickbooks_webhook, parse_xero_webhook};
pub use signing::{SignatureError, WebhookSecret, standard_signature, verify_quickbooks, verify_standard, verify_xero};
pub use subscriptions::{MAX_SUBSCRIPTIONS, Subscription, Subscriptions};
