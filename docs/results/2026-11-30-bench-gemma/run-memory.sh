#!/usr/bin/env bash
# Gemma 3 270M after window caches were sized to the window (swa_full off): the needle at depth
# 0.5 in 34000 characters of the essays (8.3k tokens), KVCompose with uniform and global layer
# budgets and StreamingLLM at 0.25, llama-completion beside; for the memory columns. Writes into
# needle-memory/ here. LLAMA_COMPLETION=PATH skips building llama-completion.
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../../../scripts/bench-lib.sh"
gemma=$("$bin" fetch-model gemma3)
bench_into "$here/needle-memory" -m "$gemma" --haystack essays --tasks needle --lengths 34000 --depths 0.5 \
    --methods kvcompose,streaming --ratios 0.25 --budgets uniform,global
