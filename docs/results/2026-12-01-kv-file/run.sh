#!/usr/bin/env bash
# Compress once, ask many: a 3k-token document compressed to 0.25 and saved (--kv-save), then
# answered from the file (--kv-load), one and three questions per load, beside stock llama.cpp's
# llama-completion reading the document for each question; file sizes against llama.cpp's own
# saved state of the same prompt (llama-completion --prompt-cache) and a whole-cache file.
# Writes results.md, the JSON lines of every run and machine.txt here.
# Usage: docs/results/2026-12-01-kv-file/run.sh   (from anywhere; LLAMA_COMPLETION=PATH skips its build)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../../../scripts/bench-lib.sh"
out=$here
work=$(mktemp -d)
model=$("$bin" fetch-model smollm2)
{ echo "commit: $(git rev-parse --short HEAD)"; echo "cores: $(nproc)"; grep -m1 "model name" /proc/cpuinfo; free -g | head -2; } > "$out/machine.txt"

# The tests' 3k document: the first 12,500 bytes of Areopagitica with its fact, cut at a paragraph.
tests_doc 12500 "$work/doc.txt"
q1="What is the special magic number for the printing house mentioned in the provided text?"
q2="Who is this speech addressed to?"
q3="What does the author say about licensing books?"
n=32
# secs OUT ERR CMD...: runs CMD with stdout to OUT and stderr to ERR, prints its wall seconds.
secs() { local out=$1 err=$2 t0 t1; shift 2; t0=$(date +%s.%N); "$@" > "$out" 2> "$err"; t1=$(date +%s.%N); echo "$t1 - $t0" | bc; }

t_save=$(secs "$out/save.jsonl" "$work/save.err" "$bin" -m "$model" -f "$work/doc.txt" -p "$q1" -n $n --kv-compose 0.25 --kv-save "$work/doc-0.25.kvc" --json)
t_load1=$(secs "$out/load-1q.jsonl" "$work/load1.err" "$bin" -m "$model" --kv-load "$work/doc-0.25.kvc" -p "$q1" -n $n --json)
t_load3=$(secs "$out/load-3q.jsonl" "$work/load3.err" "$bin" -m "$model" --kv-load "$work/doc-0.25.kvc" -p "$q1" -p "$q2" -p "$q3" -n $n --json)
t_full=$(secs "$out/save-full.jsonl" "$work/full.err" "$bin" -m "$model" -f "$work/doc.txt" -p "$q1" -n $n --kv-save "$work/doc-full.kvc" --json)

# Stock llama.cpp: the whole prompt (the model's chat template) for each question.
render() { stock_prompt "$work/doc.txt" "$1" "$work/doc-0.25.kvc"; }
stock() { "$llama_completion" -m "$model" -f "$1" -c 4096 -n $n --temp 0 --seed 0 -no-cnv --no-display-prompt --no-warmup "${@:2}" < /dev/null; }
i=0; t_stock=()
for q in "$q1" "$q2" "$q3"; do
    i=$((i + 1)); render "$q" > "$work/prompt$i.txt"
    t_stock+=("$(secs "$out/llama-completion-q$i.txt" "$work/stock$i.err" stock "$work/prompt$i.txt")")
done
# llama.cpp's own saved state of the same prompt (a separate run: a present cache is reused).
stock "$work/prompt1.txt" --prompt-cache "$work/llama-state.bin" > /dev/null 2>&1

python3 - "$out" "$work" "$t_save" "$t_load1" "$t_load3" "$t_full" "${t_stock[@]}" <<'PY'
import json, os, sys
out, work = sys.argv[1], sys.argv[2]
t_save, t_load1, t_load3, t_full, *t_stock = map(float, sys.argv[3:])
lines = lambda f: [json.loads(l) for l in open(os.path.join(out, f))]
save, l1, l3 = lines("save.jsonl")[0], lines("load-1q.jsonl")[0], lines("load-3q.jsonl")
size = lambda f: os.path.getsize(os.path.join(work, f))
s025, sfull, sllama = size("doc-0.25.kvc"), size("doc-full.kvc"), size("llama-state.bin")
later = (t_load3 - t_load1) / 2
stock_mean = sum(t_stock) / len(t_stock)
answer = lambda i: open(os.path.join(out, f"llama-completion-q{i}.txt")).read().strip().replace("\n", " ")[:60]
mib = lambda b: b / 2**20
r = [f"# Compress once, ask many: {save['doc_tokens']}-token document, SmolLM2-135M-Instruct Q4_1, --kv-compose 0.25",
     "", "Command: `docs/results/2026-12-01-kv-file/run.sh` (machine.txt: commit and machine; -n 32, greedy, f16 cache, flash attention auto).", "",
     "| run | wall (s) |", "|---|---|",
     f"| compress and save (`-f DOC -p Q1 --kv-compose 0.25 --kv-save F`) | {t_save:.2f} |",
     f"| answer Q1 from the file (`--kv-load F -p Q1`) | {t_load1:.2f} |",
     f"| answer Q1, Q2, Q3 from the file in one run | {t_load3:.2f} |",
     f"| stock llama-completion, one question (mean of Q1-Q3: {', '.join(f'{t:.2f}' for t in t_stock)}) | {stock_mean:.2f} |", "",
     "| target | measured | met |", "|---|---|---|",
     f"| answering from the file <= 0.1x the compressing run's time (same question) | {t_load1 / t_save:.3f}x | {'yes' if t_load1 / t_save <= 0.1 else 'no'} |",
     f"| file <= 0.3x llama.cpp's own saved state of the same prompt (`--prompt-cache`, {mib(sllama):.2f} MiB) | {mib(s025):.2f} MiB, {s025 / sllama:.3f}x | {'yes' if s025 / sllama <= 0.3 else 'no'} |",
     f"| second and later questions faster than llama-completion re-reading the document | {later:.2f} s per question vs {stock_mean:.2f} s | {'yes' if later < stock_mean else 'no'} |", "",
     f"Whole-cache file (`--kv-save` without `--kv-compose`): {mib(sfull):.2f} MiB; the 0.25 file is {s025 / sfull:.3f} of it.", "",
     "Answers (the same question from the compressing run and from the file are identical by construction; `tests/kvfile.rs` checks the logits):", "",
     f"- compressing run, Q1: {save['answer'][:60]!r}", f"- from the file, Q1: {l1['answer'][:60]!r}"]
r += [f"- from the file, Q{i + 1} (three per load): {a['answer'][:60]!r}" for i, a in enumerate(l3)]
r += [f"- llama-completion, Q{i}: {answer(i)!r}" for i in (1, 2, 3)]
open(os.path.join(out, "results.md"), "w").write("\n".join(r) + "\n")
print("\n".join(r))
PY
