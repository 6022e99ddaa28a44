//! File formats in and out of the `crm` library.
//!
//! - [`export_csv`] and [`export_jsonl`]: the records of any kind, filtered and sorted, streamed
//!   page by page (constant memory), CSV cells safe to open in a spreadsheet ([`cell`]).
//! - [`FileImport`]: contacts, companies, deals, products, orders and activities from a
//!   [`Table`] — a CSV file in any delimiter and encoding, or a spreadsheet's sheet (feature
//!   `xlsx`) — such as another CRM's export (HubSpot, Salesforce, Pipedrive, Zoho presets), with
//!   the columns mapped by preset, by name or by hand, related records found by name (a company
//!   created when missing), creating or updating ([`FileImport::upsert`]), a dry run that shows
//!   every problem first, and rejected rows written back with their reason.
//! - [`import_vcards`] and [`export_vcards`] (feature `vcard`): contacts from and to the `.vcf`
//!   files of phones and mail programs, vCard 3.0 and 4.0.
//! - [`export_ics`] and [`file_invitation`] (feature `ical`): meetings and tasks to an iCalendar
//!   file, and meeting invitations filed as meetings.
//!
//! Everything goes through a [`Session`](crm_core::service::Session): the same rules, events
//! and search as any other write.
#![warn(missing_docs)]

mod activities;
pub mod any;
pub mod batch;
pub mod cell;
mod coerce;
mod companies;
mod contacts;
mod create;
mod deals;
mod error;
mod export;
#[cfg(feature = "ical")]
mod ical;
mod import;
mod kind;
mod lookups;
mod mapping;
mod orders;
mod products;
mod table;
#[cfg(feature = "vcard")]
mod vcard;
#[cfg(feature = "xlsx")]
mod xlsx;

pub use activities::{ActivityColumn, ActivityImport};
pub use companies::{CompanyColumn, CompanyImport};
pub use contacts::{ContactColumn, ContactImport};
pub use deals::{DealColumn, DealImport};
pub use error::{IoError, Result};
pub use export::{Export, export_csv, export_jsonl};
#[cfg(feature = "ical")]
pub use ical::{UID_SYSTEM, export_ics, file_invitation};
pub use import::{FileImport, FileImportReport, OnDuplicate, OnMatch, Preview, RejectedRow};
pub use kind::{ImportKind, MatchBy};
pub use mapping::Preset;
pub use orders::{OrderColumn, OrderImport};
pub use products::{ProductColumn, ProductImport};
pub use table::{CsvFormat, Table};
#[cfg(feature = "vcard")]
pub use vcard::{
    VcardImport, VcardVersion, contact_to_vcard, export_vcards, import_vcards, read_vcards, vcard_to_contact,
};
#[cfg(feature = "xlsx")]
pub use xlsx::{XLSX_ROWS_PER_SHEET, export_xlsx};
