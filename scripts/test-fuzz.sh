#!/usr/bin/env bash
# Builds the cargo-fuzz (libFuzzer) targets of fuzz/ on the STABLE toolchain and runs each for a
# bounded time; fails on any crash, hang (-timeout) or memory blow-up (-rss_limit_mb) and prints the
# input that caused it. See docs/reliability.md, section "Fuzzing".
#
#   scripts/test-fuzz.sh                          # CI: every target FUZZ_SECONDS (30 s) each
#   FUZZ_SECONDS=600 scripts/test-fuzz.sh          # the long run of the report
#   FUZZ_TARGETS="miner c_api" scripts/test-fuzz.sh
#   scripts/test-fuzz.sh --repro c_api FILE       # replays one input (a crash artifact) once
#
# Settings (environment): FUZZ_SECONDS (per target, default 30), FUZZ_TARGETS (default: all five),
# FUZZ_RSS_MB (default 2048), FUZZ_TIMEOUT (seconds per input, default 30), FUZZ_MAX_LEN (bytes per
# input, default 16384), FUZZ_JOBS (parallel libFuzzer workers per target, default 1), FUZZ_CORPUS
# (keep: grow target/fuzz/corpus/<target>; fresh: start from the seeds; default keep when
# FUZZ_SECONDS >= 120, else fresh), FUZZ_NO_BUILD (set: run the binaries already built).
#
# Stable only: cargo-fuzz runs with `--sanitizer none` (AddressSanitizer needs nightly's
# -Zsanitizer); safe Rust's bounds and overflow checks (debug assertions are on) and libFuzzer's own
# crash/timeout/RSS detection do the checking. cargo-fuzz is installed (pinned) under
# target/tools; everything is built under target/fuzz, away from the workspace's own target dirs.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"

CARGO_FUZZ_VERSION=0.13.2
FUZZ_SECONDS="${FUZZ_SECONDS:-30}"
FUZZ_TARGETS="${FUZZ_TARGETS:-miner header config api_json c_api}"
FUZZ_RSS_MB="${FUZZ_RSS_MB:-2048}"
FUZZ_TIMEOUT="${FUZZ_TIMEOUT:-30}"
FUZZ_MAX_LEN="${FUZZ_MAX_LEN:-16384}"
FUZZ_JOBS="${FUZZ_JOBS:-1}"

export RUSTUP_TOOLCHAIN="${FUZZ_TOOLCHAIN:-stable}"
tools="$root/target/tools"
out="$root/target/fuzz"
triple="$(rustc -vV | sed -n 's/^host: //p')"
bin_dir="$out/$triple/release"

echo "== cargo-fuzz $CARGO_FUZZ_VERSION (toolchain: $(rustc --version))"
if [ "$("$tools/bin/cargo-fuzz" --version 2>/dev/null || true)" != "cargo-fuzz $CARGO_FUZZ_VERSION" ]; then
  CARGO_TARGET_DIR="$tools/build" cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked \
    --root "$tools"
fi
export PATH="$tools/bin:$PATH"

if [ -n "${FUZZ_NO_BUILD:-}" ]; then
  echo "== build skipped (FUZZ_NO_BUILD): running the binaries already in $bin_dir"
elif [ "$(wc -w <<<"$FUZZ_TARGETS")" -eq 5 ]; then
  echo "== build (cargo fuzz build --sanitizer none, debug assertions on)"
  (cd fuzz && cargo fuzz build --sanitizer none --codegen-units 16 --target-dir "$out")
else
  echo "== build (cargo fuzz build --sanitizer none, debug assertions on)"
  for t in $FUZZ_TARGETS; do
    (cd fuzz && cargo fuzz build --sanitizer none --codegen-units 16 --target-dir "$out" "$t")
  done
fi

