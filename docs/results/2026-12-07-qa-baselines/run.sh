#!/usr/bin/env bash
# Issue 15: the baselines on the calibrated QA kind's held-out 3k cases (seeds 1-6), completing
# ../2026-12-07-qa-calibration/baselines (its 1.5k cases): the token-level selection (SnapKV-style,
# from the same stored scores), StreamingLLM and random at the same bytes as KVCompose (uniform
# budgets, kept cells in q8_0). Then every held-out QA case (1.5k and 3k) joined with KVCompose's
# rows of the same cases from ../2026-12-07-qa-calibration (`bench --from` counts each case's
# full-cache row once).
source "$(dirname "$0")/../../../scripts/bench-lib.sh"
out=docs/results/2026-12-07-qa-baselines
cal=docs/results/2026-12-07-qa-calibration
scores=${SCORES:-$HOME/.cache/kvcompose/scores-chunk-2048}
for seed in ${SEEDS:-1 2 3 4 5 6}; do
    suite_into "$out/s$seed-3000" --suite qa --tasks squad,hotpotqa --seed "$seed" --lengths 3000 --per-kind 8 --scores "$scores" -n 32 \
        --ratios 0.25,0.125 --methods tokens,streaming,random --budgets uniform
done
join_into "$out/all" "$out"/s{1,2,3,4,5,6}-3000/results.json "$cal"/baselines/s{1,2,3,4,5,6}-1500/results.json \
    "$cal"/s{1,2,3,4,5,6}-{1500,3000}/results.json
cat "$out/all/results.md"
