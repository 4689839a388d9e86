#!/usr/bin/env bash
# Side by side in one run: this crate's `bench` and llama.cpp's (repacked and
# in-map modes, via ../shared/tools/llamacpp-bench.sh), pp512/tg128 at 1 and 2
# threads, for each file in MODELS (and the 7B shape with L7B=path, pp64/tg16).
# Each file is re-read into 2 MiB page-cache pages (`bench --reread`) before
# ours and before llama.cpp's in-map run, so every program maps it in the same
# state. BASE=path/to/an/older/bench adds that build's figures.
#
#   cargo build --release --example bench
#   MODELS="a.gguf b.gguf" scripts/bench-vs-llamacpp.sh > bench.log 2>&1
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
new=${NEW:-$here/target/release/examples/bench}
llama=${LLAMA_BENCH:-$here/../shared/tools/llamacpp-bench.sh}
base=${BASE:-}
: "${MODELS:?set MODELS to the GGUF files to measure}"
reread() { echo "## reread"; "$new" --model "$1" -p 1 -n 1 --reps 1 --reread 2>&1 | grep -E 'pages'; }
run() { # model threads pp tg reps
  local m=$1 t=$2 p=$3 n=$4 r=$5
  reread "$m"
  echo "-- ours (now)"; /usr/bin/time -f "peak RSS %M KiB" "$new" --model "$m" -p "$p" -n "$n" --reps "$r" --threads "$t" 2>&1 | grep -E '\| *(pp|tg)|generation|memory read|RSS|pages'
  echo "-- llama.cpp repack"; /usr/bin/time -f "peak RSS %M KiB" "$llama" "$m" "$t" "$p" "$n" "$r"
  reread "$m"
  echo "-- llama.cpp no-repack"; REPACK=0 "$llama" "$m" "$t" "$p" "$n" "$r"
  if [ -n "$base" ]; then echo "-- ours (base build)"; "$base" --model "$m" -p "$p" -n "$n" --reps "$r" --threads "$t" 2>&1 | grep -E '\| *(pp|tg)'; fi
}
for t in ${THREADS:-1 2}; do
  for m in $MODELS; do echo "### $m threads=$t"; run "$m" "$t" 512 128 2; done
done
if [ -n "${L7B:-}" ]; then
  for t in ${THREADS:-1 2}; do echo "### $L7B threads=$t (pp64/tg16)"; run "$L7B" "$t" 64 16 1; done
fi
