#!/usr/bin/env bash
# The whole suite under today's default scorer (copies alone in 2k-token chunks): seed 0's 1.5k
# part (one chunk: the whole copy's rows, bit for bit, from ../2026-12-06-held-out-s3-3k/seed-0),
# its 3k, 5k and 7k parts (s0-*/, run.sh with LENGTHS="3000 5000 7000") and the held-out parts
# (held-out/), joined and graded again (`bench --from`, nothing run) into whole-suite/ and
# seed-0/; compare.py sets seed 0's multi-chunk parts beside the whole copy's verdicts.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../../../scripts/bench-lib.sh"
out=docs/results/2026-12-07-chunks-long
work=$(mktemp -d)
pick_rows docs/results/2026-12-06-held-out-s3-3k/seed-0/results.json "$work/s0-1500.json" 'r["tokens"] == 1500'
parts=("$work/s0-1500.json" "$out"/s0-{3000,5000,7000}/{needle,twohop,twokey,qa}/results.json)
join_into "$out/seed-0" "${parts[@]}"
join_into "$out/whole-suite" "${parts[@]}" "$out/held-out/results.json"
python3 "$out/compare.py" "$out"/s0-{3000,5000,7000}/{needle,twohop,twokey,qa}/results.json > "$out/compare.txt"
cat "$out/seed-0/results.md" "$out/whole-suite/results.md" "$out/compare.txt"
