#!/usr/bin/env bash
# Held-out splits for detection work (docs/detection.md, "Validation discipline"): every detection change
# is tuned on one side and reported on the other.
#   scripts/splits.sh [OUT_DIR]        (default /tmp)
# Writes, from ../shared/data (labels only to score, never to the detector):
#   hdfs_A.log, hdfs_B.log, labels_A.csv, labels_B.csv: hdfs_dev.log split by session (a block belongs
#     to the half where its first line falls; each half keeps whole sessions in time order), as the
#     transfer experiment of scripts/ablation.sh;
#   hdfs_B_heldout.log (+ labels_B_heldout.csv): half B where one normal, optional event type
#     (`Verification succeeded`, E2) is removed from every session that starts within the first
#     WARMUP_LINES lines, so the warmup never holds it and it first appears in the active phase, in
#     about a quarter of the sessions: the outside failure "a normal event type its warmup never held".
# Access logs need no split: access_dev.log (Netsparker) and ait_russellmitchell.log (another server,
# other tools; licence forbids copying it, so it is read by path) are the two sides.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-/tmp}"
DATA="${DATA:-../shared/data}"
WARMUP_LINES="${WARMUP_LINES:-10000}"
HELD_EVENT="${HELD_EVENT:-E2}"
mkdir -p "$OUT"
N=$(wc -l < "$DATA/hdfs/hdfs_dev.log"); H=$((N / 2))
awk -v H="$H" -v A="$OUT/hdfs_A.log" -v B="$OUT/hdfs_B.log" '{
  id = ""; if (match($0, /blk_-?[0-9]+/)) id = substr($0, RSTART, RLENGTH)
  if (!(id in half)) half[id] = (NR <= H) ? "a" : "b"
  print > (half[id] == "a" ? A : B)
}' "$DATA/hdfs/hdfs_dev.log"
for h in A B; do
  grep -o 'blk_-\?[0-9]\+' "$OUT/hdfs_$h.log" | sort -u > "$OUT/ids_$h.txt"
  awk -F, 'NR==FNR { keep[$1]=1; next } FNR==1 || ($1 in keep)' "$OUT/ids_$h.txt" \
    "$DATA/hdfs/hdfs_dev_labels.csv" > "$OUT/labels_$h.csv"
done
# Event of every line of half B, in B's order (the events csv is parallel to hdfs_dev.log).
awk -F, -v H="$H" 'NR==FNR { if (FNR > 1) ev[FNR-1] = $3; next }
  { id = ""; if (match($0, /blk_-?[0-9]+/)) id = substr($0, RSTART, RLENGTH)
    if (!(id in half)) half[id] = (FNR <= H) ? "a" : "b"
    if (half[id] == "b") print ev[FNR] }' "$DATA/hdfs/hdfs_dev_events.csv" "$DATA/hdfs/hdfs_dev.log" \
  > "$OUT/events_B.txt"
paste -d '\t' "$OUT/events_B.txt" "$OUT/hdfs_B.log" | awk -F'\t' -v W="$WARMUP_LINES" -v E="$HELD_EVENT" '{
  line = substr($0, length($1) + 2)
  id = ""; if (match(line, /blk_-?[0-9]+/)) id = substr(line, RSTART, RLENGTH)
  if (!(id in start)) start[id] = n + 1
  if ($1 == E && start[id] <= W) next
  n++; print line
}' > "$OUT/hdfs_B_heldout.log"
grep -o 'blk_-\?[0-9]\+' "$OUT/hdfs_B_heldout.log" | sort -u > "$OUT/ids_B_heldout.txt"
awk -F, 'NR==FNR { keep[$1]=1; next } FNR==1 || ($1 in keep)' "$OUT/ids_B_heldout.txt" \
  "$DATA/hdfs/hdfs_dev_labels.csv" > "$OUT/labels_B_heldout.csv"
wc -l "$OUT"/hdfs_A.log "$OUT"/hdfs_B.log "$OUT"/hdfs_B_heldout.log "$OUT"/labels_A.csv "$OUT"/labels_B.csv
echo "held-out event $HELD_EVENT: $(grep -c "^$HELD_EVENT\$" "$OUT/events_B.txt") lines in B," \
  "$(( $(wc -l < "$OUT/hdfs_B.log") - $(wc -l < "$OUT/hdfs_B_heldout.log") )) removed from sessions starting in the first $WARMUP_LINES lines"
