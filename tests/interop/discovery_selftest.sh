#!/usr/bin/env bash
# Self-test of the discovery harness with libtorrent alone (no ccbt involved):
#   tracker   opentracker on 127.0.0.1, lt_seed -> lt_leech over HTTP and over UDP, no --peer  (~5 s)
#   dht       4 libtorrent DHT nodes in namespaces ccbt-ns1..4, magnet download via DHT only (~15 s)
#   pex       leecher A connected only to seeder S learns leecher B through ut_pex            (~15 s)
#   pex-diff  a peer C that joins later reaches A through S's next PEX diff                  (~75 s)
# Usage: discovery_selftest.sh [tracker|dht|pex|pex-diff]...   (default: tracker dht pex)
# The dht part needs root (network namespaces); it is skipped with a note otherwise.
set -euo pipefail

I=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
NETNS=$(cd "$I/../.." && pwd)/scripts/netns.sh
PY=/usr/bin/python3
W=$(mktemp -d /tmp/ccbt-discovery-selftest.XXXXXX)
pids=()
netns_created=0
cleanup() {
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    if [ "$netns_created" = 1 ]; then
        "$NETNS" down >/dev/null
    fi
    if [ -n "${KEEP_WORKDIR:-}" ]; then
        echo "kept $W" >&2
    else
        rm -rf "$W"
    fi
}
trap cleanup EXIT

port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
fail() { echo "FAIL: $*" >&2; exit 1; }
wait_line() {
    # wait_line FILE REGEX SECONDS: until a line of FILE matches REGEX
    local i
    for i in $(seq $(($3 * 10))); do
        grep -qE "$2" "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    fail "no line matching '$2' in $1 after $3 s"
}
stop_all() {
    local pid
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    pids=()
}

make_content() {
    "$PY" "$I/make_data.py" --out "$W" --layout multi:0,1,16385,3M,1000003 >/dev/null
    "$PY" "$I/lt_make_torrent.py" --path "$W/data" --out "$W/v1.torrent" --piece-size 32768 >/dev/null
    "$PY" "$I/lt_make_torrent.py" --path "$W/data" --out "$W/hybrid.torrent" --hybrid >/dev/null
}

test_tracker() {
    echo "-- opentracker: lt_seed -> lt_leech found through the tracker (HTTP, UDP)"
    local tp sp u proto
    tp=$(port)
    "$PY" "$I/tracker.py" start --port "$tp" --torrent "$W/v1.torrent" --torrent "$W/hybrid.torrent" \
        >"$W/tracker.out" 2>"$W/tracker.err" &
    pids+=($!)
    wait_line "$W/tracker.out" '^READY' 10
    for proto in http udp; do
        u="$proto://127.0.0.1:$tp/announce"
        sp=$(port)
        "$PY" "$I/lt_seed.py" --torrent "$W/v1.torrent" --data "$W" --port "$sp" --tracker "$u" \
            >"$W/seed.out" 2>"$W/seed.err" &
        pids+=($!)
        wait_line "$W/seed.out" '^READY' 15
        "$PY" "$I/lt_leech.py" --torrent "$W/v1.torrent" --out "$W/tr-$proto" --port 0 \
            --tracker "$u" --timeout 30 || fail "lt_leech via $u"
        diff -r "$W/data" "$W/tr-$proto/data" || fail "tracker $proto: bytes differ"
        kill "${pids[-1]}"
        wait "${pids[-1]}" || fail "lt_seed did not exit 0"
        unset 'pids[-1]'
        echo "ok $proto"
    done
    # Leecher first: its announce returns no peer; the seeder's later announce returns the
    # leecher, and the seeder dials it.
    u="udp://127.0.0.1:$tp/announce"
    "$PY" "$I/lt_leech.py" --torrent "$W/hybrid.torrent" --out "$W/tr-rev" --port 0 \
        --tracker "$u" --timeout 30 >"$W/leech.out" 2>"$W/leech.err" &
    local lp=$!
    sleep 1
    sp=$(port)
    "$PY" "$I/lt_seed.py" --torrent "$W/hybrid.torrent" --data "$W" --port "$sp" --tracker "$u" \
        >"$W/seed.out" 2>"$W/seed.err" &
    pids+=($!)
    wait "$lp" || fail "leecher-first: $(cat "$W/leech.err")"
    diff -r "$W/data" "$W/tr-rev/data" || fail "tracker leecher-first: bytes differ"
    echo "ok leecher first, seeder second (hybrid, udp): $(cat "$W/leech.out")"
    stop_all
}

