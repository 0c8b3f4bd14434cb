#!/usr/bin/env bash
# Issue 15: kept cells stored in q8_0 (`--kv-store`, patch 0008), now the default where flash
# attention is on. The held-out suite cases (seed 1 at 1.5k and 3k tokens, seed 2 at 1.5k, 8 cases
# a kind, 68 the full cache answers), SmolLM2, f16 cache, the defaults: KVCompose with global
# budgets at 0.25 and 0.125 of the f16 cache's KV bytes, which is 0.47 and 0.235 of its cells
# kept in q8_0. Every setting from the stored per-case scores (the scores do not depend on how
# the kept cells are stored). The f16 store at the same ratios is
# ../2026-12-06-qa-budgets/{all/f16,qa/defaults}; the emulation (an f16 selection whose rows were
# rounded through q8_0) is ../2026-12-06-qa-budgets/{all,qa}/q8_0-values.
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../../../scripts/bench-lib.sh"
out=docs/results/2026-12-06-kept-q8_0
scores=${SCORES:-$HOME/.cache/kvcompose/scores}
for part in 1:1500 2:1500 1:3000; do
    suite_into "$out/default/s${part%%:*}-${part##*:}" --suite qa --seed "${part%%:*}" --lengths "${part##*:}" --per-kind 8 \
        --scores "$scores" -n 32 --methods kvcompose --budgets global --ratios 0.25,0.125
done
# The token-level baseline (SnapKV-style, one token set for all heads, uniform budgets) from the
# same scores, its cells kept in q8_0 as well.
for part in 1:1500 2:1500 1:3000; do
    suite_into "$out/tokens/s${part%%:*}-${part##*:}" --suite qa --seed "${part%%:*}" --lengths "${part##*:}" --per-kind 8 \
        --scores "$scores" -n 32 --methods tokens --budgets uniform --ratios 0.25,0.125
done
