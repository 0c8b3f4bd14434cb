#!/usr/bin/env bash
# Accuracy per KV byte: the fidelity suite's 1.5k and 3k parts (seed 0, 8 cases per kind) with
# a q8_0 cache (-ctk q8_0 -ctv q8_0), KVCompose with global budgets at the ratios that hold the
# bytes an f16 cache holds at 0.25 and 0.125. A q8_0 row of 32 values takes 34 bytes where f16
# takes 64, so those ratios are 0.25 / (34/64) = 0.4706 and 0.2353 of the cells. The f16 rows
# to compare with are ../2026-12-01-fidelity/defaults-recheck (the same cases, today's defaults).
# Flash attention auto (on, on this CPU; a quantized V needs it), greedy, -n 32.
source "$(dirname "$0")/../../../scripts/bench-lib.sh"
out=docs/results/2026-12-02-kv-bytes
scores=${SCORES:-$HOME/.cache/kvcompose/scores}
suite_into "$out/q8_0" --suite qa --lengths 1500,3000 --per-kind 8 --scores "$scores" -n 32 \
    -ctk q8_0 -ctv q8_0 --methods kvcompose --budgets global --ratios 0.4706,0.2353
# The two two-key cases KVCompose misses at 3k, with more of the cache kept (scores as above).
suite_into "$out/twokey-3k" --suite qa --lengths 3000 --per-kind 8 --tasks twokey --scores "$scores" -n 32 \
    -ctk q8_0 -ctv q8_0 --methods kvcompose --budgets global,uniform --ratios 0.9,0.7
# A probe of q4_0 (18 bytes per 32 values: 0.8889 and 0.4444 of the cells hold f16's bytes at
# 0.25 and 0.125), on the 1.5k needle and two-key cases only, for time.
suite_into "$out/q4_0-probe" --suite qa --lengths 1500 --per-kind 8 --tasks needle,twokey --scores "$scores" -n 32 \
    -ctk q4_0 -ctv q4_0 --methods kvcompose --budgets global --ratios 0.8889,0.4444
