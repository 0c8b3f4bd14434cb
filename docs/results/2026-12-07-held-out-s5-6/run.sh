#!/usr/bin/env bash
# Issue 15: more held-out cases under today's defaults (copies alone in 2k-token chunks, flash
# attention on, kept cells in q8_0, global budgets). The suite drawn with seeds 5 and 6 at 1.5k
# and 3k tokens (8 cases of each kind; SEEDS and LENGTHS pick some), nothing chosen on them;
# KVCompose at 0.25 and 0.125, each case scored once here. SmolLM2, f16 cache, greedy, -n 32.
# Then every held-out part under the defaults (../2026-12-07-held-out-s4/held-out: seeds 1-4)
# joined with these, and the whole suite (../2026-12-07-held-out-s4/suite) with them; over the
# whole suite, the misses at one ratio only (monotone.txt, ../2026-12-07-non-monotone/monotone.py).
source "$(dirname "$0")/../../../scripts/bench-lib.sh"
out=docs/results/2026-12-07-held-out-s5-6
scores=${SCORES:-$HOME/.cache/kvcompose/scores-chunk-2048}
for seed in ${SEEDS:-5 6}; do
    for len in ${LENGTHS:-1500 3000}; do
        suite_into "$out/s$seed-$len" --suite qa --seed "$seed" --lengths "$len" --per-kind 8 --scores "$scores" -n 32 \
            --ratios 0.25,0.125 --methods kvcompose --budgets global
    done
done
s4=docs/results/2026-12-07-held-out-s4
join_into "$out/held-out" "$s4/held-out/results.json" "$out"/s{5,6}-{1500,3000}/results.json
join_into "$out/suite" "$s4/suite/results.json" "$out"/s{5,6}-{1500,3000}/results.json
python3 docs/results/2026-12-07-non-monotone/monotone.py "$out/suite/results.json" > "$out/monotone.txt"
cat "$out/held-out/results.md" "$out/suite/results.md" "$out/monotone.txt"
