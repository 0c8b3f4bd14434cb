#!/usr/bin/env bash
# Gemma 3 270M read layer by layer: KV held and allocated and peak RSS against stock
# llama-completion at about 8k and 16k tokens (the needle at depth 0.5 in 34,000 and 68,000
# characters of the essays), KVCompose with global budgets at 0.25, in one run.
# LLAMA_COMPLETION=PATH skips building llama-completion.
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../../../scripts/bench-lib.sh"
gemma=$("$bin" fetch-model gemma3 | tail -n 1)
bench_into "$here/needle" -m "$gemma" --haystack essays --tasks needle --lengths 34000,68000 --depths 0.5 \
    --methods kvcompose --ratios 0.25 --budgets global
