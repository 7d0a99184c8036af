#!/usr/bin/env bash
# Installs what the benchmarks compare against, beyond the test dependencies:
#   - libtorrent 2.1 (the PyPI wheel) in a venv at bench/.venv-lt21 (Debian's 2.0.8 stays at /usr/bin/python3)
#   - rqbit via `cargo install` (into ~/.cargo/bin)
#   - transmission-daemon (Debian package) for bench/restore.py
# Idempotent: each step is skipped when its result is already there.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$ROOT/scripts/install-test-deps.sh"

# restore.py compares against transmission-daemon (the test dependencies bring only transmission-cli).
if ! command -v transmission-daemon >/dev/null 2>&1; then
    echo "installing transmission-daemon"
    SUDO=()
    [ "$(id -u)" -eq 0 ] || SUDO=(sudo -n)
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends transmission-daemon
fi
echo "  ok       $(transmission-daemon --version 2>&1 | head -n 1)"

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
