#!/usr/bin/env python3
"""A stream where order catches what counting misses (issue 22, item 1).

    python3 scripts/reorder_sessions.py IN.log LABELS.csv OUT.log OUT_LABELS.csv \
        [--share 0.05] [--after 10000] [--seed 1]

Takes an HDFS-style log and its session labels (`BlockId,Label`) and, for a random `share` of the
normal sessions whose first line comes after line `after` (the active phase of a replay with that
warmup), shuffles the order of the session's lines among the positions the session occupies: the
session holds exactly the same events, the same number of times, with the same neighbours in time,
only in another order. Those sessions are labelled `Anomaly` in OUT_LABELS.csv (everything else keeps
its label). Counting statistics (rare, missing, count ties) cannot tell them from normal sessions; a
sequence model can. Sessions of one line, or whose shuffle gives back the same order of templates,
are left alone. Session ids are the `blk_` ids of HDFS lines.
"""
import argparse
import csv
import random
import re

BLOCK = re.compile(r"blk_-?\d+")


def event_of(line):
    """The line without its header and values: a stand-in for its template."""
    message = line.split(": ", 1)[-1]
    return re.sub(r"\S*\d\S*", "#", message)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("log")
    parser.add_argument("labels")
    parser.add_argument("out_log")
    parser.add_argument("out_labels")
    parser.add_argument("--share", type=float, default=0.05)
    parser.add_argument("--after", type=int, default=10000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)

    lines = open(args.log, encoding="utf-8", errors="replace").read().splitlines()
    labels = {row["BlockId"]: row["Label"] for row in csv.DictReader(open(args.labels))}
    positions = {}
    for index, line in enumerate(lines):
        match = BLOCK.search(line)
        if match:
            positions.setdefault(match.group(0), []).append(index)
    candidates = sorted(
        block
        for block, where in positions.items()
        if labels.get(block) == "Normal" and where[0] >= args.after and len(where) > 1
    )
    chosen = rng.sample(candidates, int(len(candidates) * args.share))
    reordered = 0
    for block in chosen:
        where = positions[block]
        original = [lines[i] for i in where]
        shuffled = original[:]
        for _ in range(10):
            rng.shuffle(shuffled)
            if [event_of(l) for l in shuffled] != [event_of(l) for l in original]:
                break
        else:
            continue
        for i, line in zip(where, shuffled):
            lines[i] = line
        labels[block] = "Anomaly"
        reordered += 1
    with open(args.out_log, "w", encoding="utf-8") as out:
        out.write("\n".join(lines) + "\n")
    with open(args.out_labels, "w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["BlockId", "Label"])
        for block, label in labels.items():
            writer.writerow([block, label])
    print(f"{reordered} of {len(candidates)} normal active-phase sessions reordered")


if __name__ == "__main__":
    main()
