#!/usr/bin/env bash
# Run every fuzz target for SECONDS each (default 20), seeded with the recorded real-server
# streams and payloads in tests/fixtures, the example traces and a result file. A crash exits
# non-zero, leaving its input under fuzz/artifacts/<target>/.
# usage: fuzz/run.sh [SECONDS]      needs cargo-fuzz and a nightly toolchain
# (`rustup toolchain install nightly --profile minimal`; `cargo install cargo-fuzz`).
# FUZZ_CORPUS and FUZZ_TARGET_DIR move the growing corpus and the build out of the checkout
# (.ci/run keeps both in its cache). Built without a sanitizer: the code under test is safe Rust,
# and the targets look for panics and broken invariants, at twice the executions per second.
set -euo pipefail
SECONDS_EACH=${1:-20}
cd "$(dirname "$0")"
ROOT=$(cd .. && pwd)
CORPUS=${FUZZ_CORPUS:-$ROOT/target/fuzz-corpus}
TARGET_DIR=${FUZZ_TARGET_DIR:-$ROOT/fuzz/target}
SEEDS=$(mktemp -d)
trap 'rm -rf "$SEEDS"' EXIT
mkdir -p "$SEEDS/streams" "$SEEDS/files"
cp "$ROOT"/tests/fixtures/*.sse "$ROOT"/tests/fixtures/*.json "$SEEDS/streams/"
# The SSE target reads its first two bytes as a seed of the piece sizes.
for f in "$ROOT"/tests/fixtures/*.sse; do printf '\x07\x01' | cat - "$f" > "$SEEDS/streams/seeded-$(basename "$f")"; done
cp "$ROOT"/docs/examples/*.jsonl "$ROOT"/docs/examples/*.csv "$SEEDS/files/" 2>/dev/null || true
cp "$ROOT"/tests/golden/*.json "$SEEDS/files/" 2>/dev/null || true
TOOLCHAIN=+nightly
rustup run nightly rustc --version >/dev/null 2>&1 || TOOLCHAIN=""
# Build first: a toolchain that cannot build the targets (no nightly, and a stable compiler that
# refuses the flags) is exit 3, told apart from a crash found (exit 1).
if ! RUSTC_BOOTSTRAP=$([ -z "$TOOLCHAIN" ] && echo 1 || echo 0) \
    cargo $TOOLCHAIN fuzz build --sanitizer none --target-dir "$TARGET_DIR" > "$SEEDS/build.log" 2>&1; then
  tail -20 "$SEEDS/build.log"
  if grep -qE "E0554|only accepted on the nightly|may not be used on the stable" "$SEEDS/build.log"; then
    echo "fuzz: this toolchain cannot build libFuzzer targets"
    exit 3
  fi
  echo "fuzz: the targets do not build"
  exit 1
fi
for target in sse dialects readers; do
  seeds=$SEEDS/streams
  [ "$target" = readers ] && seeds=$SEEDS/files
  mkdir -p "$CORPUS/$target"
  echo "== fuzz $target for ${SECONDS_EACH}s"
  # Without nightly, the stable compiler is told to accept nightly flags (RUSTC_BOOTSTRAP).
  log=$SEEDS/$target.log
  status=0
  RUSTC_BOOTSTRAP=$([ -z "$TOOLCHAIN" ] && echo 1 || echo 0) \
    cargo $TOOLCHAIN fuzz run --sanitizer none --target-dir "$TARGET_DIR" "$target" "$CORPUS/$target" "$seeds" -- \
    -max_total_time="$SECONDS_EACH" -rss_limit_mb=4096 -max_len=65536 -print_final_stats=1 > "$log" 2>&1 || status=$?
  if [ "$status" -ne 0 ]; then
    tail -40 "$log"
    echo "fuzz $target failed (exit $status): the input is under fuzz/artifacts/$target"
    exit 1
  fi
  { grep -E "^#[0-9]+ *DONE|stat::number_of_executed_units|stat::peak_rss" "$log" || true; } | tr '\n' ' '; echo
done
