#!/usr/bin/env bash
# Per-layer KV sizes (--kv-budget global, the default since 2026-11-30) on the needle documents.
# From the repository root, after cargo build --release; 2 cores, no GPU, defaults (f16 cache,
# flash attention auto), greedy.
set -euo pipefail
here=docs/results/2026-11-30-per-layer
# The five 3k-token documents of the 2026-11-29 set, streaming with the default chunks.
EXTRA="--kv-budget global" bash docs/results/2026-11-29-needle-set/run.sh 0.25 0.125 > "$here/needle-set-3k-global.txt"
# The 6.4k-token document.
target/release/kvcompose -f tests/data/areopagitica-long.txt \
    -p "What is the special magic number for the printing house mentioned in the provided text?" \
    -n 32 --kv-compose 0.25 --kv-budget global --json > "$here/6k-0.25-global.json"
# The same with larger chunks (more context for each scoring copy, a larger tail per layer).
EXTRA="--kv-budget global --kv-chunk 256" bash docs/results/2026-11-29-needle-set/run.sh 0.25 0.125 > "$here/needle-set-3k-global-chunk256.txt"
target/release/kvcompose -f tests/data/areopagitica-long.txt \
    -p "What is the special magic number for the printing house mentioned in the provided text?" \
    -n 32 --kv-compose 0.25 --kv-budget global --kv-chunk 256 --json > "$here/6k-0.25-global-chunk256.json"
