#!/usr/bin/env bash
# Two questions about the time of a compressed load, on the tests' document cut at 2.8k SmolLM2
# tokens (the first 12,500 bytes of tests/data/areopagitica-long.txt, as 2026-12-02-speed), one
# question, -n 24, --kv-compose 0.25, defaults otherwise (layer-by-layer prefill, flash attention
# on), settings interleaved, REPS times:
# - does libgomp's spinning between graphs cost time? (OMP_WAIT_POLICY=passive against unset);
# - what does a q8_0 cache (-ctk q8_0 -ctv q8_0) cost in time against f16?
# Writes runs.tsv and machine.txt here.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../../../scripts/bench-lib.sh"
work=$(mktemp -d)
model=$("$bin" fetch-model smollm2)
machine_into "$here"
doc=$work/doc.txt
tests_doc 12500 "$doc"
q="What is the special magic number for the printing house mentioned in the provided text?"
printf 'run\tsetting\twall_s\tprefill_s\tscore_s\tdecode_s\tanswer_has_fact\tpeak_rss_mib\n' > "$here/runs.tsv"
for i in $(seq "${REPS:-2}"); do
    for setting in f16 f16-omp-passive q8_0; do
        envs=() flags=()
        case $setting in
            f16-omp-passive) envs=(OMP_WAIT_POLICY=passive) ;;
            q8_0) flags=(-ctk q8_0 -ctv q8_0) ;;
        esac
        /usr/bin/time -o "$work/time" -f "%e %M" env "${envs[@]}" "$bin" -m "$model" -f "$doc" -p "$q" -n 24 \
            --kv-compose 0.25 "${flags[@]}" --json > "$work/out" 2> "$work/err" < /dev/null
        python3 - "$i" "$setting" "$work/time" "$work/out" >> "$here/runs.tsv" <<'PY'
import json, sys
i, setting, time, out = sys.argv[1:]
wall, kib = open(time).read().split()[-2:]
r = json.load(open(out))
s = lambda k: f"{r[k] / 1e3:.1f}"
print(f"{i}\t{setting}\t{float(wall):.1f}\t{s('t_prefill_ms')}\t{s('t_score_ms')}\t{s('t_decode_ms')}\t{'4516273' in r['answer']}\t{int(kib) / 1024:.0f}")
PY
    done
done
cat "$here/runs.tsv"
