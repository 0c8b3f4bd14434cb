#!/usr/bin/env bash
# Issue 15: more held-out cases. The held-out part so far (../2026-12-06-kept-q8_0: seed 1 at 1.5k
# and 3k tokens, seed 2 at 1.5k; 68 full-answered) keeps 64/68 at 0.25. This adds seed 2 at 3k
# (8 cases of each kind), with the defaults (flash attention on, kept cells in q8_0, global
# budgets) and nothing chosen on it. SmolLM2, f16 cache, greedy, -n 32, both ratios from the
# stored per-case scores (scored once here). Then the whole held-out part, joined (`bench --from`).
source "$(dirname "$0")/../../../scripts/bench-lib.sh"
out=docs/results/2026-12-06-held-out-s2-3k
scores=${SCORES:-$HOME/.cache/kvcompose/scores}
suite_into "$out/s2-3000" --suite qa --seed 2 --lengths 3000 --per-kind 8 \
    --scores "$scores" -n 32 --methods kvcompose --budgets global --ratios 0.25,0.125
held=docs/results/2026-12-06-kept-q8_0/default
join_into "$out/held-out" "$held"/{s1-1500,s2-1500,s1-3000}/results.json "$out/s2-3000/results.json"
