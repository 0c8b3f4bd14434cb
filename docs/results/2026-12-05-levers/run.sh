#!/usr/bin/env bash
# Three more levers for issue 15, and how the defaults' answers fall with the ratio. SmolLM2,
# KVCompose with global budgets, every setting from the stored per-case scores (seed 0 and
# seed 1 at 1.5k tokens, seed 0 at 3k; 8 cases a kind):
# - ratios/: the defaults at 0.75, 0.5, 0.25 and 0.125;
# - recent-32/: every head also keeps the document's last 32 tokens (recent.patch, KVC_RECENT=32);
# - value-norm/: each token's score times the norm of its value row in that head, then pooled
#   over words again (vnorm.patch, KVC_VNORM=1; VATP's weighting);
# - no-head-mean/: without the mean over KV heads added to each head's score (--kv-no-head-mean);
# - threads-1/: the defaults with one thread instead of two (-t 1), to see which answers change
#   with the order of llama.cpp's float sums alone.
# Both patches apply to commit 8db7992 and are not in kvcompose.
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../../../scripts/bench-lib.sh"
scores=${SCORES:-$HOME/.cache/kvcompose/scores}
recent=$(build_at 8db7992 "$here/recent.patch")
vnorm=$(build_at 8db7992 "$here/vnorm.patch")
run() { # run DIR BIN SEED LEN RATIOS [FLAGS...]; an experiment's variable goes before `run`
    local bin=$2 # the build suite_into runs
    suite_into "$here/$1/s$3-$4" --suite qa --seed "$3" --lengths "$4" --per-kind 8 --scores "$scores" -n 32 \
        --methods kvcompose --budgets global --ratios "$5" "${@:6}"
}
run ratios "$bin" 0 1500 0.25,0.125,0.5,0.75
run ratios "$bin" 1 1500 0.25,0.125,0.5,0.75
KVC_RECENT=32 run recent-32 "$recent" 0 1500 0.25,0.125
KVC_RECENT=32 run recent-32 "$recent" 0 3000 0.25,0.125
KVC_VNORM=1 run value-norm "$vnorm" 0 1500 0.25,0.125
KVC_VNORM=1 run value-norm "$vnorm" 1 1500 0.25,0.125
run no-head-mean "$bin" 0 1500 0.25,0.125 --kv-no-head-mean
run no-head-mean "$bin" 1 1500 0.25,0.125 --kv-no-head-mean
OMP_WAIT_POLICY=passive run threads-1 "$bin" 0 1500 0.25,0.125 -t 1
OMP_WAIT_POLICY=passive run threads-1 "$bin" 1 1500 0.25,0.125 -t 1
