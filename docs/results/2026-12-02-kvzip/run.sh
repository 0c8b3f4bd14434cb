#!/usr/bin/env bash
# KVzip beside KVCompose on more of the fidelity suite: 1.5k and 3k tokens, 4 cases per kind
# (32 cases; 2026-12-01-fidelity/kvzip-fa-off had the 16 at 1.5k), today's defaults (layer floor
# 0.25). Per-head budgets need a mask per head, which llama.cpp's fused flash attention cannot
# take, so the whole run is -fa off, full cache included. `kvzip` is KVzip as kvpress implements
# it (chunked reconstruction scores, one threshold over every layer, head and token, each head's
# padding masked); `kvcompose+heads` is KVCompose's scores with that per-head threshold.
source "$(dirname "$0")/../../../scripts/bench-lib.sh"
scores=${SCORES:-$HOME/.cache/kvcompose/scores}
suite_into docs/results/2026-12-02-kvzip/main --suite qa --lengths 1500,3000 --per-kind 4 --scores "$scores" -n 32 -fa off \
    --methods kvcompose,kvzip --ratios 0.25,0.125 --budgets global,heads
