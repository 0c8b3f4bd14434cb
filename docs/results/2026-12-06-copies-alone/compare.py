# Each part's cases the full cache answers: how many the chunks scorer keeps against the whole
# copy's scores (the defaults, ../2026-12-06-held-out-s3-3k/held-out) on the same cases, and the
# cases where they differ. An argument names another folder of parts (chunk-2048). Cases are
# matched by kind, question, length and depth (to 12 digits: older runs wrote some depths one
# ulp apart).
import glob
import json
import sys

here = sys.argv[1] if len(sys.argv) > 1 else "docs/results/2026-12-06-copies-alone"
d=json.load(open('docs/results/2026-12-06-held-out-s3-3k/held-out/results.json'))
key=lambda x:(x['task'],x['question'],x['tokens'],round(x['depth'],12))
D={(key(x),x['method'],x['ratio']):x for x in d}
for f in sorted(glob.glob(here + '/s*/results.json')):
    c=json.load(open(f))
    full={key(x):x['correct'] for x in c if x['method']=='full'}
    for ratio in (0.25,0.125):
        a=b=n=0
        for x in c:
            if x['method']=='full' or x['ratio']!=ratio or not full[key(x)]: continue
            dd=D.get((key(x),'kvcompose+global',ratio))
            fd=D.get((key(x),'full',1.0))
            if dd is None or not fd['correct']: print('  no default row / full differs', f, x['question'][-50:]); continue
            n+=1; a+=x['correct']; b+=dd['correct']
            if x['correct']!=dd['correct']: print('  ',f.split('/')[-2],ratio,x['task'],'chunks' if x['correct'] else 'default','only |',x['answer'][:70].replace('\n',' '),'| default:',dd['answer'][:60].replace('\n',' '))
        print(f.split('/')[-2], ratio, 'chunks',a,'default',b,'of',n)
