//! # crm-automation
//!
//! Automation for the `crm` library: tenant-defined workflow rules
//! ([`Workflow`](crm_core::model::Workflow), kept and checked by
//! [`cx.workflows()`](crm_core::service::Session::workflows)) run from the transactional
//! outbox by an [`Automation`] runner.
//!
//! - **Triggers**: a record created, updated (listening to named fields), deleted, or a domain
//!   event (stage changed, deal won, order placed, payment applied…); or by hand.
//! - **Conditions**: a filter the record must match after the change, one it must have matched
//!   before, and edge triggering (fires when the record *starts* matching). Each change is
//!   judged by the record as that change left it, however far behind the runner is
//!   ([`history`]).
//! - **Steps**: set fields, add or remove tags, assign an owner, create a task.
//! - **Exactly once**: each step's log entry ([`WorkflowRun`](crm_core::model::WorkflowRun)),
//!   with a unique key per workflow, record, occurrence and step, commits in the same
//!   transaction as the step's changes. A crash anywhere, or a second runner, never repeats a
//!   step; the cursor in the outbox is kept in the CRM.
//! - **Loop-safe**: a workflow is not set off by its own changes; chains of rules stop at a
//!   depth; a workflow runs at most so often per record and hour. Every stop is logged and
//!   reported.
//!
//! ```
//! # futures::executor::block_on(async {
//! use crm_core::prelude::*;
//! use crm_core::model::{Step, Trigger};
//! use crm_automation::Automation;
//!
//! let crm = Crm::new(MemoryStore::new());
//! let tenant = TenantId::new();
//! let cx = crm.as_actor(&Actor::system(tenant));
//! cx.workflows().create(
//!     NewWorkflow::new("Greet new contacts", EntityKind::Contact, Trigger::Created)
//!         .step(Step::AddTags { tags: vec!["new".into()] })
//!         .step(Step::CreateTask { title: "Say hello".into(), due_in: Some("1d".parse().unwrap()), assign_to: None }),
//! ).await?;
//! let ada = cx.contacts().create(NewContact::new("Ada", "Lovelace")).await?;
//!
//! let automation = Automation::new(crm.clone());
//! let report = automation.run_pending(tenant).await?;
//! assert_eq!(report.steps_done(), 2);
//! assert_eq!(cx.contacts().get(ada.id).await?.tags, ["new"]);
//! // Run again: nothing new happened, nothing runs twice.
//! assert_eq!(automation.run_pending(tenant).await?.steps_done(), 0);
//! # Ok::<_, Error>(()) }).unwrap();
//! ```
#![warn(missing_docs)]

mod assign;
mod dry_run;
pub mod history;
mod matching;
mod report;
mod run;
mod runner;
mod steps;
mod timers;
#[cfg(feature = "tokio")]
mod worker;

pub use dry_run::WouldFire;
pub use report::{CounterValues, Counters, Failed, Fired, PassedOver, RunReport, StopReason, Stopped};
pub use runner::{Automation, CURSOR_KEY, Notifier, Options, origin_of};
#[cfg(feature = "tokio")]
pub use worker::Worker;
