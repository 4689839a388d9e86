#!/usr/bin/env bash
# Cross-builds tests for aarch64-unknown-linux-gnu and runs them under QEMU
# user-mode emulation once per emulated CPU:
#   - QEMU_CPU=cortex-a72 (Raspberry Pi 4: NEON, no dotprod) -> "neon" path
#   - QEMU_CPU=cortex-a76 (Raspberry Pi 5: NEON + dotprod)    -> "dotprod" path
# and checks that run-time feature detection picked the expected path
# (EDGE_LLAMA_EXPECT_DOTPROD=0|1 is asserted by arm::tests::detected_paths).
#
# What runs (AARCH64_SCOPE):
#   arch (default) - everything whose result can depend on the CPU: the whole
#                    edge-llama-kernels crate (unit tests, scalar, fixtures,
#                    simd_vs_scalar, kquant_paths, required_paths; or only the
#                    test files named in AARCH64_KERNEL_TESTS), the edge-llama
#                    unit tests, and the end-to-end model tests named in
#                    AARCH64_MODEL_TESTS (default: llama_cpp_parity,
#                    kquants_parity and cross_arch_logits, which compares the
#                    default-numerics logits of the Q4_0/Q8_0/F16 and K-quant
#                    fixtures with the hashes recorded on x86-64). The other
#                    integration tests (parsing, tokenizers, sampler, ring
#                    buffer, long context) are architecture-neutral, run on
#                    x86 in CI, and take minutes under emulation.
#   full           - the whole workspace (--workspace --lib --bins --tests);
#                    slow under QEMU (long_context alone runs > 10 min).
#
# Toolchain: Debian's rustc, cross gcc and QEMU, installed when missing by
# scripts/lib/aarch64-toolchain.sh (shared with scripts/build-pi.sh). Linker,
# runner and static linking are set in .cargo/config.toml. Doctests are
# skipped (no aarch64 rustdoc).
#
# It also cross-builds the C example (examples/c/generate.c, static) and
# runs it on the fixture model under each CPU, checking the kernel path.
#
# Usage: scripts/test-aarch64.sh [extra args for the test binaries, e.g. a
#        name filter]
# Env:   AARCH64_SCOPE=arch|full, AARCH64_CPUS="cortex-a72 cortex-a76",
#        AARCH64_KERNEL_TESTS="" (all kernels test files; or e.g.
#        "kquant_paths required_paths": the kernels unit tests plus those),
#        AARCH64_MODEL_TESTS="llama_cpp_parity kquants_parity cross_arch_logits"
#        ("" for none: the edge-llama unit tests only),
#        CARGO_TARGET_DIR (default target/aarch64-cross)
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/lib/aarch64-toolchain.sh
source scripts/lib/aarch64-toolchain.sh
TARGET=$AARCH64_TARGET
CPUS=${AARCH64_CPUS:-"cortex-a72 cortex-a76"}
SCOPE=${AARCH64_SCOPE:-arch}
MODEL_TESTS=${AARCH64_MODEL_TESTS-llama_cpp_parity kquants_parity cross_arch_logits}
KERNEL_TESTS=${AARCH64_KERNEL_TESTS:-}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target/aarch64-cross}
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}

phase_start=$SECONDS
phase_name=""
phase() { # phase NAME: prints the time the previous phase took
    local now=$SECONDS
    [ -n "$phase_name" ] && echo "== ${phase_name}: $((now - phase_start)) s"
    phase_name=$1
    phase_start=$now
    [ -n "$1" ] && echo "== $1"
    return 0
}

phase "toolchain"
aarch64_toolchain

