#!/usr/bin/env bash
# The fidelity suite's long parts on SmolLM2 (5k and 7k tokens, 8 cases per kind, seed 0),
# today's defaults, KVCompose with global budgets beside uniform budgets and the token-level
# baselines, at 0.25 and 0.125. Flash attention auto, f16 cache, greedy, -n 32. A case's
# compressed settings run only where the full cache answers it (the score counts only those),
# and only those cases are scored. Then the whole suite's table (with the 1.5k and 3k parts of
# ../2026-12-01-fidelity/defaults-recheck) from the rows of both.
source "$(dirname "$0")/../../../scripts/bench-lib.sh"
out=docs/results/2026-12-02-suite-long
scores=${SCORES:-$HOME/.cache/kvcompose/scores}
for len in ${LENGTHS:-5000 7000}; do
    suite_into "$out/$len" --suite qa --lengths "$len" --per-kind "${PER_KIND:-8}" --scores "$scores" -n 32 \
        --methods kvcompose,tokens,streaming,random --ratios 0.25,0.125 --budgets global,uniform
done
