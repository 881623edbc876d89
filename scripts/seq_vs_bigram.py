"""The sequence model's own probabilities against a next-event bigram check, session F1 (issue 22).

    python3 scripts/seq_vs_bigram.py LINES.tsv LABELS.csv [REPLAY.jsonl]

LINES.tsv comes from `cargo run --release -p logsentinel --example line_scores` (one row per line:
session, phase, model, NLL of the observed template, calibrated sequence component, template id).
LABELS.csv: `BlockId,Label` (Anomaly / Normal), used only to score. Sessions whose first line falls in
the active phase are scored, as `logsentinel eval` does.

Prints, for those sessions:
- the bigram check: P(event | previous event) < 0.001, counted on the warmup phase's sessions (the
  same contaminated warmup the product learns from; template ids are the product's own);
- the product's sequence component as shipped (flag at >= 0.5), and the NLL threshold behind it;
- the serving model's own surprise: a session is flagged when its worst line's NLL exceeds a
  threshold, for a range of thresholds (6.4 nats is -ln(0.005 / 3), the product's floor at the
  default false-positive target; no threshold here is picked by the labels: all are printed);
- with REPLAY.jsonl (`logsentinel replay --jsonl` of the same file): the ensemble's session
  verdicts, and the ensemble with the model's surprise added at each threshold.
"""

import collections
import csv
import json
import math
import sys

BIGRAM_P = 0.001
THRESHOLDS = (4.0, 5.0, 6.0, 6.4, 6.9, 8.0, 10.0, 12.0)


def read_lines(path):
    first_phase, events = {}, collections.defaultdict(list)
    with open(path) as f:
        for row in f:
            session, phase, _model, nll, component, template = row.rstrip("\n").split("\t")
            if not session:
                continue
            first_phase.setdefault(session, phase)
            events[session].append((phase, float(nll), float(component), int(template)))
    return first_phase, events


def read_labels(path):
    with open(path) as f:
        return {r["BlockId"]: r["Label"] == "Anomaly" for r in csv.DictReader(f)}


def score(flags, labels):
    tp = sum(1 for s, f in flags.items() if f and labels[s])
    fp = sum(1 for s, f in flags.items() if f and not labels[s])
    fn = sum(1 for s, f in flags.items() if not f and labels[s])
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    return f"F1={f1:.3f} P={p:.3f} R={r:.3f} TP={tp} FP={fp} FN={fn}"


def bigram_flags(first_phase, events, active):
    pairs, starts = collections.Counter(), collections.Counter()
    for session, evs in events.items():
        if first_phase[session] != "Warmup":
            continue
        prev = None
        for phase, _, _, template in evs:
            if phase != "Warmup":
                break
            pairs[(prev, template)] += 1
            starts[prev] += 1
            prev = template
    flags = {}
    for session in active:
        prev, flag = None, False
        for _, _, _, template in events[session]:
            p = pairs[(prev, template)] / starts[prev] if starts[prev] else 0.0
            flag = flag or p < BIGRAM_P
            prev = template
        flags[session] = flag
    return flags


def ensemble_flags(path, active):
    flagged = set()
    with open(path) as f:
        for row in f:
            o = json.loads(row)
            if o.get("is_anomaly") and o.get("session_id"):
                flagged.add(o["session_id"])
    return {s: s in flagged for s in active}


def main():
    first_phase, events = read_lines(sys.argv[1])
    labels = read_labels(sys.argv[2])
    active = [s for s in events if first_phase[s] == "Active" and s in labels]
    scored = {s: labels[s] for s in active}
    worst = {
        s: max((nll for _, nll, _, _ in events[s] if not math.isnan(nll)), default=0.0)
        for s in active
    }
    print(f"{len(active)} active sessions, {sum(scored.values())} anomalous")
    print(f"bigram P < {BIGRAM_P}            ", score(bigram_flags(first_phase, events, active), scored))
    shipped = {s: max(c for _, _, c, _ in events[s]) >= 0.5 for s in active}
    print("sequence component >= 0.5    ", score(shipped, scored))
    # Below its threshold t the component is 0.5 * nll / t: the threshold the student learned.
    learned = sorted(
        0.5 * nll / c
        for s in active
        for _, nll, c, _ in events[s]
        if 0.0 < c < 0.5 and not math.isnan(nll)
    )
    if learned:
        print(f"  (the student's learned NLL threshold: {learned[len(learned) // 2]:.2f} nats)")
    for t in THRESHOLDS:
        print(f"worst line NLL > {t:<5}       ", score({s: worst[s] > t for s in active}, scored))
    if len(sys.argv) > 3:
        ens = ensemble_flags(sys.argv[3], active)
        print("ensemble (replay verdicts)   ", score(ens, scored))
        for t in THRESHOLDS:
            both = {s: ens[s] or worst[s] > t for s in active}
            print(f"ensemble + NLL > {t:<5}       ", score(both, scored))


if __name__ == "__main__":
    main()
