#!/usr/bin/env bash
# The baselines on the screened QA kind's held-out 1.5k and 3k cases (seeds 1-6): the token-level
# selection (SnapKV-style, from the same stored scores), StreamingLLM and random at the same bytes
# as KVCompose (uniform budgets, kept cells in q8_0), joined with run.sh's KVCompose rows of the
# same cases (`all`: 1.5k; `3k-s1-4`: seeds 1-4 at 3k, the 3k parts that ran, run.sh's rows
# first so that its full-cache rows are the ones kept). SEEDS and LENGTHS pick some parts.
source "$(dirname "$0")/../../../scripts/bench-lib.sh"
out=docs/results/2026-12-07-qa-3k
scores=${SCORES:-$HOME/.cache/kvcompose/scores-chunk-2048}
for seed in ${SEEDS:-1 2 3 4 5 6}; do
    for len in ${LENGTHS:-1500 3000}; do
        suite_into "$out/baselines/s$seed-$len" --suite qa --tasks squad,hotpotqa --seed "$seed" --lengths "$len" --per-kind 8 --scores "$scores" -n 32 \
            --ratios 0.25,0.125 --methods tokens,streaming,random --budgets uniform
    done
done
join_into "$out/baselines/all" "$out"/baselines/s{1,2,3,4,5,6}-1500/results.json "$out"/s{1,2,3,4,5,6}-1500/results.json
join_into "$out/baselines/3k-s1-4" "$out"/s{1,2,3,4}-3000/results.json "$out"/baselines/s{1,2,3,4}-3000/results.json
cat "$out/baselines/all/results.md" "$out/baselines/3k-s1-4/results.md"
