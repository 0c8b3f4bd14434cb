#!/usr/bin/env bash
# Issue 17, repeated on another day: time to answer at --kv-compose 0.25 with today's defaults
# (`now`: copies alone in 2k-token chunks) against stock llama-completion, stock reading the
# document twice (`stock2x`, the floor of this scoring) and this build's full cache, in one run,
# interleaved, three times: ../2026-12-06-scores-in-kernel/time.sh (2.8k and 6.1k tokens, -n 24).
here=$(cd "$(dirname "$0")" && pwd)
OUT=$here SETTINGS=${SETTINGS:-"now full stock stock2x"} REPS=${REPS:-3} "$here/../2026-12-06-scores-in-kernel/time.sh"
