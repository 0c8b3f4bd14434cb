#!/usr/bin/env bash
# Issue 15: more held-out cases. The suite drawn with seed 3 at 1.5k tokens (8 cases of each
# kind), nothing chosen on it: KVCompose with the defaults (flash attention on, kept cells in
# q8_0, global budgets) and the baselines at the same bytes (token-level, StreamingLLM, random;
# uniform budgets), both ratios from the stored per-case scores (scored once here). SmolLM2, f16
# cache, greedy, -n 32. Then the whole held-out part: ../2026-12-06-qa-grading/held-out (seeds
# 1 and 2, graded as today) joined with this one, and the baselines on the cases they ran on.
source "$(dirname "$0")/../../../scripts/bench-lib.sh"
out=docs/results/2026-12-06-held-out-s3
scores=${SCORES:-$HOME/.cache/kvcompose/scores}
part=(--suite qa --seed 3 --lengths 1500 --per-kind 8 --scores "$scores" -n 32 --ratios 0.25,0.125)
suite_into "$out/s3-1500" "${part[@]}" --methods kvcompose --budgets global
suite_into "$out/s3-1500-baselines" "${part[@]}" --methods tokens,streaming,random --budgets uniform
join_into "$out/held-out" docs/results/2026-12-06-qa-grading/held-out/results.json "$out/s3-1500/results.json"
# The baselines on every held-out case they were run on (seeds 1 and 2 at 1.5k, seed 1 at 3k,
# graded as today, and this part): one table, the full cache's rows once a case.
g=docs/results/2026-12-06-qa-grading
rows=$(mktemp -d)
pick_rows "$g/held-out-tokens/results.json" "$rows/tokens.json" 'r["method"] == "tokens"'
join_into "$out/held-out-baselines" "$g/held-out-streaming-random/results.json" "$rows/tokens.json" "$out/s3-1500-baselines/results.json"
# The whole suite: seed 0 to 7k tokens and every held-out part.
join_into "$out/suite" "$g/seed-0/results.json" "$out/held-out/results.json"
