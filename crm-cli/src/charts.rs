//! Charts written to files: the reports' SVG charts (drawn by `crm::analytics::charts`).

use crm::analytics::charts::Chart;

use crate::error::CliError;

/// Writes the drawn `chart` to `path`, which must name an `.svg` file.
pub(crate) fn write(path: &std::path::Path, chart: Chart) -> Result<(), CliError> {
    if path.extension().and_then(|e| e.to_str()).is_none_or(|e| !e.eq_ignore_ascii_case("svg")) {
        return Err(CliError::Usage(format!("{}: charts are written as SVG (name a .svg file)", path.display())));
    }
    let svg = chart.map_err(|e| CliError::Io(e.to_string()))?;
    std::fs::write(path, svg).map_err(|e| CliError::Io(format!("cannot write {}: {e}", path.display())))
}
