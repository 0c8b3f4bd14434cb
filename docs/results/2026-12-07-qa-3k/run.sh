#!/usr/bin/env bash
# Issue 15: the QA kind calibrated at 3k tokens too. Its items are now those the full cache
# answers, as the suite grades them, alone and among about 1.5k and then 3k tokens of distractors
# (lists/run.sh, `bench --answerable`, never compressed). Then the QA kind of the held-out seeds
# (1-6 at 1.5k and 3k) under today's defaults (copies alone in 2k-token chunks, flash attention
# on, kept cells in q8_0, global budgets), KVCompose at 0.25 and 0.125, each case scored once;
# SmolLM2, f16 cache, greedy, -n 32; then seed 0 (on which the defaults were chosen) to 7k the
# same way, for the whole suite's row. The other kinds' cases do not change (each case draws from
# its own seed), so their rows come from ../2026-12-07-held-out-s5-6, joined with these.
# SEEDS and LENGTHS pick some parts.
source "$(dirname "$0")/../../../scripts/bench-lib.sh"
out=docs/results/2026-12-07-qa-3k
scores=${SCORES:-$HOME/.cache/kvcompose/scores-chunk-2048}
for seed in ${SEEDS:-1 2 3 4 5 6 0}; do
    lengths=${LENGTHS:-1500 3000}
    [ "$seed" = 0 ] && lengths=${LENGTHS:-1500 3000 5000 7000}
    for len in $lengths; do
        suite_into "$out/s$seed-$len" --suite qa --tasks squad,hotpotqa --seed "$seed" --lengths "$len" --per-kind 8 --scores "$scores" -n 32 \
            --ratios 0.25,0.125 --methods kvcompose --budgets global
    done
done
rows=$(mktemp -d)
prev=docs/results/2026-12-07-held-out-s5-6
pick_rows "$prev/held-out/results.json" "$rows/held-out.json" 'r["task"] not in ("squad", "hotpotqa")'
pick_rows "$prev/suite/results.json" "$rows/suite.json" 'r["task"] not in ("squad", "hotpotqa")'
join_into "$out/qa" "$out"/s{1,2,3,4,5,6}-{1500,3000}/results.json
join_into "$out/held-out" "$rows/held-out.json" "$out/qa/results.json"
join_into "$out/suite" "$rows/suite.json" "$out/qa/results.json" "$out"/s0-{1500,3000,5000,7000}/results.json
python3 docs/results/2026-12-07-non-monotone/monotone.py "$out/suite/results.json" > "$out/monotone.txt"
cat "$out/qa/results.md" "$out/held-out/results.md" "$out/suite/results.md" "$out/monotone.txt"
