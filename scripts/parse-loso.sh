#!/usr/bin/env bash
# Per-system template-mining figures on the Loghub-2k systems, for judging a masking or grouping change
# system by system (issue 20, item 4): a change is kept only when it helps on systems that did not
# motivate it and costs no system more than 0.005 GA.
#
#   scripts/parse-loso.sh [BASE_BIN]
#
# For each condition it scores every system with BIN (default target/release/logsentinel) and, when
# given, BASE_BIN (a binary built before the change), and prints GA/PA/FGA/FTA with the per-system
# deltas. Conditions:
#   preset  the system's built-in header format (what `eval-parse` does);
#   raw     `--format raw`: the whole line, header included, goes to the miner (an unseen-like
#           condition: a header the parser does not know).
# Outputs land in OUT (default target/parse-loso). Needs python3 for ../shared/tools/score_parse.py.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA="${DATA:-../shared/data/loghub_2k}"
SCORER="${SCORER:-../shared/tools/score_parse.py}"
BIN="${BIN:-target/release/logsentinel}"
OUT="${OUT:-target/parse-loso}"
BASE_BIN="${1:-}"
mkdir -p "$OUT"

run() { # run NAME BINARY: writes $OUT/NAME-{preset,raw}.json
  local name="$1" bin="$2"
  "$bin" eval-parse "$DATA" --json "$OUT/$name-preset.json" > /dev/null
  mkdir -p "$OUT/$name-raw"
  for dir in "$DATA"/*/; do
    system="$(basename "$dir")"
    [ -f "$dir/${system}_2k.log" ] || continue
    "$bin" parse "$dir/${system}_2k.log" --format raw --jsonl "$OUT/$name-raw/$system.jsonl" > /dev/null 2>&1
  done
  python3 "$SCORER" --final-template --data "$DATA" --pred-dir "$OUT/$name-raw" \
    --json "$OUT/$name-raw.json" > /dev/null
}

run new "$BIN"
[ -n "$BASE_BIN" ] && run base "$BASE_BIN"

python3 - "$OUT" "$BASE_BIN" <<'EOF'
import json, sys
out, base = sys.argv[1], sys.argv[2]
def load(path):
    d = json.load(open(path))
    rows = {r['system']: r for r in d['systems']}
    return {s: {k.lower(): r[k] for k in r if k.lower() in ('ga', 'pa', 'fga', 'fta')} for s, r in rows.items()}
for cond in ('preset', 'raw'):
    new = load(f"{out}/new-{cond}.json")
    old = load(f"{out}/base-{cond}.json") if base else None
    print(f"== {cond}")
    cols = ('ga', 'pa', 'fga', 'fta')
    head = f"{'system':<11}" + ''.join(f"{c.upper():>8}" for c in cols)
    if old:
        head += ''.join(f"{'d' + c.upper():>8}" for c in cols)
    print(head)
    worst = 0.0
    for s in sorted(new):
        line = f"{s:<11}" + ''.join(f"{new[s][c]:8.4f}" for c in cols)
        if old and s in old:
            line += ''.join(f"{new[s][c] - old[s][c]:+8.4f}" for c in cols)
            worst = min(worst, new[s]['ga'] - old[s]['ga'])
        print(line)
    n = len(new)
    line = f"{'mean':<11}" + ''.join(f"{sum(r[c] for r in new.values()) / n:8.4f}" for c in cols)
    if old:
        line += ''.join(f"{(sum(r[c] for r in new.values()) - sum(r[c] for r in old.values())) / n:+8.4f}" for c in cols)
    print(line)
    if old:
        helped = [s for s in new if new[s]['ga'] > old[s]['ga'] + 1e-9]
        print(f"GA up on: {', '.join(sorted(helped)) or 'none'}; worst GA delta {worst:+.4f}"
              f" ({'within' if worst >= -0.005 else 'BEYOND'} the 0.005 allowance)")
EOF
