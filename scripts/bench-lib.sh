# Sourced by the docs/results/*/run.sh scripts: builds kvcompose, then
# - `bench_into DIR ARGS...` runs `kvcompose bench ARGS` with stock llama.cpp's llama-completion
#   beside (built on first use, unless LLAMA_COMPLETION=PATH names one);
# - `suite_into DIR ARGS...` runs `kvcompose bench ARGS` alone (the fidelity suite: accuracy only);
#   both run `$bin`, which a script may point at another build (see `build_at`);
# each writing results.md, results.json, the plots, progress.log and machine.txt (commit and
# machine) into DIR.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
cargo build --release --locked
# A copy, so that rebuilding the tree while a run goes on changes nothing.
bin=$(mktemp -d)/kvcompose
cp target/release/kvcompose "$bin"

# `tests_doc CHARS FILE`: the tests' long document (tests/data/areopagitica-long.txt) cut at its
# last paragraph break before CHARS, written to FILE (12500 gives the speed runs' 2.8k tokens).
tests_doc() {
    python3 - "$1" "$2" <<'PY'
import sys
t = open("tests/data/areopagitica-long.txt").read()
open(sys.argv[2], "w").write(t[:t[:int(sys.argv[1])].rfind("\n\n")])
PY
}

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

# `join_into DIR RESULTS.json...`: DIR's table and plots drawn from earlier runs' rows, joined and
# graded again (`bench --from`, nothing run; a case's row under a setting that an earlier file
# already holds, such as a second run's full-cache row, is dropped).
join_into() {
    local dir=$1
    shift
    "$bin" bench $(printf -- '--from %s ' "$@") --out "$dir" > /dev/null
}

# `pick_rows IN OUT TEST`: writes to OUT the rows of results.json IN for which the Python
# expression TEST (of a row r) holds, e.g. to join one run's retrieval rows with another's QA.
pick_rows() {
    python3 -c 'import json, sys; json.dump([r for r in json.load(open(sys.argv[1])) if eval(sys.argv[3])], open(sys.argv[2], "w"), indent=1)' "$@"
}

# `suite_by_kind DIR ARGS...`: `suite_into DIR/KIND --suite qa --tasks ... ARGS` for each of the
# suite's four kinds, one kind a run so that a long run keeps what it finished, then DIR/all, the
# table of the four drawn from their results.json.
suite_by_kind() {
    local dir=$1 kind tasks
    shift
    for kind in needle twohop twokey qa; do
        tasks=$kind
        [ "$kind" = qa ] && tasks=squad,hotpotqa
        suite_into "$dir/$kind" --suite qa --tasks "$tasks" "$@"
    done
    join_into "$dir/all" "$dir"/{needle,twohop,twokey,qa}/results.json
}

# `build_at COMMIT [PATCH]`: builds kvcompose at COMMIT in a fresh worktree, with PATCH (an
# experiment's diff) applied when given, and prints the binary's path (the "before" of a
# before-and-after measurement, or the experiment's build).
build_at() {
    local tree
    tree=$(mktemp -d)/before
    git worktree add -q "$tree" "$1"
    if [ -n "${2:-}" ]; then git -C "$tree" apply "$2"; fi
    (cd "$tree" && cargo build --release --locked -q)
    echo "$tree/target/release/kvcompose"
}

# `speed_case BYTES QUESTION DIR`: the speed runs' case, the tests' document cut at BYTES
# (`tests_doc`) written to DIR/doc.txt and stock's whole prompt for it and QUESTION to
# DIR/prompt.txt; prints the document's tokens (stock's context holds them and the answer).
speed_case() {
    local model
    model=$("$bin" fetch-model smollm2)
    tests_doc "$1" "$3/doc.txt"
    "$bin" -m "$model" -f "$3/doc.txt" -p "$2" -n 1 --kv-compose 1 --kv-save "$3/t.kvc" --json > "$3/t.json"
    stock_prompt "$3/doc.txt" "$2" "$3/t.kvc" > "$3/prompt.txt"
    python3 -c "import json, sys; print(json.load(open(sys.argv[1]))['doc_tokens'])" "$3/t.json"
}

# `stock_prompt DOC QUESTION KVFILE`: prints the whole prompt stock llama.cpp gets for DOC and
# QUESTION, the model's chat template as kvcompose rendered it into the cache file KVFILE.
stock_prompt() {
    python3 - "$@" <<'PY'
import json, struct, sys
doc, question, kvfile = sys.argv[1:]
b = open(kvfile, "rb").read()
t = json.loads(b[20:20 + struct.unpack("<Q", b[12:20])[0]])["template"]
print(t["prefix"] + open(doc).read() + t["tail_before_question"] + question + t["tail_after_question"], end="")
PY
}

# `time_row RUN TOKENS SETTING FACT CMD...`: runs CMD (kvcompose with --json, or llama-completion)
# under /usr/bin/time and prints one row of `$time_header`: wall time, kvcompose's phases and KV
# held ("-" for stock), whether the answer holds FACT, and peak RSS.
time_header=$'run\tdoc_tokens\tsetting\twall_s\tprefill_s\tscore_s\tdecode_s\tkv_held\tanswer_has_fact\tpeak_rss_mib'
time_row() {
    local run=$1 tokens=$2 setting=$3 fact=$4 t
    shift 4
    t=$(mktemp -d)
    /usr/bin/time -o "$t/time" -f "%e %M" "$@" > "$t/out" 2> /dev/null < /dev/null
    python3 - "$run" "$tokens" "$setting" "$fact" "$t/time" "$t/out" <<'PY'
import json, sys
run, tokens, setting, fact, time, out = sys.argv[1:]
wall, kib = open(time).read().split()[-2:]
text = open(out).read()
try:
    r = json.loads(text)
    s = lambda k: f"{r[k] / 1e3:.2f}"
    ans, pre, score, dec = r["answer"], s("t_prefill_ms"), s("t_score_ms"), s("t_decode_ms")
    held = f"{r['kv_bytes_kept'] / r['kv_bytes_full']:.3f}"
except ValueError:
    ans, pre, score, dec, held = text, "-", "-", "-", "-"
print(f"{run}\t{tokens}\t{setting}\t{float(wall):.1f}\t{pre}\t{score}\t{dec}\t{held}\t{fact in ans}\t{int(kib) / 1024:.0f}")
PY
    rm -rf "$t"
}
