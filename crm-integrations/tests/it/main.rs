//! crm-integrations' integration tests, one binary: every module links against the same build.

mod accounting;
mod accounting_quickbooks;
mod accounting_xero;
mod common;
mod email_imap;
mod email_inbound;
mod email_postmark;
mod email_smtp;
mod email_threading;
mod webhooks;
