#!/usr/bin/env bash
# What the copy costs: the scoring passes' time (t_score_ms, the copies after the document's
# read) with the whole copy (`repeat`, the default) and with copies alone in 1k-token chunks
# (`chunks`), on the speed runs' documents (the tests' document cut at 12,500 and 27,000
# characters: 2.8k and 6.1k tokens), a needle at depth 0.5, interleaved, REPS times (2). Each
# run scores into a fresh store. SmolLM2, f16 cache, flash attention on, 0.25, -n 8.
source "$(dirname "$0")/../../../scripts/bench-lib.sh"
out=${OUT:-docs/results/2026-12-06-copies-alone/time}
mkdir -p "$out"
machine_into "$out"
docs=$(mktemp -d)
printf 'chars\tscorer\trep\ttokens\tt_prefill_ms\tt_score_ms\tcorrect\n' > "$out/time.tsv"
for chars in 12500 27000; do
    tests_doc "$chars" "$docs/$chars.txt"
    for rep in $(seq "${REPS:-2}"); do
        for scorer in repeat chunks; do
            run=$(mktemp -d)
            "$bin" bench --tasks needle --haystack "$docs/$chars.txt" --lengths "$chars" --depths 0.5 --methods kvcompose \
                --budgets global --ratios 0.25 -fa on -n 8 --scores "$run/scores" --kv-score "$scorer" --out "$run" 2> /dev/null > /dev/null
            python3 - "$run/results.json" "$chars" "$scorer" "$rep" >> "$out/time.tsv" <<'PY'
import json, sys
rows = json.load(open(sys.argv[1]))
r = next(r for r in rows if r["method"] != "full")
p = r["report"]
print("\t".join(map(str, [sys.argv[2], sys.argv[3], sys.argv[4], p["doc_tokens"], round(p["t_prefill_ms"]), round(p["t_score_ms"]), r["correct"]])))
PY
            rm -rf "$run"
        done
    done
done
cat "$out/time.tsv"