if [ "${1:-}" = "--repro" ]; then
  t="${2:?usage: scripts/test-fuzz.sh --repro TARGET FILE}"
  exec "$bin_dir/$t" -rss_limit_mb="$FUZZ_RSS_MB" -timeout="$FUZZ_TIMEOUT" "${3:?usage: scripts/test-fuzz.sh --repro TARGET FILE}"
fi

# The working corpus: kept in target/fuzz/corpus for long runs, a fresh one (seeds only) for short
# ones, so that a CI-sized run stays bounded however much the local corpus grew.
case "${FUZZ_CORPUS:-auto}" in
  keep) keep_corpus=1 ;;
  fresh) keep_corpus=0 ;;
  *) if [ "$FUZZ_SECONDS" -ge 120 ]; then keep_corpus=1; else keep_corpus=0; fi ;;
esac

failed=()
summary=()
for t in $FUZZ_TARGETS; do
  if [ "$keep_corpus" = 1 ]; then
    corpus="$out/corpus/$t"        # grows between long runs; never committed
  else
    corpus="$(mktemp -d)"          # seeds only: replaying a grown corpus can take minutes
  fi
  artifacts="$out/artifacts/$t"
  mkdir -p "$corpus" "$artifacts"
  log="$out/logs/$t.log"
  mkdir -p "$(dirname "$log")"
  echo "== fuzz $t for ${FUZZ_SECONDS}s (seeds: fuzz/seeds/$t)"
  work="$(mktemp -d)"               # the c_api target's detector lives under $TMPDIR
  set +e
  if [ "$FUZZ_JOBS" -gt 1 ]; then
    # -fork: crashes, timeouts and OOMs of one worker end the run like in the single-process mode.
    TMPDIR="$work" "$bin_dir/$t" -fork="$FUZZ_JOBS" -ignore_crashes=0 -ignore_timeouts=0 -ignore_ooms=0 \
      -max_total_time="$FUZZ_SECONDS" -rss_limit_mb="$FUZZ_RSS_MB" -timeout="$FUZZ_TIMEOUT" \
      -max_len="$FUZZ_MAX_LEN" -artifact_prefix="$artifacts/" -print_final_stats=1 \
      "$corpus" "fuzz/seeds/$t" >"$log" 2>&1
  else
    TMPDIR="$work" "$bin_dir/$t" -max_total_time="$FUZZ_SECONDS" -rss_limit_mb="$FUZZ_RSS_MB" \
      -timeout="$FUZZ_TIMEOUT" -max_len="$FUZZ_MAX_LEN" -artifact_prefix="$artifacts/" \
      -print_final_stats=1 "$corpus" "fuzz/seeds/$t" >"$log" 2>&1
  fi
  rc=$?
  set -e
  rm -rf "$work"
  if [ "$keep_corpus" != 1 ]; then rm -rf "$corpus"; fi
  execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)"
  if [ -z "$execs" ]; then # -fork prints no final stats: the last status line's #N
    execs="$(grep -o '^#[0-9]*' "$log" | tail -n 1 | tr -d '#')"
  fi
  cov="$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | sed 's/cov: //')"
  summary+=("$(printf '%-9s %12s execs  cov %6s  rc %s' "$t" "${execs:-?}" "${cov:-?}" "$rc")")
  if [ "$rc" -ne 0 ]; then
    failed+=("$t")
    echo "!! $t FAILED (exit $rc); last lines of $log:" >&2
    tail -n 60 "$log" >&2
    artifact="$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)"
    if [ -n "$artifact" ]; then
      echo "!! artifact: $artifact" >&2
      echo "!! reproduce: scripts/test-fuzz.sh --repro $t $artifact" >&2
    fi
  fi
done

echo "== fuzz summary (${FUZZ_SECONDS}s per target; logs in $out/logs)"
printf '%s\n' "${summary[@]}"
if [ "${#failed[@]}" -gt 0 ]; then
  echo "fuzzing found problems in: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz: $(wc -w <<<"$FUZZ_TARGETS") targets, no crash"
