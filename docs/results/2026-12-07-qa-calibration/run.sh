#!/usr/bin/env bash
# Issue 15: the QA kind calibrated. Its items are now those SmolLM2 answers with their gold
# paragraphs among about 1.5k tokens of distractors (answerable-in-context.py, from the items it
# answers from their paragraphs alone), so that the full cache answers more of the kind's cases.
# The choice used the full cache only. Then the QA kind of every seed the suite was measured on
# (seeds 1-6 at 1.5k and 3k, held out; seed 0 to 7k) under today's defaults (copies alone in
# 2k-token chunks, flash attention on, kept cells in q8_0, global budgets), KVCompose at 0.25 and
# 0.125, each case scored once here; SmolLM2, f16 cache, greedy, -n 32. The other kinds' cases do
# not change (each case draws from its own seed), so their rows come from
# ../2026-12-07-held-out-s5-6, joined with these. SEEDS and LENGTHS pick some parts.
source "$(dirname "$0")/../../../scripts/bench-lib.sh"
out=docs/results/2026-12-07-qa-calibration
scores=${SCORES:-$HOME/.cache/kvcompose/scores-chunk-2048}
part() {
    suite_into "$out/s$1-$2" --suite qa --tasks squad,hotpotqa --seed "$1" --lengths "$2" --per-kind 8 --scores "$scores" -n 32 \
        --ratios 0.25,0.125 --methods kvcompose --budgets global
}
for seed in ${SEEDS:-1 2 3 4 5 6 0}; do
    lengths=${LENGTHS:-1500 3000}
    [ "$seed" = 0 ] && lengths=${LENGTHS:-1500 3000 5000 7000}
    for len in $lengths; do part "$seed" "$len"; done
done
prev=docs/results/2026-12-07-held-out-s5-6
qa='r["task"] in ("squad", "hotpotqa")'
rows=$(mktemp -d)
pick_rows "$prev/held-out/results.json" "$rows/held-out.json" "not ($qa)"
pick_rows "$prev/suite/results.json" "$rows/suite.json" "not ($qa)"
join_into "$out/held-out" "$rows/held-out.json" "$out"/s{1,2,3,4,5,6}-{1500,3000}/results.json
join_into "$out/suite" "$rows/suite.json" "$out"/s{1,2,3,4,5,6}-{1500,3000}/results.json "$out"/s0-{1500,3000,5000,7000}/results.json
python3 docs/results/2026-12-07-non-monotone/monotone.py "$out/suite/results.json" > "$out/monotone.txt"
cat "$out/held-out/results.md" "$out/suite/results.md" "$out/monotone.txt"
