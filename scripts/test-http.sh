#!/usr/bin/env bash
# Tests of `logsentinel serve` beyond `cargo test --workspace` (which already runs cli/tests/http.rs):
#   1. the HTTP tests again with the `elasticsearch` feature (the `_bulk` requests are captured by a local
#      listener: no Elasticsearch server is needed or contacted);
#   2. a bounded property-based run of schemathesis (PyPI, in a venv under target/) against the server's
#      own /openapi.json, on 127.0.0.1 only;
#   3. with --bench: the loopback load measurement (requests/s, p50/p99 of /detect and /detect/batch,
#      and of the same calls in process), release build.
# Environment: SCHEMATHESIS_MAX_EXAMPLES (per operation, default 30), SCHEMATHESIS_TIMEOUT (seconds, 600),
# LOAD_SECS, LOAD_CONNS, LOAD_BATCH, LOAD_MODEL_SIZE (see cli/tests/http.rs).
set -euo pipefail
cd "$(dirname "$0")/.."

bench=0
for arg in "$@"; do
  case "$arg" in
    --bench) bench=1 ;;
    *) echo "usage: $0 [--bench]" >&2; exit 2 ;;
  esac
done

echo "== cargo test -p logsentinel-cli --features elasticsearch"
cargo test -p logsentinel-cli --features elasticsearch

echo "== schemathesis against /openapi.json (127.0.0.1, bounded)"
# The default-feature binary, as shipped.
cargo build -p logsentinel-cli
venv=target/http-venv
schemathesis_version="4.32.5"
if ! "$venv/bin/schemathesis" --version 2>/dev/null | grep -q "$schemathesis_version"; then
  if ! python3 -m venv "$venv" 2>/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv
      python3 -m venv "$venv"
    else
      echo "python3 -m venv is unavailable (install python3-venv)" >&2
      exit 1
    fi
  fi
  "$venv/bin/pip" install -q "schemathesis==$schemathesis_version"
fi

work="$(mktemp -d)"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

admin="admin-$RANDOM-$RANDOM-$RANDOM"
env -u ES_URL -u LOGSENTINEL_ES_URL -u LOGSENTINEL_HOST -u LOGSENTINEL_PORT \
  LOGSENTINEL_MODEL_SIZE=tiny LOGSENTINEL_TRAINING_THREADS=1 STORAGE_DIR="$work/storage" \
  HOST=127.0.0.1 PORT=0 ADMIN_API_KEY="$admin" \
  target/debug/logsentinel serve 2>"$work/server.log" &
server_pid=$!
for _ in $(seq 1 600); do
  grep -q "listening on http://" "$work/server.log" && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log" >&2; exit 1; }
  sleep 0.1
done
base="http://$(sed -n 's/^logsentinel serve: listening on http:\/\///p' "$work/server.log" | head -1)"
case "$base" in
  http://127.0.0.1:*) ;;
  *) echo "server did not start on 127.0.0.1: $base" >&2; cat "$work/server.log" >&2; exit 1 ;;
esac

# A project whose key schemathesis uses for the tenant endpoints.
key="$(python3 - "$base" "$admin" <<'EOF'
import json, sys, urllib.request
req = urllib.request.Request(sys.argv[1] + "/projects", method="POST",
                             data=json.dumps({"project_name": "schemathesis", "warmup_threshold": 100000}).encode(),
                             headers={"Content-Type": "application/json", "X-Admin-Key": sys.argv[2]})
print(json.load(urllib.request.urlopen(req))["api_key"])
EOF
)"

# /project/rotate-key is left out: it would revoke the key the rest of the run uses (the Rust tests cover
# it). Everything else, with every check, positive and negative data. One worker: with two, hypothesis
# may parse sources (`ast.parse`, to describe filter lambdas) in two threads at once, and CPython 3.11
# keeps the AST constructor's recursion depth in interpreter-wide state (see CPython gh-106905): one
# CI run failed with "SystemError: AST constructor recursion depth mismatch" (Python 3.11.7).
set +e
timeout "${SCHEMATHESIS_TIMEOUT:-600}" "$venv/bin/schemathesis" run "$base/openapi.json" \
  --checks all \
  --max-examples "${SCHEMATHESIS_MAX_EXAMPLES:-30}" \
  --seed 42 \
  --workers 1 \
  --request-timeout 30 \
  --exclude-path /project/rotate-key \
  --generation-database none \
  --header "X-API-Key: $key" \
  --header "X-Admin-Key: $admin" \
  --output-sanitize true \
  --no-color
rc=$?
set -e
if grep -E "panicked|INTERNAL" "$work/server.log" >&2; then
  echo "the server logged an internal error during the schemathesis run" >&2
  rc=1
fi
kill -TERM "$server_pid"
wait "$server_pid"
server_pid=""
if [ "$rc" != 0 ]; then
  echo "schemathesis failed ($rc)" >&2
  exit "$rc"
fi
echo "schemathesis: passed"

if [ "$bench" = 1 ]; then
  echo "== load: loopback HTTP vs in process (release)"
  LOAD_OUT="${LOAD_OUT:-target/http-load.json}" \
    cargo test --release -p logsentinel-cli --test http -- --ignored --nocapture load_http_and_in_process
fi
echo "http tests passed"
