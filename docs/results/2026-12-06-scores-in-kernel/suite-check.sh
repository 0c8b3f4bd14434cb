#!/usr/bin/env bash
# Accuracy unchanged? The fidelity suite's 1.5k part of seed 0 (32 cases, 8 of each kind) scored
# anew with this build into a fresh score store (so every score comes from the new default, the
# flash-attention kernel's), then compared case by case with ../2026-12-06-suite-q8_0's
# kvcompose/s0-1500, scored the same way the same day with the host's recompute.
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../../../scripts/bench-lib.sh"
out=docs/results/2026-12-06-scores-in-kernel/suite-1500
scores=$(mktemp -d)
suite_into "$out" --suite qa --seed 0 --lengths 1500 --per-kind 8 \
    --scores "$scores" -n 32 --methods kvcompose --budgets global --ratios 0.25,0.125
python3 - "$out/results.json" docs/results/2026-12-06-suite-q8_0/kvcompose/s0-1500/results.json <<'PY'
import json, sys
def rows(p):
    return {(r["task"], r["chars"], r["depth"], r["question"], r["method"], r["ratio"]): r for r in json.load(open(p))}
new, old = rows(sys.argv[1]), rows(sys.argv[2])
same = sum(new[k]["answer"] == old[k]["answer"] for k in new if k in old)
print(f"{same} of {len(new)} answers identical to the host recompute's ({len(set(new) & set(old))} matched)")
for ratio in (1.0, 0.25, 0.125):
    for name, r in (("now", new), ("before", old)):
        c = [v["correct"] for k, v in r.items() if k[5] == ratio]
        print(f"ratio {ratio} {name}: {sum(c)}/{len(c)} correct")
PY
