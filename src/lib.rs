#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

pub use crm_core::{
    actor, aggregate, entity, error, event, ids, memory, model, money, profile, query, search, service, store, value,
};

/// Sensitive fields sealed at rest (feature `seal`): the [`Keyring`](crm_core::seal::Keyring)
/// given to [`CrmBuilder::seal`](crm_core::service::CrmBuilder::seal).
#[cfg(feature = "seal")]
pub use crm_core::seal;

/// JSON Schemas of the records (feature `openapi`): the OpenAPI 3.1 component schemas of every
/// record kind, generated from the types ([`record_schemas`](crm_core::openapi::record_schemas)).
#[cfg(feature = "openapi")]
pub use crm_core::openapi;

/// What an embedder needs every day, in one import: `use crm::prelude::*;` — the core's
/// [prelude](crm_core::prelude), the SQL store, and `Decimal` for money amounts.
pub mod prelude {
    pub use crm_core::prelude::*;
    #[cfg(any(feature = "sqlite", feature = "postgres"))]
    pub use crm_storage::SqlStore;
    pub use rust_decimal::Decimal;
}

/// Date and time types (re-exported crate).
pub use chrono;
/// Decimal numbers for money amounts (re-exported crate).
pub use rust_decimal;
/// UUIDs (re-exported crate).
pub use uuid;

/// The SQL stores (SQLite, PostgreSQL): see [`SqlStore`](crm_storage::SqlStore).
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub use crm_storage as storage;

/// Sandboxed WebAssembly plugins: [`PluginHost`](crm_plugins::PluginHost) and the contract's types.
#[cfg(feature = "plugins")]
pub use crm_plugins as plugins;

/// Connections to the outside world: email, webhooks and accounting sync (features `email`,
/// `imap`, `webhooks`, `xero`, `quickbooks`; all in `integrations`).
#[cfg(any(feature = "email", feature = "webhooks", feature = "xero", feature = "quickbooks"))]
pub use crm_integrations as integrations;

/// The analytical CRM: [`Sales::forecast`](crm_analytics::Sales::forecast) by period and
/// category, [`Sales::performance`](crm_analytics::Sales::performance) (win rates, deal sizes,
/// sales cycles, velocity), [`Sales::funnel`](crm_analytics::Sales::funnel),
/// [`Customers::rfm`](crm_analytics::Customers::rfm) (scores and segments) and
/// [`Customers::portfolio`](crm_analytics::Customers::portfolio), computed by the store's
/// aggregates; with the `charts` feature, each drawn as SVG (`analytics::charts`).
#[cfg(feature = "analytics")]
pub use crm_analytics as analytics;

/// Automation: workflow rules a tenant defines ([`Workflow`](crm_core::model::Workflow)),
/// run from the outbox by [`Automation`](crm_automation::Automation), each step exactly once.
#[cfg(feature = "automation")]
pub use crm_automation as automation;

/// File formats in and out: [`ContactImport`](crm_io::ContactImport) imports contacts from CSV
/// (HubSpot, Salesforce, Pipedrive and Zoho presets), [`export_csv`](crm_io::export_csv) and
/// [`export_jsonl`](crm_io::export_jsonl) stream out the records of any kind.
#[cfg(feature = "io")]
pub use crm_io as io;

/// A CRM on the SQLite database file at `path` (created and migrated as needed), with default
/// settings. For a clock, region or SLA policy of your own, use
/// `Crm::builder(SqlStore::sqlite(path).await?)`.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> crm::error::Result<()> {
/// let dir = tempfile::tempdir().map_err(|e| crm::error::Error::storage(e.to_string()))?;
/// let crm = crm::sqlite(dir.path().join("crm.db")).await?;
/// let cx = crm.as_actor(&crm::actor::Actor::system(crm::ids::TenantId::new()));
/// cx.contacts().create(crm::service::NewContact::new("Ada", "Lovelace")).await?;
/// # Ok(()) }
/// ```
#[cfg(feature = "sqlite")]
pub async fn sqlite(path: impl AsRef<std::path::Path>) -> error::Result<service::Crm> {
    Ok(service::Crm::new(crm_storage::SqlStore::sqlite(path).await?))
}

/// A CRM on a private in-memory SQLite database (gone when dropped).
#[cfg(feature = "sqlite")]
pub async fn sqlite_in_memory() -> error::Result<service::Crm> {
    Ok(service::Crm::new(crm_storage::SqlStore::sqlite_in_memory().await?))
}

/// A CRM on the PostgreSQL database at `url` (`postgres://user:pass@host:port/db`), migrated
/// as needed.
#[cfg(feature = "postgres")]
pub async fn postgres(url: &str) -> error::Result<service::Crm> {
    Ok(service::Crm::new(crm_storage::SqlStore::postgres(url).await?))
}
