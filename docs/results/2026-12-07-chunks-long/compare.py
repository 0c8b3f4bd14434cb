# Each part's cases the full cache answers: how many the chunks scorer keeps against the whole
# copy's scores (the defaults then, ../2026-12-06-held-out-s3-3k/seed-0) on the same cases, and
# the cases where they differ. Cases are matched by kind, question, length and depth (to 12
# digits). Usage: compare.py RESULTS.json... (one per part run).
import json
import sys

ref = json.load(open('docs/results/2026-12-06-held-out-s3-3k/seed-0/results.json'))
key = lambda x: (x['task'], x['question'], x['tokens'], round(x['depth'], 12))
D = {(key(x), x['method'], x['ratio']): x for x in ref}
tot = {}
for f in sys.argv[1:]:
    c = json.load(open(f))
    full = {key(x): x['correct'] for x in c if x['method'] == 'full'}
    for ratio in (0.25, 0.125):
        a = b = n = 0
        for x in c:
            if x['method'] == 'full' or x['ratio'] != ratio or not full[key(x)]:
                continue
            dd = D.get((key(x), 'kvcompose+global', ratio))
            fd = D.get((key(x), 'full', 1.0))
            if dd is None or not fd['correct']:
                print('  no whole-copy row, or its full cache missed:', f, x['task'], x['question'][-50:])
                continue
            n += 1; a += x['correct']; b += dd['correct']
            if x['correct'] != dd['correct']:
                print('  ', f.split('/')[-3:-1], ratio, x['task'], 'chunks' if x['correct'] else 'whole copy', 'only |', x['answer'][:70].replace('\n', ' '), '| whole copy:', dd['answer'][:60].replace('\n', ' '))
        t = tot.setdefault(ratio, [0, 0, 0]); t[0] += a; t[1] += b; t[2] += n
        print('/'.join(f.split('/')[-3:-1]), ratio, 'chunks', a, 'whole copy', b, 'of', n)
for ratio, (a, b, n) in tot.items():
    print('all', ratio, 'chunks', a, 'whole copy', b, 'of', n)
