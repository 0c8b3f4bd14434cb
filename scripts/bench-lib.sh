# Sourced by the docs/results/*/run.sh scripts: builds kvcompose, then
# - `bench_into DIR ARGS...` runs `kvcompose bench ARGS` with stock llama.cpp's llama-completion
#   beside (built on first use, unless LLAMA_COMPLETION=PATH names one);
# - `suite_into DIR ARGS...` runs `kvcompose bench ARGS` alone (the fidelity suite: accuracy only);
# each writing results.md, results.json, the plots, progress.log and machine.txt (commit and
# machine) into DIR.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
cargo build --release --locked
# A copy, so that rebuilding the tree while a run goes on changes nothing.
bin=$(mktemp -d)/kvcompose
cp target/release/kvcompose "$bin"

machine_into() {
    mkdir -p "$1"
    { echo "commit: $(git rev-parse --short HEAD)"; echo "cores: $(nproc)"; grep -m1 "model name" /proc/cpuinfo; free -g | head -2; } > "$1/machine.txt"
}

bench_into() {
    local dir=$1
    shift
    llama_completion=${LLAMA_COMPLETION:-$(scripts/build-llama-completion.sh | tail -n 1)}
    machine_into "$dir"
    "$bin" bench "$@" --llama-completion "$llama_completion" --out "$dir" 2> "$dir/progress.log"
}

suite_into() {
    local dir=$1
    shift
    machine_into "$dir"
    "$bin" bench "$@" --out "$dir" 2> "$dir/progress.log"
}
