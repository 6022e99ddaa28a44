//! # crm-core
//!
//! The storage-agnostic core of the `crm` library: the records a CRM keeps (contacts with their
//! full profile, companies, pipelines, deals, activities, relations, custom fields), the rules
//! that keep them consistent (pipeline and lifecycle rules, validation), domain events written
//! through a transactional outbox, a typed query language, and the [`Store`] trait with a
//! complete in-memory implementation, [`MemoryStore`].
//!
//! crm-core does no I/O of its own: SQL backends live in `crm-storage`, plugins in
//! `crm-plugins`, and every one of them plugs in through [`Store`] or [`Extension`].
//!
//! ```
//! # futures::executor::block_on(async {
//! use crm_core::{Actor, Crm, MemoryStore, NewActivity, NewCompany, NewContact, NewDeal, TenantId, UserId};
//! use crm_core::{Currency, Money, LifecycleStage, query::{Filter, Query}};
//! use rust_decimal::Decimal;
//!
//! let crm = Crm::builder(MemoryStore::new()).default_region("US").build()?;
//! let tenant = TenantId::from_uuid(uuid::Uuid::now_v7());
//! let cx = crm.as_actor(&Actor::user(tenant, UserId::from_uuid(uuid::Uuid::now_v7())));
//!
//! let acme = cx.companies().create(NewCompany::new("Acme Corp").domain("acme.com")).await?;
//! let jane = cx.contacts().create(
//!     NewContact::new("Jane", "Doe").email("jane@acme.com").phone("(415) 555-2671")
//!         .works_at(acme.id, Some("CTO"), None),
//! ).await?;
//! assert_eq!(jane.primary_phone().unwrap().as_str(), "+14155552671");
//!
//! let deal = cx.deals().create(
//!     NewDeal::new("Acme platform").company(acme.id).contact(jane.id)
//!         .amount(Money::new(Decimal::new(48_000, 0), Currency::USD)),
//! ).await?;
//! cx.activities().log(NewActivity::call("Discovery call").contact(jane.id).deal(deal.id)).await?;
//! let deal = cx.deals().win(deal.id).await?;
//! assert_eq!(deal.status, crm_core::DealStatus::Won);
//!
//! // Winning the deal made Jane a customer.
//! let customers = cx.contacts().list(&Query::new(Filter::eq("lifecycle_stage", LifecycleStage::Customer))).await?;
//! assert_eq!(customers.items.len(), 1);
//! // Her timeline holds the call and the deal's stage changes, newest first.
//! assert!(cx.timeline(jane.id).await?.len() >= 3);
//! # Ok::<_, crm_core::Error>(()) }).unwrap();
//! ```
#![warn(missing_docs)]

mod macros;

pub mod entity;
pub mod error;
pub mod event;
pub mod extension;
pub mod ids;
pub mod memory;
pub mod model;
pub mod money;
pub mod profile;
pub mod query;
pub mod search;
pub mod service;
pub mod store;
pub mod value;

#[cfg(feature = "testkit")]
pub mod testkit;

pub use entity::{Entity, EntityKind, EntityRef, OnDelete, Record};
pub use error::{Error, FieldError, FieldErrorCode, Result, ValidationErrors};
pub use event::{Change, Event, EventQuery, StoredEvent};
pub use extension::{EventContext, Extension, HookContext, MAX_EXTENSION_DEPTH, WriteOp};
pub use ids::*;
pub use memory::MemoryStore;
pub use model::*;
pub use money::{Currency, Money};
pub use profile::*;
pub use query::{Cursor, Filter, Page, Query};
pub use service::*;
pub use store::{Store, Transaction, TxMode};
pub use value::{CustomFields as CustomValues, Value, ValueType};
