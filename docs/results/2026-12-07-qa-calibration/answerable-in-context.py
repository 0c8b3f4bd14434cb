#!/usr/bin/env python3
# Usage: answerable-in-context.py squad|hotpotqa ITEMS.json [KVCOMPOSE]   (prints the indices as JSON)
# Of the items in ITEMS.json (indices in QaSet order, src/bench/datasets.rs), those SmolLM2 still
# answers with their gold paragraphs among distractors, about 1.5k tokens, the gold at half depth:
# the suite's reading-comprehension kind draws from these. Items that share a gold paragraph share
# one document (one load, several -p). Distractors: the item's near paragraphs first (SQuAD: its
# article's; HotpotQA: its own distractors), in an order fixed by the item's index.
import json, os, random, subprocess, sys
KV = sys.argv[3] if len(sys.argv) > 3 else "target/release/kvcompose"
DATA = os.path.expanduser("~/.cache/kvcompose/data")
PROMPT = "Answer the question based on the given documents, in a few words. Question: "
which, wanted = sys.argv[1], set(json.load(open(sys.argv[2])))

def load():
    """(paragraphs, items): items are (question, answers, gold ids, near ids) in QaSet order."""
    paras, index, items = [], {}, []
    def pid(t):
        if t not in index:
            index[t] = len(paras); paras.append(t)
        return index[t]
    if which == "squad":
        for a in json.load(open(os.path.join(DATA, "squad.json")))["data"]:
            ids = [pid(p["context"]) for p in a["paragraphs"]]
            for p, i in zip(a["paragraphs"], ids):
                for qa in p["qas"]:
                    if qa.get("is_impossible") or not qa["answers"]:
                        continue
                    ans = []
                    for x in (x["text"] for x in qa["answers"]):
                        if not ans or ans[-1] != x:
                            ans.append(x)
                    items.append((qa["question"], ans, [i], [j for j in ids if j != i]))
    else:
        for h in json.load(open(os.path.join(DATA, "hotpotqa.json"))):
            if h["answer"] in ("yes", "no"):
                continue
            sup = {t for t, _ in h["supporting_facts"]}
            gold, near = [], []
            for t, s in h["context"]:
                (gold if t in sup else near).append(pid(f"{t}\n{''.join(s)}"))
            if gold:
                items.append((h["question"], [h["answer"]], gold, near))
    return paras, items

paras, items = load()
chars = int(1500 * (4.4 if which == "squad" else 3.85))
groups = {}
for i in sorted(wanted):
    groups.setdefault(tuple(items[i][2]), []).append(i)
keep = []
for gold, its in groups.items():
    rng = random.Random(its[0])
    near = [j for j in items[its[0]][3] if j not in gold]
    rng.shuffle(near)
    others = rng.sample(range(len(paras)), 400)
    total, order = sum(len(paras[g]) for g in gold), []
    for j in near + others:
        if total >= chars:
            break
        if j not in gold and j not in order:
            order.append(j); total += len(paras[j]) + 16
    half = len(order) // 2
    order[half:half] = list(gold)
    doc = "\n\n".join(f"Document {k + 1}:\n{paras[p]}" for k, p in enumerate(order))
    open("/tmp/kvcompose-in-context.txt", "w").write(doc)
    args = [KV, "-f", "/tmp/kvcompose-in-context.txt", "-n", "32", "--json"]
    for i in its:
        args += ["-p", PROMPT + items[i][0]]
    out = subprocess.run(args, capture_output=True, text=True).stdout
    for i, line in zip(its, out.splitlines()):
        got, q = json.loads(line)["answer"].lower(), items[i][0].lower()
        if any(a.lower() in got and a.lower() not in q for a in items[i][1]):
            keep.append(i)
print(which, len(keep), "of", len(wanted), file=sys.stderr)
print(json.dumps(sorted(keep)))
