#!/usr/bin/env bash
# SmolLM2 on the fidelity suite's 1.5k, 3k and 5k parts (seed 0, 8 cases per kind, -n 32, f16,
# flash attention auto), KVCompose with global budgets at 0.25 and 0.125, all from the per-case
# scores ($SCORES): the defaults on today's cases (defaults/), then two levers, each a hidden
# option: spans (span/: each word's score raised to half the best of its neighbouring words, a
# patch of commit 696a1ff, span.patch, no longer in kvcompose) and the max over a GQA group
# (group-max/, --kv-group max); the baselines beside them (baseline-tokens/, and
# baseline-streaming-random/ at 1.5k and 3k). heads.txt: which heads of each layer keep the
# two-key cases' key and numbers (examples/diag.rs of heads.patch, also on 696a1ff).
# qa-no-near/: the QA kind with no near distractors, for its calibration (QA_NEAR=0, a probe of
# qa-near.patch). PARTS overrides the lengths.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
scores=${SCORES:-$HOME/.cache/kvcompose/scores}
work=$(mktemp -d)
build() { # build NAME PATCH: kvcompose at 696a1ff with PATCH applied, in a worktree
    git -C "$root" worktree add -q "$work/$1" 696a1ff
    if [ -n "$2" ]; then git -C "$work/$1" apply "$here/$2"; fi
    (cd "$work/$1" && cargo build --release --locked -q --bins --examples)
}
build plain ""
build span span.patch
build heads heads.patch
build qa qa-near.patch
kvc=(--methods kvcompose --budgets global)
run() { # run DIR BIN FLAGS...
    local dir=$here/$1 bin=$2
    shift 2
    for len in ${PARTS:-1500 3000 5000}; do
        mkdir -p "$dir/$len"
        "$bin" bench --suite qa --lengths "$len" --per-kind 8 --scores "$scores" -n 32 \
            --ratios 0.25,0.125 "$@" --out "$dir/$len" 2> "$dir/$len/progress.log"
    done
    "$bin" bench $(printf -- '--from %s ' "$dir"/[0-9]*/results.json) --out "$dir/all" > /dev/null
}
run defaults "$work/plain/target/release/kvcompose" "${kvc[@]}"
run span "$work/span/target/release/kvcompose" "${kvc[@]}" --kv-span 1 --kv-span-weight 0.5
run group-max "$work/plain/target/release/kvcompose" "${kvc[@]}" --kv-group max
# The token-level baseline (SnapKV-style: one token set for all heads, by the mean score; uniform
# budgets, as the baselines run) from the same word-pooled scores.
run baseline-tokens "$work/plain/target/release/kvcompose" --methods tokens --budgets uniform
PARTS=${PARTS:-1500 3000} run baseline-streaming-random "$work/plain/target/release/kvcompose" --methods streaming,random --budgets uniform
# The heads that keep each two-key case's key and numbers: row INDEX of defaults/LEN/results.json.
diag=$work/heads/target/release/examples/diag
for spec in "1500 65 library,6435364,4793251" "3000 56 licensing order,6097725,4154992"; do
    read -r len idx watch <<< "$spec"
    for r in 0.25 0.125; do
        echo "## ${len}-token two-key case, ratio $r"
        "$diag" "$here/defaults/$len/results.json" "$idx" "$r" "$watch" --lengths "$len" --per-kind 8 --scores "$scores" 2> /dev/null
        echo
    done
done > "$here/heads.txt"
# The QA kind without near distractors (other items' paragraphs only), all three lengths at once.
mkdir -p "$here/qa-no-near"
QA_NEAR=0 "$work/qa/target/release/kvcompose" bench --suite qa --tasks squad,hotpotqa --lengths 1500,3000,5000 --per-kind 8 \
    --scores "$scores" -n 32 --methods kvcompose --ratios 0.25,0.125 --budgets global --out "$here/qa-no-near" 2> "$here/qa-no-near/progress.log"
