#!/bin/sh
# Rebuilds goprobe.wasm from main.go with the Go toolchain alone. With an argument, writes there.
set -eu
cd "$(dirname "$0")"
out="${1:-goprobe.wasm}"
case "$out" in /*) ;; *) out="$PWD/$out" ;; esac
GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -trimpath -ldflags=-s -o "$out" .
