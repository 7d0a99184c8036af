#!/usr/bin/env bash
# Installs the real BitTorrent clients and tools the interop tests and benchmarks run against.
# Idempotent: apt is only touched when something is missing, and then only once.
set -euo pipefail

# Debian's system python is the one python3-libtorrent installs into; the first python3 on PATH
# may be a pyenv build without it.
SYSTEM_PYTHON=/usr/bin/python3

missing=()

have_cmd() { command -v "$1" >/dev/null 2>&1; }

check() {
    # check <debian package> <shell test...>
    local pkg=$1
    shift
    if "$@" >/dev/null 2>&1; then
        echo "  ok       $pkg"
    else
        echo "  missing  $pkg"
        missing+=("$pkg")
    fi
}

echo "checking test dependencies"
check python3-libtorrent "$SYSTEM_PYTHON" -c 'import libtorrent'
check aria2 have_cmd aria2c
check transmission-cli have_cmd transmission-cli
check mktorrent have_cmd mktorrent
check opentracker have_cmd opentracker
# GNU time (not the shell keyword) measures CPU seconds and peak RSS in the benchmarks.
check time test -x /usr/bin/time
# The DHT test runs hosts in network namespaces (ip netns, veth, bridge).
check iproute2 have_cmd ip
check iputils-ping have_cmd ping
# The metrics test checks /metrics with promtool and scrapes it with a real Prometheus server.
check prometheus have_cmd promtool
# The daemon's HTTPS test makes a self-signed certificate with the openssl command.
check openssl have_cmd openssl
# The dashboard test runs bitonic in a tmux pane and reads the screen back.
check tmux have_cmd tmux

if [ ${#missing[@]} -eq 0 ]; then
    echo "all test dependencies present"
    exit 0
fi

if ! have_cmd apt-get; then
    echo "error: missing ${missing[*]} and apt-get is not available; install them by hand" >&2
    exit 1
fi

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    if have_cmd sudo; then
        SUDO=(sudo -n)
    else
        echo "error: missing ${missing[*]}; need root (or sudo) to install them" >&2
        exit 1
    fi
fi

echo "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
if ! "${SUDO[@]}" apt-get update; then
    echo "error: apt-get update failed" >&2
    exit 1
fi
if ! "${SUDO[@]}" apt-get install -y --no-install-recommends "${missing[@]}" </dev/null; then
    echo "error: apt-get install ${missing[*]} failed" >&2
    exit 1
fi

# Verify again so a package that installed but did not provide the tool fails here, loudly.
echo "re-checking after install"
missing=()
check python3-libtorrent "$SYSTEM_PYTHON" -c 'import libtorrent'
check aria2 have_cmd aria2c
check transmission-cli have_cmd transmission-cli
check mktorrent have_cmd mktorrent
check opentracker have_cmd opentracker
check time test -x /usr/bin/time
# The DHT test runs hosts in network namespaces (ip netns, veth, bridge).
check iproute2 have_cmd ip
check iputils-ping have_cmd ping
check prometheus have_cmd promtool
# The daemon's HTTPS test makes a self-signed certificate with the openssl command.
check openssl have_cmd openssl
check tmux have_cmd tmux
if [ ${#missing[@]} -ne 0 ]; then
    echo "error: still missing after install: ${missing[*]}" >&2
    exit 1
fi
echo "all test dependencies present"
