#!/usr/bin/env bash
# The PostgreSQL backend's tests (issue 24) against a real server: starts a throwaway PostgreSQL from
# Debian's `postgresql` package (apt-get install postgresql; .ci/run installs it) in a temporary
# directory, as an unprivileged user, listening on a Unix socket in that directory only; runs the
# ignored PostgreSQL tests of core and cli against it; stops and removes it, also on failure.
#
#   scripts/test-postgres.sh              the tests
#   scripts/test-postgres.sh -- CMD ...   CMD with LOGSENTINEL_TEST_POSTGRES_SOCKET_DIR and
#                                         LOGSENTINEL_TEST_POSTGRES_URL set (e.g. a replay by hand)
set -euo pipefail
cd "$(dirname "$0")/.."

bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
  echo "no PostgreSQL server binaries under /usr/lib/postgresql (apt-get install postgresql)" >&2
  exit 1
fi

dir="$(mktemp -d /tmp/logsentinel-pg.XXXXXX)"
as_owner=()
if [ "$(id -u)" = 0 ]; then
  # PostgreSQL refuses to run as root: the package's own system user owns the cluster.
  id postgres >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin postgres
  chown postgres "$dir"
  as_owner=(runuser -u postgres --)
fi
stop() {
  "${as_owner[@]}" "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap stop EXIT

"${as_owner[@]}" "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --no-instructions >/dev/null
"${as_owner[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
  -o "-c listen_addresses='' -k $dir -c max_connections=200" start >/dev/null ||
  { cat "$dir/server.log" >&2; exit 1; }
echo "PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on $dir/.s.PGSQL.5432"

export LOGSENTINEL_TEST_POSTGRES_SOCKET_DIR="$dir"
export LOGSENTINEL_TEST_POSTGRES_URL="postgres://postgres@localhost/postgres?host=$dir"

if [ "${1:-}" = "--" ]; then
  shift
  "$@"
  exit
fi

# The workspace's feature set, as `cargo test --workspace` builds it: `-p` per crate resolved other
# features and rebuilt the dependencies twice (7 minutes of CI instead of one).
cargo test --workspace --test postgres -- --include-ignored
