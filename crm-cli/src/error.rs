//! What can go wrong, and how it is told: a message saying what to do, and an exit code.

use std::fmt;

/// A failed command.
#[derive(Debug)]
pub enum CliError {
    /// No CRM configured, or a config that cannot be read or written (exit code 3).
    Config(String),
    /// Input the command cannot use: a filter, a field, a value (exit code 2).
    Usage(String),
    /// The CRM refused or failed (exit code 1).
    Crm(crm::error::Error),
    /// A file could not be read or written (exit code 1).
    Io(String),
}

impl CliError {
    /// The process's exit code.
    pub fn code(&self) -> i32 {
        match self {
            CliError::Config(_) => 3,
            CliError::Usage(_) => 2,
            CliError::Crm(_) | CliError::Io(_) => 1,
        }
    }

    /// The error as `--json` prints it.
    pub fn to_json(&self) -> serde_json::Value {
        let fields: Vec<serde_json::Value> = match self {
            CliError::Crm(crm::error::Error::Validation(v)) => {
                v.0.iter()
                    .map(|f| serde_json::json!({"field": f.field, "code": f.code, "message": f.message}))
                    .collect()
            }
            _ => Vec::new(),
        };
        serde_json::json!({"error": self.to_string(), "exit_code": self.code(), "fields": fields})
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Config(m) | CliError::Usage(m) | CliError::Io(m) => f.write_str(m),
            CliError::Crm(crm::error::Error::Validation(v)) => {
                write!(f, "refused:")?;
                for e in &v.0 {
                    write!(f, "\n  {}: {}", e.field, e.message)?;
                }
                Ok(())
            }
            CliError::Crm(crm::error::Error::NotFound { kind, id }) => write!(f, "no {kind} with id {id}"),
            CliError::Crm(e) => write!(f, "{e}"),
        }
    }
}

impl From<crm::error::Error> for CliError {
    fn from(e: crm::error::Error) -> Self {
        CliError::Crm(e)
    }
}

impl From<crm::io::IoError> for CliError {
    fn from(e: crm::io::IoError) -> Self {
        match e {
            crm::io::IoError::Crm(e) => CliError::Crm(e),
            other => CliError::Io(other.to_string()),
        }
    }
}

impl From<csv::Error> for CliError {
    fn from(e: csv::Error) -> Self {
        CliError::Io(e.to_string())
    }
}

impl From<std::io::Error> for CliError {
    fn from(e: std::io::Error) -> Self {
        CliError::Io(e.to_string())
    }
}
