#!/usr/bin/python3
"""libtorrent helpers for the benchmarks, with timestamps, so no client under test needs
instrumenting. Runs under any Python with libtorrent (Debian's /usr/bin/python3 has 2.0.8, the
venv of bench/setup.sh 2.1.1). Sessions come from tests/interop/ltcommon.py: loopback only, all
discovery off, the high_performance_seed preset unless --default-settings.

  seed     serve complete data (seed_mode: pieces are hashed when first requested), like
           tests/interop/lt_seed.py; on exit write JSON to --timing-file: `first_request`, the
           time the first block request of a peer was seen, and `last_sent`, the time the
           uploaded payload counter last grew (the last block handed to the socket).
  leech    download from the peer that dials in, or from --peer (redialled every --redial
           seconds, 0.05 by default, while not connected), write JSON to --result-file: `first_byte` (payload counter first above 0),
           `complete` (every piece verified) and `timeline` ([time, payload bytes] at each poll where
           the count grew), then exit 0.
  recheck  add a torrent over complete data without resume data or seed_mode, so libtorrent
           checks every piece (its force_recheck path), write JSON with `check_s` (adding to
           seeding) and exit 0; exit 1 when a piece is missing.

Times are time.monotonic() (CLOCK_MONOTONIC, shared by every process of the machine) and are
polled every 10 ms: a timestamp is up to about 10 ms late.
"""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests", "interop"))
from ltcommon import StopFlag, lt, log_alert, make_session, parse_hostport, wait_listening  # noqa: E402

POLL_MS = 10


def add(ses, torrent, save_path, seed_mode):
    atp = lt.add_torrent_params()
    atp.ti = lt.torrent_info(torrent)
    atp.save_path = os.path.abspath(save_path)
    flags = lt.torrent_flags.default_flags & ~lt.torrent_flags.auto_managed & ~lt.torrent_flags.paused
    if seed_mode:
        flags |= lt.torrent_flags.seed_mode
    atp.flags = flags
    return ses.add_torrent(atp)


def write_json(path, data):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(data, f)
    os.replace(tmp, path)


def drain(ses, name, verbose=False):
    """Pop alerts, log errors; returns the first error message of a torrent, if any."""
    error = None
    for a in ses.pop_alerts():
        if verbose or a.category() & lt.alert.category_t.error_notification:
            log_alert(a, name)
            if isinstance(a, (lt.torrent_error_alert, lt.file_error_alert)) and error is None:
                error = a.message()
    return error


def seed(args):
    stop = StopFlag()
    ses = make_session(args.port, fast=not args.default_settings)
    port = wait_listening(ses)
    h = add(ses, args.torrent, args.data, seed_mode=True)
    while not stop.stop and not h.status().is_seeding:
        ses.wait_for_alert(100)
        drain(ses, "lt_bench seed")
    connects = [parse_hostport(c) for c in args.connect]
    for host, cport in connects:
        h.connect_peer((host, cport), 0)
    write_json(args.ready_file, {"port": port})
    first_request = None
    last_sent = None
    uploaded = 0
    last_redial = time.monotonic()
    while not stop.stop:
        ses.wait_for_alert(POLL_MS)
        drain(ses, "lt_bench seed")
        now = time.monotonic()
        up = h.status().total_payload_upload
        if up != uploaded:
            uploaded, last_sent = up, now
        if first_request is None:
            peers = h.get_peer_info()
            # A request waits in upload_queue while its piece is read (and, in seed mode, hashed
            # the first time); a block already sent means the request came before this poll.
            if up > 0 or any(pi.upload_queue_length > 0 for pi in peers):
                first_request = now
        if connects and now - last_redial > 0.25:
            last_redial = now
            connected = {(pi.ip[0], pi.ip[1]) for pi in h.get_peer_info()}
            for host, cport in connects:
                if (host, cport) not in connected:
                    h.connect_peer((host, cport), 0)
    if args.timing_file:
        write_json(args.timing_file, {"first_request": first_request, "last_sent": last_sent, "uploaded": uploaded})
    ses.pause()
    return 0


