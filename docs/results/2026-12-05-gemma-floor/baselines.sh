#!/usr/bin/env bash
# The baselines on the same Gemma 3 cases and scores as run.sh, with uniform budgets (the even
# shares over the three global layers that KVCompose now gets by default on Gemma): one token set
# for all heads by the mean score (tokens; Gemma has one KV head a layer, so it differs from
# KVCompose only in the head mean), StreamingLLM and random. LENGTHS picks the parts (all four were run:
# 1.5k and 3k, then LENGTHS="5000 8000").
source "$(dirname "$0")/../../../scripts/bench-lib.sh"
out=docs/results/2026-12-05-gemma-floor/baselines
gemma=$("$bin" fetch-model gemma3 | tail -n 1)
scores=${SCORES:-$HOME/.cache/kvcompose/scores}
for len in ${LENGTHS:-1500 3000 5000 8000}; do
    suite_into "$out/$len" -m "$gemma" --suite qa --lengths "$len" --per-kind 4 --scores "$scores" -n 32 \
        --methods tokens,streaming,random --ratios 0.25,0.125 --budgets uniform
done
"$bin" bench $(printf -- '--from %s ' "$out"/[0-9]*/results.json) --out "$out/all" > /dev/null
