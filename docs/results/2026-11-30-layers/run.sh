#!/usr/bin/env bash
# Layer-by-layer prefill: the tests' fact at about 3k and 6.4k tokens at 0.25 with
# the defaults (`--kv-prefill auto` = layers on SmolLM2), and five needles in 6.1k tokens side
# by side with the full cache (`kvcompose bench`). 2 cores, no GPU: about 1.5 + 6 minutes for
# the two documents, 35 for the benchmark.
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
here="$root/docs/results/2026-11-30-layers"
cd "$root"
cargo build --release --locked
bin=target/release/kvcompose
model=$(ls ~/.cache/kvcompose/models/SmolLM2-135M-Instruct*.gguf | head -n 1)
question="What is the special magic number for the printing house mentioned in the provided text?"
tmp=$(mktemp -d)
# The tests' 3k document: the first 12,500 bytes, cut back to a paragraph end.
python3 -c 'import sys; s = open("tests/data/areopagitica-long.txt").read()[:12500]; sys.stdout.write(s[:s.rfind("\n\n")])' > "$tmp/doc3k.txt"
"$bin" -m "$model" -f "$tmp/doc3k.txt" -p "$question" -n 32 --kv-compose 0.25 --json 2> /dev/null > "$here/needle-3k.json"
"$bin" -m "$model" -f tests/data/areopagitica-long.txt -p "$question" -n 32 --kv-compose 0.25 --json 2> /dev/null > "$here/needle-6k.json"

mkdir -p "$here/areopagitica-6k"
"$bin" bench --tasks needle --haystack areopagitica --lengths 25500 --ratios 0.25 --budgets global \
    --methods kvcompose --depths 0.1,0.3,0.5,0.7,0.9 -n 24 --out "$here/areopagitica-6k" 2> "$here/areopagitica-6k/progress.log"
