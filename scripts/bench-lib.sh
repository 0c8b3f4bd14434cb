# Sourced by the docs/results/*/run.sh scripts: builds kvcompose (and stock llama.cpp's
# llama-completion, unless LLAMA_COMPLETION=PATH names one), then `bench_into DIR ARGS...` runs
# `kvcompose bench ARGS` with llama-completion beside, writing results.md, results.json, the
# plots, progress.log and machine.txt (commit and machine) into DIR.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
llama_completion=${LLAMA_COMPLETION:-$(scripts/build-llama-completion.sh | tail -n 1)}
cargo build --release --locked
# A copy, so that rebuilding the tree while a run goes on changes nothing.
bin=$(mktemp -d)/kvcompose
cp target/release/kvcompose "$bin"

bench_into() {
    local dir=$1
    shift
    mkdir -p "$dir"
    { echo "commit: $(git rev-parse --short HEAD)"; echo "cores: $(nproc)"; grep -m1 "model name" /proc/cpuinfo; free -g | head -2; } > "$dir/machine.txt"
    "$bin" bench "$@" --llama-completion "$llama_completion" --out "$dir" 2> "$dir/progress.log"
}
