#!/usr/bin/env bash
# Would unrelated distractor paragraphs make the QA kind easier for SmolLM2's full cache? The QA
# kind before this folder's change (7eb1997, items answerable from their paragraph alone), seed
# 1000 (no suite seed), 1.5k and 3k tokens, 16 cases a length: v0 as the suite draws them (the
# item's near paragraphs first: its SQuAD article's, its HotpotQA distractors), v1 with every
# distractor drawn from the whole set (far.patch, KVC_QA_FAR=1). Only the full cache counts here;
# random at 0.5 is there because bench runs some setting. Not kept: v1 is answered less.
source "$(dirname "$0")/../../../../scripts/bench-lib.sh"
out=docs/results/2026-12-07-qa-calibration/distractors
bin=$(build_at 7eb1997 "$out/far.patch")
for v in v0 v1; do
    [ "$v" = v1 ] && export KVC_QA_FAR=1
    suite_into "$out/$v" --suite qa --seed 1000 --lengths 1500,3000 --per-kind 16 --tasks squad,hotpotqa -n 32 \
        --methods random --ratios 0.5 --budgets uniform
done
