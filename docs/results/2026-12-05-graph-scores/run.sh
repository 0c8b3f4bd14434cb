#!/usr/bin/env bash
# Scores reduced on llama.cpp's graph (--kv-graph-scores, patches/0006) against the host's
# recompute (the default), one run each, interleaved: SmolLM2 (flash attention on and off,
# layer by layer and streamed) and Gemma 3 270M (layer by layer and streamed), on the tests'
# document cut at 2.8k SmolLM2 tokens (as ../2026-12-05-load-time), one question, -n 24,
# --kv-compose 0.25. Writes runs.tsv and machine.txt here. Run at 35ad2a9 with the flag of then,
# --kv-graph-scores; now --kv-scores graph, which since patch 0010 takes the scores of a flash
# attention over an f16 cache from the kernel itself (../2026-12-06-scores-in-kernel).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../../../scripts/bench-lib.sh"
work=$(mktemp -d)
smollm2=$("$bin" fetch-model smollm2)
gemma3=$("$bin" fetch-model gemma3)
machine_into "$here"
doc=$work/doc.txt
tests_doc 12500 "$doc"
q="What is the special magic number for the printing house mentioned in the provided text?"
printf 'model\tprefill\tfa\tscores\twall_s\tprefill_s\tscore_s\tanswer_has_fact\tpeak_rss_mib\tanswer\n' > "$here/runs.tsv"
run() { # model prefill fa
    for scores in host graph; do
        flags=(--kv-scores "$scores")
        /usr/bin/time -o "$work/time" -f "%e %M" "$bin" -m "${!1}" -f "$doc" -p "$q" -n 24 --kv-compose 0.25 \
            --kv-prefill "$2" -fa "$3" "${flags[@]}" --json > "$work/out" 2> "$work/err" < /dev/null
        python3 - "$1" "$2" "$3" "$scores" "$work/time" "$work/out" >> "$here/runs.tsv" <<'PY'
import json, sys
model, prefill, fa, scores, time, out = sys.argv[1:]
wall, kib = open(time).read().split()[-2:]
r = json.load(open(out))
s = lambda k: f"{r[k] / 1e3:.1f}"
print(f"{model}\t{prefill}\t{fa}\t{scores}\t{float(wall):.1f}\t{s('t_prefill_ms')}\t{s('t_score_ms')}\t{'4516273' in r['answer']}\t{int(kib) / 1024:.0f}\t{json.dumps(r['answer'][:60])}")
PY
    done
}
run smollm2 layers on
run smollm2 layers off
run smollm2 chunks on
run gemma3 layers on
run gemma3 chunks on
cat "$here/runs.tsv"
