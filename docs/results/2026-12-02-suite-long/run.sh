#!/usr/bin/env bash
# The fidelity suite's long parts on SmolLM2 (seed 0): 5k tokens with 8 cases per kind, 7k with
# 4 (for time: about 4 minutes a 7k case on 2 cores), today's defaults, KVCompose with global
# budgets beside uniform budgets and the token-level baselines, at 0.25 and 0.125. Flash
# attention auto, f16 cache, greedy, -n 32. A case's compressed settings run only where the full
# cache answers it (the score counts only those), and only those cases are scored.
# PARTS overrides the lengths and cases per kind, e.g. PARTS="5000:2".
source "$(dirname "$0")/../../../scripts/bench-lib.sh"
out=docs/results/2026-12-02-suite-long
scores=${SCORES:-$HOME/.cache/kvcompose/scores}
for part in ${PARTS:-5000:8 7000:4}; do
    len=${part%:*}
    suite_into "$out/$len" --suite qa --lengths "$len" --per-kind "${part#*:}" --scores "$scores" -n 32 \
        --methods kvcompose,tokens,streaming,random --ratios 0.25,0.125 --budgets global,uniform
done
