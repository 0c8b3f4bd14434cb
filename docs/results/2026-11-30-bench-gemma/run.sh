#!/usr/bin/env bash
# `kvcompose bench` on Gemma 3 270M (sliding-window layers: KVCompose compresses the three
# global-attention layers and leaves the 512-token windows to llama.cpp): the single needle at
# depth 0.5 in 34000 and 68000 characters of RULER's Paul Graham essays, KVCompose with uniform
# and global layer budgets and StreamingLLM at 0.25, stock llama.cpp's llama-completion beside,
# on a CPU-only machine. Writes results.md (table and targets), results.json, accuracy.svg,
# phases.svg, progress.log and machine.txt into needle/ here.
# LLAMA_COMPLETION=PATH skips building llama-completion.
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../../../scripts/bench-lib.sh"
gemma=$("$bin" fetch-model gemma3)
bench_into "$here/needle" -m "$gemma" --haystack essays --tasks needle --lengths 34000,68000 --depths 0.5 \
    --methods kvcompose,streaming --ratios 0.25 --budgets uniform,global
