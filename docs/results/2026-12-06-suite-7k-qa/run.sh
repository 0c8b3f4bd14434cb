#!/usr/bin/env bash
# Issue 15: the suite's 7k part's QA kind (seed 0, 8 cases) with today's defaults, the one kind
# ../2026-12-06-suite-long-q8_0 did not rerun; then the 7k part's table of all four kinds, joined
# with that run's needle, two-hop and two-key rows. SmolLM2, f16 cache, flash attention auto (on),
# greedy, -n 32; only the cases the full cache answers are scored and compressed.
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../../../scripts/bench-lib.sh"
out=docs/results/2026-12-06-suite-7k-qa
long=docs/results/2026-12-06-suite-long-q8_0/s0-7000
scores=${SCORES:-$HOME/.cache/kvcompose/scores}
suite_into "$out/qa" --suite qa --tasks squad,hotpotqa --seed 0 --lengths 7000 --per-kind 8 \
    --scores "$scores" -n 32 --methods kvcompose --budgets global --ratios 0.25,0.125
join_into "$out/all" "$long"/{needle,twohop,twokey}/results.json "$out/qa/results.json"
