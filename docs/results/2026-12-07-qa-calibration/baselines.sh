#!/usr/bin/env bash
# The baselines on the calibrated QA kind: the token-level selection (SnapKV-style, from the same
# stored scores), StreamingLLM and random, at the same bytes as KVCompose (uniform budgets, kept
# cells in q8_0), on the held-out QA cases at 1.5k tokens (seeds 1-6), beside run.sh's KVCompose
# rows for the same cases. KVzip (its own scores, -fa off) was not run here.
source "$(dirname "$0")/../../../scripts/bench-lib.sh"
out=docs/results/2026-12-07-qa-calibration/baselines
scores=${SCORES:-$HOME/.cache/kvcompose/scores-chunk-2048}
for seed in ${SEEDS:-1 2 3 4 5 6}; do
    suite_into "$out/s$seed-1500" --suite qa --tasks squad,hotpotqa --seed "$seed" --lengths 1500 --per-kind 8 --scores "$scores" -n 32 \
        --ratios 0.25,0.125 --methods tokens,streaming,random --budgets uniform
done
# KVCompose's rows of the same cases, without their full-cache rows (each case's once).
rows=$(mktemp -d)
for seed in 1 2 3 4 5 6; do
    pick_rows "docs/results/2026-12-07-qa-calibration/s$seed-1500/results.json" "$rows/s$seed.json" 'r["method"] != "full"'
done
join_into "$out/all" "$out"/s{1,2,3,4,5,6}-1500/results.json "$rows"/s{1,2,3,4,5,6}.json
cat "$out/all/results.md"
