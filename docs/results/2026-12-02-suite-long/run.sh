#!/usr/bin/env bash
# The fidelity suite's long parts on SmolLM2 (seed 0): 5k tokens with 8 cases per kind, 7k with
# 4 (for time: about 4 minutes a 7k case on 2 cores), today's defaults, KVCompose with global
# budgets beside uniform budgets and the token-level baselines, at 0.25 and 0.125. Flash
# attention auto, f16 cache, greedy, -n 32. A case's compressed settings run only where the full
# cache answers it (the score counts only those), and only those cases are scored. Then the
# whole suite's table, joined with the 1.5k and 3k parts of ../2026-12-01-fidelity: its
# defaults-recheck rows (today's defaults) and the baselines of its main rows (uniform budgets,
# which the layer floor does not touch).
# PARTS overrides the lengths and cases per kind, e.g. PARTS="5000:2"; JOIN_ONLY=1 only joins.
source "$(dirname "$0")/../../../scripts/bench-lib.sh"
out=docs/results/2026-12-02-suite-long
scores=${SCORES:-$HOME/.cache/kvcompose/scores}
if [ -z "${JOIN_ONLY:-}" ]; then
    for part in ${PARTS:-5000:8 7000:4}; do
        len=${part%:*}
        suite_into "$out/$len" --suite qa --lengths "$len" --per-kind "${part#*:}" --scores "$scores" -n 32 \
            --methods kvcompose,tokens,streaming,random --ratios 0.25,0.125 --budgets global,uniform
    done
fi
short=docs/results/2026-12-01-fidelity
joined=$(mktemp)
python3 - "$short/defaults-recheck/results.json" "$short/main/results.json" "$out"/[0-9]*/results.json > "$joined" <<'PY'
import json, sys
recheck, main, *long = sys.argv[1:]
rows = json.load(open(recheck))
rows += [r for r in json.load(open(main)) if r["method"] not in ("full", "kvcompose+global")]
for f in long:
    rows += json.load(open(f))
json.dump(rows, sys.stdout)
PY
mkdir -p "$out/whole"
"$bin" bench --from "$joined" --out "$out/whole" > /dev/null
