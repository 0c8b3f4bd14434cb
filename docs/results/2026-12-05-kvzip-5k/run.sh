#!/usr/bin/env bash
# KVzip beside KVCompose on the fidelity suite's 5k part, 4 cases per kind (16 cases), with the
# settings of ../2026-12-02-kvzip (which ran the 1.5k and 3k parts): the whole run -fa off, full
# cache included, since per-head budgets need a mask per head, which llama.cpp's fused flash
# attention cannot take. `kvzip` is KVzip as kvpress implements it (chunked reconstruction
# scores, one threshold over every layer, head and token, each head's padding masked);
# `kvcompose+heads` is KVCompose's scores with that per-head threshold.
source "$(dirname "$0")/../../../scripts/bench-lib.sh"
scores=${SCORES:-$HOME/.cache/kvcompose/scores}
suite_into docs/results/2026-12-05-kvzip-5k/main --suite qa --lengths 5000 --per-kind 4 --scores "$scores" -n 32 -fa off \
    --methods kvcompose,kvzip --ratios 0.25,0.125 --budgets global,heads
