#!/usr/bin/env bash
# Word-pooled scores on Gemma 3 270M: the suite's Gemma cases of ../../2026-12-01-gemma-layers at 1.5k
# (16 cases, 4 per kind, seed 0; LENGTHS=1500,3000 adds the 3k part), KVCompose with global budgets at 0.25 and 0.125,
# words (the default) and tokens scored on their own (--kv-no-words), from one scoring per case.
source "$(dirname "$0")/../../../../scripts/bench-lib.sh"
out=docs/results/2026-12-05-fidelity/gemma
gemma=$("$bin" fetch-model gemma3 | tail -n 1)
scores=${SCORES:-$HOME/.cache/kvcompose/scores}
for setting in words tokens; do
    flag=()
    [ "$setting" = tokens ] && flag=(--kv-no-words)
    suite_into "$out/$setting" -m "$gemma" --suite qa --lengths "${LENGTHS:-1500}" --per-kind 4 --scores "$scores" -n 32 \
        --methods kvcompose --ratios 0.25,0.125 --budgets global "${flag[@]}"
done
