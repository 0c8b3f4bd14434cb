#!/usr/bin/env bash
# Gemma 3 270M on the fidelity suite (seed 0, 4 cases of each kind per length), KVCompose at 0.25 and
# 0.125 with scores pooled over words, and the floor each of its three global layers keeps, as a
# fraction of the uniform budget: 1 (even shares, now Gemma's default), 0.5, and 0.25 (the default
# before, and still SmolLM2's). All floors compress from the same per-case scores ($SCORES).
# LENGTHS overrides the lengths, FLOORS the floors (floor 0.5 was run at 1.5k and
# 3k only: LENGTHS="1500 3000").
source "$(dirname "$0")/../../../scripts/bench-lib.sh"
out=docs/results/2026-12-05-gemma-floor
gemma=$("$bin" fetch-model gemma3 | tail -n 1)
scores=${SCORES:-$HOME/.cache/kvcompose/scores}
for len in ${LENGTHS:-1500 3000 5000 8000}; do
    for floor in ${FLOORS:-1 0.5 0.25}; do
        suite_into "$out/floor-$floor/$len" -m "$gemma" --suite qa --lengths "$len" --per-kind 4 --scores "$scores" -n 32 \
            --methods kvcompose --ratios 0.25,0.125 --budgets global --kv-floor "$floor"
    done
done
for floor in ${FLOORS:-1 0.5 0.25}; do
    "$bin" bench $(printf -- '--from %s ' "$out/floor-$floor"/[0-9]*/results.json) --out "$out/floor-$floor/all" > /dev/null
done
