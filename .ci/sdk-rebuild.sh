#!/bin/sh
# Rebuilds every plugin written with the SDKs (the C, Rust, AssemblyScript and Go probes and
# every example) from source into a scratch tree, then runs the cross-language tests
# (sdk/conformance, examples) against those fresh builds instead of the checked-in .wasm files.
# The Go examples' tests live in package plugins and read the checked-in files; for them the
# check below, that each checked-in module equals its fresh build, is what keeps them honest.
#
# It installs nothing. It needs, on PATH or where Debian puts them:
#   clang, lld, wasi-libc, libclang-rt-dev-wasm32   (C)
#   rustc 1.63+, libstd-rust-dev-wasm32 and cargo    (Rust; /usr/bin/rustc is preferred)
#   node, and `npm ci` done in sdk/assemblyscript    (AssemblyScript)
#   go                                               (the Go probe and the tests)
#
# A checked-in .wasm that differs from its fresh build is reported: rebuild it with its
# build.sh and commit it. With SCRIM_SDK_STRICT=1 that is an error.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
out=$(mktemp -d "${TMPDIR:-/tmp}/scrim-sdk-rebuild.XXXXXX")
trap 'rm -rf "$out"' EXIT

if [ ! -x sdk/assemblyscript/node_modules/.bin/asc ]; then
	echo "sdk-rebuild: sdk/assemblyscript/node_modules is missing: run npm ci --prefix sdk/assemblyscript" >&2
	exit 1
fi

# Each line: the module's path in the repository, then the script that builds it.
modules='
sdk/c/probe/probe.wasm sdk/c/probe/build.sh
sdk/rust/probe/probe.wasm sdk/rust/probe/build.sh
sdk/assemblyscript/probe/probe.wasm sdk/assemblyscript/probe/build.sh
sdk/conformance/goprobe/goprobe.wasm sdk/conformance/goprobe/build.sh
examples/secrets/secrets.wasm examples/secrets/build.sh
examples/users/users.wasm examples/users/build.sh
examples/banner/banner.wasm examples/banner/build.sh
examples/motd/motd.wasm go
examples/info/info.wasm go
examples/denykeys/denykeys.wasm go
examples/passwd/passwd.wasm go
examples/release/release.wasm go
'

stale=0
echo "$modules" | while read -r wasm script; do
	[ -n "$wasm" ] || continue
	mkdir -p "$out/$(dirname "$wasm")"
	if [ "$script" = go ]; then
		# The Go examples' build.sh writes beside the source; this is its command, run in
		# the example's own module (sdk/go/README.md).
		echo "sdk-rebuild: go build -> $wasm"
		(cd "$(dirname "$wasm")" && GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -trimpath -ldflags=-s \
			-o "$out/$wasm" .)
	else
		echo "sdk-rebuild: $script -> $wasm"
		"./$script" "$out/$wasm"
	fi
	if ! cmp -s "$wasm" "$out/$wasm"; then
		echo "sdk-rebuild: $wasm differs from its fresh build; rebuild it and commit it" >&2
		touch "$out/.stale"
	fi
done
[ -e "$out/.stale" ] && stale=1

# The Rust SDK as a cargo dependency, by path and by git, built the way sdk/rust/README.md
# says: the README's complete plugin in a crate of its own, with build.sh --cargo, which must
# pick a cargo and a rustc that belong together whatever is first on PATH.
rust_crate() { # DIR DEPENDENCY
	mkdir -p "$1/src"
	printf '[package]\nname = "motd"\nversion = "0.1.0"\nedition = "2021"\n\n[lib]\ncrate-type = ["cdylib"]\n\n[dependencies]\nscrim = %s\n' "$2" >"$1/Cargo.toml"
	awk '/^```rust$/ { on = 1; next } /^```$/ { if (on) exit } on' sdk/rust/README.md >"$1/src/lib.rs"
	echo "sdk-rebuild: cargo, scrim = $2"
	(cd "$1" && CARGO_HOME="$1/.cargo-home" "$root/sdk/rust/build.sh" --cargo --quiet)
	go run ./cmd/scrim plugin inspect "$(ls "$1"/target/wasm32-wasi*/release/motd.wasm)" | grep -q '^problems  none'
}
rust_crate "$out/cargo-path" "{ path = \"$root/sdk/rust\" }"
rust_crate "$out/cargo-git" "{ git = \"file://$root\" }"

SCRIM_WASM_ROOT="$out" go test -count=1 ./sdk/conformance/ ./examples/

if [ "$stale" = 1 ] && [ "${SCRIM_SDK_STRICT:-0}" = 1 ]; then
	echo "sdk-rebuild: checked-in modules are stale (SCRIM_SDK_STRICT=1)" >&2
	exit 1
fi
echo "sdk-rebuild: ok"
