#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ briefly (issue 13), for CI:
# FUZZ_SECONDS per target (default 30), each run with -rss_limit_mb and
# -timeout set, starting from the seed corpus that fuzz/seedgen writes.
# Needs the nightly toolchain; without it, prints why and exits 0.
# Installs cargo-fuzz from crates.io when missing. A crash, hang (> 10 s on
# one input) or out-of-memory (> 2 GB) fails the script, naming the input.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${FUZZ_SECONDS:-30}
rss_mb=${FUZZ_RSS_MB:-2048}
start=$SECONDS

if ! rustup run nightly rustc --version >/dev/null 2>&1; then
    echo "fuzz: SKIPPED: the nightly toolchain is not available (rustup toolchain install nightly)"
    exit 0
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz"
    if ! cargo install --locked cargo-fuzz; then
        echo "fuzz: SKIPPED: cargo-fuzz could not be installed"
        exit 0
    fi
fi

seeds=target/fuzz-seeds
rm -rf "$seeds"
cargo run -q --manifest-path fuzz/seedgen/Cargo.toml -- "$seeds"
# -a: debug assertions and overflow checks on, as in `cargo test`.
cargo +nightly fuzz build -a
echo "fuzz: built in $((SECONDS - start)) s; ${secs} s per target"

for t in $(cargo +nightly fuzz list); do
    work=target/fuzz-ci/$t
    rm -rf "$work"
    mkdir -p "$work"
    dirs=("$work")
    if [ -d "$seeds/$t" ]; then
        dirs+=("$seeds/$t")
    fi
    log=target/fuzz-ci/$t.log
    if ! cargo +nightly fuzz run -a "$t" "${dirs[@]}" -- \
        -max_total_time="$secs" -rss_limit_mb="$rss_mb" -timeout=10 \
        -print_final_stats=1 >"$log" 2>&1; then
        tail -n 60 "$log"
        echo "fuzz: $t FAILED; the input is under fuzz/artifacts/$t/" >&2
        exit 1
    fi
    runs=$(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}' || true)
    cov=$(grep -E 'DONE +cov' "$log" | tail -n 1 | grep -oE 'cov: [0-9]+ ft: [0-9]+' || true)
    echo "fuzz: $t ok: ${runs:-?} runs, ${cov:-coverage not printed}"
done
echo "fuzz: done in $((SECONDS - start)) s"
