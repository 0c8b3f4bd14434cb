#!/usr/bin/env bash
# Which layers' extra cells turn an answer wrong at 0.25? `probe.patch` (research knobs, not
# kept) lets a run override the global allocation of layers A-B (KVC_CAP_LAYERS=A-B):
# - KVC_CAP_SET=1 KVC_CAP=N: those layers keep N cells (up to all);
# - KVC_CAP_LIST=N0,N1,...: those layers keep at most the listed cells (a case's budgets at 0.125);
# - KVC_ALT=F: those layers get the allocation of F times the budget (0.5: about 0.125's cells);
# - KVC_BLEND=B: every layer's budget (1-B) x the global allocation + B x the uniform budget;
# - KVC_DUMP=1 (with KVC_CAP_LAYERS): each case's budgets and each layer's composite scores at
#   ranks 0, 10%, 25%, 50%, 75%, 90% and 100% of its cells (q0 the best) on stderr.
# Every run: one kind of one seed's 3k part, 8 cases, KVCompose at 0.25 from the stored scores
# (the defaults' copies in 2k-token chunks). Prints each case's verdict ("--": the full cache
# misses it). The two cases: seed 4's needle at depth 0.10, seed 2's at depth 0.09.
source "$(dirname "$0")/../../../scripts/bench-lib.sh"
out=docs/results/2026-12-07-non-monotone
bin=$(build_at 07d7ae9 "$out/probe.patch")
scores=${SCORES:-$HOME/.cache/kvcompose/scores-chunk-2048}
one() { # label seed kind [env...]
    local label=$1 seed=$2 kind=$3 t
    shift 3
    t=$(mktemp -d)
    env "$@" "$bin" bench --suite qa --seed "$seed" --lengths 3000 --per-kind 8 --tasks "$kind" --scores "$scores" -n 32 \
        --ratios 0.25 --methods kvcompose --budgets global --out "$t" > /dev/null 2>&1
    python3 - "$t/results.json" "$label" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
full = {round(r["depth"], 3): r["correct"] for r in d if r["method"] == "full"}
print(sys.argv[2].ljust(28), " ".join(("OK" if r["correct"] else "XX" if full[round(r["depth"], 3)] else "--") + f"@{r['depth']:.2f}" for r in d if r["method"] != "full"))
PY
}
# Seed 4's needles at five ratios, the defaults (s4-needle-ratios/).
suite_into "$out/s4-needle-ratios" --suite qa --seed 4 --lengths 3000 --per-kind 8 --tasks needle --scores "$scores" -n 32 \
    --ratios 0.5,0.375,0.25,0.1875,0.125 --methods kvcompose --budgets global
one "s4 defaults (no override)" 4 needle
# Seed 4: layer 21 alone, set to N cells (2631 at 0.25, 1478 at 0.125 for the failing case).
for n in 2916 2300 2000 1700 1200 800; do one "s4 layer 21 = $n" 4 needle KVC_CAP_LAYERS=21-21 KVC_CAP_SET=1 KVC_CAP=$n; done
# Seed 4: blocks of layers capped at the failing case's budgets at 0.125.
list=171,171,171,171,171,171,171,1482,296,171,171,171,171,171,1654,819,171,2286,2871,171,2778,1478,984,1360,1169,171,354,171,172,171
for r in 0-13 14-20 21-29 21-25 26-29 21-22 23-24 25-25 21-21 22-22; do
    one "s4 layers $r at 0.125's" 4 needle KVC_CAP_LAYERS=$r KVC_CAP=0 KVC_CAP_LIST=$list
done
# Seed 2's first needle (depth 0.09): its budgets at 0.25 and its layers' composite scores
# (composite.txt; 99-99 overrides no layer).
log=$(mktemp)
KVC_DUMP=1 KVC_CAP_LAYERS=99-99 KVC_CAP=0 "$bin" bench --suite qa --seed 2 --lengths 3000 --per-kind 8 --tasks needle \
    --scores "$scores" -n 32 --ratios 0.25 --methods kvcompose --budgets global > /dev/null 2> "$log"
grep -A 30 -m 1 '^capped budgets' "$log" > "$out/composite.txt"
# Seed 2: blocks of layers given the allocation of half the budget (99-99: no layer, the defaults).
for r in 99-99 0-29 0-13 14-29 14-21 22-29 21-21 17-20 14-16 14-15 16-16 14-14 15-15; do
    one "s2 layers $r at half" 2 needle KVC_CAP_LAYERS=$r KVC_CAP=0 KVC_ALT=0.5
done
