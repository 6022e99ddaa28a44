//! `crm plugin`: WebAssembly plugins installed into this folder's CRM. An installed plugin's
//! component is copied next to the config file (`plugins/<id>.wasm`) and recorded in it; every
//! command loads the enabled ones (compiled once, then from `plugins/.cache`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::{Subcommand, ValueEnum};
use crm::plugins::{Capability, Grants, HostConfig, PluginHost, PluginInfo};
use crm::service::extension::Extension;

use crate::config::{self, Config, PluginEntry};
use crate::error::CliError;
use crate::output::Out;

/// Plugin commands.
#[derive(Debug, Subcommand)]
pub(crate) enum PluginCmd {
    /// Installs a plugin (a WebAssembly component): checks it, keeps a copy beside the config,
    /// and leaves it disabled unless `--enable`. Installing a plugin again upgrades it.
    Install {
        /// The component (`.wasm`).
        file: PathBuf,
        /// A capability to grant it (it gets those it asks for and is granted); repeatable.
        #[arg(long = "grant", value_enum)]
        grants: Vec<GrantArg>,
        /// Enables it at once.
        #[arg(long)]
        enable: bool,
    },
    /// The plugins installed, with their versions and fields.
    List,
    /// Loads a plugin in every command from now on.
    Enable {
        /// The plugin's id.
        id: String,
    },
    /// Stops loading a plugin (the values of its fields stay in the records).
    Disable {
        /// The plugin's id.
        id: String,
    },
}

/// A capability a plugin may be granted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum GrantArg {
    /// Read other records of the tenant while reacting to events.
    ReadRelated,
    /// Write to the log.
    Log,
}

impl GrantArg {
    fn name(self) -> &'static str {
        match self {
            GrantArg::ReadRelated => "read-related",
            GrantArg::Log => "log",
        }
    }
}

/// The grants a config entry records.
fn grants(names: &[String]) -> Result<Grants, CliError> {
    names.iter().try_fold(Grants::none(), |g, name| match name.as_str() {
        "read-related" => Ok(g.allow(Capability::ReadRelated)),
        "log" => Ok(g.allow(Capability::Log)),
        other => Err(CliError::Config(format!("unknown plugin grant `{other}` (read-related, log)"))),
    })
}

/// A plugin host compiling into (and loading from) the cache beside `config_file`.
fn host(config_file: &Path) -> Result<PluginHost, CliError> {
    let cache = folder(config_file).join("plugins").join(".cache");
    PluginHost::new(HostConfig::default().cache_dir(&cache))
        .map_err(|e| CliError::Io(format!("cannot start the plugin host: {e}")))
}

fn folder(config_file: &Path) -> &Path {
    config_file.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."))
}

/// The extensions of the enabled plugins of `config` (none: nothing is compiled).
pub(crate) fn extensions(config_file: &Path, config: &Config) -> Result<Vec<Arc<dyn Extension>>, CliError> {
    let enabled: Vec<&PluginEntry> = config.plugins.iter().filter(|p| p.enabled).collect();
    if enabled.is_empty() {
        return Ok(Vec::new());
    }
    let host = host(config_file)?;
    for p in enabled {
        host.install_file(&p.file, grants(&p.grants)?).map_err(|e| {
            CliError::Config(format!(
                "plugin `{}` ({}) does not load: {e}. Disable it with `crm plugin disable {}`",
                p.id,
                p.file.display(),
                p.id
            ))
        })?;
    }
    Ok(host.extensions())
}

