#!/usr/bin/env bash
# `kvcompose bench` against stock llama.cpp's llama-completion, on a CPU-only machine, in two runs:
# every task at about 2k tokens, and the single needle at three depths in about 2k tokens
# (6.3k-token documents cost about half an hour per case on 2 cores: see README). Each run writes
# results.md (table and targets), results.json, accuracy.svg, phases.svg, progress.log and
# machine.txt (commit and machine) into its folder here. LLAMA_COMPLETION=PATH skips building it.
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
here="$root/docs/results/2026-11-30-bench-cpu"
cd "$root"
llama_completion=${LLAMA_COMPLETION:-$(scripts/build-llama-completion.sh | tail -n 1)}
cargo build --release --locked
# A copy, so that rebuilding the tree while this runs changes nothing.
bin=$(mktemp -d)/kvcompose
cp target/release/kvcompose "$bin"

run() {
    local dir="$here/$1"
    shift
    mkdir -p "$dir"
    { echo "commit: $(git rev-parse --short HEAD)"; echo "cores: $(nproc)"; grep -m1 "model name" /proc/cpuinfo; free -g | head -2; } > "$dir/machine.txt"
    "$bin" bench "$@" --llama-completion "$llama_completion" --out "$dir" 2> "$dir/progress.log"
}
run all-2k --tasks needle,multikey,multivalue,vartrack,squad,hotpotqa --lengths 8000 --depths 0.5 --ratios 0.5,0.25,0.125
run needle-2k --tasks needle --lengths 8000 --depths 0.2,0.5,0.8 --ratios 0.5,0.25
