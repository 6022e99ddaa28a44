//! What can go wrong talking to the outside world.

/// An error of an integration: bad input (named field and reason), a refused operation, or a
/// failure of the remote system. Converts into [`crm_core::error::Error`] (bad input and rule
/// violations as `Validation`, remote failures as `Integration`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IntegrationError {
    /// An input is invalid: `field` names it.
    #[error("{field}: {reason}")]
    Invalid {
        /// The field at fault (`to[1]`, `template.subject`, `smtp.host`…).
        field: String,
        /// Why.
        reason: String,
    },
    /// A template does not render with the data it was given (syntax, an unknown merge
    /// field…).
    #[error("template {part}: {reason}")]
    Template {
        /// Which part: `subject`, `text` or `html`.
        part: &'static str,
        /// Why, naming the merge field or position.
        reason: String,
    },
    /// Campaign mail to a contact whose marketing consent is not granted.
    #[error("contact {contact} has {status} marketing consent; campaign mail needs it granted")]
    NoConsent {
        /// The contact.
        contact: crm_core::ids::ContactId,
        /// Their consent status.
        status: String,
    },
    /// The remote system failed or refused (connection, TLS, authentication, a rejected
    /// recipient…). `transient` tells whether trying again later may succeed.
    #[error("{system}: {message}")]
    Remote {
        /// The system (`smtp`, `xero`…).
        system: &'static str,
        /// What happened.
        message: String,
        /// Whether a retry may succeed (a 4xx SMTP reply, a timeout) or not (a 5xx reply).
        transient: bool,
    },
    /// The remote system answered with something that is not what its API documents
    /// (malformed JSON, a missing field, an impossible value). Nothing was written.
    #[error("{system}: unexpected response: {what}")]
    Malformed {
        /// The system.
        system: &'static str,
        /// What was wrong, naming the field.
        what: String,
    },
    /// The remote system refused the request (a 4xx other than rate limits and expired
    /// tokens), with the reasons it gave.
    #[error("{system} refused the request ({status}): {}", reasons.join("; "))]
    Rejected {
        /// The system.
        system: &'static str,
        /// The HTTP status.
        status: u16,
        /// The system's messages (validation errors…).
        reasons: Vec<String>,
    },
    /// The remote record changed since the version the update was based on (QuickBooks'
    /// stale `SyncToken`): read it again, merge, and retry.
    #[error("{system}: {record} changed there since it was read")]
    Stale {
        /// The system.
        system: &'static str,
        /// Which record.
        record: String,
    },
    /// The remote system asked to wait longer than the policy allows (`429` with a long
    /// `Retry-After`, or every attempt rate-limited).
    #[error("{system} is rate limiting; retry after {retry_after:?}")]
    RateLimited {
        /// The system.
        system: &'static str,
        /// How long it asked to wait.
        retry_after: std::time::Duration,
    },
    /// The connection's authorisation is no longer valid (the refresh token was refused):
    /// the user has to connect the system again.
    #[error("{system}: authorisation failed: {message}")]
    Auth {
        /// The system.
        system: &'static str,
        /// What the authorisation server said (never a token).
        message: String,
    },
    /// The message went out but could not be recorded in the CRM; record it again with the
    /// same Message-ID (see [`Mailer::record`](crate::email::Mailer::record)).
    #[error("sent as <{message_id}> but not recorded: {source}")]
    NotRecorded {
        /// The sent message's id.
        message_id: String,
        /// Why recording failed.
        source: Box<crm_core::error::Error>,
    },
    /// The CRM refused or failed (a missing contact, storage…).
    #[error(transparent)]
    Crm(#[from] crm_core::error::Error),
}

impl IntegrationError {
    /// The remote system a failure came from, for failures of one.
    pub fn system(&self) -> Option<&'static str> {
        match self {
            IntegrationError::Remote { system, .. }
            | IntegrationError::Malformed { system, .. }
            | IntegrationError::Rejected { system, .. }
            | IntegrationError::Stale { system, .. }
            | IntegrationError::RateLimited { system, .. }
            | IntegrationError::Auth { system, .. } => Some(system),
            _ => None,
        }
    }

    pub(crate) fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        IntegrationError::Invalid { field: field.into(), reason: reason.into() }
    }
}

impl From<IntegrationError> for crm_core::error::Error {
    fn from(e: IntegrationError) -> Self {
        use crm_core::{error::Error, error::FieldErrorCode};
        match e {
            IntegrationError::Invalid { field, reason } => Error::invalid(field, FieldErrorCode::InvalidFormat, reason),
            IntegrationError::Template { part, reason } => {
                Error::invalid(format!("template.{part}"), FieldErrorCode::InvalidFormat, reason)
            }
            e @ IntegrationError::NoConsent { .. } => Error::invalid("to", FieldErrorCode::Rule, e.to_string()),
            IntegrationError::Remote { system, message, .. } => Error::Integration { system: system.into(), message },
            e @ (IntegrationError::Malformed { .. }
            | IntegrationError::Rejected { .. }
            | IntegrationError::Stale { .. }
            | IntegrationError::RateLimited { .. }
            | IntegrationError::Auth { .. }) => {
                Error::Integration { system: e.system().unwrap_or("remote").into(), message: e.to_string() }
            }
            e @ IntegrationError::NotRecorded { .. } => {
                Error::Integration { system: "email".into(), message: e.to_string() }
            }
            IntegrationError::Crm(e) => e,
        }
    }
}

/// A result of an integration.
pub type Result<T, E = IntegrationError> = std::result::Result<T, E>;
