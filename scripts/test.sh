#!/usr/bin/env bash
# The one test command: installs what the tests need on a fresh machine, then runs the whole suite.
# Usage: scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n== %s ==\n' "$*"; }

log "toolchain"
if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo is required (install Rust with rustup: https://rustup.rs)" >&2
  exit 1
fi
rustc --version
# Formatting and linting components (present on most rustup installs; added when missing).
rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt
rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy

log "build"
cargo build --workspace --all-targets --locked

log "tests (unit, conformance kit on MemoryStore, rules, property tests, doc tests)"
cargo test --workspace --all-targets --locked
cargo test --workspace --doc --locked

log "docs build without warnings"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked

log "plugin guests: build the WebAssembly components, check them, run their native tests"
plugins/build-guests.sh

log "examples run"
cargo run --quiet --locked --example quickstart >/dev/null
cargo run --quiet --locked --example customer_360 >/dev/null

log "all tests passed"
