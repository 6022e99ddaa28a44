//! What can go wrong talking to the outside world.

/// An error of an integration: bad input (named field and reason), a refused operation, or a
/// failure of the remote system. Converts into [`crm_core::Error`] (bad input and rule
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
        contact: crm_core::ContactId,
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
    /// The message went out but could not be recorded in the CRM; record it again with the
    /// same Message-ID (see [`Mailer::record`](crate::email::Mailer::record)).
    #[error("sent as <{message_id}> but not recorded: {source}")]
    NotRecorded {
        /// The sent message's id.
        message_id: String,
        /// Why recording failed.
        source: Box<crm_core::Error>,
    },
    /// The CRM refused or failed (a missing contact, storage…).
    #[error(transparent)]
    Crm(#[from] crm_core::Error),
}

impl IntegrationError {
    pub(crate) fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        IntegrationError::Invalid { field: field.into(), reason: reason.into() }
    }
}

impl From<IntegrationError> for crm_core::Error {
    fn from(e: IntegrationError) -> Self {
        use crm_core::{Error, FieldErrorCode};
        match e {
            IntegrationError::Invalid { field, reason } => Error::invalid(field, FieldErrorCode::InvalidFormat, reason),
            IntegrationError::Template { part, reason } => {
                Error::invalid(format!("template.{part}"), FieldErrorCode::InvalidFormat, reason)
            }
            e @ IntegrationError::NoConsent { .. } => Error::invalid("to", FieldErrorCode::Rule, e.to_string()),
            IntegrationError::Remote { system, message, .. } => Error::Integration { system: system.into(), message },
            e @ IntegrationError::NotRecorded { .. } => {
                Error::Integration { system: "email".into(), message: e.to_string() }
            }
            IntegrationError::Crm(e) => e,
        }
    }
}

/// A result of an integration.
pub type Result<T, E = IntegrationError> = std::result::Result<T, E>;
