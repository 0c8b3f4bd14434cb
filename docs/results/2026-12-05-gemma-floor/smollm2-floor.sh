#!/usr/bin/env bash
# SmolLM2's side of the question: the fidelity suite's 1.5k part (8 cases of each kind, seed 0)
# with a floor of a half, against the quarter of ../2026-12-05-fidelity/words/1500 (same scores).
source "$(dirname "$0")/../../../scripts/bench-lib.sh"
scores=${SCORES:-$HOME/.cache/kvcompose/scores}
suite_into docs/results/2026-12-05-gemma-floor/smollm2-floor-0.5/1500 --suite qa --lengths 1500 --per-kind 8 --scores "$scores" -n 32 \
    --methods kvcompose --ratios 0.25,0.125 --budgets global --kv-floor 0.5
