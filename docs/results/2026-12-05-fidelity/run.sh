#!/usr/bin/env bash
# The fidelity suite on SmolLM2 (seed 0, 8 cases per kind at 1.5k, 3k and 5k tokens: 96 cases),
# KVCompose with global budgets at 0.25 and 0.125, with each token's score raised to the best of
# its word (words/, the default) and with tokens scored on their own (tokens/, --kv-no-words,
# the default before). Flash attention auto, f16 cache, greedy, -n 32. Both settings compress
# from the same per-case scores ($SCORES; the first run scores, the second reads them), and a
# case's compressed settings run, and its document is scored, only where the full cache answers
# it. The 7k part (24 cases more) was not run, for time: about 2 minutes of scoring a case here.
# PARTS overrides the lengths, e.g. PARTS="1500 3000".
source "$(dirname "$0")/../../../scripts/bench-lib.sh"
out=docs/results/2026-12-05-fidelity
scores=${SCORES:-$HOME/.cache/kvcompose/scores}
for len in ${PARTS:-1500 3000 5000}; do
    for setting in words tokens; do
        flag=()
        [ "$setting" = tokens ] && flag=(--kv-no-words)
        suite_into "$out/$setting/$len" --suite qa --lengths "$len" --per-kind 8 --scores "$scores" -n 32 \
            --methods kvcompose --ratios 0.25,0.125 --budgets global "${flag[@]}"
    done
done
# The whole table, all lengths joined.
for setting in words tokens; do
    "$bin" bench $(printf -- '--from %s ' "$out/$setting"/[0-9]*/results.json) --out "$out/$setting/all" > /dev/null
done
