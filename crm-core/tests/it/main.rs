//! crm-core's integration tests, one binary: every module links against the same build.

mod access;
mod aggregates;
mod api_keys;
mod audit;
mod commerce;
mod common;
mod conformance_memory;
mod customers;
mod duplicates;
mod extension_reactions;
mod field_security;
mod import;
mod merge;
#[cfg(feature = "openapi")]
mod openapi;
mod privacy;
mod props;
mod rules;
mod sealing;
mod service_marketing;
mod shares;
mod sync_mirror;
mod users;
mod workflows;