/// Runs a plugin command on the config at `config_file`.
pub(crate) fn run(config_file: &Path, cmd: PluginCmd, out: &mut Out) -> Result<(), CliError> {
    let mut stored = config::read_stored(config_file)?;
    match cmd {
        PluginCmd::Install { file, grants: granted, enable } => {
            let wasm =
                std::fs::read(&file).map_err(|e| CliError::Io(format!("cannot read {}: {e}", file.display())))?;
            let names: Vec<String> = granted.iter().map(|g| g.name().to_owned()).collect();
            let info = host(config_file)?
                .install(&wasm, grants(&names)?)
                .map_err(|e| CliError::Usage(format!("{}: {e}", file.display())))?;
            let relative = PathBuf::from("plugins").join(format!("{}.wasm", info.id));
            let copy = folder(config_file).join(&relative);
            std::fs::create_dir_all(copy.parent().unwrap_or(Path::new(".")))?;
            std::fs::write(&copy, &wasm)?;
            let was = stored.plugins.iter().position(|p| p.id == info.id);
            let enabled = enable || was.is_some_and(|i| stored.plugins[i].enabled);
            let entry = PluginEntry { id: info.id.clone(), file: relative, enabled, grants: names };
            match was {
                Some(i) => stored.plugins[i] = entry,
                None => stored.plugins.push(entry),
            }
            config::write(config_file, &stored)?;
            if out.is_json() {
                return out.value(&describe(&info, enabled));
            }
            let state = if enabled {
                "enabled".to_owned()
            } else {
                format!("disabled: enable it with `crm plugin enable {}`", info.id)
            };
            out.done(&format!(
                "plugin {} {} ({}) installed with {} fields; {state}",
                info.id,
                info.version,
                info.name,
                info.fields.len()
            ))
        }
        PluginCmd::List => {
            let host = host(config_file)?;
            let dir = folder(config_file);
            let mut rows = Vec::new();
            for p in &stored.plugins {
                let file = dir.join(&p.file);
                let row = match host.install_file(&file, grants(&p.grants)?) {
                    Ok(info) => describe(&info, p.enabled),
                    Err(e) => serde_json::json!({"id": p.id, "enabled": p.enabled, "error": e.to_string()}),
                };
                rows.push(row);
            }
            if out.is_json() {
                return out.value(&serde_json::Value::Array(rows));
            }
            if rows.is_empty() {
                return out.done("no plugins installed: `crm plugin install FILE.wasm`");
            }
            let lines: Vec<String> = rows
                .iter()
                .map(|r| {
                    let state = if r["enabled"] == true { "enabled" } else { "disabled" };
                    match r.get("error") {
                        Some(e) => format!("{}  {state}  does not load: {}", r["id"].as_str().unwrap_or("?"), e),
                        None => format!(
                            "{}  {}  {state}  {} fields  {}",
                            r["id"].as_str().unwrap_or("?"),
                            r["version"].as_str().unwrap_or("?"),
                            r["fields"].as_array().map_or(0, Vec::len),
                            r["name"].as_str().unwrap_or("")
                        ),
                    }
                })
                .collect();
            out.done(&lines.join("\n"))
        }
        PluginCmd::Enable { id } | PluginCmd::Disable { id } if !stored.plugins.iter().any(|p| p.id == id) => {
            Err(CliError::Usage(format!("no plugin `{id}` is installed (see `crm plugin list`)")))
        }
        PluginCmd::Enable { id } => switch(config_file, &mut stored, &id, true, out),
        PluginCmd::Disable { id } => switch(config_file, &mut stored, &id, false, out),
    }
}

fn switch(config_file: &Path, stored: &mut Config, id: &str, on: bool, out: &mut Out) -> Result<(), CliError> {
    for p in stored.plugins.iter_mut().filter(|p| p.id == id) {
        p.enabled = on;
    }
    config::write(config_file, stored)?;
    if out.is_json() {
        return out.value(&serde_json::json!({"id": id, "enabled": on}));
    }
    out.done(&format!("plugin {id} {}", if on { "enabled" } else { "disabled" }))
}

/// A plugin as listed.
fn describe(info: &PluginInfo, enabled: bool) -> serde_json::Value {
    let fields: Vec<serde_json::Value> = info
        .fields
        .iter()
        .map(|f| serde_json::json!({"kind": f.entity_kind.as_str(), "key": f.key, "label": f.label}))
        .collect();
    serde_json::json!({
        "id": info.id,
        "name": info.name,
        "version": info.version,
        "enabled": enabled,
        "fields": fields,
        "sha256": info.sha256,
    })
}
