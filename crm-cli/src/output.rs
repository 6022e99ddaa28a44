//! What commands print: a line per record for people, JSON for scripts (`--json`).

use std::io::Write;

use crate::error::CliError;

/// Standard output, as people or as JSON.
pub struct Out {
    json: bool,
    w: Box<dyn Write>,
}

impl Out {
    /// Prints to standard output; JSON when `json`.
    pub fn stdout(json: bool) -> Out {
        Out { json, w: Box::new(std::io::stdout()) }
    }

    /// Whether the output is JSON.
    pub fn is_json(&self) -> bool {
        self.json
    }

    /// Records: a JSON array, or a line each (`id  title`).
    pub fn records(&mut self, rows: &[serde_json::Value]) -> Result<(), CliError> {
        if self.json {
            return self.value(&serde_json::Value::Array(rows.to_vec()));
        }
        for r in rows {
            let id = r.get("id").and_then(|v| v.as_str()).unwrap_or("");
            writeln!(self.w, "{id}  {}", title(r))?;
        }
        if rows.is_empty() {
            writeln!(self.w, "(none)")?;
        }
        Ok(())
    }

    /// One record: JSON, or its fields that hold something, one per line.
    pub fn record(&mut self, r: &serde_json::Value) -> Result<(), CliError> {
        if self.json {
            return self.value(r);
        }
        if let Some(fields) = r.as_object() {
            for (k, v) in fields {
                let shown = match v {
                    serde_json::Value::Null => continue,
                    serde_json::Value::Array(a) if a.is_empty() => continue,
                    serde_json::Value::Object(o) if o.is_empty() => continue,
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                writeln!(self.w, "{k}: {shown}")?;
            }
        }
        Ok(())
    }

    /// A count.
    pub fn count(&mut self, n: u64) -> Result<(), CliError> {
        if self.json {
            return self.value(&serde_json::json!({ "count": n }));
        }
        writeln!(self.w, "{n}")?;
        Ok(())
    }

    /// What a command did, in a sentence (`{"done": …}` as JSON).
    pub fn done(&mut self, what: &str) -> Result<(), CliError> {
        if self.json {
            return self.value(&serde_json::json!({ "done": what }));
        }
        writeln!(self.w, "{what}")?;
        Ok(())
    }

    /// Sends what was printed on (before a long wait).
    pub fn flush(&mut self) -> Result<(), CliError> {
        self.w.flush()?;
        Ok(())
    }

    /// Any JSON value, on one line.
    pub fn value(&mut self, v: &serde_json::Value) -> Result<(), CliError> {
        serde_json::to_writer(&mut self.w, v).map_err(|e| CliError::Io(e.to_string()))?;
        writeln!(self.w)?;
        Ok(())
    }
}

/// What a record is called: its name, a person's names, a subject, a number, a key.
fn title(r: &serde_json::Value) -> String {
    let s = |k: &str| r.get(k).and_then(|v| v.as_str()).filter(|s| !s.is_empty());
    if let (Some(g), f) = (s("given_name"), s("family_name")) {
        return format!("{g} {}", f.unwrap_or("")).trim().to_owned();
    }
    if let Some(f) = s("family_name") {
        return f.to_owned();
    }
    for k in ["name", "subject", "number", "key", "masked_name", "purpose"] {
        if let Some(v) = s(k) {
            return v.to_owned();
        }
    }
    String::new()
}
