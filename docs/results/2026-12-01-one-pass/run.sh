#!/usr/bin/env bash
# The layer-by-layer prefill in one pass (each layer read and scored once, its candidates bounded
# by the allocation over the layers read so far) against the two-pass prefill it replaces
# (pass 1 scored every layer, pass 2 decoded the document again to read the kept rows) and stock
# llama.cpp's llama-completion, on the tests' 3k document (2,830 SmolLM2 tokens), one question,
# -n 24, defaults (--kv-compose 0.25, flash attention auto, f16 cache), interleaved, REPS times.
# BEFORE=PATH names the two-pass binary (default: built from commit 42d704c into a worktree).
# Writes runs.tsv, results.md and machine.txt here.
# Usage: docs/results/2026-12-01-one-pass/run.sh   (from anywhere; LLAMA_COMPLETION=PATH skips its build)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../../../scripts/bench-lib.sh"
work=$(mktemp -d)
BEFORE=${BEFORE:-$(build_at 42d704c)}
llama_completion=${LLAMA_COMPLETION:-$(scripts/build-llama-completion.sh | tail -n 1)}
model=$("$bin" fetch-model smollm2)
machine_into "$here"
tests_doc 12500 "$work/doc.txt"
q="What is the special magic number for the printing house mentioned in the provided text?"
n=24
# The stock prompt: the model's chat template around the document and question, as kvcompose renders it.
"$bin" -m "$model" -f "$work/doc.txt" -p "$q" -n 1 --kv-compose 1 --kv-save "$work/t.kvc" --json > /dev/null
stock_prompt "$work/doc.txt" "$q" "$work/t.kvc" > "$work/prompt.txt"
printf 'run\tsetting\twall_s\tanswer_has_fact\tpeak_rss_mib\tkv_host_peak_mib\n' > "$here/runs.tsv"
for i in $(seq "${REPS:-2}"); do
    for setting in one-pass two-pass stock; do
        case $setting in
            one-pass) cmd=("$bin" -m "$model" -f "$work/doc.txt" -p "$q" -n $n --kv-compose 0.25 --json) ;;
            two-pass) cmd=("$BEFORE" -m "$model" -f "$work/doc.txt" -p "$q" -n $n --kv-compose 0.25 --json) ;;
            stock) cmd=("$llama_completion" -m "$model" -f "$work/prompt.txt" -c 4096 -n $n --temp 0 --seed 0 -no-cnv --no-display-prompt --no-warmup) ;;
        esac
        # Wall seconds and peak RSS (KiB) of the whole process, the same way for all three.
        /usr/bin/time -o "$work/time" -f "%e %M" "${cmd[@]}" > "$work/out" 2> "$work/err" < /dev/null
        python3 - "$i" "$setting" "$work/time" "$work/out" >> "$here/runs.tsv" <<'PY'
import json, sys
i, setting, time, out = sys.argv[1:]
wall, kib = open(time).read().split()[-2:]
text = open(out).read()
try:
    r = json.loads(text)
    ans, host = r["answer"], r.get("kv_host_peak_bytes", 0) / 2**20
except ValueError:
    ans, host = text, 0
print(f"{i}\t{setting}\t{float(wall):.1f}\t{'4516273' in ans}\t{int(kib) / 1024:.0f}\t{host:.1f}")
PY
    done
done
cat "$here/runs.tsv"
