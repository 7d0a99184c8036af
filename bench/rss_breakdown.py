#!/usr/bin/python3
"""Where a ccbt download's resident memory goes: one 1 GiB single-file download from a fresh
libtorrent seeder (the same seeder and data as download.py, which must have made them once in
--work), with /proc/PID/smaps sampled every --interval seconds. Prints, at the sample with the
largest Rss, the resident KiB by kind of mapping (the binary's file pages, the main heap, other
anonymous mappings split by size: thread arenas and large allocations, thread stacks), and the
peak of each kind over the whole run.

    /usr/bin/python3 bench/rss_breakdown.py --ccbt target/release/ccbt --work /tmp/ccbt-bench \
        [--env CCBT_MAX_BUFFERED_KIB=4096]
"""

import argparse
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as dl  # noqa: E402

HEADER = re.compile(r"^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \S+\s*(.*)$")


def sample(pid, detail=None):
    """Resident KiB by kind of mapping, from /proc/PID/smaps; with `detail` (a list), also every
    anonymous mapping of 256 KiB or more resident as (size KiB, resident KiB)."""
    kinds = {}
    size = 0
    name = ""
    try:
        with open(f"/proc/{pid}/smaps") as f:
            for line in f:
                m = HEADER.match(line)
                if m:
                    size = (int(m.group(2), 16) - int(m.group(1), 16)) // 1024
                    name = m.group(3)
                    continue
                if line.startswith("Rss:"):
                    rss = int(line.split()[1])
                    kinds[kind(name, size)] = kinds.get(kind(name, size), 0) + rss
                    if detail is not None and not name and rss >= 256:
                        detail.append((size, rss))
    except (FileNotFoundError, ProcessLookupError):
        return None
    return kinds


def kind(name, size_kib):
    if name == "[heap]":
        return "main heap (brk)"
    if name.startswith("[stack"):
        return "main stack"
    if name.startswith("/"):
        return "file: " + os.path.basename(name)
    if name:
        return name
    # glibc thread arenas are 64 MiB reservations (HEAP_MAX_SIZE); thread stacks 8 MiB + guard;
    # anything else anonymous is a large allocation mmapped on its own or a runtime mapping.
    if size_kib >= 1024:
        return "anon mappings >= 1 MiB (thread arenas, large allocations, stacks)"
    return "anon mappings < 1 MiB"


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ccbt", required=True)
    p.add_argument("--work", default="/tmp/ccbt-bench")
    p.add_argument("--size-mib", type=int, default=1024)
    p.add_argument("--env", action="append", default=[], metavar="VAR=VALUE")
    p.add_argument("--interval", type=float, default=0.02)
    a = p.parse_args()
    base = os.path.join(a.work, f"data-{a.size_mib}m-p{dl.MIB}")
    torrent = os.path.join(base, "single.torrent")
    content = os.path.join(base, "single", "data.bin")
    if not os.path.exists(torrent):
        sys.exit(f"no {torrent}: run bench/download.py --work {a.work} once first")
    out = os.path.join(a.work, "out-rss")
    subprocess.run(["rm", "-rf", out], check=True)
    os.makedirs(out)
    dl.warm_cache(content)
    env = dict(os.environ, **dict(kv.split("=", 1) for kv in a.env))
    with open(os.path.join(a.work, "rss-breakdown.log"), "w") as logf:
        seeder, port = dl.start_seeder(torrent, content, logf)
        try:
            cmd = [a.ccbt, "download", torrent, "-o", out, "--peer", f"127.0.0.1:{port}",
                   "--listen-port", str(dl.free_port()), "--no-dht"]
            proc = subprocess.Popen(cmd, stdout=logf, stderr=logf, env=env)
            peak, at_peak, per_kind, peak_detail = 0, {}, {}, []
            started = time.monotonic()
            while proc.poll() is None:
                detail = []
                s = sample(proc.pid, detail)
                if s:
                    total = sum(s.values())
                    if total > peak:
                        peak, at_peak, peak_detail = total, s, detail
                    for k, v in s.items():
                        per_kind[k] = max(per_kind.get(k, 0), v)
                time.sleep(a.interval)
            wall = time.monotonic() - started
        finally:
            dl.stop(seeder)
    subprocess.run(["rm", "-rf", out], check=True)
    print(f"exit {proc.returncode}, {wall:.2f} s, peak Rss {peak / 1024:.1f} MiB")
    print("| mapping kind | KiB at the peak | peak KiB over the run |")
    print("|---|---:|---:|")
    for k in sorted(per_kind, key=lambda k: -per_kind[k]):
        print(f"| {k} | {at_peak.get(k, 0)} | {per_kind[k]} |")
    print("anonymous mappings with 256 KiB or more resident at the peak (size KiB, resident KiB):")
    print(", ".join(f"{size}/{rss}" for size, rss in sorted(peak_detail, key=lambda d: -d[1])))


if __name__ == "__main__":
    main()
