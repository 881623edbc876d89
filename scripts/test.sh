#!/usr/bin/env bash
# Runs every test of logsentinel. Installs what the tests need by itself (Python venvs, cbindgen) and
# works on a fresh clone.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings

echo "== cargo test (workspace)"
cargo test --workspace

echo "== C and C++: header check, C/C++ tests under valgrind, install, boundary overhead"
scripts/test-ffi.sh

echo "== Python wheel and tests"
scripts/test-python.sh

echo "== Node.js addon: build, node --test, examples (middleware, pino transport, quick start)"
LOGSENTINEL_BENCH=0 scripts/test-node.sh  # the Node-vs-Rust table: scripts/test-node.sh alone

echo "== HTTP API: tests with the elasticsearch feature, schemathesis against /openapi.json"
scripts/test-http.sh

echo "== README main command (release replay of the committed HDFS sample)"
cargo build --release -p logsentinel-cli
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
./target/release/logsentinel replay tests/fixtures/hdfs/hdfs_dev_20k.log --format hdfs --warmup 10000 \
  --storage "$out/storage" --jsonl "$out/replay.jsonl" --quiet | tee "$out/summary.txt"
grep -q "student took over at line" "$out/summary.txt"
python3 scripts/check_replay.py "$out/replay.jsonl" 20000
echo "all stages passed"
