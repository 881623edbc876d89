#!/usr/bin/env bash
# Tests the C and C++ surfaces of logsentinel (crate logsentinel-ffi, headers in include/) on a fresh
# machine with a Rust toolchain, cc/c++, valgrind and pkg-config (CMake is used when present):
#   1. the committed include/logsentinel.h matches the code (cbindgen 0.29.4 --verify; installed if
#      missing);
#   2. release build; the system libraries the static library needs (rustc --print native-static-libs);
#   3. the C tests (ffi/tests/c: errors, lifecycle, threads) against the shared AND the static library,
#      the C++ test (ffi/tests/cpp) and the C/C++ quick starts (examples/), all under valgrind
#      (cargo test --release -p logsentinel-ffi with LS_FFI_VALGRIND=1; see ffi/tests/native.rs);
#   4. scripts/install-ffi.sh into a temporary prefix, then the quick starts built from it with the
#      README's pkg-config commands (and find_package(logsentinel) when cmake is installed) and run
#      without LD_LIBRARY_PATH: the rpath of the .pc and CMake files finds the shared library;
#   5. the per-call cost of the C boundary next to the Rust call.
set -euo pipefail
cd "$(dirname "$0")/.."

for tool in cc c++ valgrind pkg-config nm; do
  if ! command -v "$tool" >/dev/null; then
    echo "scripts/test-ffi.sh needs $tool (Debian: build-essential valgrind pkg-config)" >&2
    exit 1
  fi
done

echo "== cbindgen 0.29.4"
if [ "$(cbindgen --version 2>/dev/null || true)" != "cbindgen 0.29.4" ]; then
  cargo install cbindgen --version 0.29.4 --locked
fi

echo "== include/logsentinel.h is up to date (cbindgen --verify)"
if ! cbindgen --config ffi/cbindgen.toml --crate logsentinel-ffi --output include/logsentinel.h \
  --verify ffi 2>/dev/null; then
  echo "include/logsentinel.h is stale; regenerate it with:" >&2
  echo "  cbindgen --config ffi/cbindgen.toml --crate logsentinel-ffi --output include/logsentinel.h ffi" >&2
  exit 1
fi

echo "== release build (cargo rustc, printing the system libraries the static library needs)"
build_log="$(mktemp)"
cargo rustc --release -p logsentinel-ffi --lib -- --print native-static-libs 2>&1 | tee "$build_log"
libs="$(sed -n 's/.*native-static-libs: //p' "$build_log" | tail -n 1)"
rm -f "$build_log"
if [ -z "$libs" ]; then
  echo "rustc printed no native-static-libs" >&2
  exit 1
fi
export LS_FFI_NATIVE_STATIC_LIBS="$libs"

echo "== C and C++ tests and examples under valgrind (shared and static library)"
LS_FFI_VALGRIND=1 cargo test --release -p logsentinel-ffi -- --test-threads=2 --nocapture

echo "== install into a temporary prefix; quick starts built with pkg-config and CMake"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
LS_FFI_NO_BUILD=1 scripts/install-ffi.sh "$tmp/prefix"  # the release build above
export PKG_CONFIG_PATH="$tmp/prefix/lib/pkgconfig"
log=tests/fixtures/hdfs/hdfs_dev_20k.log
unset LD_LIBRARY_PATH
# The installed libraries carry no debug info.
sections="$(readelf -S "$tmp/prefix/lib/liblogsentinel_ffi.so")"
if grep -q '\.debug_' <<<"$sections"; then
  echo "the installed shared library was not stripped of debug info" >&2
  exit 1
fi
ls -l "$tmp/prefix/lib/"liblogsentinel_ffi.*
# The README's command, as written (plus warnings as errors): no -Wl,-rpath of our own.
# shellcheck disable=SC2046 # pkg-config output is meant to be split
cc -std=c11 -Wall -Wextra -Werror examples/c/quickstart.c $(pkg-config --cflags --libs logsentinel) \
  -o "$tmp/quickstart-c"
# shellcheck disable=SC2046
cc -std=c11 -Wall -Wextra -Werror examples/c/quickstart.c \
  $(pkg-config --cflags --libs logsentinel-static) -o "$tmp/quickstart-c-static"
# shellcheck disable=SC2046
c++ -std=c++17 -Wall -Wextra -Werror examples/cpp/quickstart.cpp \
  $(pkg-config --cflags --libs logsentinel-static) -o "$tmp/quickstart-cpp"
# (ldd output is captured first: `ldd | grep -q` can die of SIGPIPE under pipefail)
deps_shared="$(ldd "$tmp/quickstart-c")"
grep -q "liblogsentinel_ffi.so => $tmp/prefix/lib/" <<<"$deps_shared"
deps_static="$(ldd "$tmp/quickstart-c-static")"
if grep -q logsentinel <<<"$deps_static"; then
  echo "the static quick start depends on the shared library" >&2
  exit 1
fi
"$tmp/quickstart-c" "$log" "$tmp/data-c" 2000 | tee "$tmp/out-c"
grep -q "^2000 lines, " "$tmp/out-c"
"$tmp/quickstart-c-static" "$log" "$tmp/data-c-static" 2000 >"$tmp/out-c-static"
grep -q "^2000 lines, " "$tmp/out-c-static"
"$tmp/quickstart-cpp" "$log" "$tmp/data-cpp" 2000 | tee "$tmp/out-cpp"
grep -q "error kind INVALID_API_KEY" "$tmp/out-cpp"
if command -v cmake >/dev/null; then
  for lang in c cpp; do
    cmake -S "examples/$lang" -B "$tmp/cmake-$lang" -DCMAKE_PREFIX_PATH="$tmp/prefix" \
      -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build "$tmp/cmake-$lang" >/dev/null
    "$tmp/cmake-$lang/quickstart" "$log" "$tmp/data-cmake-$lang" 500 >"$tmp/out-cmake-$lang"
    grep -q "^500 lines, " "$tmp/out-cmake-$lang"
  done
  echo "find_package(logsentinel): C and C++ quick starts built and ran"
else
  echo "cmake not installed: find_package(logsentinel) not checked"
fi

echo "== C boundary overhead (ns per detect, Rust vs C ABI, one run)"
cargo run --release -q -p logsentinel-ffi --example overhead -- 4000
# shellcheck disable=SC2046
cc -std=c11 -O2 -Wall -Wextra -Werror -Iinclude ffi/tests/c/bench_detect.c \
  $(pkg-config --libs logsentinel) -o "$tmp/bench-detect"
"$tmp/bench-detect" "$tmp/data-bench" "$log" 4000
echo "ffi: all stages passed"
