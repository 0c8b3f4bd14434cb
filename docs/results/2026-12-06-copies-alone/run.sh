#!/usr/bin/env bash
# Issue 17 (a cheaper scoring copy), asked of issue 15's suite first. Scorer `chunks` (research,
# bench --scores only): the document's copy in 1k-token chunks, led in as KVzip's, each seeing
# only the prompt prefix and its own chunk, in its hidden states as in its softmax (a second
# sequence that shares only those cells). Its attention then costs a chunk, not the document.
# Does the compressed cache still answer what the whole copy's scores answered? The held-out
# cases of seeds 1, 2 and 3 at 1.5k tokens (PARTS="seed:tokens ..." for others), KVCompose
# with the defaults otherwise (flash attention on, kept cells in q8_0, global budgets), both
# ratios. SmolLM2, f16 cache, greedy, -n 32. The whole copy's rows on the same cases are in
# ../2026-12-06-held-out-s3-3k.
source "$(dirname "$0")/../../../scripts/bench-lib.sh"
out=docs/results/2026-12-06-copies-alone
scores=${SCORES:-$HOME/.cache/kvcompose/scores}
for part in ${PARTS:-1:1500 2:1500 3:1500}; do
    seed=${part%:*} len=${part#*:}
    suite_into "$out/s$seed-$len" --suite qa --seed "$seed" --lengths "$len" --per-kind 8 --scores "$scores" -n 32 \
        --methods kvcompose --budgets global --ratios 0.25,0.125 --kv-score chunks
done
join_into "$out/held-out-1500" "$out"/s{1,2,3}-1500/results.json
# Case by case against the whole copy's rows (the defaults) on the same cases.
python3 "$(dirname "$0")/compare.py" > "$out/compare.txt"
