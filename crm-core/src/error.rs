//! The one error type of the public API.

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::entity::EntityKind;

/// Result alias used across the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A machine-readable reason attached to a [`FieldError`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FieldErrorCode {
    /// The field must have a value.
    Required,
    /// The value's syntax is wrong (email, phone, URL, key…).
    InvalidFormat,
    /// The value is outside the allowed range or too long.
    OutOfRange,
    /// The field is not known (no such standard or custom field).
    UnknownField,
    /// The value's type does not match the field's type.
    TypeMismatch,
    /// The value is not one of the allowed options.
    NotAnOption,
    /// A referenced record does not exist in this tenant.
    NotFound,
    /// The value would duplicate one that must be unique.
    Duplicate,
    /// The value breaks a business rule.
    Rule,
    /// The field cannot be changed through this operation.
    ReadOnly,
    /// Money in different currencies would be combined.
    CurrencyMismatch,
    /// The value belongs to a person who was erased at their request (an email address
    /// blocked by [`Privacy::erase`](crate::service::Privacy::erase)).
    Blocked,
}

/// One problem with one field of the input.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    /// The field's path, e.g. `emails[1]`, `custom.budget`, `stage_id`.
    pub field: String,
    /// Machine-readable reason.
    pub code: FieldErrorCode,
    /// Human-readable explanation of what is wrong and what is expected.
    pub message: String,
}

