#!/usr/bin/env bash
# Does a head that keeps words only whole keep more? Today a head's top-k may cut the one word at
# its budget's edge, keeping its first tokens (ties go to the earlier position): "255375" of
# "2553755". whole.patch (on commit d26ed3a; KVC_WHOLE=1 turns it on) skips a word that does not
# fit and takes the next ones that do, filling any slots left from the skipped words. SmolLM2,
# KVCompose with global budgets at 0.25 and 0.125 from the stored per-case scores: the suite's
# 1.5k and 3k parts with seed 0 (whole/, beside ../2026-12-05-ablation/defaults), and the 1.5k
# part with seed 1 (whole-seed1/, beside ../2026-12-05-held-out/defaults). Selection from
# stored scores only: the rule is not nested, so the layer-by-layer prefill could not use it as is.
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../../../scripts/bench-lib.sh"
scores=${SCORES:-$HOME/.cache/kvcompose/scores}
bin=$(build_at d26ed3a "$here/whole.patch")
run() { # run DIR SEED LEN
    KVC_WHOLE=1 suite_into "$here/$1/$3" --suite qa --seed "$2" --lengths "$3" --per-kind 8 --scores "$scores" -n 32 \
        --methods kvcompose --ratios 0.25,0.125 --budgets global
}
run whole 0 1500
run whole 0 3000
run whole-seed1 1 1500
