#!/usr/bin/env bash
# Runs every test of logsentinel. Installs what the tests need by itself (Python venvs, cbindgen) and
# works on a fresh clone.
set -euo pipefail
cd "$(dirname "$0")/.."

# Each stage's start is printed with the minutes since the run began, so a slow stage shows in CI logs.
stage() { echo "== [$((SECONDS / 60)) min] $*"; }

stage "cargo fmt --check"
cargo fmt --all -- --check

stage "cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings

stage "cargo test (workspace)"
cargo test --workspace

stage "PostgreSQL backend: a throwaway server; shared store, schema, a second instance serving a tenant, replay"
scripts/test-postgres.sh

stage "C and C++: header check, C/C++ tests under valgrind, install, boundary overhead"
scripts/test-ffi.sh

stage "Python wheel and tests"
scripts/test-python.sh

stage "Node.js addon: build, node --test, examples (middleware, pino transport, quick start)"
LOGSENTINEL_BENCH=0 scripts/test-node.sh  # the Node-vs-Rust table: scripts/test-node.sh alone

stage "HTTP API: tests with the elasticsearch feature, schemathesis against /openapi.json"
scripts/test-http.sh

stage "Reliability: kill -9 crash consistency (50 kills) and a 2-minute soak (release)"
scripts/test-reliability.sh

stage "Fuzzing: five cargo-fuzz targets, 30 s each (stable toolchain, seeds in fuzz/seeds)"
FUZZ_SECONDS="${FUZZ_SECONDS:-30}" scripts/test-fuzz.sh

stage "README main command (release replay of the committed HDFS sample)"
cargo build --release -p logsentinel-cli
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
./target/release/logsentinel replay tests/fixtures/hdfs/hdfs_dev_20k.log --format hdfs --warmup 10000 \
  --storage "$out/storage" --jsonl "$out/replay.jsonl" --quiet | tee "$out/summary.txt"
grep -q "student took over at line" "$out/summary.txt"
python3 scripts/check_replay.py "$out/replay.jsonl" 20000

stage "Incidents and feedback: a simulated operator reviews 20 incidents of the same sample (eval --feedback-budget)"
./target/release/logsentinel eval tests/fixtures/hdfs/hdfs_dev_20k.log --format hdfs --warmup 10000 \
  --labels tests/fixtures/hdfs/hdfs_dev_20k_labels.csv --feedback-budget 20 --json | tee "$out/feedback.txt" \
  | python3 scripts/check_feedback.py

stage "bench detect smoke (tiny models: the figures are not the product's; checks every row is produced)"
# The ONNX Runtime peer installs onnxruntime, onnx and numpy into .venv-bench and checks that it computes
# the same log-likelihoods as logsentinel before it times anything (a failed check fails the bench).
./target/release/logsentinel bench detect --tiny --idle-projects 5 --projects 20 --students 3 --repeat 1 \
  --peer-seconds 0.3 | tee "$out/bench.txt"
for row in "detect_batch, student" "detect_batch, teacher" "2 threads on 2 projects" "while another project trains" \
  "RSS per idle project" "a fresh process right after the storage was written: p50" "(a restart): p50" \
  "student: logsentinel incremental vs ONNX Runtime" "teacher: logsentinel incremental vs ONNX Runtime" \
  "NLLs agree to"; do
  grep -qF "$row" "$out/bench.txt" || { echo "bench detect printed no row '$row'" >&2; exit 1; }
done
echo "all stages passed in $((SECONDS / 60)) min"
