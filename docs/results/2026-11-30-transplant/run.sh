#!/usr/bin/env bash
# Which half of streaming loses the 6.4k fact: the selection or the KV rows?
#
# `transplant.patch` adds three throwaway environment switches to the compressor (not in the code):
#   KVC_DUMP=FILE     after the prefill, write every (layer, KV head)'s kept original positions;
#   KVC_LOAD=FILE     at the compression step, keep exactly those positions (one-step runs);
#   KVC_PREFER=FILE   at every streaming step, rank those positions above all others, so the
#                     streamed cache ends with the loaded selection.
# Rows: the default streaming run and the one-step run (each dumps its selection), then the
# one-step run's exact KV rows with the streaming selection, and the streamed KV rows with the
# one-step selection. 2 cores, no GPU, about 13 minutes.
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
here="$root/docs/results/2026-11-30-transplant"
cd "$root"
git apply "$here/transplant.patch"
trap 'git apply -R "$here/transplant.patch"' EXIT
cargo build --release --locked --example needle_map
tmp=$(mktemp -d)
model=$(ls ~/.cache/kvcompose/models/SmolLM2-135M-Instruct*.gguf | head -n 1)
question="What is the special magic number for the printing house mentioned in the provided text?"
row() { # NAME [ENV=VALUE...] -- FLAGS...
    local name=$1
    shift
    local envs=()
    while [ "$1" != "--" ]; do envs+=("$1"); shift; done
    shift
    env "${envs[@]}" target/release/examples/needle_map -m "$model" -f tests/data/areopagitica-long.txt -p "$question" -n 24 \
        --needle 4516273 --kv-compose 0.25 "$@" 2>&1 | grep -v "^llama\|^load\|^print_info\|^\.\|^graph\|^sched\|^init\|^context\|^set_" > "$here/needle-map/$name.txt"
}
one_step=(--kv-chunk 7000 -c 16384)
row stream KVC_DUMP="$tmp/stream.json" --
row onestep KVC_DUMP="$tmp/onestep.json" -- "${one_step[@]}"
row onestep-streamsel KVC_LOAD="$tmp/stream.json" -- "${one_step[@]}"
row stream-onestepsel KVC_PREFER="$tmp/onestep.json" --
