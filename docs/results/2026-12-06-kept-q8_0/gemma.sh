#!/usr/bin/env bash
# Gemma 3 270M with its kept cells in q8_0 (the default) against f16 cells (--kv-store cache):
# the fidelity suite's 1.5k and 3k parts (seed 0, 4 cases a kind, as in
# ../2026-12-05-gemma-floor), KVCompose with Gemma's defaults at 0.25 and 0.125 of the KV bytes,
# both stores from the same per-case scores. Only the three global layers are compressed (and
# kept in q8_0); the window layers keep their f16 window.
source "$(dirname "$0")/../../../scripts/bench-lib.sh"
out=docs/results/2026-12-06-kept-q8_0/gemma
gemma=$("$bin" fetch-model gemma3 | tail -n 1)
scores=${SCORES:-$HOME/.cache/kvcompose/scores}
for len in 1500 3000; do
    for store in auto cache; do
        suite_into "$out/$store/$len" -m "$gemma" --suite qa --lengths "$len" --per-kind 4 --scores "$scores" -n 32 \
            --methods kvcompose --ratios 0.25,0.125 --budgets global --kv-store "$store"
    done
done
