//! Where the CRM is: the database file and the tenant, from flags, environment variables and
//! the config file `crm init` writes (`crm.toml`), in that order.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::CliError;

/// What the config file holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Config {
    /// The SQLite database file (relative paths are relative to the config file).
    pub db: PathBuf,
    /// The tenant the commands work in.
    pub tenant: Uuid,
}

/// The config from `file` if it exists, with `db` and `tenant` overriding it.
pub fn resolve(file: &Path, db: Option<PathBuf>, tenant: Option<Uuid>) -> Result<Config, CliError> {
    let stored = match std::fs::read_to_string(file) {
        Ok(text) => Some(parse(file, &text)?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(CliError::Config(format!("cannot read {}: {e}", file.display()))),
    };
    let db = db.or_else(|| stored.as_ref().map(|c| c.db.clone()));
    let tenant = tenant.or_else(|| stored.as_ref().map(|c| c.tenant));
    match (db, tenant) {
        (Some(db), Some(tenant)) => Ok(Config { db, tenant }),
        _ => Err(CliError::Config(format!(
            "no CRM here: {} does not exist. Run `crm init` to make one, or pass --db and --tenant \
             (or set CRM_DB and CRM_TENANT)",
            file.display()
        ))),
    }
}

fn parse(file: &Path, text: &str) -> Result<Config, CliError> {
    let mut c: Config =
        toml::from_str(text).map_err(|e| CliError::Config(format!("{} is not a crm config: {e}", file.display())))?;
    if c.db.is_relative()
        && let Some(dir) = file.parent()
    {
        c.db = dir.join(&c.db);
    }
    Ok(c)
}

/// Writes `config` to `file`.
pub fn write(file: &Path, config: &Config) -> Result<(), CliError> {
    let text = toml::to_string(config).map_err(|e| CliError::Config(e.to_string()))?;
    std::fs::write(file, text).map_err(|e| CliError::Config(format!("cannot write {}: {e}", file.display())))
}
