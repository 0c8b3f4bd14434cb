# KVzip (-fa off) beside the defaults' KVCompose rows (../2026-12-07-qa-calibration) on the cases both
# full caches answer; run from the repository root. Arguments: the KVzip run's folder and the
# defaults' (these by default).
import json, sys
kvzip, defaults = sys.argv[1:3] if len(sys.argv) > 2 else ('docs/results/2026-12-07-kvzip-qa', 'docs/results/2026-12-07-qa-calibration')
kv = []; de = []
for s in range(1, 7):
    try:
        kv += json.load(open(f'{kvzip}/s{s}-1500/results.json'))
        de += json.load(open(f'{defaults}/s{s}-1500/results.json'))
    except FileNotFoundError:
        pass
key = lambda r: (r['task'], r['chars'], r['depth'], r['question'])
fk = {key(r): r['correct'] for r in kv if r['method'] == 'full'}
fd = {key(r): r['correct'] for r in de if r['method'] == 'full'}
both = {k for k in fk if fk[k] and fd.get(k)}
print('cases', len(fk), 'full fa-off answers', sum(fk.values()), 'defaults full', sum(fd[k] for k in fk if k in fd), 'both', len(both))
kept = lambda sel: sum(r['report']['kv_bytes_kept'] for r in sel)
for name, rows in (('defaults', de), ('fa-off', kv)):
    # Every setting compressed every case its run's full cache answered, so each covers `both`.
    full = kept(r for r in rows if r['method'] == 'full' and key(r) in both)
    for m in sorted({(r['method'], r['ratio']) for r in rows if r['method'] != 'full'}):
        sel = [r for r in rows if (r['method'], r['ratio']) == m and key(r) in both]
        assert len(sel) == len(both), m
        held = kept(sel) / full
        print(name, m, f"{sum(r['correct'] for r in sel)}/{len(sel)}", f"held {held:.3f}")
