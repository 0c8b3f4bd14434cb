#!/usr/bin/env bash
# The same scorer with KVzip's 2k-token chunks (chunk-2048.patch, applied for the build and
# reverted): a 1.5k document is then one chunk, scored as by the whole copy, so the held-out
# cases at 3k tokens (seeds 1, 2 and 3; each document two chunks) are where it differs. Scored
# into a store of its own (the store's key names the scorer, not its chunk).
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/../../.."
git apply "$here/chunk-2048.patch"
trap 'git apply -R "$here/chunk-2048.patch"' EXIT
source "$here/../../../scripts/bench-lib.sh"
git apply -R "$here/chunk-2048.patch"
trap - EXIT
out=docs/results/2026-12-06-copies-alone/chunk-2048
scores=${SCORES:-$HOME/.cache/kvcompose/scores-chunk-2048}
for seed in ${SEEDS:-1 2 3}; do
    suite_into "$out/s$seed-3000" --suite qa --seed "$seed" --lengths 3000 --per-kind 8 --scores "$scores" -n 32 \
        --methods kvcompose --budgets global --ratios 0.25,0.125 --kv-score chunks
done
join_into "$out/held-out-3000" "$out"/s{1,2,3}-3000/results.json
python3 "$here/compare.py" "$out" > "$out/compare.txt"
