#!/usr/bin/env bash
# Issue 16 asks KVCompose on Gemma 3 to be ahead of every baseline; KVzip had not been run on it.
# KVzip beside KVCompose on Gemma 3 270M, the suite's 1.5k and 3k parts (seed 0, 4 cases a kind,
# as the Gemma suite), `-fa off` as KVzip needs (so kept cells in f16 for both, at the same KV
# bytes), 0.25 and 0.125; scored into a store of its own (KVCompose's -fa off scores differ from
# the default's). KVzip's one threshold over layers and heads is, on a model with one KV head a
# layer, a threshold over its three global layers; the window layers stay whole in both.
set -euo pipefail
source "$(dirname "$0")/../../../scripts/bench-lib.sh"
out=docs/results/2026-12-07-gemma-kvzip
gemma=$("$bin" fetch-model gemma3 | tail -n 1)
scores=${SCORES:-$HOME/.cache/kvcompose/scores-gemma-fa-off}
for len in ${LENGTHS:-1500 3000}; do
    suite_into "$out/$len" -m "$gemma" --suite qa --lengths "$len" --per-kind 4 \
        --scores "$scores" -n 32 -fa off --methods kvcompose,kvzip --ratios 0.25,0.125 --budgets global
done
join_into "$out/all" "$out"/*00/results.json
cat "$out/all/results.md"
