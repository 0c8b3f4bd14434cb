#!/usr/bin/env bash
# Issue 16: Gemma 3 270M on the fidelity suite at 16k tokens with today's defaults (kept cells in
# q8_0, scores formed in the flash-attention kernel): the cases of ../2026-12-05-gemma-16k (seed 0,
# four of each kind), which ran with f16 cells. KVCompose at 0.25 and 0.125 with Gemma's defaults
# (read layer by layer, the three global layers sharing the budget evenly), then the token-level
# baseline and StreamingLLM from the same stored scores. PER_KIND overrides the four.
source "$(dirname "$0")/../../../scripts/bench-lib.sh"
out=docs/results/2026-12-06-gemma-16k-q8_0
gemma=$("$bin" fetch-model gemma3 | tail -n 1)
scores=${SCORES:-$HOME/.cache/kvcompose/scores}
suite_into "$out/main" -m "$gemma" --suite qa --lengths 16000 --per-kind "${PER_KIND:-4}" \
    --scores "$scores" -n 32 --methods kvcompose --ratios 0.25,0.125 --budgets global
suite_into "$out/baselines" -m "$gemma" --suite qa --lengths 16000 --per-kind "${PER_KIND:-4}" \
    --scores "$scores" -n 32 --methods tokens,streaming --ratios 0.25,0.125 --budgets uniform
