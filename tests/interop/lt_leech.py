#!/usr/bin/python3
"""libtorrent leecher on 127.0.0.1 for interop tests and benchmarks.

Connects to the given peers and waits until the torrent is complete. Prints "DONE <seconds>"
(seconds from adding the torrent to completion) and exits 0, or exits 1 with the reason on timeout
or torrent error. Hash failures and peer bans are logged to stderr as "HASH_FAILED <piece>" and
"PEER_BANNED <ip:port>" lines, so tests with lying peers can assert on them.
"""

import argparse
import os
import sys
import time

from ltcommon import StopFlag, lt, log_alert, make_session, parse_hostport, wait_listening

NAME = "lt_leech"


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--torrent", required=True, help=".torrent file to download")
    p.add_argument("--out", required=True, help="directory to download into")
    p.add_argument("--port", type=int, required=True, help="TCP listen port on 127.0.0.1 (0 = any)")
    p.add_argument("--peer", action="append", default=[], metavar="HOST:PORT")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds before giving up")
    p.add_argument("--verbose", action="store_true", help="log every alert to stderr")
    args = p.parse_args()

    stop = StopFlag()
    peers = [parse_hostport(x) for x in args.peer]
    ti = lt.torrent_info(args.torrent)
    os.makedirs(args.out, exist_ok=True)
    ses = make_session(args.port)
    wait_listening(ses)

    atp = lt.add_torrent_params()
    atp.ti = ti
    atp.save_path = os.path.abspath(args.out)
    flags = lt.torrent_flags.default_flags & ~lt.torrent_flags.auto_managed
    atp.flags = flags & ~lt.torrent_flags.paused
    start = time.monotonic()
    h = ses.add_torrent(atp)
    for host, port in peers:
        h.connect_peer((host, port), 0)

    hash_failures = 0
    last_error = ""
    last_redial = start
    deadline = start + args.timeout
    while True:
        st = h.status()
        if st.is_seeding or st.is_finished:
            elapsed = time.monotonic() - start
            # Make sure every block is on disk before the caller compares files.
            h.flush_cache()
            sys.stdout.write(f"DONE {elapsed:.3f}\n")
            sys.stdout.flush()
            return 0
        if st.errc.value() != 0:
            sys.stderr.write(f"{NAME}: torrent error: {st.errc.message()}\n")
            return 1
        now = time.monotonic()
        if stop.stop:
            sys.stderr.write(f"{NAME}: interrupted at {st.progress * 100:.1f}%\n")
            return 1
        if now > deadline:
            reason = last_error or "no error reported"
            sys.stderr.write(
                f"{NAME}: timeout after {args.timeout:.0f}s at {st.progress * 100:.1f}% "
                f"({st.num_peers} peers, {hash_failures} hash failures): {reason}\n"
            )
            return 1
        # Peers we dial may not be up yet (or may have dropped us); keep dialling the named ones.
        if peers and now - last_redial > 1.0 and st.num_peers < len(peers):
            last_redial = now
            for host, port in peers:
                h.connect_peer((host, port), 0)
        ses.wait_for_alert(100)
        for a in ses.pop_alerts():
            if isinstance(a, lt.hash_failed_alert):
                hash_failures += 1
                last_error = f"hash check failed for piece {a.piece_index}"
                sys.stderr.write(f"HASH_FAILED {a.piece_index}\n")
            elif isinstance(a, lt.peer_ban_alert):
                sys.stderr.write(f"PEER_BANNED {a.endpoint[0]}:{a.endpoint[1]}\n")
            elif args.verbose:
                log_alert(a, NAME)
            elif a.category() & lt.alert.category_t.error_notification:
                last_error = a.message()
                log_alert(a, NAME)
        sys.stderr.flush()


if __name__ == "__main__":
    sys.exit(main())
