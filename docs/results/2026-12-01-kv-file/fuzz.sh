#!/usr/bin/env bash
# Fuzzes the cache-file reader (fuzz/fuzz_targets/kv_file.rs) from its seed, RUNS inputs
# (default 10^7), and keeps libFuzzer's final statistics in fuzz-stats.txt here.
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`).
# Usage: docs/results/2026-12-01-kv-file/fuzz.sh [RUNS]   (from anywhere)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/../../.."
python3 fuzz/seed.py > /dev/null
mkdir -p fuzz/corpus/kv_file
runs=${1:-10000000}
cargo +nightly fuzz run kv_file fuzz/corpus/kv_file fuzz/seeds/kv_file -- -runs="$runs" -max_len=8192 -print_final_stats=1 2>&1 \
    | grep -E '^(Done|stat::|INFO: Seed|==[0-9]+== ERROR)|panicked' | tee "$here/fuzz-stats.txt"
