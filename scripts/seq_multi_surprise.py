#!/usr/bin/env python3
"""Session verdicts from the count of surprising lines (issue 22, item 1; diagnosis).

    python3 scripts/seq_multi_surprise.py LINES.tsv LABELS.csv REPLAY.jsonl

LINES.tsv from `cargo run --release -p logsentinel --example line_scores`, REPLAY.jsonl from
`logsentinel replay --jsonl` of the same file. For the sessions of the active phase, prints session F1
(labels only score) of "at least k lines with NLL > t" alone and added to the replay's verdicts, for
t in (6.4, 8.0) nats and k in (1, 2, 3): every point is printed, none is picked.
"""
import sys, json, csv, collections, math
tsv, labels, replay = sys.argv[1:4]
lab={r['BlockId']:r['Label'] for r in csv.DictReader(open(labels))}
sess=collections.OrderedDict()
for line in open(tsv):
    f=line.rstrip('\n').split('\t')
    if len(f)<6 or f[0]=='session': continue
    nll=float(f[3]) if f[3].lower()!='nan' else float('nan')
    sess.setdefault(f[0],[]).append((f[1],nll))
active=[s for s,v in sess.items() if v[0][0]=='Active']
ens=set()
for l in open(replay):
    d=json.loads(l)
    if d.get('is_anomaly') and d.get('session_id'): ens.add(d['session_id'])
def score(flagged):
    tp=sum(1 for s in active if s in flagged and lab.get(s)=='Anomaly')
    fp=sum(1 for s in active if s in flagged and lab.get(s)!='Anomaly')
    fn=sum(1 for s in active if s not in flagged and lab.get(s)=='Anomaly')
    p=tp/max(1,tp+fp); r=tp/max(1,tp+fn); return '%.3f (FP %d FN %d)'%(2*p*r/max(1e-9,p+r),fp,fn)
print('ensemble', score(ens))
for t in (6.4, 8.0):
    for k in (1,2,3):
        seq={s for s in active if sum(1 for ph,n in sess[s] if not math.isnan(n) and n>t)>=k}
        print(f't={t} k>={k}: alone {score(seq)}  ensemble+ {score(ens|seq)}')
