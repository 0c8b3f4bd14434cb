#!/usr/bin/env bash
# A budget between the global allocation and the uniform one: every layer keeps
# 0.75 x its global allocation + 0.25 x the uniform budget (`probe.patch`, KVC_BLEND=0.25; not
# kept). First the runs that hold the seven cases the defaults miss at 0.25 and answer at 0.125
# (`targeted/`), then seeds 0-4 at 3k tokens whole (`3000/`), KVCompose at 0.25 and 0.125 from the
# stored scores; scripts/compare-runs.py sets each beside the defaults' verdicts
# (../2026-12-07-held-out-s4/suite).
source "$(dirname "$0")/../../../scripts/bench-lib.sh"
out=docs/results/2026-12-07-non-monotone
bin=$(build_at 07d7ae9 "$out/probe.patch")
scores=${SCORES:-$HOME/.cache/kvcompose/scores-chunk-2048}
run() { # dir seed len [--tasks kinds]
    local dir=$1 seed=$2 len=$3
    shift 3
    KVC_BLEND=0.25 suite_into "$dir" --suite qa --seed "$seed" --lengths "$len" --per-kind 8 "$@" --scores "$scores" -n 32 \
        --ratios 0.25,0.125 --methods kvcompose --budgets global
}
run "$out/targeted/s0-3000-twokey" 0 3000 --tasks twokey
run "$out/targeted/s1-1500-needle" 1 1500 --tasks needle
run "$out/targeted/s2-1500-twohop" 2 1500 --tasks twohop
run "$out/targeted/s3-3000-qa" 3 3000 --tasks squad,hotpotqa
run "$out/targeted/s2-3000-needle" 2 3000 --tasks needle
run "$out/targeted/s3-3000-twohop" 3 3000 --tasks twohop
run "$out/targeted/s4-3000-needle" 4 3000 --tasks needle
for seed in 0 1 2 3 4; do run "$out/3000/s$seed" "$seed" 3000; done
base=docs/results/2026-12-07-held-out-s4/suite/results.json
python3 scripts/compare-runs.py "$base" "$out"/targeted/*/results.json > "$out/targeted.txt"
python3 scripts/compare-runs.py "$base" "$out"/3000/*/results.json > "$out/3000.txt"
cat "$out/targeted.txt" "$out/3000.txt"
