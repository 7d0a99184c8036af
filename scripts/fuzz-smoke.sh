#!/usr/bin/env bash
# Runs every fuzz target briefly, as part of the test suite: a crash on random input fails it.
#
# CI has only the stable toolchain (no nightly, so no sanitizer-coverage instrumentation): the
# targets are built on stable, where libFuzzer still generates and mutates inputs, just without
# coverage feedback. That finds the shallow panics a parser must never have; deep runs with
# coverage are `cargo +nightly fuzz run <target>` (fuzz/README.md).
# FUZZ_SECONDS (default 10) bounds each target's run.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SECONDS_PER_TARGET=${FUZZ_SECONDS:-10}
TARGET_DIR="$ROOT/target/fuzz-smoke"

cd "$ROOT/fuzz"
cargo build --release --bins --target-dir "$TARGET_DIR"

failed=0
for src in fuzz_targets/*.rs; do
    name=$(basename "$src" .rs)
    bin="$TARGET_DIR/release/$name"
    work=$(mktemp -d)
    if "$bin" -max_total_time="$SECONDS_PER_TARGET" -rss_limit_mb=2048 -max_len=65536 \
        -artifact_prefix="$work/" "$work" >"$work/log" 2>&1; then
        runs=$(grep -oE 'Done [0-9]+ runs' "$work/log" | tail -n1 || true)
        echo "  ok  $name (${runs:-ran} in ${SECONDS_PER_TARGET}s)"
        rm -rf "$work"
    else
        echo "FAIL  $name: crash input and log kept in $work" >&2
        tail -n 30 "$work/log" >&2
        failed=1
    fi
done
exit "$failed"
