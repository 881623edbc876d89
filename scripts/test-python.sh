#!/usr/bin/env bash
# Builds the Python wheel and runs the Python tests: pytest, mypy (strict) on the examples and tests,
# stubtest (the .pyi matches the native module), the README quick start, and the Python-vs-Rust
# throughput table. Works on a fresh machine with Rust and python3 (>= 3.9, with venv): creates .venv
# when missing. Runs after `cargo test --workspace` in CI.
#
#   scripts/test-python.sh                 # everything
#   LOGSENTINEL_BENCH=0 scripts/test-python.sh   # skip the throughput table
#   LOGSENTINEL_BENCH_LINES=8000 scripts/test-python.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"

venv="$root/.venv"
py="$venv/bin/python"
if [ ! -x "$py" ]; then
  echo "== creating $venv"
  python3 -m venv "$venv"
fi
echo "== python tools (maturin, pytest, mypy)"
"$py" -m pip install -q --disable-pip-version-check "maturin>=1.9,<2" pytest mypy

# maturin builds only the python crate, with other features than the workspace build: its own target
# directory keeps it from invalidating target/ (and the other way round).
export CARGO_TARGET_DIR="$root/target/py"
export PYO3_PYTHON="$py"
export VIRTUAL_ENV="$venv"
export PATH="$venv/bin:$PATH"

echo "== maturin build --release (abi3 wheel)"
wheels="$CARGO_TARGET_DIR/wheels"
rm -rf "$wheels"
# Not --quiet: cargo's progress shows (a clean build takes minutes).
(cd python && "$venv/bin/maturin" build --release --out "$wheels")
wheel="$(ls "$wheels"/logsentinel-*.whl)"
case "$wheel" in
  *-cp39-abi3-*) ;;
  *) echo "expected an abi3 wheel for CPython >= 3.9, got $wheel" >&2; exit 1 ;;
esac
"$py" -m pip install -q --disable-pip-version-check --force-reinstall --no-deps "$wheel"
# Run everything from the repository root so `logsentinel` is the installed wheel, never python/logsentinel.
"$py" -c "import logsentinel, sys; print('installed', logsentinel.__version__, 'from', logsentinel.__file__)"

echo "== pytest python/tests"
rc=0
"$py" -m pytest -q -p no:cacheprovider --rootdir python python/tests \
  --ignore=python/tests/test_postgres.py || rc=$?
if [ "$rc" -eq 5 ]; then
  echo "pytest collected no tests" >&2
  exit 1
elif [ "$rc" -ne 0 ]; then
  exit "$rc"
fi

echo "== pytest python/tests/test_postgres.py (a throwaway PostgreSQL: scripts/test-postgres.sh)"
scripts/test-postgres.sh -- "$py" -m pytest -q -p no:cacheprovider --rootdir python \
  python/tests/test_postgres.py

echo "== mypy --strict (examples, tests, package)"
"$py" -m mypy --strict --no-incremental --cache-dir=/dev/null \
  examples/python python/examples python/tests
"$py" -m mypy --strict --no-incremental --cache-dir=/dev/null -p logsentinel

echo "== stubtest (logsentinel/_native.pyi matches the native module)"
"$py" -m mypy.stubtest logsentinel._native

echo "== README quick start (examples/python/quickstart.py)"
"$py" examples/python/quickstart.py

if [ "${LOGSENTINEL_BENCH:-1}" != 0 ]; then
  echo "== throughput: Python vs Rust, same work"
  cargo build --release --quiet -p logsentinel --example binding_bench
  "$py" python/examples/bench.py --lines "${LOGSENTINEL_BENCH_LINES:-4000}" \
    --rust "$CARGO_TARGET_DIR/release/examples/binding_bench"
fi
echo "python stages passed"
