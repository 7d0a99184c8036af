#!/usr/bin/env bash
# Self-test of the interop harness against the real clients alone (no ccbt involved):
# libtorrent -> libtorrent, lying peer -> libtorrent, libtorrent -> aria2. About 15 s.
set -euo pipefail

I=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PY=/usr/bin/python3
W=$(mktemp -d /tmp/ccbt-interop-selftest.XXXXXX)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$W"
}
trap cleanup EXIT

port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
fail() { echo "FAIL: $*" >&2; exit 1; }
wait_ready() {
    # wait_ready FILE: until the helper has written READY to FILE (15 s at most)
    for _ in $(seq 150); do
        grep -q '^READY' "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    fail "no READY in $1"
}

"$PY" "$I/make_data.py" --out "$W" --layout multi:0,1,16385,3M,1000003,17 >/dev/null
"$PY" "$I/lt_make_torrent.py" --path "$W/data" --out "$W/v1.torrent" --piece-size 32768 >/dev/null
"$PY" "$I/lt_make_torrent.py" --path "$W/data" --out "$W/hybrid.torrent" --hybrid >/dev/null

echo "-- libtorrent seed -> libtorrent leech (v1 and hybrid)"
for t in v1 hybrid; do
    sp=$(port)
    "$PY" "$I/lt_seed.py" --torrent "$W/$t.torrent" --data "$W" --port "$sp" >"$W/seed.out" 2>"$W/seed.err" &
    pids+=($!)
    wait_ready "$W/seed.out"
    "$PY" "$I/lt_leech.py" --torrent "$W/$t.torrent" --out "$W/lt-$t" --port 0 \
        --peer "127.0.0.1:$sp" --timeout 30 || fail "lt_leech $t"
    diff -r "$W/data" "$W/lt-$t/data" || fail "lt_leech $t: bytes differ"
    kill "${pids[-1]}"
    wait "${pids[-1]}" || fail "lt_seed did not exit 0 on SIGTERM"
    unset 'pids[-1]'
    echo "ok $t"
done

echo "-- lying peer -> libtorrent leech: must fail with hash failures"
lp=$(port)
python3 "$I/lying_peer.py" --torrent "$W/v1.torrent" --data "$W" --port "$lp" >"$W/lp.out" 2>"$W/lp.err" &
pids+=($!)
wait_ready "$W/lp.out"
if "$PY" "$I/lt_leech.py" --torrent "$W/v1.torrent" --out "$W/lied" --port 0 \
    --peer "127.0.0.1:$lp" --timeout 5 2>"$W/lied.err"; then
    fail "lt_leech completed from a lying peer"
fi
grep -q '^HASH_FAILED' "$W/lied.err" || fail "no hash failure reported"
grep -q 'corrupt=1' "$W/lp.err" || fail "lying peer sent no corrupt block"
echo "ok: $(grep -c '^HASH_FAILED' "$W/lied.err") hash failures, $(grep -c '^PEER_BANNED' "$W/lied.err" || true) bans"

echo "-- libtorrent seed dials aria2"
ap=$(port)
sp=$(port)
"$PY" "$I/lt_seed.py" --torrent "$W/v1.torrent" --data "$W" --port "$sp" \
    --connect "127.0.0.1:$ap" >"$W/seed2.out" 2>"$W/seed2.err" &
pids+=($!)
wait_ready "$W/seed2.out"
timeout 60 aria2c --enable-dht=false --enable-dht6=false --bt-enable-lpd=false \
    --enable-peer-exchange=false --seed-time=0 --disable-ipv6=true --listen-port="$ap" \
    --bt-stop-timeout=30 --summary-interval=0 --console-log-level=warn --dir "$W/aria" \
    "$W/v1.torrent" </dev/null >"$W/aria.log" 2>&1 || { cat "$W/aria.log"; fail "aria2c"; }
diff -r "$W/data" "$W/aria/data" || fail "aria2: bytes differ"
echo "ok aria2"

echo "interop self-test passed"
