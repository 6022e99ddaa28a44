//! crm-io against a real SQLite file.

mod common;
mod export;
#[cfg(feature = "ical")]
mod ical;
mod import;
mod kinds;
mod roundtrip;
#[cfg(feature = "vcard")]
mod vcard;
#[cfg(feature = "xlsx")]
mod xlsx;
