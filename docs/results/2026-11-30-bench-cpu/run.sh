#!/usr/bin/env bash
# `kvcompose bench` against stock llama.cpp's llama-completion, on a CPU-only machine, in two runs:
# every task at about 2k tokens, and the single needle at about 4k and 6.3k tokens. Each run
# writes results.md (table and targets), results.json, accuracy.svg, phases.svg and progress.log
# into its folder here, and machine.txt says where it ran. LLAMA_COMPLETION=PATH skips building it.
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
here="$root/docs/results/2026-11-30-bench-cpu"
cd "$root"
llama_completion=${LLAMA_COMPLETION:-$(scripts/build-llama-completion.sh | tail -n 1)}
cargo build --release --locked
# A copy, so that rebuilding the tree while this runs changes nothing.
bin=$(mktemp -d)/kvcompose
cp target/release/kvcompose "$bin"
{ echo "commit: $(git rev-parse --short HEAD)"; nproc; grep -m1 "model name" /proc/cpuinfo; free -g | head -2; } > "$here/machine.txt"

mkdir -p "$here/all-2k" "$here/needle-long"
"$bin" bench --tasks needle,multikey,multivalue,vartrack,squad,hotpotqa --lengths 8000 --depths 0.5 \
    --ratios 0.5,0.25,0.125 --llama-completion "$llama_completion" --out "$here/all-2k" 2> "$here/all-2k/progress.log"
"$bin" bench --tasks needle --lengths 16000,25000 --depths 0.5 \
    --ratios 0.5,0.25,0.125 --llama-completion "$llama_completion" --out "$here/needle-long" 2> "$here/needle-long/progress.log"
