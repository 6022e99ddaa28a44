//! crm-io against a real SQLite file.

mod common;
mod export;
mod import;
#[cfg(feature = "xlsx")]
mod xlsx;
