#!/usr/bin/env bash
# Run before run.sh. Graded with the count rule (a QA count answers in digits or in words), two
# QA cases the full cache answers turn right that were graded wrong when they ran, so they were
# never compressed: SmolLM2's seed-0 7k case "How many customaries does Norman customary law
# have?" ("2 customaries") and a Gemma 3 case at 3k. Their parts' QA kind is run again here
# (the same cases, drawn from the same seeds), and run.sh joins these rows in place of the old
# ones. Also the baselines at the same bytes (token-level, StreamingLLM, random; uniform
# budgets) on seed 3 at 3k, from the stored scores. SmolLM2/Gemma, f16 cache, greedy, -n 32.
source "$(dirname "$0")/../../../scripts/bench-lib.sh"
out=docs/results/2026-12-06-held-out-s3-3k
scores=${SCORES:-$HOME/.cache/kvcompose/scores}
gemma=$("$bin" fetch-model gemma3 | tail -n 1)
qa=(--suite qa --tasks squad,hotpotqa --scores "$scores" -n 32 --methods kvcompose --budgets global --ratios 0.25,0.125)
suite_into "$out/s0-7000-qa" "${qa[@]}" --seed 0 --lengths 7000 --per-kind 8
suite_into "$out/gemma-3000-qa" "${qa[@]}" -m "$gemma" --lengths 3000 --per-kind 4
suite_into "$out/s3-3000-baselines" --suite qa --seed 3 --lengths 3000 --per-kind 8 --scores "$scores" -n 32 \
    --methods tokens,streaming,random --budgets uniform --ratios 0.25,0.125
