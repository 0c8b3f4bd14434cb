#!/usr/bin/env bash
# Reproduces the JSON files beside this script: stock vs --kv-compose 0.5 / 0.25 on the test
# document (tests/data/areopagitica-long.txt, 6.4k tokens) and its first 12,500 bytes (3k tokens).
# Machine: 2 cores, 24 GiB, no GPU; SmolLM2-135M-Instruct Q4_1 (default model), f16 cache,
# flash attention auto (on, on CPU), greedy, -n 32.
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
bin="$root/target/release/kvcompose"
out=$(dirname "$0")
tmp=$(mktemp -d)
head -c 12500 "$root/tests/data/areopagitica-long.txt" > "$tmp/doc3k.txt"
cp "$root/tests/data/areopagitica-long.txt" "$tmp/doc6k.txt"
Q="What is the special magic number for the printing house mentioned in the provided text?"
for d in doc3k doc6k; do for r in none 0.5 0.25; do
    if [ "$r" = none ]; then extra=(); else extra=(--kv-compose "$r"); fi
    "$bin" -f "$tmp/$d.txt" -p "$Q" -n 32 --json "${extra[@]}" > "$out/$d-$r.json"
done; done
