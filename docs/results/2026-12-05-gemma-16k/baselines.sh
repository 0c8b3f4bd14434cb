#!/usr/bin/env bash
# The baselines on the same Gemma 3 16k cases and scores as run.sh, with uniform budgets (the even
# shares over the three global layers that KVCompose gets by default on Gemma), as
# ../2026-12-05-gemma-floor/baselines.sh ran 1.5k-8k: one token set for all heads by the mean score
# (tokens), StreamingLLM and random.
source "$(dirname "$0")/../../../scripts/bench-lib.sh"
gemma=$("$bin" fetch-model gemma3 | tail -n 1)
scores=${SCORES:-$HOME/.cache/kvcompose/scores}
suite_into docs/results/2026-12-05-gemma-16k/baselines -m "$gemma" --suite qa --lengths 16000 --per-kind "${PER_KIND:-4}" \
    --scores "$scores" -n 32 --methods tokens,streaming,random --ratios 0.25,0.125 --budgets uniform
