#!/bin/sh
# Rebuilds every test plugin from its WAT source. Needs wat2wasm (Debian: apt-get install wabt).
# The .wasm files are checked in so that go test needs no toolchain.
set -eu
cd "$(dirname "$0")"
for f in *.wat; do
	wat2wasm --enable-all -o "${f%.wat}.wasm" "$f"
done