# The test targets of the chosen scope, as cargo invocations (one per line).
case $SCOPE in
    full)
        runs=("--workspace --lib --bins --tests")
        ;;
    arch)
        kernels="-p edge-llama-kernels --lib"
        if [ -z "$KERNEL_TESTS" ]; then
            kernels="$kernels --tests"
        fi
        for t in $KERNEL_TESTS; do
            if [ -f "kernels/tests/$t.rs" ]; then
                kernels="$kernels --test $t"
            else
                echo "note: kernels/tests/$t.rs does not exist; skipped" >&2
            fi
        done
        runs=("$kernels")
        root="-p edge-llama --lib"
        for t in $MODEL_TESTS; do
            if [ -f "tests/$t.rs" ]; then
                root="$root --test $t"
            else
                echo "note: tests/$t.rs does not exist; skipped" >&2
            fi
        done
        runs+=("$root")
        ;;
    *)
        echo "unknown AARCH64_SCOPE=$SCOPE (arch|full)" >&2
        exit 2
        ;;
esac

phase "cross build ($TARGET, release, scope $SCOPE)"
for r in "${runs[@]}"; do
    # shellcheck disable=SC2086 # $r is a list of cargo arguments
    cargo test --release --target "$TARGET" $r --no-run
done
# The C example, linked statically with the C library (as build-pi.sh does).
c_generate=$CARGO_TARGET_DIR/c-examples/generate
c_model=../shared/fixtures/tiny-gqa-q4_0.gguf
scripts/build-c-examples.sh --aarch64 "$(dirname "$c_generate")"

failed=""
for cpu in $CPUS; do
    case $cpu in
        cortex-a72 | cortex-a53 | cortex-a57) expect=0 ;;
        cortex-a76 | cortex-a55 | neoverse-n1 | max) expect=1 ;;
        *) expect="" ;;
    esac
    phase "tests under QEMU_CPU=$cpu (expect dotprod: ${expect:-unchecked})"
    export QEMU_CPU=$cpu
    if [ -n "$expect" ]; then
        export EDGE_LLAMA_EXPECT_DOTPROD=$expect
    else
        unset EDGE_LLAMA_EXPECT_DOTPROD
    fi
    # Paths kernels/tests/required_paths.rs must find and run on this CPU.
    export EDGE_LLAMA_REQUIRE_PATHS=$([ "$expect" = 1 ] && echo neon,dotprod || echo neon)
    # Which path did run-time detection choose on this CPU? (The test also
    # asserts the EDGE_LLAMA_EXPECT_DOTPROD expectation.)
    if ! out=$(cargo test --release --target "$TARGET" -p edge-llama-kernels --lib \
        arm::tests::detected_paths -- --nocapture 2>&1); then
        echo "$out" >&2
        echo "kernel path detection check failed under QEMU_CPU=$cpu" >&2
        failed="$failed $cpu"
        continue
    fi
    echo "$out" | grep -E "kernel path"
    if [ -f "$c_model" ]; then
        # The C example: generates text on the kernel path this CPU should get.
        want=""
        [ "$expect" = 0 ] && want=neon
        [ "$expect" = 1 ] && want=dotprod
        if out=$(qemu-aarch64-static "$c_generate" --model "$c_model" --prompt "Once upon a time" \
            -n 8 --temp 0 2>&1) && { [ -z "$want" ] || grep -q "kernels $want," <<<"$out"; } &&
            grep -q '^Once upon a time.' <<<"$out"; then
            echo "C example: $(grep -o 'kernels [a-z0-9]*' <<<"$out"); $(grep -m1 '^Once upon a time' <<<"$out" | cut -c1-60)"
        else
            echo "$out" >&2
            echo "C example failed under QEMU_CPU=$cpu (expected kernels ${want:-any})" >&2
            failed="$failed $cpu"
        fi
    else
        echo "note: $c_model not found; C example not run" >&2
    fi
    for r in "${runs[@]}"; do
        # shellcheck disable=SC2086
        if ! cargo test --release --target "$TARGET" $r --no-fail-fast -- "$@"; then
            failed="$failed $cpu"
        fi
    done
done
phase ""
echo "== aarch64 total: ${SECONDS} s"
if [ -n "$failed" ]; then
    echo "== aarch64 tests FAILED under:$failed" >&2
    exit 1
fi
echo "== aarch64 tests passed under: $CPUS"
