#!/usr/bin/env bash
# What do kept cells in q8_0 cost in time? Time to answer at --kv-compose 0.25 with the cells kept
# in q8_0 (the default, `--kv-store auto`) and in the cache's f16 (`--kv-store cache`), against
# stock llama.cpp's llama-completion, in one run, on the tests' document cut at 2.8k and 6.1k
# SmolLM2 tokens (the first 12,500 and 27,000 bytes of tests/data/areopagitica-long.txt, as
# ../2026-12-02-speed), one question, -n 24, defaults otherwise (layer-by-layer prefill, flash
# attention on, f16 cache), interleaved, REPS times. The document is read and scored in f16 either
# way; only the install of the kept cells and the answer's decode over them differ.
# Writes time.tsv here (and machine.txt).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../../../scripts/bench-lib.sh"
work=$(mktemp -d)
llama_completion=${LLAMA_COMPLETION:-$(scripts/build-llama-completion.sh | tail -n 1)}
model=$("$bin" fetch-model smollm2)
machine_into "$here"
q="What is the special magic number for the printing house mentioned in the provided text?"
n=24
printf 'run\tdoc_tokens\tsetting\twall_s\tprefill_s\tscore_s\tdecode_s\tkv_held\tanswer_has_fact\tpeak_rss_mib\n' > "$here/time.tsv"
for bytes in 12500 27000; do
    tokens=$(speed_case "$bytes" "$q" "$work")
    doc=$work/doc.txt
    for i in $(seq "${REPS:-2}"); do
        for setting in q8_0-cells f16-cells stock; do
            case $setting in
                q8_0-cells) cmd=("$bin" -m "$model" -f "$doc" -p "$q" -n $n --kv-compose 0.25 --kv-store auto --json) ;;
                f16-cells) cmd=("$bin" -m "$model" -f "$doc" -p "$q" -n $n --kv-compose 0.25 --kv-store cache --json) ;;
                stock) cmd=("$llama_completion" -m "$model" -f "$work/prompt.txt" -c $((tokens + 128)) -n $n --temp 0 --seed 0 -no-cnv --no-display-prompt --no-warmup) ;;
            esac
            /usr/bin/time -o "$work/time" -f "%e %M" "${cmd[@]}" > "$work/out" 2> "$work/err" < /dev/null
            python3 - "$i" "$tokens" "$setting" "$work/time" "$work/out" >> "$here/time.tsv" <<'PY'
import json, sys
i, tokens, setting, time, out = sys.argv[1:]
wall, kib = open(time).read().split()[-2:]
text = open(out).read()
try:
    r = json.loads(text)
    s = lambda k: f"{r[k] / 1e3:.2f}"
    ans, pre, score, dec = r["answer"], s("t_prefill_ms"), s("t_score_ms"), s("t_decode_ms")
    held = f"{r['kv_bytes_kept'] / r['kv_bytes_full']:.3f}"
except ValueError:
    ans, pre, score, dec, held = text, "-", "-", "-", "-"
print(f"{i}\t{tokens}\t{setting}\t{float(wall):.1f}\t{pre}\t{score}\t{dec}\t{held}\t{'4516273' in ans}\t{int(kib) / 1024:.0f}")
PY
        done
    done
done
cat "$here/time.tsv"
