#!/usr/bin/env bash
# Builds the installable Python wheel of logsentinel into dist/: one abi3 wheel (any CPython >= 3.9) for
# this platform, manylinux-tagged by maturin's audit, stripped of debug info (python/pyproject.toml).
# `pip install dist/logsentinel-*.whl` then needs no Rust, cargo or compiler on the installing machine.
#
#   scripts/build-wheel.sh            # needs Rust and python3 (with venv) on the building machine
#
# maturin and cargo print their progress (a clean build compiles the core and its dependencies: several
# minutes on two cores). The build uses target/py, the target directory scripts/test-python.sh uses too,
# with the same interpreter (.venv), so one build serves both.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"

venv="$root/.venv"
py="$venv/bin/python"
if [ ! -x "$py" ]; then
  echo "== creating $venv"
  python3 -m venv "$venv"
fi
if ! "$venv/bin/maturin" --version >/dev/null 2>&1; then
  echo "== installing maturin into $venv"
  "$py" -m pip install --disable-pip-version-check "maturin>=1.9,<2"
fi

export CARGO_TARGET_DIR="$root/target/py"
export PYO3_PYTHON="$py"
export VIRTUAL_ENV="$venv"
export PATH="$venv/bin:$PATH"

echo "== maturin build --release (abi3 wheel) into dist/"
mkdir -p dist
rm -f dist/logsentinel-*.whl
(cd python && "$venv/bin/maturin" build --release --out "$root/dist")
wheel="$(ls dist/logsentinel-*.whl)"
case "$wheel" in
  *-cp39-abi3-*manylinux*) ;;
  *) echo "expected a manylinux abi3 wheel for CPython >= 3.9, got $wheel" >&2; exit 1 ;;
esac
ls -l "$wheel"
echo "built $wheel: install it with  pip install $wheel"
