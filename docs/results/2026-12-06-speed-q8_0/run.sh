#!/usr/bin/env bash
# Issue 17: time to answer at --kv-compose 0.25 with today's defaults (kept cells in q8_0, scores
# formed in the flash-attention kernel, each layer's passes in whole ubatches), against this
# build's full cache, stock llama-completion and stock reading the document twice, in one run,
# interleaved, twice: ../2026-12-06-scores-in-kernel/time.sh (2.8k and 6.1k tokens, -n 24).
here=$(cd "$(dirname "$0")" && pwd)
OUT=$here SETTINGS="now full stock stock2x" REPS=${REPS:-2} "$here/../2026-12-06-scores-in-kernel/time.sh"
