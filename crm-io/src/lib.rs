//! File formats in and out of the `crm` library.
//!
//! - [`export_csv`] and [`export_jsonl`]: the records of any kind, filtered and sorted, streamed
//!   page by page (constant memory), CSV cells safe to open in a spreadsheet ([`cell`]).
//! - [`ContactCsv`]: contacts from a CSV file — another CRM's export (HubSpot, Salesforce,
//!   Pipedrive, Zoho presets), a spreadsheet — with the columns mapped by preset, by name or
//!   by hand, a dry run that shows every problem first, and rejected rows written back with
//!   their reason.
//!
//! Everything goes through a [`Session`](crm_core::service::Session): the same rules, events
//! and search as any other write.
#![warn(missing_docs)]

pub mod cell;
mod coerce;
mod contacts;
mod error;
mod export;
mod mapping;

pub use contacts::{ContactCsv, CsvImportReport, Preview, RejectedRow};
pub use error::{IoError, Result};
pub use export::{Export, export_csv, export_jsonl};
pub use mapping::{ContactColumn, Preset};
