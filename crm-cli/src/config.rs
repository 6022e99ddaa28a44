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
    /// The plugins installed (`crm plugin install`), loaded by every command while enabled.
    #[serde(default, skip_serializing_if = "Vec::is_empty", rename = "plugin")]
    pub plugins: Vec<PluginEntry>,
}

/// One installed plugin, as the config file records it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginEntry {
    /// Its id (from its manifest).
    pub id: String,
    /// Its copy of the WebAssembly component (relative paths are relative to the config file).
    pub file: PathBuf,
    /// Whether commands load it.
    pub enabled: bool,
    /// The capabilities granted to it (`read-related`, `log`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub grants: Vec<String>,
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
    let plugins = stored.map(|c| c.plugins).unwrap_or_default();
    match (db, tenant) {
        (Some(db), Some(tenant)) => Ok(Config { db, tenant, plugins }),
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
    if let Some(dir) = file.parent() {
        if c.db.is_relative() {
            c.db = dir.join(&c.db);
        }
        for p in c.plugins.iter_mut().filter(|p| p.file.is_relative()) {
            p.file = dir.join(&p.file);
        }
    }
    Ok(c)
}

/// The config file as stored (paths as written), for commands that change it.
pub fn read_stored(file: &Path) -> Result<Config, CliError> {
    let text = std::fs::read_to_string(file).map_err(|e| {
        CliError::Config(format!("cannot read {}: {e}. Run `crm init` to make a CRM here", file.display()))
    })?;
    toml::from_str(&text).map_err(|e| CliError::Config(format!("{} is not a crm config: {e}", file.display())))
}

/// Writes `config` to `file`.
pub fn write(file: &Path, config: &Config) -> Result<(), CliError> {
    let text = toml::to_string(config).map_err(|e| CliError::Config(e.to_string()))?;
    std::fs::write(file, text).map_err(|e| CliError::Config(format!("cannot write {}: {e}", file.display())))
}
