#!/usr/bin/env bash
# Needle sweep: 5 docs of ~3k and 5 of ~6.3k tokens (Areopagitica, one 7-digit fact at 10..90%),
# stock and each variant in VARIANTS at each ratio in RATIOS; prints one line per run and a summary.
# Usage: BIN=... OUT=... VARIANTS="$(cat variants.txt)" RATIOS="0.25 0.125" EXTRA="-ngl 99" docs/results/2026-11-29-gpu/sweep.sh (from the repository root)
set -uo pipefail
bin=${BIN:-target/release/kvcompose}
out=${OUT:-/tmp/sweep}; mkdir -p "$out"
dir=$(mktemp -d)
python3 - "$dir" <<'PY'
import random, sys
d = sys.argv[1]
full = open("tests/data/areopagitica-long.txt").read()
needle = "One of the special magic numbers for the printing house is: 4516273."
for tag, nbytes, seed in [("3k", 12500, 7), ("6k", len(full), 11)]:
    s = full[:full[:nbytes].rfind("\n\n")] if nbytes < len(full) else full
    base = s.replace(needle + " ", "").replace(needle, "")
    random.seed(seed)
    for i, frac in enumerate([0.1, 0.3, 0.5, 0.7, 0.9]):
        num = random.randint(1000000, 9999999)
        at = base.find(". ", int(len(base) * frac)) + 2
        open(f"{d}/{tag}-{i}.txt", "w").write(base[:at] + f"One of the special magic numbers for the printing house is: {num}. " + base[at:])
        open(f"{d}/{tag}-{i}.ans", "w").write(str(num))
PY
q="What is the special magic number for the printing house mentioned in the provided text?"
: > "$dir/jobs"
while IFS='|' read -r name flags; do
  [ -z "$name" ] && continue
  for r in ${RATIOS:-0.25}; do
    for f in "$dir"/*.txt; do
      if [ "$name" = stock ]; then echo "stock|-|$f|" >> "$dir/jobs"; else echo "$name|$r|$f|--kv-compose $r $flags" >> "$dir/jobs"; fi
    done
    [ "$name" = stock ] && break
  done
done <<< "${VARIANTS:-stock|
default|}"
run() {
  IFS='|' read -r name r f flags <<< "$1"
  ans=$(cat "${f%.txt}.ans")
  res=$("$bin" -f "$f" -p "$q" -n 24 -t ${THREADS:-4} ${EXTRA:-} $flags 2>/dev/null | tr '\n' ' ')
  ok=0; grep -q "$ans" <<<"$res" && ok=1
  echo "$name $r $(basename $f .txt) $ok $ans :: ${res:0:60}"
}
export -f run; export bin q
xargs -P ${PAR:-4} -I{} bash -c 'run "$@"' _ {} < "$dir/jobs" | tee "$out/sweep.log"
echo "== summary (found/5 per doc length)"
awk '{k=$1" "$2" "substr($3,1,2); n[k]++; s[k]+=$4} END {for (k in n) print k, s[k]"/"n[k]}' "$out/sweep.log" | sort | tee "$out/summary.txt"
