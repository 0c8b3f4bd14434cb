#!/usr/bin/env bash
# Issue 15, mixed precision of the kept cells: K rounded to q8_0 and V to q5_1 (`q5v.patch` adds
# `--kv-store q8_0-q5_1`) holds 0.552 of an f16 cache's cells in 0.25 of its bytes, where q8_0 K
# and V (the default) hold 0.471 and q8_0 K with q4_0 V (0.615, ../2026-12-06-kept-q4-v) lost
# digits. Does it answer more at the same bytes? SmolLM2, f16 cache, flash attention on, global
# budgets, the defaults' copies in 2k-token chunks, every setting from the stored per-case scores.
# PARTS lists seed:length parts (default: seed 0's 1.5k and 3k, the cases q4_0 V was tried on);
# compare.txt sets their verdicts beside the defaults' (../2026-12-07-held-out-s4/suite).
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../../../scripts/bench-lib.sh"
bin=$(build_at 448e1fd "$here/q5v.patch")
out=docs/results/2026-12-07-kept-q5-v
scores=${SCORES:-$HOME/.cache/kvcompose/scores-chunk-2048}
runs=()
for part in ${PARTS:-0:1500 0:3000}; do
    seed=${part%:*} len=${part#*:}
    suite_into "$out/s$seed-$len" --suite qa --seed "$seed" --lengths "$len" --per-kind 8 \
        --scores "$scores" -n 32 --methods kvcompose --budgets global --ratios 0.25,0.125 --kv-store q8_0-q5_1
    runs+=("$out/s$seed-$len/results.json")
done
python3 scripts/compare-runs.py docs/results/2026-12-07-held-out-s4/suite/results.json "${runs[@]}" > "$out/compare.txt"
cat "$out/compare.txt"
