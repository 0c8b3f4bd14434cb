#!/usr/bin/env bash
# Peak RSS of fresh processes on the 6.4k-token needle document: without compression and at
# --kv-compose 0.25, each `--json` report (peak_rss_bytes is the process's VmHWM) saved here.
# BIN=path runs another build (the README compares the state rewrite before and after it went
# in place); OUT=name names the output files.
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
here="$root/docs/results/2026-11-30-rss"
bin=${BIN:-$root/target/release/kvcompose}
out=${OUT:-current}
doc="$root/tests/data/areopagitica-long.txt"
q="What is the special magic number for the printing house mentioned in the provided text?"
"$bin" -f "$doc" -p "$q" -n 32 --json > "$here/$out-stock.json"
"$bin" -f "$doc" -p "$q" -n 32 --json --kv-compose 0.25 > "$here/$out-0.25.json"
for f in "$here/$out"-*.json; do
    python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print(sys.argv[1].rsplit('/',1)[1], 'peak RSS %.1f MiB, KV held %.1f MiB, KV allocated %.1f MiB, answer %r' % (r['peak_rss_bytes']/2**20, r['kv_bytes_kept']/2**20, r['kv_alloc_bytes']/2**20, r['answer'][-40:]))" "$f"
done
