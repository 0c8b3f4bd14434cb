#!/usr/bin/env bash
# KVzip beside KVCompose on the screened QA kind's held-out 1.5k cases (seeds 1-6), with the
# settings of ../2026-12-07-kvzip-qa: the whole run -fa off, full cache included, since KVzip's
# per-head budgets mask each head's padding out of its softmax, which the fused flash attention
# does not take; so the kept cells stay f16. `kvzip` is KVzip as kvpress implements it,
# `kvcompose+global` KVCompose's allocation and `kvcompose+heads` KVCompose's scores under
# KVzip's per-head threshold, each under the same settings. Then both beside run.sh's rows of the
# defaults (flash attention on, kept cells in q8_0) on the cases both full caches answer.
# SEEDS picks some.
source "$(dirname "$0")/../../../scripts/bench-lib.sh"
out=docs/results/2026-12-07-qa-3k
scores=${SCORES:-$HOME/.cache/kvcompose/scores}
for seed in ${SEEDS:-1 2 3 4 5 6}; do
    suite_into "$out/kvzip/s$seed-1500" --suite qa --tasks squad,hotpotqa --seed "$seed" --lengths 1500 --per-kind 8 \
        --scores "$scores" -n 32 -fa off --methods kvcompose,kvzip --ratios 0.25,0.125 --budgets global,heads
done
join_into "$out/kvzip/all" "$out"/kvzip/s{1,2,3,4,5,6}-1500/results.json
python3 docs/results/2026-12-07-kvzip-qa/beside-defaults.py "$out/kvzip" "$out" > "$out/kvzip/beside-defaults.txt"
cat "$out/kvzip/all/results.md" "$out/kvzip/beside-defaults.txt"
