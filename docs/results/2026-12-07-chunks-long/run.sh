#!/usr/bin/env bash
# The chunks scorer with KVzip's 2k-token chunks (../2026-12-06-copies-alone/chunk-2048.patch,
# applied for the build and reverted) on the suite's longest parts, seed 0 at 5k and 7k tokens
# (8 cases of each kind): a document there is three or four chunks. Scored into a store of its
# own, as ../2026-12-06-copies-alone/run-2k.sh. KVCompose with the defaults at 0.25 and 0.125;
# compare.py sets each case beside the whole copy's verdict (../2026-12-06-held-out-s3-3k/seed-0).
here=$(cd "$(dirname "$0")" && pwd)
patch="$here/../2026-12-06-copies-alone/chunk-2048.patch"
cd "$here/../../.."
# It ran at 192387a, with the patch. From 71f8df6 on the chunk is 2k tokens in the code, and the
# patch no longer applies: the build is then the tree's own.
if git apply --check "$patch" 2> /dev/null; then
    git apply "$patch"
    trap 'git apply -R "$patch"' EXIT
    source "$here/../../../scripts/bench-lib.sh"
    git apply -R "$patch"
    trap - EXIT
else
    source "$here/../../../scripts/bench-lib.sh"
fi
out=docs/results/2026-12-07-chunks-long
scores=${SCORES:-$HOME/.cache/kvcompose/scores-chunk-2048}
for len in ${LENGTHS:-5000 7000}; do
    suite_by_kind "$out/s0-$len" --seed 0 --lengths "$len" --per-kind 8 --scores "$scores" -n 32 \
        --methods kvcompose --budgets global --ratios 0.25,0.125 --kv-score chunks
done
