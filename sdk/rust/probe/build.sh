#!/bin/sh
# Rebuilds probe.wasm from probe.rs (see ../build.sh for the toolchain). With an argument,
# writes there.
set -eu
cd "$(dirname "$0")"
../build.sh probe.rs "${1:-probe.wasm}"
