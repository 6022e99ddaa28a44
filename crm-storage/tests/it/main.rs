//! crm-storage's integration tests, one binary (the crash test, which kills child processes of itself, has its own).

mod chain;
mod concurrency;
mod conformance_postgres;
mod conformance_sqlite;
mod erasure;
mod injection;
mod list_plans;
mod merge;
mod migrations;
mod sealed;
