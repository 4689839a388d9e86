#!/usr/bin/env bash
# Builds the C examples (examples/c/*.c) against the static C library
# (crate capi/, header include/edge_llama.h) with a plain C compiler.
#
# Usage: scripts/build-c-examples.sh [OUT_DIR]             (host, default target/c-examples)
#        scripts/build-c-examples.sh --aarch64 [OUT_DIR]   (static aarch64 binaries,
#            default target/aarch64-cross/c-examples; Debian cross toolchain,
#            installed when missing by scripts/lib/aarch64-toolchain.sh)
# Env:   CC (host compiler, default cc), CFLAGS (default -O2 -Wall -Wextra -Werror)
set -euo pipefail
cd "$(dirname "$0")/.."

cross=0
if [ "${1:-}" = "--aarch64" ]; then
    cross=1
    shift
fi
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}
CFLAGS=${CFLAGS:-"-O2 -std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Werror"}

if [ $cross -eq 1 ]; then
    # shellcheck source=scripts/lib/aarch64-toolchain.sh
    source scripts/lib/aarch64-toolchain.sh
    aarch64_toolchain >/dev/null
    export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target/aarch64-cross}
    cargo build --release -p edge-llama-capi --target "$AARCH64_TARGET"
    lib_dir=$CARGO_TARGET_DIR/$AARCH64_TARGET/release
    out=${1:-$CARGO_TARGET_DIR/c-examples}
    cc=$AARCH64_CC
    # Fully static: runs on any aarch64 Linux (and under qemu-user, where
    # dynamically linked binaries hang at their first thread spawn).
    link=(-static -lpthread -lm -ldl)
else
    cargo build --release -p edge-llama-capi
    lib_dir=${CARGO_TARGET_DIR:-target}/release
    out=${1:-target/c-examples}
    cc=${CC:-cc}
    # What `rustc --print native-static-libs` lists for this library on
    # Linux (-lgcc_s and -lc come with the compiler driver).
    link=(-lutil -lrt -lpthread -lm -ldl)
fi

mkdir -p "$out"
for src in examples/c/*.c; do
    name=$(basename "$src" .c)
    # shellcheck disable=SC2086 # CFLAGS is a list of flags
    "$cc" $CFLAGS -Iinclude "$src" "$lib_dir/libedge_llama_capi.a" "${link[@]}" -o "$out/$name"
    echo "built $out/$name"
done