impl FieldError {
    /// Builds a field error.
    pub fn new(field: impl Into<String>, code: FieldErrorCode, message: impl Into<String>) -> Self {
        Self { field: field.into(), code, message: message.into() }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}`: {}", self.field, self.message)
    }
}

/// A non-empty list of [`FieldError`]s.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidationErrors(pub Vec<FieldError>);

impl ValidationErrors {
    /// The errors, in the order they were found.
    pub fn errors(&self) -> &[FieldError] {
        &self.0
    }

    /// The first error about `field`, if any.
    pub fn for_field(&self, field: &str) -> Option<&FieldError> {
        self.0.iter().find(|e| e.field == field)
    }
}

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

/// Every error the crm API returns.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No record of this kind with this id exists in the caller's tenant.
    #[error("{kind} {id} not found")]
    NotFound {
        /// Kind of the record looked up.
        kind: EntityKind,
        /// Its id.
        id: Uuid,
    },
    /// The input is invalid; every problem found is listed.
    #[error("invalid input: {0}")]
    Validation(ValidationErrors),
    /// The record changed since it was read (optimistic concurrency), or the id is taken.
    #[error("conflict on {kind} {id}: expected version {expected}, found {found:?}; reload and retry")]
    Conflict {
        /// Kind of the record.
        kind: EntityKind,
        /// Its id.
        id: Uuid,
        /// The version the write was based on (0 for an insert).
        expected: u64,
        /// The version in storage (`None` if the record is gone).
        found: Option<u64>,
    },
    /// The actor may not do this (wrong tenant, read-only transaction…).
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// A state change the rules do not allow.
    #[error("invalid transition of `{field}` from `{from}` to `{to}`: {reason}")]
    InvalidTransition {
        /// The field whose value would change.
        field: String,
        /// Current value.
        from: String,
        /// Requested value.
        to: String,
        /// Why it is refused and what to do instead.
        reason: String,
    },
    /// An extension or plugin failed.
    #[error("plugin `{plugin}` failed: {message}")]
    Plugin {
        /// Id of the extension or plugin.
        plugin: String,
        /// What went wrong.
        message: String,
    },
    /// The storage backend failed.
    #[error("storage error: {0}")]
    Storage(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// Another process kept the store locked for longer than a write may wait for it (a SQLite
    /// file shared by processes; see crm-storage's `SqliteOptions::write_wait`). Nothing was
    /// written: the same call can be made again ([`is_retryable`](Error::is_retryable)).
    #[error("the store is busy: {0}; nothing was written, try again")]
    Busy(String),
    /// A bulk import stopped. Batches before input row `resume_at` are committed (`report`
    /// says what they wrote and rejected); nothing from that row on was written, so importing
    /// the rest of the input from there completes it.
    #[error("import stopped at input row {resume_at} after importing {} records: {source}", report.imported.len())]
    Import {
        /// The first input row not written (the start of the failed batch).
        resume_at: usize,
        /// The input row to blame, if one is (an invalid row with `stop_on_invalid`).
        row: Option<usize>,
        /// What the committed batches did.
        report: Box<ImportReport<Uuid>>,
        /// What went wrong.
        #[source]
        source: Box<Error>,
    },
    /// An external system (mail server, accounting API…) failed.
    #[error("integration `{system}` failed: {message}")]
    Integration {
        /// The external system.
        system: String,
        /// What went wrong.
        message: String,
    },
}

impl Error {
    /// A validation error about a single field.
    pub fn invalid(field: impl Into<String>, code: FieldErrorCode, message: impl Into<String>) -> Self {
        Error::Validation(ValidationErrors(vec![FieldError::new(field, code, message)]))
    }

    /// An [`InvalidTransition`](Error::InvalidTransition) of `field` from `from` to `to`, and why.
    pub fn transition(
        field: impl Into<String>,
        from: impl std::fmt::Display,
        to: impl std::fmt::Display,
        reason: impl Into<String>,
    ) -> Self {
        Error::InvalidTransition {
            field: field.into(),
            from: from.to_string(),
            to: to.to_string(),
            reason: reason.into(),
        }
    }

    /// Whether the same call may succeed if simply made again: the store was [busy](Error::Busy).
    /// (A [`Conflict`](Error::Conflict) needs the record read again first.)
    pub fn is_retryable(&self) -> bool {
        matches!(self, Error::Busy(_))
    }

    /// A validation error from a list; `Ok(())` when the list is empty.
    pub fn check(errors: Vec<FieldError>) -> Result<()> {
        if errors.is_empty() { Ok(()) } else { Err(Error::Validation(ValidationErrors(errors))) }
    }

    /// A storage error from any message.
    pub fn storage(message: impl Into<String>) -> Self {
        Error::Storage(message.into().into())
    }

    /// The field errors, if this is a validation error.
    pub fn field_errors(&self) -> &[FieldError] {
        match self {
            Error::Validation(v) => v.errors(),
            _ => &[],
        }
    }

    /// True if this is a validation error that names `field`.
    pub fn names_field(&self, field: &str) -> bool {
        match self {
            Error::Validation(v) => v.for_field(field).is_some(),
            Error::InvalidTransition { field: f, .. } => f == field,
            _ => false,
        }
    }

    /// True for [`Error::Conflict`].
    pub fn is_conflict(&self) -> bool {
        matches!(self, Error::Conflict { .. })
    }
}

/// An input row that was not imported, and why.
#[derive(Debug)]
pub struct Rejected {
    /// Position of the row in the input (from [`ImportOptions::first_row`](crate::service::ImportOptions::first_row)).
    pub row: usize,
    /// Why it was refused (usually [`Error::Validation`], naming the fields).
    pub error: Error,
}

/// What an import did.
#[derive(Debug)]
pub struct ImportReport<Id> {
    /// Ids of the records written, in input order.
    pub imported: Vec<Id>,
    /// Rows skipped as invalid, in input order.
    pub rejected: Vec<Rejected>,
    /// Batches finished (committed, or wholly rejected).
    pub batches: usize,
}

impl<Id> Default for ImportReport<Id> {
    fn default() -> Self {
        Self { imported: Vec::new(), rejected: Vec::new(), batches: 0 }
    }
}

impl crate::entity::UniqueKey {
    /// The error a store returns when another record holds this key.
    pub fn duplicate_error(&self, kind: EntityKind) -> Error {
        Error::invalid(
            self.field,
            FieldErrorCode::Duplicate,
            format!("another {kind} already has {} `{}`", self.field, self.value),
        )
    }
}
