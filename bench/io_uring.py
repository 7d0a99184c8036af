"""io_uring writes against pwrite (issue 15): runs bench/io_uring (a standalone Cargo project)
once per variant per round, interleaved (buffered, direct, uring, uring-fixed, buffered, ...), so
drift of a shared machine hits every variant alike, and prints the medians with [min-max]
ranges as a Markdown table (saved under bench/out/ with every run's row).

Variants (see bench/io_uring/src): `buffered` pwrite through the page cache and `direct`
pwrite with O_DIRECT, each from 2 threads taking the next 1 MiB piece from a shared counter
under one write lock (ccbt's write path); `direct-nolock` the same without the lock; `uring`
one io_uring with O_DIRECT writes, queue depth 8; `uring-fixed` the same with registered
buffers (IORING_OP_WRITE_FIXED). A suffix `/wN` makes each io_uring_enter wait for N
completions (default 1), `/dN` sets the queue depth: `uring-fixed/w4/d8`. `idle` writes
nothing and sleeps 0.8 s on the clock: the floor of the machine-wide kworker column.

Every run: a fresh file preallocated with posix_fallocate and synced; the clock (wall, and
getrusage RUSAGE_SELF for user and sys of every thread, io_uring workers included) covers the
writes and the final fsync; the `kworker s` column is the CPU time of all the machine's kworker
threads over the same window (/proc/PID/schedstat; `of which kblockd s` the high-priority
per-CPU ones, kworker/N:MH, where the block layer's kblockd queue runs): async direct writes have the block layer's
dispatch (kblockd) and their completion (dio/DEV, ext4-rsv-conversion for fallocated extents) run
there, off the process's books, so `CPU + kworker s` is the fair total (it also catches other
kworker activity of the machine: the direct variant's column shows that floor); then the file is read back from disk (its cached pages dropped)
and every 4 KiB block checked, and the file is removed. Standard library only; run with
Debian's /usr/bin/python3.
"""

import argparse
import datetime
import json
import os
import platform
import re
import subprocess
import sys
import time

import common
from common import ROOT, log

PROJECT = os.path.join(ROOT, "bench", "io_uring")
BINARY = os.path.join(PROJECT, "target", "release", "io-uring-bench")
SKIPPED = 3
VARIANT = re.compile(r"^(buffered|direct|direct-nolock|uring|uring-fixed|idle)((?:/[wd]\d+)*)$")


def variant_cmd(spec, path, args):
    m = VARIANT.match(spec)
    if not m:
        raise SystemExit(f"error: unknown variant {spec}")
    opts = {"w": "1", "d": str(args.depth)}
    opts.update(re.findall(r"/([wd])(\d+)", m.group(2)))
    return [BINARY, m.group(1), "--file", path, "--size-mib", str(args.size_mib), "--threads", str(args.threads),
            "--depth", opts["d"], "--wait", opts["w"]] + (["--overwrite"] if args.overwrite else [])


def run_one(spec, args):
    path = os.path.join(args.work, "io_uring-bench.dat")
    cmd = variant_cmd(spec, path, args)
    log(f"{spec}: {' '.join(os.path.relpath(c) if c.startswith(ROOT) else c for c in cmd)}")
    p = subprocess.run(cmd, capture_output=True, text=True)
    lines = p.stdout.strip().splitlines()
    try:
        got = json.loads(lines[-1]) if lines else {}
    except json.JSONDecodeError:
        got = {}
    if p.returncode == SKIPPED:
        log(f"{spec}: skipped: {got.get('skipped', p.stderr.strip())}")
        return {"ok": False, "reason": f"skipped: {got.get('skipped', p.stderr.strip())}"}
    if p.returncode != 0 or not got.get("ok"):
        return {"ok": False, "reason": f"exit {p.returncode}: {got.get('wrong') or p.stderr.strip()}"}
    return dict(got, cpu=got["user"] + got["sys"])


def columns(size):
    return [
        ("wall s", lambda r: r["wall"], "{:.3f}"),
        ("MB/s", lambda r: size / 1e6 / r["wall"], "{:.0f}"),
        ("user s", lambda r: r["user"], "{:.3f}"),
        ("sys s", lambda r: r["sys"], "{:.3f}"),
        ("CPU s", lambda r: r["cpu"], "{:.3f}"),
        ("kworker s", lambda r: r["kworker"], "{:.3f}"),
        ("of which kblockd s", lambda r: r["kworker_highpri"], "{:.3f}"),
        ("CPU + kworker s", lambda r: r["cpu"] + r["kworker"], "{:.3f}"),
        ("write syscalls", lambda r: r["syscalls"], "{:.0f}"),
        ("io-wq workers", lambda r: r["io_workers"], "{:.0f}"),
    ]


