#!/bin/sh
# Rebuilds secrets.wasm from secrets.c with clang, lld and wasi-libc (Debian: apt-get install
# clang lld wasi-libc libclang-rt-dev-wasm32). With an argument, writes there instead.
set -eu
cd "$(dirname "$0")"
clang --target=wasm32-wasi --sysroot=/usr -mexec-model=reactor -O2 -Wall -Wextra -Werror \
	-Wl,--strip-all -o "${1:-secrets.wasm}" secrets.c
