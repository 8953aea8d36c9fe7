#!/bin/sh
# Builds a scrim plugin written with this SDK, with rustc alone (no cargo, no crates):
#
#   sdk/rust/build.sh SOURCE.rs OUT.wasm
#
# or, in the directory of a cargo crate that depends on this SDK (sdk/rust/README.md), with
# cargo:
#
#   sdk/rust/build.sh --cargo [CARGO BUILD ARGS...]
#
# Needs rustc 1.63 or later with the standard library for wasm32-wasi (Debian: apt-get install
# rustc libstd-rust-dev-wasm32, and cargo for --cargo) or wasm32-wasip1 (rustup target add
# wasm32-wasip1). The compiler, cargo and the target must belong together: a newer cargo asks
# an older rustc things it does not know (`unknown print request 'split-debuginfo'`), and a
# rustup rustc earlier on PATH may lack the wasm target Debian's has. So the script picks a
# pair: RUSTC (and CARGO) when set; otherwise Debian's /usr/bin/rustc (and /usr/bin/cargo) when
# they exist and have the wasm32 standard library; otherwise rustc and cargo from PATH. The
# target is the one that toolchain has, wasm32-wasip1 or wasm32-wasi; RUST_TARGET overrides it.
set -eu
usage() {
	echo "usage: $0 SOURCE.rs OUT.wasm" >&2
	echo "       $0 --cargo [CARGO BUILD ARGS...]   (in a crate's directory)" >&2
	exit 2
}
[ $# -ge 1 ] || usage
mode=rustc
if [ "$1" = --cargo ]; then
	mode=cargo
	shift
elif [ $# -ne 2 ]; then
	usage
fi
sdk=$(cd "$(dirname "$0")" && pwd)

# target_of RUSTC prints the wasm target RUSTC has a standard library for, or nothing.
target_of() {
	root=$("$1" --print sysroot 2>/dev/null) || return 0
	for t in wasm32-wasip1 wasm32-wasi; do
		if [ -f "$root/lib/rustlib/$t/lib/self-contained/crt1-reactor.o" ]; then
			echo "$t"
			return 0
		fi
	done
}

if [ -z "${RUSTC:-}" ]; then
	RUSTC=rustc
	if [ -x /usr/bin/rustc ] && [ -n "$(target_of /usr/bin/rustc)" ] &&
		{ [ "$mode" = rustc ] || [ -x /usr/bin/cargo ]; }; then
		RUSTC=/usr/bin/rustc
		[ "$mode" = rustc ] || CARGO=${CARGO:-/usr/bin/cargo}
	fi
fi
CARGO=${CARGO:-cargo}
target=${RUST_TARGET:-$(target_of "$RUSTC")}
if [ -z "$target" ]; then
	echo "$0: $RUSTC has no standard library for wasm32-wasip1 or wasm32-wasi: install it (Debian: apt-get install libstd-rust-dev-wasm32; rustup: rustup target add wasm32-wasip1)" >&2
	exit 1
fi
# Link as a WASI reactor: crt1-reactor.o exports _initialize, which runs the C runtime's
# constructors once per instance. Without it the linker wraps every export in a call to them
# (a "command" module), re-running them at each open. Stable rustc has no flag for this.
crt="$("$RUSTC" --print sysroot)/lib/rustlib/$target/lib/self-contained/crt1-reactor.o"
if [ ! -f "$crt" ]; then
	echo "$0: $crt not found: install the $target standard library" >&2
	exit 1
fi

if [ "$mode" = cargo ]; then
	echo "$0: $CARGO with $RUSTC ($("$RUSTC" --version)), target $target" >&2
	RUSTC="$RUSTC" RUSTFLAGS="${RUSTFLAGS:-} -C link-arg=$crt" \
		"$CARGO" build --release --target "$target" "$@"
	echo "$0: the plugin is target/$target/release/CRATE.wasm" >&2
	exit 0
fi

src=$1
out=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# rustc writes source paths into the module (panic locations): map them to fixed names so the
# same source gives the same bytes wherever the tree is checked out.
remap="--remap-path-prefix=$sdk=scrim-sdk --remap-path-prefix=$tmp=build --remap-path-prefix=$PWD=."
# shellcheck disable=SC2086 # $remap is three words on purpose
"$RUSTC" --edition 2021 --crate-name scrim --crate-type rlib --target "$target" -O $remap \
	--out-dir "$tmp" "$sdk/src/lib.rs"
# shellcheck disable=SC2086
"$RUSTC" --edition 2021 --crate-type cdylib --target "$target" -O -C strip=symbols $remap \
	--extern scrim="$tmp/libscrim.rlib" -C link-arg="$crt" -o "$out" "$src"
