#!/usr/bin/env bash
# The fidelity suite's 7k part on SmolLM2, a first sample: seed 0, PER_KIND cases of each kind
# (2 by default, for time: scoring a 7k case takes about 4 minutes on 2 cores), KVCompose with
# the defaults (global budgets, word-pooled scores) at 0.25 and 0.125; flash attention auto, f16
# cache, greedy, -n 32, as ../2026-12-05-fidelity. Only the cases the full cache answers are scored
# and compressed. Writes 7000/ here; with WHOLE=1 also the whole 7k part, per-kind-8/ (below).
source "$(dirname "$0")/../../../scripts/bench-lib.sh"
out=docs/results/2026-12-05-suite-7k
scores=${SCORES:-$HOME/.cache/kvcompose/scores}
suite_into "$out/7000" --suite qa --lengths 7000 --per-kind "${PER_KIND:-2}" --scores "$scores" -n 32 \
    --methods kvcompose --ratios 0.25,0.125 --budgets global
# The whole 7k part (per-kind-8/): the suite's own 32 cases at 7k, 8 of each kind, one kind a run
# so that a long run keeps what it finished; then the table of all four.
if [ -n "${WHOLE:-}" ]; then
    suite_by_kind "$out/per-kind-8" --lengths 7000 --per-kind 8 --scores "$scores" -n 32 \
        --methods kvcompose --ratios 0.25,0.125 --budgets global
fi
