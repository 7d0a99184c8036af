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
from ltdiscovery import PeerPrinter, magnet_params, set_trackers, tracker_settings
from ltstats import SETTINGS as STATS_SETTINGS, PeerStats

NAME = "lt_leech"


def main():
    p = argparse.ArgumentParser(description=__doc__)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--torrent", help=".torrent file to download")
    src.add_argument("--magnet", metavar="URI",
                     help="magnet link to download (metadata fetched from peers, ut_metadata)")
    p.add_argument("--out", required=True, help="directory to download into")
    p.add_argument("--port", type=int, required=True, help="TCP listen port (0 = any)")
    p.add_argument("--host", default="127.0.0.1",
                   help="loopback address to listen on and connect from (default 127.0.0.1)")
    p.add_argument("--default-settings", action="store_true",
                   help="start from libtorrent's default settings, not the high_performance_seed preset")
    p.add_argument("--stats-file", metavar="PATH",
                   help="on exit write the torrent's totals and per-peer payload bytes (see ltstats.py)")
    p.add_argument("--peer", action="append", default=[], metavar="HOST:PORT")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds before giving up")
    p.add_argument("--verbose", action="store_true", help="log every alert to stderr")
    p.add_argument("--tracker", action="append", default=[], metavar="URL",
                   help="announce here instead of the torrent's own trackers (repeatable)")
    p.add_argument("--reannounce", type=float, default=0, metavar="SECS",
                   help="force a tracker re-announce every SECS, ignoring the tracker's interval")
    p.add_argument("--print-peers", type=float, default=0, metavar="SECS",
                   help="print 'PEERS t=.. n=.. ip:port(flags)...' to stdout every SECS")
    p.add_argument("--download-limit", type=int, default=0, metavar="BYTES",
                   help="per-torrent download limit in bytes/s (0 = unlimited); applies to loopback")
    p.add_argument("--no-pex", action="store_true",
                   help="ignore and send no ut_pex messages (torrent_flags.disable_pex)")
    p.add_argument("--keep-seeding", action="store_true",
                   help="after DONE keep running (seeding) until SIGTERM, then exit 0")
    args = p.parse_args()

    stop = StopFlag()
    peers = [parse_hostport(x) for x in args.peer]
    os.makedirs(args.out, exist_ok=True)
    ses = make_session(args.port, fast=not args.default_settings, host=args.host)
    if args.stats_file:
        ses.apply_settings(STATS_SETTINGS)
    if args.tracker or args.magnet:
        ses.apply_settings(tracker_settings())
    wait_listening(ses)

    if args.magnet:
        atp = magnet_params(args.magnet)
    else:
        atp = lt.add_torrent_params()
        atp.ti = lt.torrent_info(args.torrent)
    atp.save_path = os.path.abspath(args.out)
    flags = lt.torrent_flags.default_flags & ~lt.torrent_flags.auto_managed
    atp.flags = flags & ~lt.torrent_flags.paused
    if args.no_pex:
        atp.flags |= lt.torrent_flags.disable_pex
    set_trackers(atp, args.tracker)
    start = time.monotonic()
    h = ses.add_torrent(atp)
    if args.download_limit > 0:
        h.set_download_limit(args.download_limit)
    for host, port in peers:
        h.connect_peer((host, port), 0)
    printer = PeerPrinter(args.print_peers, start)
    stats = PeerStats(args.stats_file)
    last_announce = start

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
            if args.keep_seeding:
                code = keep_seeding(ses, h, stop, printer, stats, args.verbose)
            else:
                code = 0
            stats.write(h)
            return code
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
        printer.tick(h)
        stats.tick(h)
        if args.reannounce > 0 and now - last_announce > args.reannounce:
            last_announce = now
            h.force_reannounce(0, -1, lt.reannounce_flags_t.ignore_min_interval)
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


def keep_seeding(ses, h, stop, printer, stats, verbose):
    """Serve the completed torrent until SIGTERM/SIGINT (a third peer for PEX and DHT tests)."""
    while not stop.stop:
        printer.tick(h)
        stats.tick(h)
        ses.wait_for_alert(100)
        for a in ses.pop_alerts():
            if verbose or a.category() & lt.alert.category_t.error_notification:
                log_alert(a, NAME)
    return 0


if __name__ == "__main__":
    sys.exit(main())
