#!/usr/bin/env bash
# Builds the Node.js addon and runs the Node tests on a fresh clone (needs Rust, node and npm).
# Node >= 20.17 is the stated minimum (node/package.json `engines`, .ci/run, README): the napi-rs CLI
# needs it. When the node on PATH is older (Debian 12's apt nodejs is 18.19), this script installs
# Node 20 from the npm registry (the `node` package: real binaries) into target/node-runtime and puts it
# first on PATH, so a fresh Debian 12 machine passes as it is.
#   1. npm install in node/ (the napi-rs CLI and TypeScript: dev tools only);
#   2. napi build --release: the addon (node/logsentinel.<platform>.node) and the generated index.js and
#      index.d.ts, which must equal the committed ones;
#   3. the TypeScript types compile against a typed use of the whole API (tsc --strict);
#   4. node --test node/__test__ (lifecycle, persistence, every error path, concurrency, event loop);
#   5. the examples: npm install in examples/node (pino, and the package by path), their tests (the
#      access-log middleware and the pino transport), the README quick start and the middleware demo;
#   6. lines/s of detect and detectBatch from Node next to the same work in Rust, and the event-loop
#      delay during a 20,000-line batch.
#
#   scripts/test-node.sh                       # everything
#   LOGSENTINEL_BENCH=0 scripts/test-node.sh   # skip the throughput table
#   LOGSENTINEL_BENCH_LINES=8000 scripts/test-node.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"

for tool in node npm cargo rustc; do
  if ! command -v "$tool" >/dev/null; then
    echo "scripts/test-node.sh needs $tool" >&2
    exit 1
  fi
done
# The stated minimum, checked the same way everywhere: node/package.json's `engines` says ">= 20.17".
node_ok() {
  node -e 'const [a, b] = process.versions.node.split(".").map(Number);
           process.exit(a > 20 || (a === 20 && b >= 17) ? 0 : 1)'
}
if ! node_ok; then
  runtime="$root/target/node-runtime"
  echo "== Node $(node --version) is older than the minimum 20.17: installing Node 20 from the npm registry into $runtime"
  if [ ! -x "$runtime/node_modules/.bin/node" ]; then
    npm install --prefix "$runtime" --no-audit --no-fund --loglevel=error --no-save node@20
  fi
  export PATH="$runtime/node_modules/.bin:$PATH"
  if ! node_ok; then
    echo "scripts/test-node.sh needs Node >= 20.17 (found $(node --version) after installing node@20)" >&2
    exit 1
  fi
fi
echo "== node $(node --version), npm $(npm --version)"

# napi build passes --target (its own artifact directory): a target directory of its own keeps it from
# invalidating target/ (and the other way round).
export CARGO_TARGET_DIR="$root/target/node"
host="$(rustc -vV | sed -n 's/^host: //p')"

echo "== npm install (node/: @napi-rs/cli, typescript)"
# `npm install`, not `npm ci`: npm's lock-file handling of the CLI's optional dependencies trips `ci`.
(cd node && npm install --no-audit --no-fund --loglevel=error)

echo "== napi build --release (addon, index.js, index.d.ts)"
committed="$(mktemp -d)"
trap 'rm -rf "$committed"' EXIT
cp node/index.js node/index.d.ts "$committed/" 2>/dev/null || true
(cd node && npm run --silent build)
for f in index.js index.d.ts; do
  if [ -f "$committed/$f" ] && ! cmp -s "$committed/$f" "node/$f"; then
    diff -u "$committed/$f" "node/$f" | head -40 >&2 || true
    echo "node/$f was stale: the build regenerated it (above); commit the new one" >&2
    exit 1
  fi
done
ls -l node/*.node

echo "== tsc --strict: index.d.ts types a use of the whole API"
(cd node && npx tsc -p __test__/tsconfig.json)

echo "== node --test node/__test__"
(cd node && node --test __test__/)

echo "== node --test node/__test_pg__ (a throwaway PostgreSQL: scripts/test-postgres.sh)"
scripts/test-postgres.sh -- sh -c 'cd node && node --test __test_pg__/'

echo "== examples/node: npm install, tests (middleware, pino transport), quick start, middleware demo"
(cd examples/node && npm install --no-audit --no-fund --loglevel=error)
(cd examples/node && node --test __test__/)
node examples/node/quickstart.mjs
node examples/node/access-log-middleware.mjs

if [ "${LOGSENTINEL_BENCH:-1}" != 0 ]; then
  echo "== throughput: Node vs Rust, same work; event-loop delay during a large batch"
  # Same target triple and RUSTFLAGS as `napi build --strip`: the example reuses its dependencies'
  # artifacts instead of building them all again.
  RUSTFLAGS="${RUSTFLAGS:-} -C link-arg=-s" \
    cargo build --release --quiet -p logsentinel --example binding_bench --target "$host"
  node examples/node/bench.mjs --lines "${LOGSENTINEL_BENCH_LINES:-4000}" \
    --rust "$CARGO_TARGET_DIR/$host/release/examples/binding_bench"
fi
echo "node stages passed"
