#!/usr/bin/env bash
# The PostgreSQL backend's tests (issue 24) against a real server: starts a throwaway PostgreSQL from
# Debian's `postgresql` package (apt-get install postgresql; .ci/run installs it) in a temporary
# directory, as an unprivileged user, listening on a Unix socket in that directory and, with TLS (a
# throwaway CA), on a free loopback port; runs the ignored PostgreSQL tests of core and cli against it;
# stops and removes it, also on failure.
#
#   scripts/test-postgres.sh              the tests
#   scripts/test-postgres.sh -- CMD ...   CMD with LOGSENTINEL_TEST_POSTGRES_SOCKET_DIR, _PORT, _CA
#                                         and _URL set (e.g. a replay by hand)
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

# TLS on the loopback port, for the tests of sslmode (a throwaway CA and a certificate for
# `localhost` only); the Unix socket serves everything else.
tls="$dir/tls"
mkdir "$tls"
ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
openssl req -x509 "${ec[@]}" -days 2 -subj "/CN=logsentinel test CA" \
  -keyout "$tls/ca.key" -out "$tls/ca.crt" 2>/dev/null
openssl req "${ec[@]}" -subj "/CN=localhost" -keyout "$tls/server.key" -out "$tls/server.csr" 2>/dev/null
printf 'subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' > "$tls/ext"
openssl x509 -req -in "$tls/server.csr" -CA "$tls/ca.crt" -CAkey "$tls/ca.key" -CAcreateserial \
  -days 2 -extfile "$tls/ext" -out "$tls/server.crt" 2>/dev/null
chmod 600 "$tls/server.key"
[ "$(id -u)" = 0 ] && chown -R postgres "$tls"

# A free port: the socket's name carries it too, so every URL names it.
for attempt in 1 2 3 4 5; do
  port=$((20000 + RANDOM % 20000))
  if "${as_owner[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c max_connections=200 -c ssl=on \
        -c ssl_cert_file=$tls/server.crt -c ssl_key_file=$tls/server.key" start >/dev/null; then
    break
  fi
  [ "$attempt" = 5 ] && { cat "$dir/server.log" >&2; exit 1; }
done
echo "PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on $dir/.s.PGSQL.$port and 127.0.0.1:$port (TLS)"

export LOGSENTINEL_TEST_POSTGRES_SOCKET_DIR="$dir"
export LOGSENTINEL_TEST_POSTGRES_PORT="$port"
export LOGSENTINEL_TEST_POSTGRES_CA="$tls/ca.crt"
export LOGSENTINEL_TEST_POSTGRES_URL="postgres://postgres@localhost:$port/postgres?host=$dir"

if [ "${1:-}" = "--" ]; then
  shift
  "$@"
  exit
fi

# The workspace's feature set, as `cargo test --workspace` builds it: `-p` per crate resolved other
# features and rebuilt the dependencies twice (7 minutes of CI instead of one).
cargo test --workspace --test postgres -- --include-ignored
