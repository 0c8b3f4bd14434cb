#!/usr/bin/env bash
# `kvcompose bench`: KVCompose with uniform layer budgets and with its global allocation realised
# per layer (--kv-budget global, kvcompose's llama.cpp patch), side by side at the same total KV
# bytes, with StreamingLLM and stock llama.cpp's llama-completion, on a CPU-only machine: the
# single needle at three depths in about 2k and 4k tokens, ratios 0.25 and 0.125. Writes
# results.md (table and targets), results.json, accuracy.svg, phases.svg, progress.log and
# machine.txt (commit and machine) into needle-2k-4k/ here. LLAMA_COMPLETION=PATH skips building it.
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
here="$root/docs/results/2026-11-30-bench-global"
cd "$root"
llama_completion=${LLAMA_COMPLETION:-$(scripts/build-llama-completion.sh | tail -n 1)}
cargo build --release --locked
# A copy, so that rebuilding the tree while this runs changes nothing.
bin=$(mktemp -d)/kvcompose
cp target/release/kvcompose "$bin"

dir="$here/needle-2k-4k"
mkdir -p "$dir"
{ echo "commit: $(git rev-parse --short HEAD)"; echo "cores: $(nproc)"; grep -m1 "model name" /proc/cpuinfo; free -g | head -2; } > "$dir/machine.txt"
"$bin" bench --tasks needle --lengths 8000,16000 --depths 0.2,0.5,0.8 --methods kvcompose,streaming \
    --ratios 0.25,0.125 --budgets uniform,global \
    --llama-completion "$llama_completion" --out "$dir" 2> "$dir/progress.log"
