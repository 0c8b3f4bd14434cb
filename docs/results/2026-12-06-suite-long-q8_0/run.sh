#!/usr/bin/env bash
# Issue 15: the fidelity suite's 5k and 7k parts (seed 0, 8 cases of each kind and length) with
# today's defaults: kept cells in q8_0, `--kv-compose` counting bytes, scores formed in llama.cpp's
# flash-attention kernel. Their last numbers were with f16 cells (../2026-12-02-suite-long,
# ../2026-12-05-suite-7k). SmolLM2, f16 cache, flash attention auto (on), greedy, -n 32; only the
# cases the full cache answers are scored and compressed. One kind a run (`suite_by_kind`), then
# one table of each length (s0-*/all). The 7k part here was stopped before its QA kind, and
# s0-7000/all drawn from the other three with the same --from command.
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../../../scripts/bench-lib.sh"
out=docs/results/2026-12-06-suite-long-q8_0
scores=${SCORES:-$HOME/.cache/kvcompose/scores}
for len in ${LENGTHS:-5000 7000}; do
    suite_by_kind "$out/s0-$len" --seed 0 --lengths "$len" --per-kind 8 \
        --scores "$scores" -n 32 --methods kvcompose --budgets global --ratios 0.25,0.125
done
