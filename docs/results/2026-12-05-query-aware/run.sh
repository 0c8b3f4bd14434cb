#!/usr/bin/env bash
# Does scoring with the question's own queries keep more of the fidelity suite? SmolLM2, the
# suite's 1.5k, 3k and 5k parts (seed 0, 8 cases of each kind), KVCompose with global budgets at
# 0.25 and 0.125, from the same per-case scores as ../2026-12-05-ablation/defaults. query.patch
# (on commit d26ed3a) makes the benchmark's scored path do what --kv-query-aware does in a
# document load: the question's turn is decoded over the whole cache with the probe armed, and
# each cell's score is the max of the copy's and the question's. KVC_QUERY=1 turns it on.
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../../../scripts/bench-lib.sh"
scores=${SCORES:-$HOME/.cache/kvcompose/scores}
bin=$(build_at d26ed3a "$here/query.patch")
for len in ${PARTS:-1500 3000 5000}; do
    KVC_QUERY=1 suite_into "$here/query/$len" --suite qa --lengths "$len" --per-kind 8 --scores "$scores" -n 32 \
        --methods kvcompose --ratios 0.25,0.125 --budgets global
done
"$bin" bench $(printf -- '--from %s ' "$here"/query/[0-9]*/results.json) --out "$here/query/all" > /dev/null
