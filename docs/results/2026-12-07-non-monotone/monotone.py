"""Over a suite's rows: the cases the full cache answers that the defaults miss at 0.25 but answer
at 0.125 (and the reverse), and whether every layer's budget at 0.25 is at least its budget at
0.125 (then each head's cells at 0.25 hold its cells at 0.125: one score order, top-k per head).
usage: monotone.py RESULTS.json"""
import json, sys

key = lambda r: (r["task"], r["tokens"], r["question"], r["gold"][0], round(r["depth"], 4))
rows = json.load(open(sys.argv[1]))
full = {key(r): r["correct"] for r in rows if r["method"] == "full"}
by = {}
for r in rows:
    if r["method"] != "full" and full.get(key(r)):
        by.setdefault(key(r), {})[r["ratio"]] = r
only25 = only125 = both = 0
superset = checked = 0
for k, v in by.items():
    a, b = v[0.25], v[0.125]
    la, lb = a["report"]["layer_budgets"], b["report"]["layer_budgets"]
    if la and lb:
        checked += 1
        superset += all(x >= y for x, y in zip(la, lb))
    if not a["correct"] and b["correct"]:
        only25 += 1
        print(f"missed at 0.25 only: {k[0]} {k[1]} depth {a['depth']:.2f} gold {k[3]!r}: {a['answer'].strip().splitlines()[0][-30:]!r}")
    only125 += a["correct"] and not b["correct"]
    both += not a["correct"] and not b["correct"]
print(f"{len(by)} full-answered cases: missed at 0.25 only {only25}, at 0.125 only {only125}, at both {both}")
print(f"every layer's budget at 0.25 >= at 0.125: {superset} of {checked} cases with budgets")
