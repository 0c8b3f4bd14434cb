#!/usr/bin/env bash
# After large allocations were made to stay mmapped (ffi::map_large_allocations): the needle at
# depth 0.3 in about 7.4k tokens of the essays, KVCompose with global layer budgets at 0.25 and
# 0.125, llama-completion beside; for the peak-RSS target. Writes into needle-7k-rss/ here.
# LLAMA_COMPLETION=PATH skips building llama-completion.
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../../../scripts/bench-lib.sh"
bench_into "$here/needle-7k-rss" --haystack essays --tasks needle --lengths 30500 --depths 0.3 --methods kvcompose \
    --ratios 0.25,0.125 --budgets global
