//! SQL backends for the crm library, on [sea-orm](https://www.sea-ql.org/SeaORM/):
//! **SQLite** (embedded, the default; feature `sqlite`) and **PostgreSQL** (feature `postgres`).
//!
//! [`SqlStore`] implements crm-core's [`Store`](crm_core::store::Store) contract — transactions,
//! optimistic concurrency, unique keys, tenant isolation and the transactional outbox — and
//! passes the same conformance kit as the in-memory store.
//!
//! - **Schema**: one table per record kind, keyed by `(tenant_id, id)`, every index led by
//!   `tenant_id` (so PostgreSQL-compatible engines that shard by tenant can run it); standard
//!   fields as typed, indexed columns; custom fields in a JSON column (`jsonb` on PostgreSQL).
//!   See [`schema`] for the mapping and [`migration`] for versions.
//! - **Queries**: the whole filter AST, sorts, keyset pagination and counts compile to SQL with
//!   sea-query; user values are always bound parameters.
//! - **Outbox**: events are numbered per tenant in commit order and linked into a hash chain
//!   in the committing transaction, so `Store::verify_events` finds an edited, removed or
//!   inserted event (see `crm_core::chain`).
//! - **SQLite writes** go through one connection with `BEGIN IMMEDIATE`, so concurrent writers
//!   queue instead of failing with "database is locked"; reads use a pool of their own.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> crm_core::error::Result<()> {
//! use crm_core::{actor::Actor, service::Crm, service::NewContact, ids::TenantId};
//! use crm_storage::SqlStore;
//!
//! let crm = Crm::new(SqlStore::sqlite_in_memory().await?);
//! let cx = crm.as_actor(&Actor::system(TenantId::new()));
//! cx.contacts().create(NewContact::new("Grace", "Hopper")).await?;
//! assert_eq!(cx.contacts().count(&crm_core::query::Filter::All).await?, 1);
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

#[cfg(not(any(feature = "sqlite", feature = "postgres")))]
compile_error!("crm-storage needs at least one backend feature: `sqlite` or `postgres`");

mod aggregate;
mod chain;
pub mod encode;
mod filter;
mod list;
pub mod migration;
mod rows;
pub mod schema;
mod search;
#[cfg(feature = "sqlite")]
mod sqlite;
mod store;

#[cfg(feature = "sqlite")]
pub use sqlite::SqliteOptions;
pub use store::SqlStore;
