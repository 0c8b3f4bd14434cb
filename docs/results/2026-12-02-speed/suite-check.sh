#!/usr/bin/env bash
# Accuracy unchanged by the faster scorer: the fidelity suite's 1.5k part (8 cases of each kind,
# seed 0), scored anew into a fresh store with this build, at today's defaults, then compared
# answer by answer with 2026-12-01-fidelity/defaults-recheck (scored before the change).
# Usage: docs/results/2026-12-02-speed/suite-check.sh   (from anywhere)
source "$(dirname "$0")/../../../scripts/bench-lib.sh"
out=docs/results/2026-12-02-speed/suite-1500
scores=$(mktemp -d)
suite_into "$out" --suite qa --lengths 1500 --per-kind 8 --scores "$scores" -n 32 --methods kvcompose --ratios 0.25,0.125 --budgets global
python3 - "$out/results.json" docs/results/2026-12-01-fidelity/defaults-recheck/results.json <<'PY'
import json, sys
key = lambda r: (r["task"], r["chars"], round(r["depth"], 6), r["method"], r["ratio"])
new = json.load(open(sys.argv[1]))
old = {key(r): r["answer"] for r in json.load(open(sys.argv[2])) if r["tokens"] == 1500}
same = sum(old.get(key(r)) == r["answer"] for r in new)
print(f"{same} of {len(new)} answers identical to the earlier scorer's")
PY
