#!/usr/bin/env bash
# Issue 15: KVzip beside KVCompose on the calibrated QA kind (../2026-12-07-qa-calibration), on the
# held-out QA cases at 1.5k tokens (seeds 1-6, 8 a seed; nothing was chosen on them), with the
# settings of ../2026-12-06-kvzip-held-out: the whole run -fa off, full cache included, since
# KVzip's per-head budgets mask each head's padding out of its softmax, which the fused flash
# attention does not take; so the kept cells stay f16 (no q8_0 store). `kvzip` is KVzip as kvpress
# implements it; `kvcompose+global` is KVCompose's allocation under the same settings. The
# defaults (flash attention on, kept cells in q8_0) on the same cases are
# ../2026-12-07-qa-calibration/s{1..6}-1500.
source "$(dirname "$0")/../../../scripts/bench-lib.sh"
out=docs/results/2026-12-07-kvzip-qa
scores=${SCORES:-$HOME/.cache/kvcompose/scores}
for seed in ${SEEDS:-1 2 3 4 5 6}; do
    suite_into "$out/s$seed-1500" --suite qa --tasks squad,hotpotqa --seed "$seed" --lengths 1500 --per-kind 8 \
        --scores "$scores" -n 32 -fa off --methods kvcompose,kvzip --ratios 0.25,0.125 --budgets global,heads
done
join_into "$out/all" "$out"/s{1,2,3,4,5,6}-1500/results.json
cat "$out/all/results.md"
