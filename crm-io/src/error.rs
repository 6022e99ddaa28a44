//! What can go wrong moving data in or out.

/// An import or export failure. Rows the CRM refuses are not failures: they are reported
/// (see [`RejectedRow`](crate::RejectedRow)); these stop the whole run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IoError {
    /// The CRM refused the request (an unknown field in a filter or a column, a store error).
    #[error(transparent)]
    Crm(#[from] crm_core::error::Error),
    /// The file is not CSV this reader can read (its header, its encoding).
    #[error("line {line}: {reason}")]
    Csv {
        /// 1-based line of the file.
        line: u64,
        /// What is wrong.
        reason: String,
    },
    /// The workbook cannot be read (not an `.xlsx` file, damaged, encrypted).
    #[error("workbook: {reason}")]
    Xlsx {
        /// What is wrong.
        reason: String,
    },
    /// A column mapping names something the import cannot set.
    #[error("mapping of column `{column}`: {reason}")]
    Mapping {
        /// The file's column header.
        column: String,
        /// What is wrong.
        reason: String,
    },
    /// An option has a value this crate cannot use.
    #[error("option `{name}`: {reason}")]
    Option {
        /// The option.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// Reading or writing failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

impl From<csv::Error> for IoError {
    fn from(e: csv::Error) -> Self {
        let line = e.position().map_or(0, |p| p.line());
        match e.into_kind() {
            csv::ErrorKind::Io(io) => IoError::Io(io),
            csv::ErrorKind::Utf8 { err, .. } => IoError::Csv { line, reason: format!("not UTF-8 text: {err}") },
            other => IoError::Csv { line, reason: format!("{other:?}") },
        }
    }
}

/// A result of this crate.
pub type Result<T> = std::result::Result<T, IoError>;
