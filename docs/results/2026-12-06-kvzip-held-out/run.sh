#!/usr/bin/env bash
# Issue 15: KVzip beside KVCompose on the held-out suite cases at 1.5k tokens (seeds 1 and 2,
# 8 cases of each kind; nothing was chosen on them), with the settings of ../2026-12-02-kvzip and
# ../2026-12-05-kvzip-5k: the whole run -fa off, full cache included, since KVzip's per-head
# budgets mask each head's padding out of its softmax, which the fused flash attention does not
# take; so the kept cells stay f16 (no q8_0 store). `kvzip` is KVzip as kvpress implements it;
# `kvcompose+heads` is KVCompose's scores with KVzip's per-head threshold; `kvcompose+global` is
# KVCompose's allocation. The defaults (flash attention on, kept cells in q8_0) on the same cases
# are ../2026-12-06-kept-q8_0/default/s{1,2}-1500.
source "$(dirname "$0")/../../../scripts/bench-lib.sh"
scores=${SCORES:-$HOME/.cache/kvcompose/scores}
for seed in 1 2; do
    suite_into "docs/results/2026-12-06-kvzip-held-out/s$seed-1500" --suite qa --seed "$seed" --lengths 1500 --per-kind 8 \
        --scores "$scores" -n 32 -fa off --methods kvcompose,kvzip --ratios 0.25,0.125 --budgets global,heads
done
join_into docs/results/2026-12-06-kvzip-held-out/all docs/results/2026-12-06-kvzip-held-out/s{1,2}-1500/results.json
