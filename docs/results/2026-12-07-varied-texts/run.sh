#!/usr/bin/env bash
# Issue 15: every retrieval case of the suite hides its facts in the first N tokens of one of
# three haystacks, so the cases of one length share their text. Do the defaults hold on texts
# they never saw? offsets.patch gives each case its own stretch of its haystack (from a drawn
# paragraph or sentence start); this runs it on a new seed (7; nothing was chosen on it) at 1.5k
# and 3k tokens, the three retrieval kinds (the QA kind draws its own paragraphs), under today's
# defaults, each case scored once. BIN=PATH runs an already built binary of offsets.patch.
source "$(dirname "$0")/../../../scripts/bench-lib.sh"
out=docs/results/2026-12-07-varied-texts
bin=${BIN:-$(build_at HEAD "$out/offsets.patch")}
scores=${SCORES:-$HOME/.cache/kvcompose/scores-chunk-2048}
for len in ${LENGTHS:-1500 3000}; do
    suite_into "$out/s7-$len" --suite qa --tasks needle,twohop,twokey --seed 7 --lengths "$len" --per-kind 8 --scores "$scores" -n 32 \
        --ratios 0.25,0.125 --methods kvcompose --budgets global
done
join_into "$out/all" "$out"/s7-{1500,3000}/results.json
cat "$out/all/results.md"
