#!/bin/sh
# Rebuilds probe.wasm from probe.c (clang, lld and wasi-libc; on Debian:
# apt-get install clang lld wasi-libc libclang-rt-dev-wasm32). With an argument, writes there.
set -eu
cd "$(dirname "$0")"
out="${1:-probe.wasm}"
clang --target=wasm32-wasi --sysroot=/usr -mexec-model=reactor -O2 -Wall -Wextra -Werror \
	-Wl,--strip-all -o "$out" probe.c
