#!/usr/bin/env bash
# Starts the HTTP API, `logsentinel serve`, with this environment's settings and sane defaults, building
# the release binary first when cargo is available (a no-op when it is up to date).
#
#   scripts/start.sh [serve options]        e.g. scripts/start.sh --access-log --protect-create
#
# Environment (all optional; see the README's configuration section):
#   HOST            listen address; 127.0.0.1 (also the server's own default) unless HOST or
#                   LOGSENTINEL_HOST is set (0.0.0.0 or `--bind 0.0.0.0:8000`: every interface, as the
#                   Docker image does)
#   PORT            8000
#   STORAGE_DIR     ./data (relative to where you start it); created if missing
#   ADMIN_API_KEY   enables the admin endpoints (X-Admin-Key) and is then needed to create projects;
#                   unset, admin endpoints answer 403 and only loopback clients may create projects
#   MODEL_DIR, WARMUP_THRESHOLD, TEACHER_UPDATE_DAYS, DEVICE, LOGSENTINEL_MODEL_SIZE (full|tiny), ...
#   LOGSENTINEL_MAX_BODY_BYTES, LOGSENTINEL_MAX_CONCURRENCY, LOGSENTINEL_ACCESS_LOG,
#   LOGSENTINEL_PROTECT_CREATE, LOGSENTINEL_OPEN_PROJECT_CREATION, LOGSENTINEL_MAX_PROJECTS,
#   LOGSENTINEL_RATE_LIMIT, LOGSENTINEL_RATE_BURST, LOGSENTINEL_SHUTDOWN_TIMEOUT_SECS (the serve options)
#   CARGO_FEATURES  extra features of the build, e.g. "elasticsearch" (then ES_URL, ES_API_KEY, ...)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

if [ -z "${HOST:-}" ] && [ -z "${LOGSENTINEL_HOST:-}" ]; then
  export HOST=127.0.0.1
fi
if [ -z "${PORT:-}" ] && [ -z "${LOGSENTINEL_PORT:-}" ]; then
  export PORT=8000
fi
if [ -z "${STORAGE_DIR:-}" ] && [ -z "${LOGSENTINEL_STORAGE_DIR:-}" ]; then
  export STORAGE_DIR="$PWD/data"
fi
mkdir -p "${LOGSENTINEL_STORAGE_DIR:-$STORAGE_DIR}"

bin="$root/target/release/logsentinel"
if command -v cargo >/dev/null 2>&1; then
  features=()
  if [ -n "${CARGO_FEATURES:-}" ]; then
    features=(--features "$CARGO_FEATURES")
  fi
  cargo build --release --quiet --manifest-path "$root/Cargo.toml" -p logsentinel-cli "${features[@]}"
elif [ ! -x "$bin" ]; then
  echo "start.sh: cargo is not installed and $bin does not exist" >&2
  exit 1
fi
exec "$bin" serve "$@"
