#!/usr/bin/python3
"""Rate-limit benchmark: the rate ccbt and libtorrent achieve under a limit, down and up, on loopback.

Run with Debian's /usr/bin/python3 (libtorrent is imported). For each limit (256 KiB/s, 1 MiB/s,
10 MiB/s by default) and each direction, the *subject* (ccbt, then libtorrent, interleaved
round by round) transfers a file with an unlimited libtorrent *counterpart* in this process:

  down: the subject downloads under its download limit from the counterpart seeder;
  up:   the subject seeds under its upload limit to the counterpart leecher.

Bytes are counted where they arrive (counting at the sender would count the socket buffers
filling): payload received by the counterpart leecher (up), or by the subject (down:
libtorrent's own counter; for ccbt the blocks its sparse output file holds). After the first
byte and a short warm-up, the rate is measured over a window of 30 s. Both clients' limits
count BitTorrent protocol overhead too (about 0.1 % for 16 KiB blocks), so payload tops out
just under 100 %.

Fairness: libtorrent exempts loopback and LAN peers from rate limits by default; the subject's
session gets a peer class filter putting every IPv4 peer in the global class, so its limit
applies here. Its `rate_limit_ip_overhead` is turned off: ccbt counts BitTorrent protocol
overhead but not TCP/IP headers, and so does the counterpart's counter.

The table (median [min-max] of achieved / limit over the rounds) goes to stdout and to
bench/out/limits-<date>.md with the machine's details.
"""

import argparse
import datetime
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
INTEROP = os.path.join(ROOT, "tests", "interop")
sys.path.insert(0, INTEROP)
from ltcommon import lt, make_session, wait_listening  # noqa: E402

PY = "/usr/bin/python3"
CCBT = os.path.join(ROOT, "target", "release", "ccbt")
KIB = 1024
MIB = 1 << 20


def log(text):
    sys.stderr.write(f"[limits] {text}\n")
    sys.stderr.flush()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepare(work, size_mib):
    """The content (one file) and its v1 torrent, made once per size."""
    folder = os.path.join(work, f"data-{size_mib}m")
    content = os.path.join(folder, "data.bin")
    torrent = os.path.join(folder, "data.torrent")
    if not (os.path.exists(content) and os.path.getsize(content) == size_mib * MIB and os.path.exists(torrent)):
        log(f"making {size_mib} MiB of content and its torrent")
        shutil.rmtree(folder, ignore_errors=True)
        subprocess.run([PY, os.path.join(INTEROP, "make_data.py"), "--out", folder,
                        "--layout", f"single:{size_mib}M", "--name", "data.bin"], check=True)
        subprocess.run([PY, os.path.join(INTEROP, "lt_make_torrent.py"), "--path", content, "--out", torrent,
                        "--piece-size", str(256 * KIB), "--v1-only"], check=True, stdout=subprocess.DEVNULL)
    return content, torrent


def add(ses, torrent, save_path, seed):
    atp = lt.add_torrent_params()
    atp.ti = lt.torrent_info(torrent)
    atp.save_path = save_path
    flags = lt.torrent_flags.default_flags & ~lt.torrent_flags.auto_managed & ~lt.torrent_flags.paused
    if seed:
        flags |= lt.torrent_flags.seed_mode
    atp.flags = flags
    return ses.add_torrent(atp)


def limited_lt_session(direction, limit):
    """libtorrent as the subject: limited, loopback included, no IP overhead counted."""
    ses = make_session(0)
    key = "download_rate_limit" if direction == "down" else "upload_rate_limit"
    ses.apply_settings({key: limit, "rate_limit_ip_overhead": False})
    everyone = lt.ip_filter()
    everyone.add_rule("0.0.0.0", "255.255.255.255", 1 << lt.session.global_peer_class_id)
    ses.set_peer_class_filter(everyone)
    return ses