test_dht() {
    echo "-- DHT: 4 libtorrent nodes in namespaces, magnet download via the DHT only"
    if [ "$(id -u)" != 0 ] || ! command -v ip >/dev/null; then
        echo "skip: needs root and iproute2 for network namespaces"
        return 0
    fi
    if [ ! -e /run/netns/ccbt-hub ]; then
        netns_created=1
    fi
    "$NETNS" up 4 >/dev/null
    local magnet b=10.77.0.1:6881 n
    magnet=$("$PY" -c 'import libtorrent as lt, sys; print(lt.make_magnet_uri(lt.torrent_info(sys.argv[1])))' "$W/v1.torrent")
    for order in seed-first leech-first; do
        rm -f "$W"/n*.out
        # The bootstrap node must be up before the others start: a node whose only bootstrap
        # node does not answer keeps an empty routing table. libtorrent never puts bootstrap
        # nodes (routers) in its routing table, so the others also get ns3 as an ordinary --node.
        ip netns exec ccbt-ns1 "$PY" "$I/lt_dht_node.py" --listen "$b" >"$W/n1.out" 2>"$W/n1.err" &
        pids+=($!)
        wait_line "$W/n1.out" '^READY' 10
        ip netns exec ccbt-ns3 "$PY" "$I/lt_dht_node.py" --listen 10.77.0.3:6881 --bootstrap "$b" \
            >"$W/n3.out" 2>"$W/n3.err" &
        pids+=($!)
        if [ "$order" = seed-first ]; then
            ip netns exec ccbt-ns2 "$PY" "$I/lt_dht_node.py" --listen 10.77.0.2:6881 --bootstrap "$b" \
                --node 10.77.0.3:6881 --seed --torrent "$W/v1.torrent" --data "$W" >"$W/n2.out" 2>"$W/n2.err" &
            pids+=($!)
            wait_line "$W/n2.out" '^READY' 15
            sleep 1
        fi
        ip netns exec ccbt-ns4 "$PY" "$I/lt_dht_node.py" --listen 10.77.0.4:6881 --bootstrap "$b" \
            --node 10.77.0.3:6881 --magnet "$magnet" --out "$W/dht-$order" --timeout 60 --announce-interval 5 \
            >"$W/n4.out" 2>"$W/n4.err" &
        n=$!
        if [ "$order" = leech-first ]; then
            sleep 3
            ip netns exec ccbt-ns2 "$PY" "$I/lt_dht_node.py" --listen 10.77.0.2:6881 --bootstrap "$b" \
                --node 10.77.0.3:6881 --seed --torrent "$W/v1.torrent" --data "$W" >"$W/n2.out" 2>"$W/n2.err" &
            pids+=($!)
        fi
        wait "$n" || fail "DHT download ($order): $(cat "$W/n4.err")"
        diff -r "$W/data" "$W/dht-$order/data" || fail "DHT ($order): bytes differ"
        echo "ok $order: $(grep -E '^(DHT_PEERS|METADATA|DONE)' "$W/n4.out" | tr '\n' ' ')"
        stop_all
    done
}

wait_pex() {
    # wait_pex FILE PORT SECONDS: the latest PEERS line of FILE shows an outgoing connection to
    # 127.0.0.1:PORT learnt by PEX (A never dials that port by itself, and PORT is a listen port,
    # so it cannot be the other side's incoming connection).
    local i
    for i in $(seq $(($3 * 10))); do
        grep '^PEERS' "$1" 2>/dev/null | tail -1 | grep -qE " 127\.0\.0\.1:$2\(out,[a-z+]*pex" \
            && return 0
        sleep 0.1
    done
    fail "A did not dial 127.0.0.1:$2 learnt by PEX within $3 s: $(grep '^PEERS' "$1" | tail -1)"
}

start_pex_swarm() {
    # S seeds; B and A are slow leechers that dial only S. Slow, so that nobody becomes a seed
    # (libtorrent drops seed-to-seed connections, which would empty S's peer list).
    S=$(port)
    B=$(port)
    "$PY" "$I/lt_seed.py" --torrent "$W/v1.torrent" --data "$W" --port "$S" >"$W/S.out" 2>"$W/S.err" &
    pids+=($!)
    wait_line "$W/S.out" '^READY' 15
    "$PY" "$I/lt_leech.py" --torrent "$W/v1.torrent" --out "$W/pex-B" --port "$B" --peer "127.0.0.1:$S" \
        --download-limit 20000 --timeout 600 >"$W/B.out" 2>"$W/B.err" &
    pids+=($!)
    sleep 2
    "$PY" "$I/lt_leech.py" --torrent "$W/v1.torrent" --out "$W/pex-A" --port 0 --peer "127.0.0.1:$S" \
        --download-limit 20000 --timeout 600 --print-peers 0.5 >"$W/A.out" 2>"$W/A.err" &
    pids+=($!)
}

test_pex() {
    echo "-- PEX: A (dials only S) learns B, which S is connected to, through ut_pex"
    start_pex_swarm
    wait_pex "$W/A.out" "$B" 30
    echo "ok $(grep '^PEERS' "$W/A.out" | tail -1)"
    stop_all
}

test_pex_diff() {
    echo "-- PEX diff: C joins S after A got its first PEX message; A learns C about 60 s later"
    start_pex_swarm
    wait_pex "$W/A.out" "$B" 30
    local C
    C=$(port)
    # C ignores PEX itself, so it cannot dial A: A must learn C from S's next diff.
    "$PY" "$I/lt_leech.py" --torrent "$W/v1.torrent" --out "$W/pex-C" --port "$C" --peer "127.0.0.1:$S" \
        --download-limit 20000 --timeout 600 --no-pex >"$W/C.out" 2>"$W/C.err" &
    pids+=($!)
    local t0=$SECONDS
    wait_pex "$W/A.out" "$C" 150
    echo "ok after $((SECONDS - t0)) s: $(grep '^PEERS' "$W/A.out" | tail -1)"
    stop_all
}

parts=("$@")
[ ${#parts[@]} -gt 0 ] || parts=(tracker dht pex)
make_content
for part in "${parts[@]}"; do
    case "$part" in
        tracker) test_tracker ;;
        dht) test_dht ;;
        pex) test_pex ;;
        pex-diff) test_pex_diff ;;
        *) fail "unknown part '$part' (tracker, dht, pex, pex-diff)" ;;
    esac
done
echo "discovery self-test passed"
