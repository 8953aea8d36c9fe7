#!/bin/sh
# Rebuilds probe.wasm from probe.ts (see ../build.sh). With an argument, writes there.
set -eu
cd "$(dirname "$0")"
../build.sh probe.ts "${1:-probe.wasm}"