class Subject:
    """The limited client of one run; `port` is where it listens (up) and `connect` dials (down)."""

    def __init__(self, client, direction, limit, torrent, content, out, logf):
        self.proc = self.ses = None
        self.port = free_port()
        kib = str(limit // KIB)
        if client == "ccbt":
            common = ["--listen-port", str(self.port), "--no-dht", "--no-trackers", "--no-pex", "-q"]
            if direction == "down":
                self.cmd = [CCBT, "download", torrent, "-o", out, "--down-limit", kib] + common
            else:
                self.cmd = [CCBT, "seed", torrent, "-d", os.path.dirname(content), "--up-limit", kib] + common
        else:
            self.ses = limited_lt_session(direction, limit)
            self.port = wait_listening(self.ses)
            save = out if direction == "down" else os.path.dirname(content)
            self.handle = add(self.ses, torrent, save, seed=direction == "up")
        self.logf = logf

    def start(self, counterpart_port=None):
        if self.ses is None:
            cmd = self.cmd + (["--peer", f"127.0.0.1:{counterpart_port}"] if counterpart_port else [])
            self.proc = subprocess.Popen(cmd, stdout=self.logf, stderr=self.logf, start_new_session=True)
        elif counterpart_port:
            self.handle.connect_peer(("127.0.0.1", counterpart_port), 0)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.ses is not None:
            self.ses.pause()
            self.ses = None


def received(subject, direction, counter_handle, out_file):
    """Payload bytes the receiving side has: the counterpart leecher (up), or the subject (down):
    libtorrent's own counter, or the blocks of ccbt's file (sparse, so only what was written)."""
    if direction == "up":
        return counter_handle.status().total_payload_download
    if subject.ses is not None:
        return subject.handle.status().total_payload_download
    try:
        return os.stat(out_file).st_blocks * 512
    except OSError:
        return 0


def run_one(client, direction, limit, torrent, content, work, warm, window):
    """Achieved payload rate (bytes/s) of one run, or an error string."""
    scratch = tempfile.mkdtemp(prefix=f"{client}-{direction}-", dir=work)
    logf = open(os.path.join(scratch, "subject.log"), "w")
    counter = make_session(0)
    counter_port = wait_listening(counter)
    out = os.path.join(scratch, "out")
    subject = Subject(client, direction, limit, torrent, content, out, logf)
    try:
        if direction == "down":
            h = add(counter, torrent, os.path.dirname(content), seed=True)
            subject.start(counter_port)
        else:
            h = add(counter, torrent, os.path.join(scratch, "counter"), seed=False)
            subject.start()

        def measure():
            return received(subject, direction, h, os.path.join(out, "data.bin"))

        deadline = time.monotonic() + 120
        while measure() == 0:
            if direction == "up":
                h.connect_peer(("127.0.0.1", subject.port), 0)
            if time.monotonic() > deadline:
                return "no byte moved in 120 s"
            if subject.proc is not None and subject.proc.poll() is not None:
                return f"subject exited with {subject.proc.returncode}"
            time.sleep(0.2)
        time.sleep(warm)
        b0, t0 = measure(), time.monotonic()
        time.sleep(window)
        b1, t1 = measure(), time.monotonic()
        if h.status().is_seeding and direction == "up":
            return "the file ran out before the window ended (make it larger)"
        return (b1 - b0) / (t1 - t0)
    finally:
        subject.stop()
        counter.pause()
        logf.close()
        shutil.rmtree(scratch, ignore_errors=True)


def fmt_limit(limit):
    return f"{limit // MIB} MiB/s" if limit >= MIB else f"{limit // KIB} KiB/s"


def cell(ratios):
    if not ratios:
        return "failed"
    med = statistics.median(ratios)
    return f"{med * 100:.1f} % [{min(ratios) * 100:.1f}-{max(ratios) * 100:.1f}]"


def main():
    global CCBT
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--limits-kib", default="256,1024,10240", help="comma-separated limits in KiB/s")
    p.add_argument("--directions", default="down,up")
    p.add_argument("--clients", default="ccbt,libtorrent")
    p.add_argument("--warm", type=float, default=4.0, help="seconds after the first byte before measuring")
    p.add_argument("--window", type=float, default=30.0, help="seconds measured")
    p.add_argument("--work", default="/tmp/ccbt-bench-limits")
    p.add_argument("--ccbt", default=CCBT, help="the ccbt binary (default: target/release/ccbt)")
    args = p.parse_args()
    CCBT = args.ccbt
    limits = [int(x) * KIB for x in args.limits_kib.split(",")]
    directions = args.directions.split(",")
    clients = args.clients.split(",")
    if "ccbt" in clients and not os.access(CCBT, os.X_OK):
        raise SystemExit(f"error: {CCBT} missing: cargo build --release -p ccbt")
    os.makedirs(args.work, exist_ok=True)
    # Enough for the fastest limit over warm-up, window and start, plus socket buffers.
    size_mib = int(max(limits) * (args.warm + args.window + 15) / MIB) + 16
    content, torrent = prepare(args.work, size_mib)
    results = {}
    for rnd in range(args.rounds):
        for direction in directions:
            for limit in limits:
                for client in clients:
                    r = run_one(client, direction, limit, torrent, content, args.work, args.warm, args.window)
                    key = (direction, limit, client)
                    if isinstance(r, str):
                        log(f"round {rnd + 1} {direction} {fmt_limit(limit)} {client}: FAILED: {r}")
                        results.setdefault(key, [])
                        continue
                    log(f"round {rnd + 1} {direction} {fmt_limit(limit)} {client}: "
                        f"{r / KIB:.1f} KiB/s payload ({r / limit * 100:.1f} % of the limit)")
                    results.setdefault(key, []).append(r / limit)
    lines = [
        f"Achieved rate / limit, median [min-max] of {args.rounds} rounds, {args.window:.0f} s windows "
        "starting " f"{args.warm:.0f} s after the first byte (payload received; the limits count "
        "BitTorrent overhead too, about 0.1 %):",
        "",
        "| direction | limit | " + " | ".join(clients) + " |",
        "|---|---|" + "---|" * len(clients),
    ]
    for direction in directions:
        for limit in limits:
            row = [cell(results.get((direction, limit, c), [])) for c in clients]
            lines.append(f"| {direction} | {fmt_limit(limit)} | " + " | ".join(row) + " |")
    rev = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    lines += ["", f"- ccbt {rev.stdout.strip()}, libtorrent {lt.__version__}, {os.cpu_count()} CPUs"]
    text = "\n".join(lines) + "\n"
    sys.stdout.write(text)
    out = os.path.join(ROOT, "bench", "out")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, f"limits-{datetime.date.today()}.md"), "a") as f:
        f.write(text + "\n")
    shutil.rmtree(os.path.join(args.work), ignore_errors=True)


if __name__ == "__main__":
    main()
