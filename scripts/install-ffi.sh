#!/usr/bin/env bash
# Installs the C and C++ surfaces of logsentinel (crate logsentinel-ffi) under PREFIX:
#   PREFIX/lib/liblogsentinel_ffi.so, liblogsentinel_ffi.a
#   PREFIX/lib/pkgconfig/logsentinel.pc          C API, shared library
#   PREFIX/lib/pkgconfig/logsentinel-static.pc   C and C++ APIs, static library
#   PREFIX/lib/cmake/logsentinel/                find_package(logsentinel): logsentinel::logsentinel,
#                                                logsentinel::static, logsentinel::cxx
#   PREFIX/include/logsentinel.h, logsentinel.hpp, logsentinel/cxx_shim.h
#   PREFIX/include/logsentinel/cxx/              the cxx bridge's generated headers (rust/cxx.h, ...)
#
# The installed libraries are stripped of debug info (`strip --strip-debug`; LS_FFI_KEEP_DEBUG=1 keeps
# it): the release profile's line tables are for backtraces in development, not for installs. The .pc
# and CMake files of the shared library carry an rpath to PREFIX/lib, so programs built with them run
# without LD_LIBRARY_PATH or ldconfig.
#
# Usage: scripts/install-ffi.sh PREFIX
#   Builds the release library first (cargo rustc --release -p logsentinel-ffi --lib, which also prints
#   the system libraries the static library needs: --print native-static-libs). LS_FFI_NO_BUILD=1
#   skips the build (then LS_FFI_NATIVE_STATIC_LIBS must give that list; scripts/test-ffi.sh does).
set -euo pipefail
if [ "$#" -ne 1 ]; then
  echo "usage: $0 PREFIX" >&2
  exit 2
fi
mkdir -p "$1"
prefix="$(cd "$1" && pwd)"
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-$PWD/target}"
release="$target/release"
version="$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)"

printed=""
if [ "${LS_FFI_NO_BUILD:-0}" != 1 ]; then
  log="$(mktemp)"
  if ! cargo rustc --release -p logsentinel-ffi --lib -- --print native-static-libs 2>&1 | tee "$log" >&2; then
    rm -f "$log"
    exit 1
  fi
  printed="$(sed -n 's/.*native-static-libs: //p' "$log" | tail -n 1)"
  rm -f "$log"
fi
libs="${LS_FFI_NATIVE_STATIC_LIBS:-$printed}"
if [ -z "$libs" ]; then
  echo "no native-static-libs: build first, or set LS_FFI_NATIVE_STATIC_LIBS" >&2
  exit 1
fi
for f in "$release/liblogsentinel_ffi.so" "$release/liblogsentinel_ffi.a" \
  "$target/cxxbridge/rust/cxx.h" "$target/cxxbridge/logsentinel-ffi/src/bridge.rs.h"; do
  if [ ! -e "$f" ]; then
    echo "missing $f (build with: cargo build --release -p logsentinel-ffi)" >&2
    exit 1
  fi
done

install -d "$prefix/lib/pkgconfig" "$prefix/lib/cmake/logsentinel" \
  "$prefix/include/logsentinel/cxx/rust" "$prefix/include/logsentinel/cxx/logsentinel-ffi/src"
install -m 0755 "$release/liblogsentinel_ffi.so" "$prefix/lib/"
install -m 0644 "$release/liblogsentinel_ffi.a" "$prefix/lib/"
if [ "${LS_FFI_KEEP_DEBUG:-0}" != 1 ]; then
  if command -v strip >/dev/null; then
    strip --strip-debug "$prefix/lib/liblogsentinel_ffi.so" "$prefix/lib/liblogsentinel_ffi.a"
  else
    echo "strip not found (Debian: binutils): installing the libraries with their debug info" >&2
  fi
fi
install -m 0644 include/logsentinel.h include/logsentinel.hpp "$prefix/include/"
install -m 0644 include/logsentinel/cxx_shim.h "$prefix/include/logsentinel/"
# target/cxxbridge holds symlinks into the build directory: copy what they point to.
install -m 0644 "$(readlink -f "$target/cxxbridge/rust/cxx.h")" "$prefix/include/logsentinel/cxx/rust/cxx.h"
install -m 0644 "$(readlink -f "$target/cxxbridge/logsentinel-ffi/src/bridge.rs.h")" \
  "$prefix/include/logsentinel/cxx/logsentinel-ffi/src/bridge.rs.h"

cmake_libs="$(printf '%s\n' $libs | sed -n 's/^-l//p' | paste -sd ';' -)"
subst() {
  sed -e "s|@PREFIX@|$prefix|g" -e "s|@VERSION@|$version|g" \
    -e "s|@NATIVE_STATIC_LIBS@|$libs|g" -e "s|@NATIVE_STATIC_LIBS_CMAKE@|$cmake_libs|g" "$1" >"$2"
  chmod 0644 "$2"
}
subst ffi/pkgconfig/logsentinel.pc.in "$prefix/lib/pkgconfig/logsentinel.pc"
subst ffi/pkgconfig/logsentinel-static.pc.in "$prefix/lib/pkgconfig/logsentinel-static.pc"
subst ffi/cmake/logsentinelConfig.cmake.in "$prefix/lib/cmake/logsentinel/logsentinelConfig.cmake"
subst ffi/cmake/logsentinelConfigVersion.cmake.in \
  "$prefix/lib/cmake/logsentinel/logsentinelConfigVersion.cmake"
echo "installed logsentinel $version (C and C++ APIs) under $prefix"
