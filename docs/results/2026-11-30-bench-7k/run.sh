#!/usr/bin/env bash
# `kvcompose bench` at the issue's longest SmolLM2 length: the single needle at depths 0.3 and
# 0.7 in 30500 characters of RULER's Paul Graham essays (about 7.4k SmolLM2 tokens), KVCompose with
# uniform and global layer budgets and StreamingLLM at 0.25 and 0.125, stock llama.cpp's
# llama-completion beside, on a CPU-only machine. Writes results.md (table and targets),
# results.json, accuracy.svg, phases.svg, progress.log and machine.txt into needle-7k/ here.
# LLAMA_COMPLETION=PATH skips building llama-completion.
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../../../scripts/bench-lib.sh"
bench_into "$here/needle-7k" --haystack essays --tasks needle --lengths 30500 --depths 0.3,0.7 --methods kvcompose,streaming \
    --ratios 0.25,0.125 --budgets uniform,global
