#!/usr/bin/env bash
# Builds the plugin guests as WebAssembly components and runs their native unit tests.
#
#   plugins/build-guests.sh            # build, check, copy to plugins/dist/, run native tests
#   plugins/build-guests.sh --no-test  # skip the native tests
#
# Needs only rustup and cargo: the wasm32-wasip2 target is installed when missing, and
# rustc's bundled linker (wasm-component-ld) turns each guest into a component, so no
# cargo-component or wasm-tools is required. Output: plugins/dist/<guest>.wasm.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
guests_dir="$here/guests"
dist_dir="$here/dist"
target_dir="${CARGO_TARGET_DIR:-$guests_dir/target}"
target=wasm32-wasip2
# Guest directories; each builds crm_plugin_<name with - as _>.wasm.
guests=(real-estate retail automotive hostile future-major upgrade-v1 upgrade-v2 upgrade-v3 batch-broken readme-example bad-manifest slow-describe)

run_tests=1
for arg in "$@"; do
    case "$arg" in
        --no-test) run_tests=0 ;;
        -h | --help)
            sed -n '2,9p' "${BASH_SOURCE[0]}"
            exit 0
            ;;
        *)
            echo "unknown argument: $arg (try --help)" >&2
            exit 2
            ;;
    esac
done

command -v cargo >/dev/null || { echo "error: cargo is not installed (https://rustup.rs)" >&2; exit 1; }

# Install the target if this toolchain lacks it.
sysroot="$(rustc --print sysroot)"
if [ ! -d "$sysroot/lib/rustlib/$target" ]; then
    if command -v rustup >/dev/null; then
        echo "==> installing the $target target"
        rustup target add "$target"
    else
        echo "error: the $target target is missing and rustup is not available to install it" >&2
        exit 1
    fi
fi

echo "==> building guests for $target"
cargo build --manifest-path "$guests_dir/Cargo.toml" --locked --release --target "$target" \
    --target-dir "$target_dir" --workspace

mkdir -p "$dist_dir"
# The component-model preamble: "\0asm", version 0x000d, layer 0x0001 (a core module has 01 00 00 00).
component_header="0061736d0d000100"
status=0
for guest in "${guests[@]}"; do
    built="$target_dir/$target/release/crm_plugin_${guest//-/_}.wasm"
    out="$dist_dir/$guest.wasm"
    if [ ! -f "$built" ]; then
        echo "error: $built was not produced" >&2
        status=1
        continue
    fi
    header="$(head -c 8 "$built" | od -An -tx1 | tr -d ' \n')"
    if [ "$header" != "$component_header" ]; then
        echo "error: $built is not a component (header $header, expected $component_header)" >&2
        status=1
        continue
    fi
    cp "$built" "$out"
    printf '    %-32s %8d bytes\n' "dist/$guest.wasm" "$(wc -c <"$out")"
done
[ "$status" -eq 0 ] || exit "$status"

echo "==> an outside plugin: the packaged SDK (as crates.io would serve it) and the guide's plugin, in a fresh directory"
cargo package --manifest-path "$guests_dir/Cargo.toml" -p crm-plugin-sdk --allow-dirty --target-dir "$target_dir" --quiet
sdk_pkg="$(ls -d "$target_dir"/package/crm-plugin-sdk-*/ | head -n 1)"
outside="$(mktemp -d)"
trap 'rm -rf "$outside"' EXIT
mkdir -p "$outside/src"
cat >"$outside/Cargo.toml" <<TOML
[package]
name = "boats"
version = "0.1.0"
edition = "2024"

[lib]
crate-type = ["cdylib"]

[dependencies]
crm-plugin-sdk = { path = "$sdk_pkg" }

[profile.release]
opt-level = "s"
lto = true
strip = true
TOML
# The versions the guests are built and tested with (an author's build would resolve the same).
cp "$guests_dir/Cargo.lock" "$outside/Cargo.lock"
# The guide's first Rust block, as an author would copy it.
awk '/^```rust$/ { n++; if (n == 1) { inside = 1; next } } /^```$/ { inside = 0 } inside' "$here/README.md" >"$outside/src/lib.rs"
cargo build --manifest-path "$outside/Cargo.toml" --release --target "$target" --target-dir "$target_dir/outside" --quiet
built_outside="$target_dir/outside/$target/release/boats.wasm"
[ "$(head -c 8 "$built_outside" | od -An -tx1 | tr -d ' \n')" = "$component_header" ] \
    || { echo "error: the outside plugin is not a component" >&2; exit 1; }
printf '    %-32s %8d bytes\n' "outside/boats.wasm" "$(wc -c <"$built_outside")"

if [ "$run_tests" -eq 1 ]; then
    echo "==> native tests of the guest workspace"
    cargo test --manifest-path "$guests_dir/Cargo.toml" --locked --target-dir "$target_dir" --workspace
fi
echo "==> done"
