#!/usr/bin/env bash
# The defaults on cases no setting was chosen on: the fidelity suite drawn with seed 1 (every
# earlier suite run used seed 0), SmolLM2, 8 cases of each kind at 1.5k and 3k tokens, KVCompose
# with global budgets at 0.25 and 0.125 (defaults/), then the token-level baseline from the same
# scores (baseline-tokens/). PARTS overrides the lengths (1500 and 3000 were run, in two calls).
# SEED=2 draws another sample into seed2/ (its 1.5k part was run).
source "$(dirname "$0")/../../../scripts/bench-lib.sh"
seed=${SEED:-1}
out=docs/results/2026-12-05-held-out
if [ "$seed" != 1 ]; then out=$out/seed$seed; fi
scores=${SCORES:-$HOME/.cache/kvcompose/scores}
for len in ${PARTS:-1500 3000}; do
    suite_into "$out/defaults/$len" --suite qa --seed "$seed" --lengths "$len" --per-kind 8 --scores "$scores" -n 32 \
        --methods kvcompose --ratios 0.25,0.125 --budgets global
    suite_into "$out/baseline-tokens/$len" --suite qa --seed "$seed" --lengths "$len" --per-kind 8 --scores "$scores" -n 32 \
        --methods tokens --ratios 0.25,0.125 --budgets uniform
done
for d in defaults baseline-tokens; do
    "$bin" bench $(printf -- '--from %s ' "$out/$d"/[0-9]*/results.json) --out "$out/$d/all" > /dev/null
done
