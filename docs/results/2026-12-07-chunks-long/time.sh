#!/usr/bin/env bash
# Issue 17: time to answer at --kv-compose 0.25 with copies alone in 2k-token chunks (the default
# scorer now, `now`) against the whole copy (`repeat`, the default before), stock llama-completion
# and this build's full cache, in one run, interleaved, twice:
# ../2026-12-06-scores-in-kernel/time.sh (2.8k and 6.1k tokens, -n 24).
here=$(cd "$(dirname "$0")" && pwd)
OUT=$here SETTINGS=${SETTINGS:-"now repeat full stock"} REPS=${REPS:-2} "$here/../2026-12-06-scores-in-kernel/time.sh"
