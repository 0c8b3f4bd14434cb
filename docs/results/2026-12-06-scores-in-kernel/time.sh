#!/usr/bin/env bash
# Time to answer at --kv-compose 0.25 after patch 0010 (scores formed in the CPU flash-attention
# kernel, its mask and K tiles converted in SIMD), against the build before it (BEFORE=PATH to
# that kvcompose), the host's score recompute on this build (--kv-scores host), this build's own
# full cache (no compression) and stock llama.cpp's llama-completion, in one run; and stock on the
# document written twice (stock2x), which reads what a load reads, the document and its copy
# behind it: the floor of this scoring on this machine. The tests'
# document cut at 2.8k and 6.1k SmolLM2 tokens (as ../2026-12-06-kept-q8_0), one question, -n 24,
# defaults otherwise (layer-by-layer prefill, flash attention on, f16 cache, q8_0 kept cells),
# interleaved, REPS times (BYTES picks the cuts). Writes time.tsv and machine.txt here or in
# OUT, or the table to TSV;
# SETTINGS picks some (`repeat`: the whole scoring copy, the default before copies alone in chunks;
# `copyonly`: the copies decoded without forming scores, COPY_ONLY=that build).
# (time.tsv and time-aligned.tsv here were written before the kv_held column.)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../../../scripts/bench-lib.sh"
work=$(mktemp -d)
llama_completion=${LLAMA_COMPLETION:-$(scripts/build-llama-completion.sh | tail -n 1)}
settings=${SETTINGS:-now host before full stock stock2x}
[[ " $settings " != *" before "* ]] || before=${BEFORE:?BEFORE=path to the kvcompose built before patch 0010}
out=${OUT:-$here}
tsv=${TSV:-$out/time.tsv}
model=$("$bin" fetch-model smollm2)
machine_into "$out"
q="What is the special magic number for the printing house mentioned in the provided text?"
n=24
echo "$time_header" > "$tsv"
for bytes in ${BYTES:-12500 27000}; do
    tokens=$(speed_case "$bytes" "$q" "$work")
    doc=$work/doc.txt
    cat "$doc" "$doc" > "$work/doc2.txt"
    stock_prompt "$work/doc2.txt" "$q" "$work/t.kvc" > "$work/prompt2.txt"
    for i in $(seq "${REPS:-2}"); do
        for setting in $settings; do
            case $setting in
                now) cmd=("$bin" -m "$model" -f "$doc" -p "$q" -n $n --kv-compose 0.25 --json) ;;
                repeat) cmd=("$bin" -m "$model" -f "$doc" -p "$q" -n $n --kv-compose 0.25 --kv-score repeat --json) ;;
                copyonly) cmd=(env KVC_COPY_ONLY=1 "${COPY_ONLY:?COPY_ONLY=path to kvcompose built with ../2026-12-07-speed-repeat/copy-only.patch}" -m "$model" -f "$doc" -p "$q" -n $n --kv-compose 0.25 --json) ;;
                host) cmd=("$bin" -m "$model" -f "$doc" -p "$q" -n $n --kv-compose 0.25 --kv-scores host --json) ;;
                before) cmd=("$before" -m "$model" -f "$doc" -p "$q" -n $n --kv-compose 0.25 --json) ;;
                full) cmd=("$bin" -m "$model" -f "$doc" -p "$q" -n $n --json) ;;
                stock) cmd=("$llama_completion" -m "$model" -f "$work/prompt.txt" -c $((tokens + 128)) -n $n --temp 0 --seed 0 -no-cnv --no-display-prompt --no-warmup) ;;
                stock2x) cmd=("$llama_completion" -m "$model" -f "$work/prompt2.txt" -c $((2 * tokens + 128)) -n $n --temp 0 --seed 0 -no-cnv --no-display-prompt --no-warmup) ;;
            esac
            time_row "$i" "$tokens" "$setting" 4516273 "${cmd[@]}" >> "$tsv"
        done
    done
done
cat "$tsv"
