//! Takes the first Rust code block of `plugins/README.md` (the plugin an ISV writes) as this
//! crate's code, and fails the build when it is 40 lines or longer: the guide promises a
//! plugin in under 40 lines.

use std::path::Path;

/// The guide's promise.
const MAX_LINES: usize = 40;

fn main() {
    let readme = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../README.md");
    println!("cargo::rerun-if-changed={}", readme.display());
    let text = std::fs::read_to_string(&readme).unwrap_or_else(|e| panic!("{}: {e}", readme.display()));
    let start = text.find("```rust\n").expect("plugins/README.md has a ```rust block") + "```rust\n".len();
    let len = text[start..].find("\n```").expect("the ```rust block is closed") + 1;
    let code = &text[start..start + len];
    let lines = code.lines().count();
    assert!(lines < MAX_LINES, "the README's plugin has {lines} lines; the guide promises under {MAX_LINES}");
    let out = Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR")).join("readme_plugin.rs");
    std::fs::write(&out, code).unwrap_or_else(|e| panic!("{}: {e}", out.display()));
}
