#!/usr/bin/env bash
# Peak RSS (and KV held) at --kv-compose 0.25 with the cells kept in q8_0 (the default) and in
# f16 (`--kv-store cache`), against stock llama.cpp's llama-completion, on the documents of
# time.sh (2.8k and 6.1k SmolLM2 tokens), one question, -n 24, one run each. Peak RSS does not
# depend on what else the machine runs, so this may run beside other work (time.sh may not).
# Writes rss.tsv here.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../../../scripts/bench-lib.sh"
work=$(mktemp -d)
llama_completion=${LLAMA_COMPLETION:-$(scripts/build-llama-completion.sh | tail -n 1)}
model=$("$bin" fetch-model smollm2)
q="What is the special magic number for the printing house mentioned in the provided text?"
printf 'commit\tdoc_tokens\tsetting\tkv_held\tanswer_has_fact\tpeak_rss_mib\n' > "$here/rss.tsv"
for bytes in 12500 27000; do
    tokens=$(speed_case "$bytes" "$q" "$work")
    doc=$work/doc.txt
    for setting in q8_0-cells f16-cells stock; do
        case $setting in
            q8_0-cells) cmd=("$bin" -m "$model" -f "$doc" -p "$q" -n 24 --kv-compose 0.25 --json) ;;
            f16-cells) cmd=("$bin" -m "$model" -f "$doc" -p "$q" -n 24 --kv-compose 0.25 --kv-store cache --json) ;;
            stock) cmd=("$llama_completion" -m "$model" -f "$work/prompt.txt" -c $((tokens + 128)) -n 24 --temp 0 --seed 0 -no-cnv --no-display-prompt --no-warmup) ;;
        esac
        /usr/bin/time -o "$work/time" -f "%M" "${cmd[@]}" > "$work/out" 2> "$work/err" < /dev/null
        python3 - "$(git rev-parse --short HEAD)" "$tokens" "$setting" "$work/time" "$work/out" >> "$here/rss.tsv" <<'PY'
import json, sys
commit, tokens, setting, time, out = sys.argv[1:]
kib = open(time).read().split()[-1]
text = open(out).read()
try:
    r = json.loads(text)
    ans, held = r["answer"], f"{r['kv_bytes_kept'] / r['kv_bytes_full']:.3f}"
except ValueError:
    ans, held = text, "-"
print(f"{commit}\t{tokens}\t{setting}\t{held}\t{'4516273' in ans}\t{int(kib) / 1024:.0f}")
PY
    done
done
cat "$here/rss.tsv"
