#!/usr/bin/env bash
# Builds static aarch64 Linux binaries for a Raspberry Pi 4/5 (or any
# 64-bit ARM Linux) on this x86-64 machine, with the Debian cross toolchain
# that scripts/test-aarch64.sh uses (installed when missing, see
# scripts/lib/aarch64-toolchain.sh):
#
#   OUT_DIR/                 (default target/pi)
#     generate chat bench inspect tokenize quantize   the Rust examples
#     c/generate c/chat      the C examples, linked statically with the C library
#     lib/libedge_llama_capi.a   the C library (static)
#     include/edge_llama.h   its header
#
# Every binary is statically linked (no glibc version to match on the Pi)
# and stripped of debug info in OUT_DIR (the copies under CARGO_TARGET_DIR
# keep it). Only the static C library is built: Rust drops the cdylib crate
# type for a target linked with +crt-static (.cargo/config.toml).
# Then, unless --no-check, each CPU in PI_CPUS (default "cortex-a72
# cortex-a76": Pi 4 and Pi 5) runs `generate` and `c/generate` on the
# fixture model under qemu-aarch64-static and checks that text came out and
# that the kernel path is the one that CPU should get (neon / dotprod).
#
# Usage: scripts/build-pi.sh [--no-check] [OUT_DIR]
# Env:   CARGO_TARGET_DIR (default target/aarch64-cross, shared with
#        test-aarch64.sh), PI_CPUS, PI_CHECK_MODEL (default
#        ../shared/fixtures/tiny-gqa-q4_0.gguf)
set -euo pipefail
cd "$(dirname "$0")/.."

check=1
if [ "${1:-}" = "--no-check" ]; then
    check=0
    shift
fi
OUT=${1:-target/pi}
EXAMPLES="generate chat bench inspect tokenize quantize"

# shellcheck source=scripts/lib/aarch64-toolchain.sh
source scripts/lib/aarch64-toolchain.sh
aarch64_toolchain
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target/aarch64-cross}
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}
T=$AARCH64_TARGET

echo "== Rust examples ($T, release, static)"
ex_args=()
for e in $EXAMPLES; do ex_args+=(--example "$e"); done
cargo build --release --target "$T" -p edge-llama "${ex_args[@]}"
echo "== C library and C examples"
scripts/build-c-examples.sh --aarch64 "$OUT/c"

mkdir -p "$OUT/lib" "$OUT/include"
strip=aarch64-linux-gnu-strip
for e in $EXAMPLES; do
    "$strip" -o "$OUT/$e" "$CARGO_TARGET_DIR/$T/release/examples/$e"
done
for c in "$OUT"/c/*; do "$strip" "$c"; done
"$strip" --strip-debug -o "$OUT/lib/libedge_llama_capi.a" "$CARGO_TARGET_DIR/$T/release/libedge_llama_capi.a"
cp include/edge_llama.h "$OUT/include/"
echo "== built in $OUT:"
(cd "$OUT" && ls -l $EXAMPLES c/* lib/* include/*)

[ $check -eq 1 ] || exit 0
model=${PI_CHECK_MODEL:-../shared/fixtures/tiny-gqa-q4_0.gguf}
if [ ! -f "$model" ]; then
    echo "note: $model not found; the QEMU check is skipped" >&2
    exit 0
fi
failed=""
for cpu in ${PI_CPUS:-cortex-a72 cortex-a76}; do
    case $cpu in
        cortex-a72 | cortex-a53 | cortex-a57) want=neon ;;
        *) want=dotprod ;;
    esac
    for bin in "$OUT/generate" "$OUT/c/generate"; do
        if ! out=$(QEMU_CPU=$cpu qemu-aarch64-static "$bin" --model "$model" \
            --prompt "Once upon a time" -n 8 --temp 0 2>&1); then
            echo "$out" >&2
            failed="$failed $cpu:$bin"
            continue
        fi
        kernels=$(printf '%s\n' "$out" | sed -n 's/.*kernels \([a-z0-9]*\),.*/\1/p' | head -n1)
        text=$(printf '%s\n' "$out" | grep -m1 '^Once upon a time' || true)
        echo "QEMU_CPU=$cpu $bin: kernels $kernels; text: ${text:0:70}"
        if [ "$kernels" != "$want" ] || [ "${#text}" -le 16 ]; then
            echo "expected kernels $want and generated text" >&2
            failed="$failed $cpu:$bin"
        fi
    done
done
if [ -n "$failed" ]; then
    echo "== Pi binaries FAILED under QEMU:$failed" >&2
    exit 1
fi
echo "== Pi binaries run under QEMU (${PI_CPUS:-cortex-a72 cortex-a76})"
