#!/usr/bin/env bash
# Five single-needle documents of about 3k tokens: the first 12,500 bytes of
# tests/data/areopagitica-long.txt (cut at a paragraph) without its needle, with
# "One of the special magic numbers for the printing house is: N." inserted after the first
# sentence end past 10/30/50/70/90% of the text (N from Python's random.seed(7)).
# Runs stock and each ratio given (default "0.5 0.25"), greedy, and prints found/5 per setting.
# Usage: docs/results/2026-11-29-needle-set/run.sh [ratio...]   (from the repository root, after cargo build --release)
# EXTRA="flags" adds kvcompose flags to the compressed runs.
set -euo pipefail
bin=${BIN:-target/release/kvcompose}
dir=$(mktemp -d)
python3 - "$dir" <<'PY'
import random, sys
d = sys.argv[1]
s = open("tests/data/areopagitica-long.txt").read()
s = s[:s[:12500].rfind("\n\n")]
needle = "One of the special magic numbers for the printing house is: 4516273."
base = s.replace(needle + " ", "").replace(needle, "")
random.seed(7)
for i, frac in enumerate([0.1, 0.3, 0.5, 0.7, 0.9]):
    num = random.randint(1000000, 9999999)
    at = base.find(". ", int(len(base) * frac)) + 2
    open(f"{d}/n{i}.txt", "w").write(base[:at] + f"One of the special magic numbers for the printing house is: {num}. " + base[at:])
    open(f"{d}/n{i}.ans", "w").write(str(num))
PY
q="What is the special magic number for the printing house mentioned in the provided text?"
ratios=("$@"); [ ${#ratios[@]} -gt 0 ] || ratios=(0.5 0.25)
for r in stock "${ratios[@]}"; do
    found=0; answers=""
    for i in 0 1 2 3 4; do
        flags=(); [ "$r" = stock ] || flags=(--kv-compose "$r" ${EXTRA:-})
        out=$("$bin" -f "$dir/n$i.txt" -p "$q" -n 24 "${flags[@]}" 2>/dev/null)
        num=$(cat "$dir/n$i.ans")
        if grep -q "$num" <<<"$out"; then found=$((found + 1)); answers+=" $num"; else answers+=" [$(grep -o '[0-9]\+' <<<"$out" | tail -1)]"; fi
    done
    echo "$r: $found/5 found; answers:$answers"
done
rm -rf "$dir"
