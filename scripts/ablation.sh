#!/usr/bin/env bash
# Detection-quality ablation (docs/detection.md): one command, rerunnable by anyone with the labelled data.
#   DATA=DIR scripts/ablation.sh [OUT_DIR]
# DATA holds hdfs/hdfs_dev.log and hdfs/hdfs_dev_labels.csv, loghub_2k/BGL/BGL_2k.log and
# access_logs/access_dev.log with access_logs/access_dev_labelled.log (the development data set, if you
# have it, is ../shared/data).
# Runs `logsentinel eval --ablation` on HDFS (sessions), BGL (lines) and access logs (lines), and the
# transfer experiment (hdfs_dev.log halves as two projects, fresh detector vs after a first project).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-target/ablation}"
DATA="${DATA:-}"
if [ -z "$DATA" ]; then
  echo "scripts/ablation.sh: set DATA=DIR, the labelled data folder (see the top of this script)" >&2
  exit 2
fi
for f in hdfs/hdfs_dev.log hdfs/hdfs_dev_labels.csv loghub_2k/BGL/BGL_2k.log access_logs/access_dev.log \
  access_logs/access_dev_labelled.log; do
  if [ ! -f "$DATA/$f" ]; then
    echo "scripts/ablation.sh: missing $DATA/$f (DATA=$DATA)" >&2
    exit 2
  fi
done
BIN="${BIN:-target/release/logsentinel}"
mkdir -p "$OUT"
[ -x "$BIN" ] || cargo build --release -p logsentinel-cli

echo "== HDFS (warmup 10000, session F1 of the active phase)"
"$BIN" eval "$DATA/hdfs/hdfs_dev.log" --format hdfs --warmup 10000 \
  --labels "$DATA/hdfs/hdfs_dev_labels.csv" --ablation --plot "$OUT/hdfs_pr.png" | tee "$OUT/hdfs.txt"

echo "== BGL (first token replaced by '-', warmup 500, line F1)"
awk '{ $1="-"; print }' "$DATA/loghub_2k/BGL/BGL_2k.log" > "$OUT/bgl_unlabelled.log"
"$BIN" eval "$OUT/bgl_unlabelled.log" --format bgl --warmup 500 \
  --line-labels "$DATA/loghub_2k/BGL/BGL_2k.log" --ablation | tee "$OUT/bgl.txt"

echo "== access logs (combined, warmup 3000, line F1)"
"$BIN" eval "$DATA/access_logs/access_dev.log" --format combined --warmup 3000 \
  --line-labels "$DATA/access_logs/access_dev_labelled.log" --ablation | tee "$OUT/access.txt"

echo "== teacher only (the teacher keeps scoring once the student is trained) and student without"
echo "   distillation (alpha 0: trained on the project's data alone)"
for variant in teacher-only:--teacher-only no-distill:"--distill-alpha 0"; do
  name="${variant%%:*}"; flags="${variant#*:}"
  # shellcheck disable=SC2086 # flags are two words on purpose
  "$BIN" eval "$DATA/hdfs/hdfs_dev.log" --format hdfs --warmup 10000 \
    --labels "$DATA/hdfs/hdfs_dev_labels.csv" $flags | tee "$OUT/hdfs_$name.txt" | grep -E "^SESSION active"
  # shellcheck disable=SC2086
  "$BIN" eval "$OUT/bgl_unlabelled.log" --format bgl --warmup 500 \
    --line-labels "$DATA/loghub_2k/BGL/BGL_2k.log" $flags | tee "$OUT/bgl_$name.txt" | grep -E "^LINE active"
  # shellcheck disable=SC2086
  "$BIN" eval "$DATA/access_logs/access_dev.log" --format combined --warmup 3000 \
    --line-labels "$DATA/access_logs/access_dev_labelled.log" $flags | tee "$OUT/access_$name.txt" \
    | grep -E "^LINE active"
done

echo "== transfer: second half of hdfs_dev.log, fresh detector vs after the first half went active"
# Two projects of the same kind: the sessions (blocks) that start in the first half of the file, and
# those that start in the second half, each with all its lines in time order (no session is cut).
N=$(wc -l < "$DATA/hdfs/hdfs_dev.log"); H=$((N / 2))
awk -v H="$H" -v A="$OUT/hdfs_a.log" -v B="$OUT/hdfs_b.log" '{
  id = ""; if (match($0, /blk_-?[0-9]+/)) id = substr($0, RSTART, RLENGTH)
  if (!(id in half)) half[id] = (NR <= H) ? "a" : "b"
  print > (half[id] == "a" ? A : B)
}' "$DATA/hdfs/hdfs_dev.log"
# Labels of the sessions of each half (a labelled session absent from a file would count as missed).
for h in a b; do
  grep -o 'blk_-\?[0-9]\+' "$OUT/hdfs_$h.log" | sort -u > "$OUT/ids_$h.txt"
  awk -F, 'NR==FNR { keep[$1]=1; next } FNR==1 || ($1 in keep)' "$OUT/ids_$h.txt" \
    "$DATA/hdfs/hdfs_dev_labels.csv" > "$OUT/labels_$h.csv"
done
rm -rf "$OUT/store_transfer"
"$BIN" eval "$OUT/hdfs_b.log" --format hdfs --warmup 10000 --labels "$OUT/labels_b.csv" \
  | tee "$OUT/transfer_fresh.txt"
"$BIN" eval "$OUT/hdfs_a.log" --format hdfs --warmup 10000 --labels "$OUT/labels_a.csv" \
  --storage "$OUT/store_transfer" --project first > "$OUT/transfer_first.txt"
"$BIN" eval "$OUT/hdfs_b.log" --format hdfs --warmup 10000 --labels "$OUT/labels_b.csv" \
  --storage "$OUT/store_transfer" --project second | tee "$OUT/transfer_prior.txt"
