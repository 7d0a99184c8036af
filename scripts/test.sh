#!/usr/bin/env bash
# The one test command: formatting, lints, the sans-IO layering rule, then every test.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

# A CI run builds once from a clean clone: incremental caches would only take disk (GBs).
if [ "${CI:-}" = true ]; then
    export CARGO_INCREMENTAL=0
fi

step() { printf '\n==> %s\n' "$*"; }

step "install test dependencies"
scripts/install-test-deps.sh

step "cargo fmt --all -- --check"
cargo fmt --all -- --check

step "cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

step "sans-IO check: L0/L1 crates must not depend on tokio"
sans_io_failed=0
for crate in ccbt-bencode ccbt-core ccbt-metainfo ccbt-wire ccbt-proto ccbt-tracker ccbt-dht; do
    if ! tree=$(cargo tree -p "$crate" -e normal --prefix none 2>&1); then
        echo "error: cargo tree -p $crate failed:" >&2
        echo "$tree" >&2
        sans_io_failed=1
        continue
    fi
    if grep -Eq '^tokio(-[a-z-]+)? v' <<<"$tree"; then
        echo "error: $crate is sans-IO (L0/L1) but its normal dependencies include tokio:" >&2
        cargo tree -p "$crate" -e normal -i tokio >&2 || true
        sans_io_failed=1
    else
        echo "  ok  $crate"
    fi
done
if [ "$sans_io_failed" -ne 0 ]; then
    echo "error: sans-IO check failed (see docs: L0/L1 crates take no tokio)" >&2
    exit 1
fi

if cargo nextest --version >/dev/null 2>&1; then
    step "cargo nextest run --workspace"
    # nextest prints its own "Summary [...] N tests run: N passed" line.
    cargo nextest run --workspace --no-fail-fast
    step "cargo test --workspace --doc"
    cargo test --workspace --doc
else
    step "cargo test --workspace"
    cargo test --workspace
fi

step "fuzz targets, briefly (stable toolchain, no coverage feedback; FUZZ_SECONDS each)"
scripts/fuzz-smoke.sh

step "interop harness self-test (libtorrent, lying peer, aria2 on 127.0.0.1)"
tests/interop/selftest.sh

step "all checks passed"
