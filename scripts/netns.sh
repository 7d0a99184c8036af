#!/usr/bin/env bash
# Private test network for discovery tests (DHT, PEX, trackers between "hosts"), built from network
# namespaces so that several BitTorrent clients get distinct IP addresses on one machine.
#
#   scripts/netns.sh up N      create hosts ccbt-ns1..ccbt-nsN with 10.77.0.1..N/24 (idempotent)
#   scripts/netns.sh down      remove every ccbt-ns* namespace and the hub
#   scripts/netns.sh status    list what exists
#   scripts/netns.sh check     ping every host from ccbt-ns1
#   scripts/netns.sh exec I CMD...   run CMD inside ccbt-nsI (same as ip netns exec ccbt-nsI CMD)
#
# Layout: a dedicated namespace ccbt-hub holds the bridge ccbt-br0, so the root namespace gets no
# new interfaces at all. Each host namespace ccbt-nsI has lo up and eth0 (one end of a veth pair,
# the other end, ccbt-vI, is a port of the bridge) with 10.77.0.I/24. Nothing is routed anywhere:
# no default route, no NAT, no link to the root namespace, so traffic can only reach other hosts
# of this network. Needs root (CAP_NET_ADMIN + CAP_SYS_ADMIN) and iproute2.
set -euo pipefail

HUB=ccbt-hub
BRIDGE=ccbt-br0
PREFIX=ccbt-ns
SUBNET=10.77.0

usage() {
    sed -n '5,9p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

say() { echo "netns: $*"; }

run() {
    # Print each change before making it, so a test log shows exactly what was set up.
    echo "+ $*"
    "$@"
}

ns_exists() { [ -e "/run/netns/$1" ]; }

link_exists() {
    # link_exists NS IFACE
    ip -n "$1" link show "$2" >/dev/null 2>&1
}

host_ns() {
    # host_ns I: the namespace of host I, after checking I is a host number
    case "$1" in
        '' | *[!0-9]*) echo "netns: host number expected, got '$1'" >&2; exit 2 ;;
    esac
    if [ "$1" -lt 1 ] || [ "$1" -gt 250 ]; then
        echo "netns: host number must be 1..250, got $1" >&2
        exit 2
    fi
    echo "$PREFIX$1"
}

our_host_namespaces() {
    # Only namespaces named exactly ccbt-ns<digits>: never touch anything else.
    ip netns list | awk '{print $1}' | grep -E "^${PREFIX}[0-9]+$" | sort -V || true
}

up() {
    local n=$1
    host_ns "$n" >/dev/null
    if ! ns_exists "$HUB"; then
        run ip netns add "$HUB"
    fi
    run ip -n "$HUB" link set lo up
    if ! link_exists "$HUB" "$BRIDGE"; then
        run ip -n "$HUB" link add "$BRIDGE" type bridge
    fi
    run ip -n "$HUB" link set "$BRIDGE" up
    local i ns
    for i in $(seq 1 "$n"); do
        ns=$(host_ns "$i")
        if ! ns_exists "$ns"; then
            run ip netns add "$ns"
        fi
        if ! link_exists "$ns" eth0; then
            # A half-created pair from an interrupted run would block the name in the hub.
            if link_exists "$HUB" "ccbt-v$i"; then
                run ip -n "$HUB" link del "ccbt-v$i"
            fi
            run ip link add name "ccbt-v$i" netns "$HUB" type veth peer name eth0 netns "$ns"
        fi
        run ip -n "$HUB" link set "ccbt-v$i" master "$BRIDGE" up
        run ip -n "$ns" link set lo up
        if ! ip -n "$ns" -4 addr show dev eth0 | grep -q "inet $SUBNET.$i/24"; then
            run ip -n "$ns" addr add "$SUBNET.$i/24" dev eth0
        fi
        run ip -n "$ns" link set eth0 up
    done
    say "up: hosts ${PREFIX}1..${PREFIX}$n at $SUBNET.1..$SUBNET.$n/24 on bridge $BRIDGE in $HUB"
}

down() {
    local ns
    for ns in $(our_host_namespaces); do
        run ip netns del "$ns"
    done
    if ns_exists "$HUB"; then
        # Deleting the hub removes the bridge and the remaining veth ends with it.
        run ip netns del "$HUB"
    fi
    say "down: no ccbt namespaces left"
}

status() {
    local ns
    if ns_exists "$HUB"; then
        say "$HUB: $(ip -n "$HUB" -br link show master "$BRIDGE" 2>/dev/null | awk '{print $1}' | tr '\n' ' ')"
    else
        say "$HUB: absent"
    fi
    for ns in $(our_host_namespaces); do
        say "$ns: $(ip -n "$ns" -4 -br addr show dev eth0 2>/dev/null | awk '{print $2, $3}')"
    done
}

check() {
    local ns i addr failed=0
    if ! command -v ping >/dev/null 2>&1; then
        echo "netns: ping not found (Debian package iputils-ping)" >&2
        exit 1
    fi
    for ns in $(our_host_namespaces); do
        i=${ns#"$PREFIX"}
        addr="$SUBNET.$i"
        if ip netns exec "${PREFIX}1" ping -c1 -W1 -q "$addr" >/dev/null; then
            say "${PREFIX}1 -> $addr ok"
        else
            say "${PREFIX}1 -> $addr FAILED"
            failed=1
        fi
    done
    return "$failed"
}

[ $# -ge 1 ] || usage
cmd=$1
shift
case "$cmd" in
    up) [ $# -eq 1 ] || usage; up "$1" ;;
    down) [ $# -eq 0 ] || usage; down ;;
    status) [ $# -eq 0 ] || usage; status ;;
    check) [ $# -eq 0 ] || usage; check ;;
    exec)
        [ $# -ge 2 ] || usage
        ns=$(host_ns "$1")
        shift
        exec ip netns exec "$ns" "$@"
        ;;
    *) usage ;;
esac
