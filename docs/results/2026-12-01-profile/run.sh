#!/usr/bin/env bash
# Where a compressed load spends its time: `perf record` (200 Hz, call graphs) of one run of
# `kvcompose -f DOC -p Q --kv-compose 0.25 -n 4` on the tests' 3k document (the first 12,500
# bytes of tests/data/areopagitica-long.txt, 2,830 SmolLM2 tokens), defaults (layer-by-layer
# prefill, flash attention auto = on, f16 cache); the breakdown by library, by symbol and by
# thread goes to profile.txt here. Needs Debian's linux-perf.
# Usage: docs/results/2026-12-01-profile/run.sh   (from anywhere)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/../../.."
cargo build --release --locked -q
work=$(mktemp -d)
python3 -c "t=open('tests/data/areopagitica-long.txt').read(); open('$work/doc.txt','w').write(t[:t[:12500].rfind(chr(10)*2)])"
perf record -q -F 200 -g -o "$work/perf.data" target/release/kvcompose -f "$work/doc.txt" \
    -p "What is the special magic number for the printing house mentioned in the provided text?" \
    --kv-compose 0.25 -n 4 --json > "$work/report.json" 2> /dev/null
set +o pipefail  # head closes the report pipes early
rep() { perf report -i "$work/perf.data" --no-children -g none --stdio "$@" 2>/dev/null | grep -E '^ +[0-9]' | sed 's/ *$//'; }
{
    echo "commit: $(git rev-parse --short HEAD); $(nproc) cores; $(grep -m1 'model name' /proc/cpuinfo)"
    python3 -c "import json; r=json.load(open('$work/report.json')); print('t_prefill_ms', round(r['t_prefill_ms']), 't_score_ms', round(r['t_score_ms']), 't_compress_ms', round(r['t_compress_ms']))"
    echo; echo "## by library"; rep --sort dso | head -6
    echo; echo "## by symbol"; rep --sort symbol | head -14 | cut -c1-110
    echo; echo "## by thread and library (main, OpenMP worker, rayon workers)"; rep --sort pid,dso | head -8
} > "$here/profile.txt"
cat "$here/profile.txt"
