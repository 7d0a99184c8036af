#!/usr/bin/python3
"""libtorrent seeder on 127.0.0.1 for interop tests and benchmarks.

Prints (or writes to --ready-file) "READY <port>" once the torrent is seeding, then serves until
SIGTERM/SIGINT and exits 0. With --connect it also dials peers, which is how a leecher without a
"--peer" flag (aria2) is reached.
"""

import argparse
import os
import sys
import time

from ltcommon import StopFlag, lt, log_alert, make_session, parse_hostport, wait_listening
from ltdiscovery import PeerPrinter, set_trackers, tracker_settings
from ltstats import SETTINGS as STATS_SETTINGS, PeerStats

NAME = "lt_seed"


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--torrent", required=True, help=".torrent file to seed")
    p.add_argument("--data", required=True, help="directory that holds the torrent's content")
    p.add_argument("--port", type=int, required=True, help="TCP listen port")
    p.add_argument("--host", default="127.0.0.1",
                   help="loopback address to listen on and connect from (default 127.0.0.1)")
    p.add_argument("--stats-file", metavar="PATH",
                   help="on exit write the torrent's totals and per-peer payload bytes (see ltstats.py)")
    p.add_argument("--connect", action="append", default=[], metavar="HOST:PORT")
    p.add_argument("--ready-file", help="write 'READY <port>' here instead of stdout")
    p.add_argument("--upload-limit", type=int, default=0, metavar="BYTES",
                   help="per-torrent upload limit in bytes/s (0 = unlimited); applies to loopback")
    p.add_argument("--recheck", action="store_true",
                   help="hash-check the data before seeding instead of trusting it (seed_mode)")
    p.add_argument("--verbose", action="store_true", help="log every alert to stderr")
    p.add_argument("--tracker", action="append", default=[], metavar="URL",
                   help="announce here instead of the torrent's own trackers (repeatable)")
    p.add_argument("--reannounce", type=float, default=0, metavar="SECS",
                   help="force a tracker re-announce every SECS, ignoring the tracker's interval")
    p.add_argument("--print-peers", type=float, default=0, metavar="SECS",
                   help="print 'PEERS t=.. n=.. ip:port(flags)...' to stdout every SECS")
    args = p.parse_args()

    stop = StopFlag()
    connects = [parse_hostport(c) for c in args.connect]
    ti = lt.torrent_info(args.torrent)
    ses = make_session(args.port, host=args.host)
    if args.stats_file:
        ses.apply_settings(STATS_SETTINGS)
    if args.tracker:
        ses.apply_settings(tracker_settings())
    port = wait_listening(ses)

    atp = lt.add_torrent_params()
    atp.ti = ti
    atp.save_path = os.path.abspath(args.data)
    flags = lt.torrent_flags.default_flags & ~lt.torrent_flags.auto_managed
    flags &= ~lt.torrent_flags.paused
    if not args.recheck:
        # seed_mode trusts the files and only hashes a piece when it is first requested.
        flags |= lt.torrent_flags.seed_mode
    atp.flags = flags
    set_trackers(atp, args.tracker)
    h = ses.add_torrent(atp)
    if args.upload_limit > 0:
        # A per-torrent limit applies to every peer of the torrent, local ones included.
        h.set_upload_limit(args.upload_limit)

    while not stop.stop:
        st = h.status()
        if st.errc.value() != 0:
            sys.stderr.write(f"{NAME}: torrent error: {st.errc.message()}\n")
            return 1
        if st.is_seeding:
            break
        if args.recheck and st.state in (lt.torrent_status.downloading, lt.torrent_status.finished):
            # The recheck is over and pieces are missing: this process would leech, not seed.
            sys.stderr.write(f"{NAME}: data incomplete after recheck ({st.progress:.4f})\n")
            return 1
        ses.wait_for_alert(100)
        for a in ses.pop_alerts():
            if args.verbose or a.category() & lt.alert.category_t.error_notification:
                log_alert(a, NAME)
    if stop.stop:
        return 0

    for host, cport in connects:
        h.connect_peer((host, cport), 0)

    ready = f"READY {port}\n"
    if args.ready_file:
        tmp = args.ready_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(ready)
        os.replace(tmp, args.ready_file)
    else:
        sys.stdout.write(ready)
        sys.stdout.flush()

    last_redial = time.monotonic()
    last_announce = last_redial
    printer = PeerPrinter(args.print_peers, last_redial)
    stats = PeerStats(args.stats_file)
    while not stop.stop:
        ses.wait_for_alert(100)
        printer.tick(h)
        stats.tick(h)
        if args.reannounce > 0 and time.monotonic() - last_announce > args.reannounce:
            last_announce = time.monotonic()
            h.force_reannounce(0, -1, lt.reannounce_flags_t.ignore_min_interval)
        for a in ses.pop_alerts():
            if args.verbose or a.category() & lt.alert.category_t.error_notification:
                log_alert(a, NAME)
        # Dialled peers may not be listening yet when we start; retry ones we are not connected to.
        now = time.monotonic()
        if connects and now - last_redial > 0.25:
            last_redial = now
            connected = {(pi.ip[0], pi.ip[1]) for pi in h.get_peer_info()}
            for host, cport in connects:
                if (host, cport) not in connected:
                    h.connect_peer((host, cport), 0)

    stats.write(h)
    st = h.status()
    sys.stderr.write(f"{NAME}: exiting, uploaded {st.total_payload_upload} payload bytes\n")
    ses.pause()
    return 0


if __name__ == "__main__":
    sys.exit(main())