def machine_lines(work):
    try:
        with open("/proc/sys/kernel/io_uring_disabled") as f:
            disabled = f.read().strip()
    except OSError:
        disabled = "n/a"
    crate = common.first_line(["sh", "-c", f"grep -A1 '^name = \"io-uring\"' {PROJECT}/Cargo.lock | tail -1"])
    return [
        common.machine_line(),
        f"- kernel: Linux {platform.release()} ({platform.version()}), kernel.io_uring_disabled = {disabled}",
        common.work_dir_line(work),
        f"- io-uring crate: {crate.replace('version = ', '').strip(chr(34))}; "
        f"ccbt {common.first_line(['git', '-C', ROOT, 'rev-parse', '--short', 'HEAD'])}",
    ]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=7, help="interleaved rounds (default 7)")
    p.add_argument("--variants", default="buffered,direct,uring,uring-fixed,idle",
                   help="comma-separated, run in this order each round")
    p.add_argument("--size-mib", type=int, default=1024, help="file size (1 MiB pieces)")
    p.add_argument("--threads", type=int, default=2, help="writer threads of the pwrite variants")
    p.add_argument("--depth", type=int, default=8, help="io_uring queue depth = piece buffers in flight")
    p.add_argument("--work", default=os.path.join(ROOT, "bench", "out"),
                   help="folder of the test file (default bench/out, on the file system ccbt's downloads use)")
    p.add_argument("--overwrite", action="store_true",
                   help="write the file once before the clock: measure overwrites of written blocks, not the "
                        "filling of fallocated (unwritten) extents that a download does")
    p.add_argument("--pause", type=float, default=1.0, help="seconds of rest between runs")
    p.add_argument("--no-build", action="store_true")
    p.add_argument("--per-run", action="store_true", help="also print every run's row (always in the saved file)")
    args = p.parse_args()
    os.makedirs(args.work, exist_ok=True)
    if not args.no_build:
        subprocess.run(["cargo", "build", "--release", "--quiet", "--manifest-path",
                        os.path.join(PROJECT, "Cargo.toml")], check=True)
    specs = [s for s in args.variants.split(",") if s]
    for s in specs:
        if not VARIANT.match(s):
            p.error(f"unknown variant {s}")
    load_before = common.load_average()
    started = datetime.datetime.now(datetime.timezone.utc)
    results = {(s,): [] for s in specs}
    for i in range(args.rounds):
        for s in specs:
            log(f"round {i + 1}/{args.rounds}")
            results[(s,)].append(run_one(s, args))
            time.sleep(args.pause)
    load_after = common.load_average()
    size = args.size_mib << 20
    what = "overwriting written blocks" if args.overwrite else "into a fallocated file"
    head = [f"# io_uring writes: {args.size_mib} MiB in 1 MiB pieces {what}, {args.rounds} interleaved rounds",
            "", f"{started:%Y-%m-%d %H:%M} UTC; `{' '.join(['/usr/bin/python3', 'bench/io_uring.py'] + sys.argv[1:])}`",
            "", *machine_lines(args.work),
            f"- load average (1, 5, 15 min): {load_before} before, {load_after} after", ""]
    notes = sorted({f"- {key[0]}: {r['reason']}" for key, rs in results.items() for r in rs if not r["ok"]})
    notes = ["", "Runs that did not count:", *notes] if notes else []
    body = common.table(columns(size), results, per_run=False, key_names=("variant",)) + notes
    full = common.table(columns(size), results, per_run=True, key_names=("variant",)) + notes
    print("\n".join(head + (full if args.per_run else body)))
    out = os.path.join(ROOT, "bench", "out", f"io_uring-{started:%Y%m%d-%H%M%S}.md")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        f.write("\n".join(head + full) + "\n")
    log(f"saved {os.path.relpath(out)}")
    return 0 if all(r["ok"] or r["reason"].startswith("skipped") for rs in results.values() for r in rs) else 1


if __name__ == "__main__":
    sys.exit(main())
