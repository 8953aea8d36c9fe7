#!/bin/sh
# Rebuilds banner.wasm from banner.ts with AssemblyScript (run npm ci in
# sdk/assemblyscript first). With an argument, writes there instead.
set -eu
cd "$(dirname "$0")"
../../sdk/assemblyscript/build.sh banner.ts "${1:-banner.wasm}"
