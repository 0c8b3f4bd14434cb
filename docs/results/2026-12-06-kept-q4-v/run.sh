#!/usr/bin/env bash
# Issue 15, mixed precision of the kept cells: K rounded to q8_0 and V to q4_0 (`q4v.patch` adds
# `--kv-store q8_0-q4_0`; not kept) holds 0.615 of an f16 cache's cells in 0.25 of its bytes,
# where q8_0 K and V (the default) hold 0.471. Does it answer more of the suite at the same
# bytes? SmolLM2, f16 cache, flash attention on, global budgets, every setting from the stored
# per-case scores, on the cases the defaults were chosen on (seed 0, 1.5k and 3k tokens). The
# q8_0 store on the same cases is ../2026-12-06-suite-q8_0/kvcompose/s0-{1500,3000}.
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../../../scripts/bench-lib.sh"
bin=$(build_at 5a71c24 "$here/q4v.patch")
out=docs/results/2026-12-06-kept-q4-v
scores=${SCORES:-$HOME/.cache/kvcompose/scores}
for len in 1500 3000; do
    suite_into "$out/s0-$len" --suite qa --seed 0 --lengths "$len" --per-kind 8 \
        --scores "$scores" -n 32 --methods kvcompose --budgets global --ratios 0.25,0.125 --kv-store q8_0-q4_0
done
