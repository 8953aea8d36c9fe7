#!/bin/sh
# Rebuilds every module the plugins area checks in: the WAT corpus in plugins/testdata (needs
# wat2wasm from Debian's wabt) and the Go examples (need Go). The SDK probes are
# .ci/sdk-rebuild.sh's.
# Run it in a copy of the tree and point SCRIM_WASM_ROOT at that copy to test the fresh builds:
#
#	plugins/rebuild.sh /tmp/tree && SCRIM_WASM_ROOT=/tmp/tree go test ./plugins/...
set -eu
tree=${1:-$(cd "$(dirname "$0")/.." && pwd)}
"$tree/plugins/testdata/build.sh"
for d in motd info denykeys passwd release; do
	"$tree/examples/$d/build.sh"
done