def leech(args):
    stop = StopFlag()
    os.makedirs(args.out, exist_ok=True)
    ses = make_session(args.port, fast=not args.default_settings)
    port = wait_listening(ses)
    write_json(args.ready_file, {"port": port})
    peer = parse_hostport(args.peer) if args.peer else None
    start = time.monotonic()
    h = add(ses, args.torrent, args.out, seed_mode=False)
    first_byte = None
    last_dial = 0.0
    timeline = []  # (time, payload bytes) at every poll where the count grew
    while not stop.stop:
        now = time.monotonic()
        st = h.status()
        if first_byte is None and st.total_payload_download > 0:
            first_byte = now
        if st.total_payload_download > (timeline[-1][1] if timeline else 0):
            timeline.append((now, st.total_payload_download))
        if st.is_seeding or st.is_finished:
            h.flush_cache()
            write_json(args.result_file, {"added": start, "first_byte": first_byte, "complete": now,
                                          "downloaded": st.total_payload_download, "timeline": timeline})
            ses.pause()
            return 0
        if now - start > args.timeout:
            sys.stderr.write(f"lt_bench leech: timeout at {st.progress * 100:.1f}%\n")
            return 1
        if peer and st.num_peers == 0 and now - last_dial > args.redial:
            last_dial = now
            h.connect_peer(peer, 0)
        ses.wait_for_alert(POLL_MS)
        error = drain(ses, "lt_bench leech", args.verbose)
        if error:
            sys.stderr.write(f"lt_bench leech: {error}\n")
            return 1
    return 1


def recheck(args):
    ses = make_session(0, fast=not args.default_settings)
    if args.hashing_threads:
        ses.apply_settings({"hashing_threads": args.hashing_threads})
    wait_listening(ses)
    start = time.monotonic()
    h = add(ses, args.torrent, args.data, seed_mode=False)
    deadline = start + args.timeout
    while True:
        st = h.status()
        if st.errc.value() != 0 or st.state in (lt.torrent_status.downloading, lt.torrent_status.finished):
            # The check is over and pieces are missing (or the torrent failed).
            sys.stderr.write(f"lt_bench recheck: not complete after the check ({st.progress:.4f}, "
                             f"{st.errc.message()})\n")
            return 1
        if st.is_seeding:
            write_json(args.result_file, {"check_s": time.monotonic() - start, "pieces": st.num_pieces})
            return 0
        if time.monotonic() > deadline:
            sys.stderr.write(f"lt_bench recheck: timeout at {st.progress * 100:.1f}%\n")
            return 1
        ses.wait_for_alert(POLL_MS)
        drain(ses, "lt_bench recheck")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("seed")
    s.add_argument("--torrent", required=True)
    s.add_argument("--data", required=True, help="directory that holds the torrent's content")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--ready-file", required=True, help="JSON {port} written once seeding")
    s.add_argument("--timing-file", help="JSON {first_request, last_sent, uploaded} written at exit")
    s.add_argument("--connect", action="append", default=[], metavar="HOST:PORT", help="dial this peer too")
    le = sub.add_parser("leech")
    le.add_argument("--torrent", required=True)
    le.add_argument("--out", required=True)
    le.add_argument("--port", type=int, required=True)
    le.add_argument("--peer", metavar="HOST:PORT", help="dial this seeder (else wait to be dialled)")
    le.add_argument("--ready-file", required=True, help="JSON {port} written once listening")
    le.add_argument("--result-file", required=True)
    le.add_argument("--redial", type=float, default=0.05, metavar="SECS",
                    help="seconds between dials of --peer while not connected (tests/interop/lt_leech.py: 1)")
    le.add_argument("--timeout", type=float, default=120)
    le.add_argument("--verbose", action="store_true")
    r = sub.add_parser("recheck")
    r.add_argument("--torrent", required=True)
    r.add_argument("--data", required=True)
    r.add_argument("--result-file", required=True)
    r.add_argument("--hashing-threads", type=int, default=int(os.environ.get("LT_BENCH_HASHING_THREADS", "0")),
                   help="libtorrent's hashing_threads (0: the preset's; default from LT_BENCH_HASHING_THREADS, so "
                        "download.py --env can set it for one client)")
    r.add_argument("--timeout", type=float, default=300)
    for q in (s, le, r):
        q.add_argument("--default-settings", action="store_true",
                       help="libtorrent's default settings instead of the high_performance_seed preset")
    args = p.parse_args()
    return {"seed": seed, "leech": leech, "recheck": recheck}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
