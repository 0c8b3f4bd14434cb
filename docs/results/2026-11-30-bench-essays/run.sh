#!/usr/bin/env bash
# `kvcompose bench` on RULER's Paul Graham essays: the single needle at depth 0.5 in 28000
# characters, cut back to the paragraph end at 24,143 (5.8k SmolLM2 tokens), KVCompose
# with uniform and global layer budgets and StreamingLLM at 0.25, stock llama.cpp's
# llama-completion beside, on a CPU-only machine. Writes results.md (table and targets),
# results.json, accuracy.svg, phases.svg, progress.log and machine.txt into needle-6k/ here.
# LLAMA_COMPLETION=PATH skips building llama-completion.
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../../../scripts/bench-lib.sh"
bench_into "$here/needle-6k" --haystack essays --tasks needle --lengths 28000 --depths 0.5 --methods kvcompose,streaming \
    --ratios 0.25 --budgets uniform,global
