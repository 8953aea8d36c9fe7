#!/bin/sh
# Rebuilds release.wasm from main.go with the Go toolchain alone.
set -eu
cd "$(dirname "$0")"
GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -trimpath -ldflags=-s -o release.wasm .
