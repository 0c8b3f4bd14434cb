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
echo "$time_header" > "$here/time.tsv"
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
            time_row "$i" "$tokens" "$setting" 4516273 "${cmd[@]}" >> "$here/time.tsv"
        done
    done
done
cat "$here/time.tsv"
