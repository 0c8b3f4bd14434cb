#!/usr/bin/env bash
# Peak RSS once the load's two largest host buffers are cut: the hidden states of a layer pass
# are overwritten in place, and the scorer converts the flash-attention mask a row at a time
# instead of copying it whole. The needle at depth 0.5 in the essays: Gemma 3 270M at 34,000
# and 68,000 characters (about 8k and 16k tokens, the documents of 2026-12-01-gemma-memory),
# SmolLM2 at 12,000 characters (about 3k tokens); KVCompose with global budgets at 0.25, the
# full cache and llama-completion in the same run (`after/`), then the same with the binary
# of the commit before the change (`before/`; BEFORE=PATH, default: built from ca53f3b into a
# worktree). LLAMA_COMPLETION=PATH skips building llama-completion.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../../../scripts/bench-lib.sh"
BEFORE=${BEFORE:-$(build_at ca53f3b)}
gemma=$("$bin" fetch-model gemma3 | tail -n 1)
smol=$("$bin" fetch-model smollm2 | tail -n 1)
common=(--haystack essays --tasks needle --depths 0.5 --methods kvcompose --ratios 0.25 --budgets global)
bench_into "$here/after/gemma" -m "$gemma" --lengths 34000,68000 "${common[@]}"
bench_into "$here/after/smollm2" -m "$smol" --lengths 12000 "${common[@]}"
for m in gemma smollm2; do
    model=$gemma lengths=34000,68000
    [ $m = smollm2 ] && model=$smol lengths=12000
    machine_into "$here/before/$m"
    "$BEFORE" bench -m "$model" --lengths $lengths "${common[@]}" --out "$here/before/$m" 2> "$here/before/$m/progress.log"
done
