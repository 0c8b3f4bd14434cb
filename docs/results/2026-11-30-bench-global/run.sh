#!/usr/bin/env bash
# `kvcompose bench`: KVCompose with uniform layer budgets and with its global allocation realised
# per layer (--kv-budget global, kvcompose's llama.cpp patch), side by side at the same total KV
# bytes, with StreamingLLM and stock llama.cpp's llama-completion, on a CPU-only machine: the
# single needle at three depths in about 2k and 4k tokens, ratios 0.25 and 0.125. Writes
# results.md (table and targets), results.json, accuracy.svg, phases.svg, progress.log and
# machine.txt (commit and machine) into needle-2k-4k/ here.
# LLAMA_COMPLETION=PATH skips building llama-completion.
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../../../scripts/bench-lib.sh"
bench_into "$here/needle-2k-4k" --haystack areopagitica --tasks needle --lengths 8000,16000 --depths 0.2,0.5,0.8 --methods kvcompose,streaming \
    --ratios 0.25,0.125 --budgets uniform,global
