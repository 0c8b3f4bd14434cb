#!/usr/bin/env bash
# Issue 16: Gemma 3 270M on the suite's 5k and 8k parts with today's defaults (kept cells in q8_0,
# scores formed in the flash-attention kernel): the cases of ../2026-12-05-gemma-floor (seed 0,
# four of each kind), which ran with f16 cells. KVCompose at 0.25 and 0.125 with Gemma's defaults
# (read layer by layer, the global layers sharing the budget evenly), each case scored once into
# the store; the full cache read by a plain load. LENGTHS overrides the two lengths.
source "$(dirname "$0")/../../../scripts/bench-lib.sh"
out=docs/results/2026-12-06-gemma-5k-8k-q8_0
gemma=$("$bin" fetch-model gemma3 | tail -n 1)
scores=${SCORES:-$HOME/.cache/kvcompose/scores}
for len in ${LENGTHS:-5000 8000}; do
    suite_into "$out/$len" -m "$gemma" --suite qa --lengths "$len" --per-kind 4 \
        --scores "$scores" -n 32 --methods kvcompose --ratios 0.25,0.125 --budgets global
done
