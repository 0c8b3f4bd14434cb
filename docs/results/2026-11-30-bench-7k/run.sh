#!/usr/bin/env bash
# `kvcompose bench` at the issue's longest SmolLM2 length: the single needle at three depths in
# about 7k tokens of RULER's Paul Graham essays (--haystack essays, 28000 characters), KVCompose
# with uniform and global layer budgets and StreamingLLM at 0.25, stock llama.cpp's
# llama-completion beside, on a CPU-only machine. Writes results.md (table and targets),
# results.json, accuracy.svg, phases.svg, progress.log and machine.txt into needle-7k/ here.
# LLAMA_COMPLETION=PATH skips building llama-completion.
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
here="$root/docs/results/2026-11-30-bench-7k"
cd "$root"
llama_completion=${LLAMA_COMPLETION:-$(scripts/build-llama-completion.sh | tail -n 1)}
cargo build --release --locked
# A copy, so that rebuilding the tree while this runs changes nothing.
bin=$(mktemp -d)/kvcompose
cp target/release/kvcompose "$bin"

dir="$here/needle-7k"
mkdir -p "$dir"
{ echo "commit: $(git rev-parse --short HEAD)"; echo "cores: $(nproc)"; grep -m1 "model name" /proc/cpuinfo; free -g | head -2; } > "$dir/machine.txt"
"$bin" bench --haystack essays --tasks needle --lengths 28000 --depths 0.2,0.5,0.8 --methods kvcompose,streaming \
    --ratios 0.25 --budgets uniform,global \
    --llama-completion "$llama_completion" --out "$dir" 2> "$dir/progress.log"
