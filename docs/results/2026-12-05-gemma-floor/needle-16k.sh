#!/usr/bin/env bash
# The needles of ../2026-12-01-gemma-memory (depth 0.5 in 34,000 and 68,000 characters of the essays:
# about 8k and 16k tokens) with Gemma's new default floor, at 0.25: found or not (kvcompose alone;
# that folder has the memory against llama-completion).
source "$(dirname "$0")/../../../scripts/bench-lib.sh"
gemma=$("$bin" fetch-model gemma3 | tail -n 1)
suite_into docs/results/2026-12-05-gemma-floor/needle-16k -m "$gemma" --haystack essays --tasks needle --lengths 34000,68000 \
    --depths 0.5 --methods kvcompose --ratios 0.25 --budgets global
