#!/usr/bin/env bash
# The fidelity suite on SmolLM2 (defaults: flash attention auto, f16 cache, greedy, -n 32).
# Each case's document is read and scored once (--scores); every setting then compresses from
# those scores on the host, as the layer-by-layer prefill does, so the ablations reread nothing.
# LENGTHS and PER_KIND size the run (the whole suite: 1500,3000,5000,7000 and 8).
source "$(dirname "$0")/../../../scripts/bench-lib.sh"
out=docs/results/2026-12-01-fidelity
scores=${SCORES:-$HOME/.cache/kvcompose/scores}
lengths=${LENGTHS:-1500,3000}
per_kind=${PER_KIND:-8}
suite=(--suite qa --lengths "$lengths" --per-kind "$per_kind" --scores "$scores" -n 32)

# KVCompose (global and uniform budgets) and the token-level baselines, at 0.25 and 0.125.
suite_into "$out/main" "${suite[@]}" --methods kvcompose,tokens,streaming,random --ratios 0.25,0.125 --budgets global,uniform

# Ablations of the selection and allocation on the same scores.
for variant in "--kv-composite max" "--kv-group max" "--kv-no-head-mean" "--kv-floor 0.25" "--kv-pool 1" "--kv-group max --kv-no-head-mean"; do
    name=$(echo "$variant" | tr -d '-' | tr ' ' '-')
    # shellcheck disable=SC2086
    suite_into "$out/ablation-$name" "${suite[@]}" --methods kvcompose --ratios 0.25 --budgets global $variant
done

# KVzip (per-head budgets need the softmax path, so flash attention off), beside KVCompose at
# the same setting; LENGTHS_KVZIP and PER_KIND_KVZIP size it.
kvzip=(--suite qa --lengths "${LENGTHS_KVZIP:-1500}" --per-kind "${PER_KIND_KVZIP:-4}" --scores "$scores" -n 32 -fa off)
suite_into "$out/kvzip-fa-off" "${kvzip[@]}" --methods kvcompose,kvzip --ratios 0.25,0.125 --budgets global,heads
