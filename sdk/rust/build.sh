#!/bin/sh
# Builds a scrim plugin written with this SDK, with rustc alone (no cargo, no crates):
#
#   sdk/rust/build.sh SOURCE.rs OUT.wasm
#
# Needs rustc 1.63 or later with the wasm32-wasi standard library (Debian: apt-get install
# rustc libstd-rust-dev-wasm32). RUSTC overrides the compiler; it defaults to /usr/bin/rustc
# when that exists, since a rustup rustc earlier on PATH may lack the wasm32-wasi target.
# RUST_TARGET overrides the target: newer rustc calls it wasm32-wasip1.
set -eu
if [ $# -ne 2 ]; then
	echo "usage: $0 SOURCE.rs OUT.wasm" >&2
	exit 2
fi
src=$1
out=$2
sdk=$(cd "$(dirname "$0")" && pwd)
if [ -z "${RUSTC:-}" ]; then
	if [ -x /usr/bin/rustc ]; then RUSTC=/usr/bin/rustc; else RUSTC=rustc; fi
fi
target=${RUST_TARGET:-wasm32-wasi}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Link as a WASI reactor: crt1-reactor.o exports _initialize, which runs the C runtime's
# constructors once per instance. Without it the linker wraps every export in a call to them
# (a "command" module), re-running them at each open. Stable rustc has no flag for this.
crt="$("$RUSTC" --print sysroot)/lib/rustlib/$target/lib/self-contained/crt1-reactor.o"
if [ ! -f "$crt" ]; then
	echo "$0: $crt not found: install the wasm32-wasi standard library" >&2
	exit 1
fi
# rustc writes source paths into the module (panic locations): map them to fixed names so the
# same source gives the same bytes wherever the tree is checked out.
remap="--remap-path-prefix=$sdk=scrim-sdk --remap-path-prefix=$tmp=build --remap-path-prefix=$PWD=."
# shellcheck disable=SC2086 # $remap is three words on purpose
"$RUSTC" --edition 2021 --crate-name scrim --crate-type rlib --target "$target" -O $remap \
	--out-dir "$tmp" "$sdk/src/lib.rs"
# shellcheck disable=SC2086
"$RUSTC" --edition 2021 --crate-type cdylib --target "$target" -O -C strip=symbols $remap \
	--extern scrim="$tmp/libscrim.rlib" -C link-arg="$crt" -o "$out" "$src"
