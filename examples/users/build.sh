#!/bin/sh
# Rebuilds users.wasm from users.rs with rustc alone (see sdk/rust/build.sh for the
# toolchain). With an argument, writes there instead.
set -eu
cd "$(dirname "$0")"
../../sdk/rust/build.sh users.rs "${1:-users.wasm}"
