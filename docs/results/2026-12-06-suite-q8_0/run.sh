#!/usr/bin/env bash
# Issue 15: the fidelity suite of seed 0 at 1.5k, 3k and 5k tokens (8 cases of each kind and
# length; the 7k part is not rerun: its scores are not stored on this machine, and scoring one
# case takes minutes) with today's defaults, kept cells in q8_0 (`--kv-store auto`) and
# `--kv-compose` counting bytes; its last numbers (../2026-12-05-ablation) were with f16 cells.
# Then the baselines that were not rerun at the same KV bytes, StreamingLLM and random (their
# cells kept in q8_0 by the same default), on the held-out cases (seed 1 at 1.5k and 3k, seed 2
# at 1.5k). SmolLM2, f16 cache, flash attention auto (on), greedy, -n 32,
# every setting from the stored per-case scores (scored once where not stored yet).
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../../../scripts/bench-lib.sh"
out=docs/results/2026-12-06-suite-q8_0
scores=${SCORES:-$HOME/.cache/kvcompose/scores}
for len in 1500 3000 5000; do
    suite_into "$out/kvcompose/s0-$len" --suite qa --seed 0 --lengths "$len" --per-kind 8 \
        --scores "$scores" -n 32 --methods kvcompose --budgets global --ratios 0.25,0.125
done
for part in 1:1500 2:1500 1:3000; do
    suite_into "$out/baselines/s${part%%:*}-${part##*:}" --suite qa --seed "${part%%:*}" --lengths "${part##*:}" --per-kind 8 \
        --scores "$scores" -n 32 --methods streaming,random --budgets uniform --ratios 0.25,0.125
done
