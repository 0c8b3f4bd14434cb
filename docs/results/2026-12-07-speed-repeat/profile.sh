#!/usr/bin/env bash
# Issue 17's profile with today's defaults: per phase (`--json`) and per function (`perf record
# -F 499`, no call graphs) of one `kvcompose --kv-compose 0.25 -n 24` load of the speed runs'
# document at 2.8k and 6.1k tokens, and of stock llama-completion on the same prompt beside it.
# Writes profile.txt here. With BEFORE=PATH (a kvcompose built at an older commit, e.g. 795915f
# as ../2026-12-01-profile) it profiles that build alone into profile-before.txt. Needs Debian's
# linux-perf. Run alone on the machine.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../../../scripts/bench-lib.sh"
kvc=${BEFORE:-$bin}
llama_completion=${LLAMA_COMPLETION:-$(scripts/build-llama-completion.sh | tail -n 1)}
work=$(mktemp -d)
model=$("$bin" fetch-model smollm2)
q="What is the special magic number for the printing house mentioned in the provided text?"
set +o pipefail  # head closes the report pipes early
rep() { perf report -i "$1" --no-children --stdio --sort "$2" 2>/dev/null | grep -E '^ +[0-9]' | sed 's/ *$//' | head -"$3" | cut -c1-110; }
{
    echo "commit: $(if [ -n "${BEFORE:-}" ]; then git -C "$(dirname "$BEFORE")/../.." rev-parse --short HEAD; else git rev-parse --short HEAD; fi); $(nproc) cores; $(grep -m1 'model name' /proc/cpuinfo)"
    for bytes in 12500 27000; do
        tokens=$(speed_case "$bytes" "$q" "$work")
        perf record -q -F 499 -o "$work/k.data" "$kvc" -m "$model" -f "$work/doc.txt" -p "$q" -n 24 \
            --kv-compose 0.25 --json > "$work/k.json" 2> /dev/null
        echo; echo "# $tokens tokens"
        python3 -c "import json; r=json.load(open('$work/k.json')); print('kvcompose phases (s): document', round(r['t_prefill_ms']/1e3, 2), 'scoring', round(r['t_score_ms']/1e3, 2), 'compress', round(r['t_compress_ms']/1e3, 2), 'answer', round(r.get('t_decode_ms', 0)/1e3, 2))"
        echo; echo "## kvcompose --kv-compose 0.25, by symbol"; rep "$work/k.data" symbol 16
        echo; echo "## kvcompose, by library"; rep "$work/k.data" dso 5
        if [ -z "${BEFORE:-}" ]; then
            perf record -q -F 499 -o "$work/s.data" "$llama_completion" -m "$model" -f "$work/prompt.txt" \
                -c $((tokens + 128)) -n 24 --temp 0 --seed 0 -no-cnv --no-display-prompt --no-warmup > /dev/null 2>&1
            echo; echo "## stock llama-completion, by symbol"; rep "$work/s.data" symbol 10
        fi
    done
} > "$here/profile${BEFORE:+-before}.txt"
cat "$here/profile${BEFORE:+-before}.txt"
