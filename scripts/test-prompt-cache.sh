#!/usr/bin/env bash
# Checks `examples/generate --prompt-cache FILE` end to end on the fixture
# models: absent file -> evaluated and saved; same prompt -> restored, same
# output; longer prompt -> restored prefix, same output as without a cache;
# corrupted file / another model's file / not a session file -> non-zero
# exit with a clear error, and the file is left as it was.
set -euo pipefail
cd "$(dirname "$0")/.."
fixtures=../shared/fixtures
if [ ! -d "$fixtures" ]; then
    echo "skipped: $fixtures not found"
    exit 0
fi
cargo build -q --release --example generate
gen=target/release/examples/generate
model=$fixtures/tiny-gqa-q4_0.gguf
other=$fixtures/tiny-gqa-q8_0.gguf
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cache=$dir/prompt.elss
prompt="Once upon a time, in a small village by the sea, there lived"
run() { "$gen" --temp 0 -n 16 "$@" 2>"$dir/err"; }
fail() { echo "FAIL: $*" >&2; cat "$dir/err" >&2; exit 1; }

run --model "$model" --prompt "$prompt" >"$dir/plain.txt"
run --model "$model" --prompt "$prompt" --prompt-cache "$cache" >"$dir/first.txt"
grep -q "absent" "$dir/err" || fail "absent file not reported"
[ -s "$cache" ] || fail "cache not saved"
cmp -s "$dir/plain.txt" "$dir/first.txt" || fail "saving changed the output"
run --model "$model" --prompt "$prompt" --prompt-cache "$cache" >"$dir/second.txt"
grep -q "restored" "$dir/err" || fail "cache not restored"
grep -q "(0 from the prompt cache)" "$dir/err" && fail "nothing taken from the cache"
cmp -s "$dir/plain.txt" "$dir/second.txt" || fail "restored run differs"
echo "ok: absent -> saved; same prompt -> restored, identical output"

longer="$prompt an old fisherman and his cat"
run --model "$model" --prompt "$longer" >"$dir/plain-longer.txt"
run --model "$model" --prompt "$longer" --prompt-cache "$cache" >"$dir/longer.txt"
grep -q "restored" "$dir/err" || fail "prefix not restored"
cmp -s "$dir/plain-longer.txt" "$dir/longer.txt" || fail "prefix run differs"
echo "ok: cached prefix restored, the rest evaluated, identical output"

expect_refused() {
    local what=$1 file=$2 pattern=$3
    shift 3
    cp "$file" "$dir/before"
    if run "$@" --prompt "$prompt" --prompt-cache "$file" >/dev/null; then
        fail "$what: accepted"
    fi
    grep -q "$pattern" "$dir/err" || fail "$what: unclear error"
    cmp -s "$file" "$dir/before" || fail "$what: file changed"
    echo "ok: $what -> exit non-zero: $(grep error "$dir/err")"
}
cp "$cache" "$dir/corrupt.elss"
printf '\x55' | dd of="$dir/corrupt.elss" bs=1 seek=300 conv=notrunc 2>/dev/null
expect_refused "corrupted file" "$dir/corrupt.elss" "corrupted" --model "$model"
expect_refused "another model's file" "$cache" "another model" --model "$other"
head -c 100 "$cache" >"$dir/short.elss"
expect_refused "truncated file" "$dir/short.elss" "truncated" --model "$model"
expect_refused "a GGUF file" "$model" "not a saved session" --model "$model"
