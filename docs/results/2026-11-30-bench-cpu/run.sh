#!/usr/bin/env bash
# `kvcompose bench` against stock llama.cpp's llama-completion, on a CPU-only machine, in two runs:
# every task at about 2k tokens, and the single needle at three depths in about 2k tokens
# (6.3k-token documents cost about half an hour per case on 2 cores: see README). Each run writes
# results.md (table and targets), results.json, accuracy.svg, phases.svg, progress.log and
# machine.txt (commit and machine) into its folder here.
# LLAMA_COMPLETION=PATH skips building llama-completion.
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../../../scripts/bench-lib.sh"
bench_into "$here/all-2k" --haystack areopagitica --tasks needle,multikey,multivalue,vartrack,squad,hotpotqa --lengths 8000 --depths 0.5 --ratios 0.5,0.25,0.125
bench_into "$here/needle-2k" --haystack areopagitica --tasks needle --lengths 8000 --depths 0.2,0.5,0.8 --ratios 0.5,0.25
