#!/usr/bin/env bash
# Gemma 3 270M on the fidelity suite at 16k tokens: four cases of each kind (seed 0), KVCompose at
# 0.25 and 0.125 with Gemma's defaults (read layer by layer, the three global layers sharing the
# budget evenly), as ../2026-12-05-gemma-floor ran 1.5k-8k. PER_KIND overrides the four.
source "$(dirname "$0")/../../../scripts/bench-lib.sh"
gemma=$("$bin" fetch-model gemma3 | tail -n 1)
scores=${SCORES:-$HOME/.cache/kvcompose/scores}
suite_into docs/results/2026-12-05-gemma-16k/main -m "$gemma" --suite qa --lengths 16000 --per-kind "${PER_KIND:-4}" \
    --scores "$scores" -n 32 --methods kvcompose --ratios 0.25,0.125 --budgets global
