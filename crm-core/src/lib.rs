//! # crm-core
//!
//! The storage-agnostic core of the `crm` library: the records a CRM keeps (contacts with their
//! full profile, companies, pipelines, deals, activities, relations, custom fields), the rules
//! that keep them consistent (pipeline and lifecycle rules, validation), domain events written
//! through a transactional outbox, a typed query language, and the [`Store`](crate::store::Store) trait with a
//! complete in-memory implementation, [`MemoryStore`](crate::memory::MemoryStore).
//!
//! crm-core does no I/O of its own: SQL backends live in `crm-storage`, plugins in
//! `crm-plugins`, and every one of them plugs in through [`Store`](crate::store::Store) or [`Extension`](crate::service::extension::Extension).
//!
//! ```
//! # futures::executor::block_on(async {
//! use crm_core::{actor::Actor, service::Crm, memory::MemoryStore, service::NewActivity, service::NewCompany, service::NewContact, service::NewDeal, service::NewUser, ids::TenantId};
//! use crm_core::{money::Currency, money::Money, profile::LifecycleStage, query::{Filter, Query}};
//! use rust_decimal::Decimal;
//!
//! let crm = Crm::builder(MemoryStore::new()).default_region("US").build()?;
//! let tenant = TenantId::new();
//! // The system sets up a sales manager; she works as herself, within what her role grants.
//! let sam = crm.as_actor(&Actor::system(tenant))
//!     .users().create(NewUser::new("Sam Seller", "sam@acme.com").role("sales_manager")).await?;
//! let cx = crm.as_actor(&Actor::user(tenant, sam.id));
//!
//! let acme = cx.companies().create(NewCompany::new("Acme Corp").domain("acme.com")).await?;
//! let jane = cx.contacts().create(
//!     NewContact::new("Jane", "Doe").email("jane@acme.com").phone("(415) 555-2671")
//!         .works_at(acme.id, Some("CTO"), None),
//! ).await?;
//! assert_eq!(jane.primary_phone().unwrap().as_str(), "+14155552671");
//! assert_eq!(jane.owner_id, Some(sam.id), "what she creates is hers");
//!
//! let deal = cx.deals().create(
//!     NewDeal::new("Acme platform").company(acme.id).contact(jane.id)
//!         .amount(Money::new(Decimal::new(48_000, 0), Currency::USD)),
//! ).await?;
//! cx.activities().log(NewActivity::call("Discovery call").contact(jane.id).deal(deal.id)).await?;
//! let deal = cx.deals().win(deal.id).await?;
//! assert_eq!(deal.status, crm_core::model::DealStatus::Won);
//!
//! // Winning the deal made Jane a customer.
//! let customers = cx.contacts().list(&Query::new(Filter::eq("lifecycle_stage", LifecycleStage::Customer))).await?;
//! assert_eq!(customers.items.len(), 1);
//! // Her timeline holds the call and the deal's stage changes, newest first.
//! assert!(cx.timeline(jane.id).await?.len() >= 3);
//! # Ok::<_, crm_core::error::Error>(()) }).unwrap();
//! ```
#![warn(missing_docs)]

mod macros;

pub mod access;
pub mod actor;
pub mod aggregate;
pub mod chain;
pub mod entity;
pub mod error;
pub mod event;

pub mod ids;
pub mod memory;
pub mod model;
pub mod money;
#[cfg(feature = "openapi")]
pub mod openapi;
pub mod prelude;
pub mod profile;
pub mod query;
#[cfg(feature = "seal")]
pub mod seal;
pub mod search;
pub mod service;
pub mod store;
pub mod value;

#[cfg(feature = "testkit")]
pub mod testkit;
