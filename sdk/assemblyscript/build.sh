#!/bin/sh
# Builds a scrim plugin written with this SDK:
#
#   sdk/assemblyscript/build.sh ENTRY.ts OUT.wasm
#
# Needs node and this directory's npm packages (npm ci here). The module is a reactor: its
# top-level code, which calls register, runs in the exported _initialize.
set -eu
if [ $# -ne 2 ]; then
	echo "usage: $0 ENTRY.ts OUT.wasm" >&2
	exit 2
fi
sdk=$(cd "$(dirname "$0")" && pwd)
asc="$sdk/node_modules/.bin/asc"
if [ ! -x "$asc" ]; then
	echo "$0: $asc not found: run npm ci in $sdk" >&2
	exit 1
fi
"$asc" "$1" --outFile "$2" --exportStart _initialize -O3 --noAssert
