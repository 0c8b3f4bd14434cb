#!/usr/bin/env bash
# Issue 16: KV held and allocated and peak RSS of Gemma 3 270M read layer by layer at about 8k and
# 16k tokens, against llama-completion in the same run, with today's defaults: kept cells in q8_0
# (`--kv-compose` counts bytes), scores formed in llama.cpp's flash-attention kernel. The
# documents and settings of ../2026-12-02-memory (the needle at depth 0.5 in the essays, 34,000
# and 68,000 characters, KVCompose with global budgets at 0.25, f16 cache, flash attention auto),
# whose numbers were with f16 cells and the host's score recompute.
# LLAMA_COMPLETION=PATH skips building llama-completion.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../../../scripts/bench-lib.sh"
gemma=$("$bin" fetch-model gemma3 | tail -n 1)
bench_into "$here/gemma" -m "$gemma" --lengths 34000,68000 --haystack essays --tasks needle --depths 0.5 \
    --methods kvcompose --ratios 0.25 --budgets global
