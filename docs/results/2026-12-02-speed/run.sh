#!/usr/bin/env bash
# Time to answer at --kv-compose 0.25 against stock llama.cpp's llama-completion, in one run, on
# the tests' document cut at 2.8k and 6.1k SmolLM2 tokens (the first 12,500 and 27,000 bytes of
# tests/data/areopagitica-long.txt), one question, -n 24, defaults (layer-by-layer prefill, flash
# attention auto = on, f16 cache), interleaved, REPS times; then a perf profile of one 2.8k run.
# BEFORE=PATH names the earlier binary (default: built from commit 70ec7e5 into a worktree).
# Writes runs.tsv, profile.txt and machine.txt here.
# Usage: docs/results/2026-12-02-speed/run.sh   (from anywhere; LLAMA_COMPLETION=PATH skips its build)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../../../scripts/bench-lib.sh"
work=$(mktemp -d)
BEFORE=${BEFORE:-$(build_at 70ec7e5)}
llama_completion=${LLAMA_COMPLETION:-$(scripts/build-llama-completion.sh | tail -n 1)}
model=$("$bin" fetch-model smollm2)
machine_into "$here"
q="What is the special magic number for the printing house mentioned in the provided text?"
n=24
printf 'run\tdoc_tokens\tsetting\twall_s\tprefill_s\tscore_s\tanswer_has_fact\tpeak_rss_mib\n' > "$here/runs.tsv"
for bytes in 12500 27000; do
    doc=$work/doc-$bytes.txt
    tests_doc "$bytes" "$doc"
    # The stock prompt: the model's chat template around the document and question, as kvcompose renders it.
    "$bin" -m "$model" -f "$doc" -p "$q" -n 1 --kv-compose 1 --kv-save "$work/t.kvc" --json > "$work/t.json"
    tokens=$(python3 -c "import json; print(json.load(open('$work/t.json'))['doc_tokens'])")
    stock_prompt "$doc" "$q" "$work/t.kvc" > "$work/prompt.txt"
    for i in $(seq "${REPS:-2}"); do
        for setting in now before stock; do
            case $setting in
                now) cmd=("$bin" -m "$model" -f "$doc" -p "$q" -n $n --kv-compose 0.25 --json) ;;
                before) cmd=("$BEFORE" -m "$model" -f "$doc" -p "$q" -n $n --kv-compose 0.25 --json) ;;
                stock) cmd=("$llama_completion" -m "$model" -f "$work/prompt.txt" -c $((tokens + 128)) -n $n --temp 0 --seed 0 -no-cnv --no-display-prompt --no-warmup) ;;
            esac
            # Stock's context holds the prompt and answer, as kvcompose sizes its own.
            # Wall seconds and peak RSS (KiB) of the whole process, the same way for all three.
            /usr/bin/time -o "$work/time" -f "%e %M" "${cmd[@]}" > "$work/out" 2> "$work/err" < /dev/null
            python3 - "$i" "$tokens" "$setting" "$work/time" "$work/out" >> "$here/runs.tsv" <<'PY'
import json, sys
i, tokens, setting, time, out = sys.argv[1:]
wall, kib = open(time).read().split()[-2:]
text = open(out).read()
try:
    r = json.loads(text)
    ans, pre, score = r["answer"], f"{r['t_prefill_ms'] / 1e3:.1f}", f"{r['t_score_ms'] / 1e3:.1f}"
except ValueError:
    ans, pre, score = text, "-", "-"
print(f"{i}\t{tokens}\t{setting}\t{float(wall):.1f}\t{pre}\t{score}\t{'4516273' in ans}\t{int(kib) / 1024:.0f}")
PY
        done
    done
done
cat "$here/runs.tsv"
command -v perf > /dev/null || exit 0
perf record -q -F 200 -g -o "$work/perf.data" "$bin" -m "$model" -f "$work/doc-12500.txt" -p "$q" \
    --kv-compose 0.25 -n 4 --json > /dev/null 2>&1
set +o pipefail  # head closes the report pipes early
rep() { perf report -i "$work/perf.data" --no-children -g none --stdio "$@" 2>/dev/null | grep -E '^ +[0-9]' | sed 's/ *$//'; }
{
    echo "## by symbol"; rep --sort symbol | head -14 | cut -c1-110
    echo; echo "## by thread (main, OpenMP worker, rayon workers)"; rep --sort pid | head -4
} > "$here/profile.txt"
cat "$here/profile.txt"
