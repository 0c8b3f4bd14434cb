#!/usr/bin/env python3
# Usage: answerable.py squad|hotpotqa LIMIT [KVCOMPOSE]   (prints the item indices as JSON)
# Which SQuAD / HotpotQA items SmolLM2 answers from their gold paragraphs alone (the suite's
# reading-comprehension kind draws from these). Item order is QaSet's (src/bench/datasets.rs).
import json,os,subprocess,sys
KV=sys.argv[3] if len(sys.argv) > 3 else "target/release/kvcompose"
DATA=os.path.expanduser("~/.cache/kvcompose/data")
def ask(doc,qs):
    open('/tmp/kvcompose-answerable.txt','w').write(doc)
    args=[KV,'-f','/tmp/kvcompose-answerable.txt','-n','32','--json']
    for q in qs: args+=['-p',"Answer the question based on the given documents, in a few words. Question: "+q]
    out=subprocess.run(args,capture_output=True,text=True).stdout
    return [json.loads(l)['answer'] for l in out.splitlines()]
which=sys.argv[1]; limit=int(sys.argv[2])
easy=[]
if which=='squad':
    d=json.load(open(os.path.join(DATA,'squad.json')))
    idx=0
    for a in d['data']:
        for p in a['paragraphs']:
            items=[]
            for qa in p['qas']:
                if qa.get('is_impossible') or not qa['answers']: continue
                ans=[x['text'] for x in qa['answers']]
                dd=[]; [dd.append(x) for x in ans if not dd or dd[-1]!=x]
                items.append((idx,qa['question'],dd)); idx+=1
            if not items: continue
            got=ask("Document 1:\n"+p['context'],[q for _,q,_ in items])
            for (i,q,ans),g in zip(items,got):
                if any(x.lower() in g.lower() for x in ans): easy.append(i)
            if idx>=limit: break
        if idx>=limit: break
else:
    d=json.load(open(os.path.join(DATA,'hotpotqa.json')))
    idx=0
    for h in d:
        if h['answer'] in ('yes','no'): continue
        sup={t for t,_ in h['supporting_facts']}
        gold=[f"{t}\n{''.join(s)}" for t,s in h['context'] if t in sup]
        if not gold: continue
        doc="\n\n".join(f"Document {k+1}:\n{g}" for k,g in enumerate(gold))
        g=ask(doc,[h['question']])[0]
        if h['answer'].lower() in g.lower(): easy.append(idx)
        idx+=1
        if idx>=limit: break
print(which, len(easy), 'of', idx, file=sys.stderr)
print(json.dumps(easy))
