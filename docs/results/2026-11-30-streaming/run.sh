#!/usr/bin/env bash
# Why KVCompose at 0.25 loses single facts at about 6k tokens on SmolLM2.
#
# needle-map/: `examples/needle_map.rs` on the tests' 6.4k-token Areopagitica (fact 4516273),
# one file per row of the README table. Rows named probe-* ran with throwaway changes to the
# compressor, gated by environment variables: `git apply docs/results/2026-11-30-streaming/probe.patch`
# first and run with PROBE=1 (and revert it after). The per-tenth columns of default, chunk-3300
# and one-step were printed by a first version of that view (each tenth taken as n/10
# positions); the example's exact tenths differ from them by at most a point.
#
# areopagitica-6k-*/: `kvcompose bench`, needles at depths 0.1-0.9 of the bundled text cut to
# 25,500 characters (about 6.1k tokens), the full cache against KVCompose (global budgets) at
# 0.25 with streaming chunks (the default) and in one step (--kv-chunk 7000 -c 16384).
#
# 2 cores, no GPU; about 2 minutes per streaming row, 4.5 per one-step row.
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
here="$root/docs/results/2026-11-30-streaming"
cd "$root"
cargo build --release --locked --example needle_map
bin=$(mktemp -d)
cp target/release/kvcompose target/release/examples/needle_map "$bin/"
model=$(ls ~/.cache/kvcompose/models/SmolLM2-135M-Instruct*.gguf | head -n 1)
question="What is the special magic number for the printing house mentioned in the provided text?"

row() { # NAME [ENV=VALUE...] -- FLAGS...
    local name=$1
    shift
    local envs=()
    while [ "$1" != "--" ]; do envs+=("$1"); shift; done
    shift
    env "${envs[@]}" "$bin/needle_map" -m "$model" -f "${doc:-tests/data/areopagitica-long.txt}" -p "$question" -n 24 \
        --needle 4516273 "$@" 2>&1 | grep -v "^llama\|^load\|^print_info\|^\.\|^graph\|^sched\|^init\|^context\|^set_" > "$here/needle-map/$name.txt"
}

row default -- --kv-compose 0.25
row chunk-512 -- --kv-compose 0.25 --kv-chunk 512
row chunk-3300 -- --kv-compose 0.25 --kv-chunk 3300 -c 12000
row one-step -- --kv-compose 0.25 --kv-chunk 7000 -c 16384
row ratio-0.31 -- --kv-compose 0.31
row ratio-0.375 -- --kv-compose 0.375
row local-uniform -- --kv-compose 0.25 --kv-local --kv-budget uniform
# The first 16,000 characters, cut back to a paragraph end (about 4k tokens, the same fact).
python3 -c 'import sys; s = open("tests/data/areopagitica-long.txt").read()[:16000]; sys.stdout.write(s[:s.rfind("\n\n")])' > "$bin/first-4k.txt"
doc=$bin/first-4k.txt row first-4k -- --kv-compose 0.25
# One step without flash attention: the scorer reads the softmax instead of recomputing it.
"$bin/kvcompose" -m "$model" -f tests/data/areopagitica-long.txt -p "$question" -n 24 --kv-compose 0.25 \
    --kv-chunk 7000 -c 16384 -fa off --json 2> /dev/null > "$here/one-step-fa-off.json"

if [ "${PROBE:-0}" = 1 ]; then
    fact=(KVC_FORCE=1922..1940)
    row probe-fact-in-25-29 "${fact[@]}" KVC_FORCE_LAYERS=25..29 -- --kv-compose 0.25
    row probe-fact-in-0-6 "${fact[@]}" KVC_FORCE_LAYERS=0..6 -- --kv-compose 0.25
    row probe-fact-in-all "${fact[@]}" KVC_FORCE_LAYERS=0..29 -- --kv-compose 0.25
    row probe-first-64 KVC_FORCE=0..64 KVC_FORCE_LAYERS=0..29 -- --kv-compose 0.25
    row probe-first-256 KVC_FORCE=0..256 KVC_FORCE_LAYERS=0..29 -- --kv-compose 0.25
    row probe-last-64-uniform KVC_RECENT=64 -- --kv-compose 0.25 --kv-budget uniform
    row probe-last-256 KVC_RECENT=256 -- --kv-compose 0.25
    row probe-last-640 KVC_RECENT=640 -- --kv-compose 0.25
    row probe-cap-2x KVC_CAP=2 -- --kv-compose 0.25
    row probe-stream-0.375-cut KVC_STREAM=0.375 -- --kv-compose 0.25 -c 4000 --kv-chunk 200
    row probe-stream-0.375-rescore-cut KVC_STREAM=0.375 KVC_RESCORE=200 -- --kv-compose 0.25 -c 4000 --kv-chunk 200
    row probe-stream-0.30-rescore-cut KVC_STREAM=0.3 KVC_RESCORE=200 -- --kv-compose 0.25 -c 4000 --kv-chunk 200
fi

bench() { # DIR FLAGS...
    local dir=$here/$1
    shift
    mkdir -p "$dir"
    "$bin/kvcompose" bench --tasks needle --haystack areopagitica --lengths 25500 --ratios 0.25 --budgets global \
        -n 24 --out "$dir" "$@" 2> "$dir/progress.log"
}
# (Baselines run with uniform budgets only, so this global-only plan leaves StreamingLLM out.)
bench areopagitica-6k-streaming --methods kvcompose,streaming --depths 0.1,0.3,0.5,0.7,0.9
bench areopagitica-6k-one-step --methods kvcompose --depths 0.3,0.5,0.9 --kv-chunk 7000 -c 16384
