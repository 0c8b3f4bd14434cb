#!/usr/bin/env bash
# Gemma 3 270M: which of its three global layers need the budget? Every run compresses the
# fidelity suite's 32 cases (1.5k and 3k tokens, 4 per kind, seed 0, -n 32) from per-case scores,
# as 2026-12-01-gemma-layers/main does. The probes (fixed splits, score normalisations, value
# norms, the copy's own band left out of the max) are environment variables of `probe.patch`,
# which applies to commit ca53f3b; this script builds that into a worktree. They are
# measurement tools, not options of kvcompose.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
work=$(mktemp -d)
git -C "$root" worktree add -q "$work/probe" ca53f3b
git -C "$work/probe" apply "$here/probe.patch"
(cd "$work/probe" && cargo build --release --locked -q)
bin=$work/probe/target/release/kvcompose
gemma=$("$bin" fetch-model gemma3 | tail -n 1)
scores=${SCORES:-$HOME/.cache/kvcompose/scores}
suite=(-m "$gemma" --suite qa --lengths 1500,3000 -n 32 --per-kind 4 --scores "$scores")
run() { local dir=$here/$1; shift; mkdir -p "$dir"; "$bin" bench "${suite[@]}" "$@" --out "$dir" 2> "$dir/progress.log"; }

# How steeply answers fall with the ratio, per method.
run ratios-uniform --methods kvcompose --ratios 1.0,0.9,0.5 --budgets uniform
run ratios-methods --methods kvcompose,streaming,random --ratios 0.75,0.5 --budgets uniform,global
run ratios-high --methods random,streaming --ratios 0.95,0.9 --budgets uniform
# Fixed splits of the three layers' cells at 0.25 (layers 5, 11, 17), each layer's own top tokens.
for split in 0.2,0.6,0.2 0.1,0.8,0.1 0.45,0.45,0.1 0.6,0.3,0.1; do
    KVC_ALLOC=$split run "split-${split//,/-}" --methods kvcompose --ratios 0.25 --budgets global
done
# The global allocation over scores divided by each head's sum, max or median.
for norm in sum max median; do
    KVC_NORM=$norm run "norm-$norm" --methods kvcompose --ratios 0.25 --budgets global
done
# Scores times each cell's value norm; the max over the group.
KVC_VNORM=1 run vnorm --methods kvcompose --ratios 0.25 --budgets global,uniform
run group-max --methods kvcompose --ratios 0.25 --budgets global --kv-group max
# Rescored: each copy row's own token and two neighbours a side left out of its max; the refeed scorer.
mkdir -p "$here/band-2"
KVC_BAND=2 "$bin" bench -m "$gemma" --suite qa --lengths 1500,3000 -n 32 --per-kind 4 --scores "$work/scores-band" \
    --methods kvcompose --ratios 0.25,0.125 --budgets global,uniform --out "$here/band-2" 2> "$here/band-2/progress.log"
run refeed --kv-score refeed --methods kvcompose --ratios 0.25,0.125 --budgets global,uniform
# Each layer's score quantiles (printed to stderr) for the first case of each kind.
KVC_Q=1 "$bin" bench -m "$gemma" --suite qa --lengths 1500 -n 4 --per-kind 1 --scores "$scores" --methods kvcompose \
    --ratios 0.25 --budgets global --out "$work/q" 2>&1 | grep quantiles
