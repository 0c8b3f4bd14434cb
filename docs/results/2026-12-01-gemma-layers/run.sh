#!/usr/bin/env bash
# Gemma 3 270M on the fidelity suite (1.5k and 3k tokens; flash attention auto, f16 cache,
# greedy, -n 32), as measured on 2026-12-01 once Gemma is read layer by layer.
# `main`: every method from per-case scores (--scores: a whole prefill, which is what the
# layer-by-layer read computes, window layers included), 4 cases per kind. `live-chunks`: the
# CLI's streaming load itself, 2 cases per kind. `pool-1`: spans around high-scoring tokens.
# (A live layer-by-layer run was stopped for time; `main` is what it computes.)
source "$(dirname "$0")/../../../scripts/bench-lib.sh"
out=docs/results/2026-12-01-gemma-layers
gemma=$("$bin" fetch-model gemma3 | tail -n 1)
scores=${SCORES:-$HOME/.cache/kvcompose/scores}
suite=(-m "$gemma" --suite qa --lengths 1500,3000 -n 32)

suite_into "$out/main" "${suite[@]}" --per-kind 4 --scores "$scores" --methods kvcompose,tokens,streaming,random --ratios 0.25,0.125 --budgets global,uniform
suite_into "$out/live-chunks" "${suite[@]}" --per-kind 2 --methods kvcompose --ratios 0.25 --budgets global --kv-prefill chunks
suite_into "$out/pool-1" "${suite[@]}" --per-kind 4 --scores "$scores" --methods kvcompose --ratios 0.25,0.125 --budgets global --kv-pool 1
