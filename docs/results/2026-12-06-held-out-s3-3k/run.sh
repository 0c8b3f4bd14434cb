#!/usr/bin/env bash
# Issue 15: more held-out cases. The suite drawn with seed 3 at 3k tokens (8 cases of each kind),
# nothing chosen on it: KVCompose with the defaults (flash attention on, kept cells in q8_0,
# global budgets), both ratios from the stored per-case scores (scored once here). SmolLM2, f16
# cache, greedy, -n 32. Then the tables the README cites, joined and graded as today (a QA count
# answers in digits or in words; rerun.sh first): every held-out part (../2026-12-06-held-out-s3/held-out: seeds
# 1 and 2 at 1.5k and 3k, seed 3 at 1.5k; and this one), seed 0 to 7k, the whole suite, Gemma 3.
source "$(dirname "$0")/../../../scripts/bench-lib.sh"
out=docs/results/2026-12-06-held-out-s3-3k
scores=${SCORES:-$HOME/.cache/kvcompose/scores}
if [ -z "${JOIN_ONLY:-}" ]; then # JOIN_ONLY=1 only draws the joined tables again
    suite_into "$out/s3-3000" --suite qa --seed 3 --lengths 3000 --per-kind 8 \
        --scores "$scores" -n 32 --methods kvcompose --budgets global --ratios 0.25,0.125
fi
g=docs/results/2026-12-06-qa-grading
rows=$(mktemp -d)
# rerun.sh's QA rows replace those the two parts ran before (the same cases, now compressed where
# the full cache answers).
pick_rows "$g/seed-0/results.json" "$rows/seed-0.json" 'not (r["task"] in ("squad", "hotpotqa") and r["tokens"] == 7000)'
pick_rows "$g/gemma/results.json" "$rows/gemma.json" 'not (r["task"] in ("squad", "hotpotqa") and r["tokens"] == 3000)'
join_into "$out/held-out" docs/results/2026-12-06-held-out-s3/held-out/results.json "$out/s3-3000/results.json"
join_into "$out/seed-0" "$rows/seed-0.json" "$out/s0-7000-qa/results.json"
join_into "$out/suite" "$rows/seed-0.json" "$out/s0-7000-qa/results.json" "$out/held-out/results.json"
join_into "$out/gemma" "$rows/gemma.json" "$out/gemma-3000-qa/results.json"
# The baselines at the same bytes on every held-out case they ran on (seeds 1 and 2 at 1.5k,
# seed 1 at 3k, seed 3 at 1.5k and 3k).
join_into "$out/held-out-baselines" docs/results/2026-12-06-held-out-s3/held-out-baselines/results.json "$out/s3-3000-baselines/results.json"
