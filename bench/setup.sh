#!/usr/bin/env bash
# Installs what the benchmarks compare against, beyond the test dependencies:
#   - libtorrent 2.1 (the PyPI wheel) in a venv at bench/.venv-lt21 (Debian's 2.0.8 stays at /usr/bin/python3)
#   - rqbit via `cargo install` (into ~/.cargo/bin)
# Idempotent: each step is skipped when its result is already there.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$ROOT/scripts/install-test-deps.sh"

VENV="$ROOT/bench/.venv-lt21"
if ! "$VENV/bin/python3" -c 'import libtorrent' >/dev/null 2>&1; then
    echo "installing libtorrent 2.1.1 into $VENV"
    /usr/bin/python3 -m venv "$VENV" || { apt-get install -y python3-venv && /usr/bin/python3 -m venv "$VENV"; }
    "$VENV/bin/pip" install --quiet libtorrent==2.1.1
fi
echo "  ok       libtorrent $("$VENV/bin/python3" -c 'import libtorrent; print(libtorrent.__version__)') ($VENV)"

if ! [ -x "$HOME/.cargo/bin/rqbit" ]; then
    echo "installing rqbit (cargo install, several minutes)"
    cargo install --locked rqbit
fi
echo "  ok       $("$HOME/.cargo/bin/rqbit" --version)"
