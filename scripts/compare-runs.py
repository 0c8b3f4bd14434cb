"""Sets a variant's suite verdicts beside a baseline's on the same cases (`bench` rows, matched
by kind, length, question, expected answer and depth) and prints the counts over the cases both
full-cache runs answer, per ratio, and the cases that change. For a results folder's experiment
against the defaults' rows; nothing is run.
usage: scripts/compare-runs.py BASELINE_RESULTS.json VARIANT_RESULTS.json..."""
import json, sys

key = lambda r: (r["task"], r["tokens"], r["question"], r["gold"][0], round(r["depth"], 4))
base = json.load(open(sys.argv[1]))
var = [r for f in sys.argv[2:] for r in json.load(open(f))]
full_b = {key(r): r["correct"] for r in base if r["method"] == "full"}
full_v = {key(r): r["correct"] for r in var if r["method"] == "full"}
both = {k for k, ok in full_v.items() if ok and full_b.get(k)}
bv = {(key(r), r["ratio"]): r for r in base if r["method"] != "full"}
for ratio in sorted({r["ratio"] for r in var if r["method"] != "full"}, reverse=True):
    rows = [r for r in var if r["method"] != "full" and r["ratio"] == ratio and key(r) in both]
    b = sum(bv[(key(r), ratio)]["correct"] for r in rows if (key(r), ratio) in bv)
    v = sum(r["correct"] for r in rows)
    print(f"ratio {ratio}: variant {v}/{len(rows)}, defaults {b}/{len(rows)}")
    for r in rows:
        o = bv.get((key(r), ratio))
        if o and o["correct"] != r["correct"]:
            print(f"  {'gained' if r['correct'] else 'lost  '} {r['task']} {r['tokens']} depth {r['depth']:.2f} gold {r['gold'][0]!r}: "
                  f"{r['answer'].strip().splitlines()[0][-40:]!r} (defaults {o['answer'].strip().splitlines()[0][-40:]!r})")
print(f"full-cache verdicts that differ: {sum(1 for k in full_v if k in full_b and full_v[k] != full_b[k])}")
