//! The compiled-artifact cache: `<dir>/<sha256 of the wasm>-<engine compatibility hash>.cwasm`,
//! and the fields each installed plugin has declared: `<dir>/<plugin id>.fields.json`.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::Write;
use std::path::Path;

use crm_core::model::FieldDefinition;
use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

use crate::error::InstallError;

pub(crate) fn ensure_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // Only the owner may write artifacts: loading one runs its native code.
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Where the artifact compiled from the wasm with this SHA-256 is kept for this engine.
fn artifact_path(engine: &Engine, dir: &Path, sha: &str) -> std::path::PathBuf {
    let mut h = DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut h);
    dir.join(format!("{sha}-{:016x}.cwasm", h.finish()))
}

/// Compiles `wasm`, or loads the artifact cached for it. Returns the component, the wasm's
/// SHA-256 and whether it came from the cache. Nothing is written: [`keep`] caches a
/// component once it has installed.
pub(crate) fn load(
    engine: &Engine,
    dir: Option<&Path>,
    wasm: &[u8],
) -> Result<(Component, String, bool), InstallError> {
    let sha = hex(&Sha256::digest(wasm));
    if let Some(dir) = dir {
        let path = artifact_path(engine, dir, &sha);
        if path.is_file() {
            // SAFETY: the artifact was written by `keep` below into a directory only this
            // user can write, under a name that binds it to the wasm's hash and this engine's
            // configuration; wasmtime also checks the engine compatibility header on load.
            match unsafe { Component::deserialize_file(engine, &path) } {
                Ok(c) => return Ok((c, sha, true)),
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "unusable cached plugin artifact; recompiling")
                }
            }
        }
    }
    let c = Component::new(engine, wasm).map_err(|e| InstallError::InvalidComponent(format!("{e:#}")))?;
    Ok((c, sha, false))
}

/// Caches the compiled artifact of an installed component (a failure is logged, not fatal).
pub(crate) fn keep(dir: &Path, sha: &str, engine: &Engine, component: &Component) {
    let written = component
        .serialize()
        .map_err(|e| std::io::Error::other(e.to_string()))
        .and_then(|bytes| write_aside_then_rename(&artifact_path(engine, dir, sha), &bytes));
    if let Err(e) = written {
        tracing::warn!(error = %e, "could not cache a compiled plugin");
    }
}

fn history_path(dir: &Path, id: &str) -> std::path::PathBuf {
    // Plugin ids are lower-case letters, digits and `_` (checked before this is called).
    dir.join(format!("{id}.fields.json"))
}

/// The fields (bare keys) the versions of plugin `id` installed with this cache declared, kept
/// so that an upgrade after a restart is checked as in the same process. Empty when none was
/// kept or the file is unreadable (then logged).
pub(crate) fn field_history(dir: &Path, id: &str) -> Vec<FieldDefinition> {
    let path = history_path(dir, id);
    let read = match std::fs::read(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Vec::new(),
        read => read.map_err(|e| e.to_string()),
    };
    read.and_then(|bytes| serde_json::from_slice(&bytes).map_err(|e| e.to_string())).unwrap_or_else(|e| {
        tracing::warn!(path = %path.display(), error = %e, "unreadable plugin field history; ignored");
        Vec::new()
    })
}

/// Replaces the field history of plugin `id`.
pub(crate) fn save_field_history(dir: &Path, id: &str, defs: &[FieldDefinition]) -> std::io::Result<()> {
    let bytes = serde_json::to_vec_pretty(defs).map_err(std::io::Error::other)?;
    write_aside_then_rename(&history_path(dir, id), &bytes)
}

/// Writes `bytes` to a temporary file beside `path`, syncs it, and renames it into place, so a
/// reader sees the old file or the whole new one.
fn write_aside_then_rename(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = path.with_file_name(format!(".{name}.{}.{}.tmp", std::process::id(), uuid::Uuid::now_v7().simple()));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}
