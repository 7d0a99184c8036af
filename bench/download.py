#!/usr/bin/python3
"""Loopback benchmarks of ccbt against real clients: downloading (the default), seeding
(--mode seed) and rechecking (--mode recheck). See bench/README.md.

Run with Debian's /usr/bin/python3 (it runs the libtorrent helpers). Download mode: for each
layout (one file, and the same size spread over 16 files of mixed sizes, including an empty and a
one-byte file), each round runs every leecher once, in turn:

  1. a fresh libtorrent seeder (bench/lt_bench.py seed, seed_mode) on 127.0.0.1,
  2. the seeder's data read once so the page cache is warm for every leecher alike,
  3. the leecher, measured (wall, user and sys CPU and peak RSS from wait4, RssAnon and RssFile
     sampled), into an empty directory,
  4. the downloaded bytes compared with the originals: a wrong download is a failure, never a time.

The seeder notes when the first block request arrived and when the last block left, so the
start-up (leecher process start to first request) and the tail (last block sent to leecher exit)
are measured without instrumenting any leecher.

The table goes to stdout and is appended, with the machine's details, to bench/out/results-<date>.md.
A leecher that fails (not installed, build failed, timed out, wrong bytes) is reported as such and
the run continues.
"""

import argparse
import datetime
import os
import shutil
import subprocess
import sys

import common
from common import (INTEROP, LT_BENCH, MIB, PY, RQBIT, ROOT, Measured, free_port, is_ccbt, is_lt, load_average,
                    log, read_json, unavailable, verify, wait_for_file, warm_cache)

CLIENTS = ("ccbt", "libtorrent", "rqbit", "aria2")


def leecher_cmd(client, torrent, out, seed_port, my_port, timeout):
    """The leecher's command line."""
    peer = f"127.0.0.1:{seed_port}"
    if is_ccbt(client):
        return [common.ccbt_binary(client), "download", torrent, "-o", out, "--peer", peer,
                "--listen-port", str(my_port), "--no-dht"]
    if is_lt(client):
        return [common.lt_python(client), os.path.join(INTEROP, "lt_leech.py"), "--torrent", torrent, "--out", out,
                "--port", str(my_port), "--peer", peer, "--timeout", str(timeout)]
    if client == "rqbit":
        return [RQBIT, *common.RQBIT_QUIET, "--listen-ip", "127.0.0.1", "--listen-port", str(my_port), "download",
                "--disable-http-api", "--exit-on-finish", "--output-folder", out, "--initial-peers", peer, torrent]
    if client == "aria2":
        # aria2 cannot be given a peer: the seeder dials aria2's listen port instead.
        return ["aria2c", "--enable-dht=false", "--enable-dht6=false", "--bt-enable-lpd=false",
                "--enable-peer-exchange=false", "--seed-time=0", "--disable-ipv6=true",
                f"--listen-port={my_port}", f"--bt-stop-timeout={int(timeout)}", "--summary-interval=0",
                "--console-log-level=warn", "--file-allocation=falloc", "--dir", out, torrent]
    raise ValueError(client)


def start_lt_seeder(torrent, content, work, logf, connect=None):
    """A libtorrent 2.0 seeder (seed mode) that records when the first request came and the last
    block left; returns (process, port, timing file)."""
    port = free_port()
    ready = os.path.join(work, f"seed-{port}.ready")
    timing = os.path.join(work, f"seed-{port}.timing")
    for stale in (ready, timing):
        if os.path.exists(stale):
            os.unlink(stale)
    cmd = [PY, LT_BENCH, "seed", "--torrent", torrent, "--data", os.path.dirname(content), "--port", str(port),
           "--ready-file", ready, "--timing-file", timing]
    if connect:
        cmd += ["--connect", connect]
    proc = subprocess.Popen(cmd, stdout=logf, stderr=logf, start_new_session=True)
    if not wait_for_file(ready, proc, 30):
        common.stop(proc)
        raise RuntimeError("libtorrent seeder did not start")
    os.unlink(ready)
    return proc, port, timing


def run_one(client, layout, torrent, content, work, timeout):
    """One leecher run; returns a result dict (ok, reason, wall, cpu, user, sys, rss_kib, start_s, tail_s)."""
    why = unavailable(client)
    if why:
        return {"ok": False, "reason": why}
    out = os.path.join(work, f"out-{client}")
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    logpath = os.path.join(work, f"{layout.replace('/', '-')}-{client}.log")
    my_port = free_port()
    warm_cache(content)
    with open(logpath, "w") as logf:
        connect = f"127.0.0.1:{my_port}" if client == "aria2" else None
        seeder, seed_port, timing = start_lt_seeder(torrent, content, work, logf, connect)
        cmd = leecher_cmd(client, torrent, out, seed_port, my_port, timeout)
        log(f"{layout}/{client}: {' '.join(cmd)}")
        seeder_cpu = common.process_cpu_s(seeder.pid)
        try:
            r = Measured(cmd, logf, env=common.client_env(client)).wait(timeout)
            after = common.process_cpu_s(seeder.pid)
            # The seeder's CPU while this leecher ran: both share the machine's cores.
            r["seeder_cpu"] = after - seeder_cpu if None not in (after, seeder_cpu) else None
        finally:
            common.stop(seeder)
    if r["timed_out"]:
        return {"ok": False, "reason": f"timeout {timeout:.0f}s"}
    if r["rc"] != 0:
        return {"ok": False, "reason": f"exit {r['rc']} (see {os.path.relpath(logpath)})"}
    wrong = verify(content, os.path.join(out, os.path.basename(content)))
    shutil.rmtree(out, ignore_errors=True)
    if wrong:
        return {"ok": False, "reason": wrong}
    t = read_json(timing) or {}
    first, last = t.get("first_request"), t.get("last_sent")
    # aria2 is dialled by the seeder: its start-up is not the leecher's alone.
    r["start_s"] = first - r["start"] if first is not None and client != "aria2" else None
    r["tail_s"] = r["end"] - last if last is not None else None
    return dict(r, ok=True)


def download_columns(size):
    return [
        ("wall s", lambda r: r["wall"], "{:.2f}"),
        ("MB/s", lambda r: size / 1e6 / r["wall"] if r["wall"] > 0 else None, "{:.0f}"),
        ("CPU s (user+sys)", lambda r: r["cpu"], "{:.2f}"),
        ("user s", lambda r: r["user"], "{:.2f}"),
        ("sys s", lambda r: r["sys"], "{:.2f}"),
        ("peak RSS MiB", lambda r: r["rss_kib"] / 1024, "{:.0f}"),
        ("RssAnon MiB", lambda r: r["peak_RssAnon"] / 1024, "{:.0f}"),
        ("RssFile MiB", lambda r: r["peak_RssFile"] / 1024, "{:.0f}"),
        ("seeder CPU s", lambda r: r.get("seeder_cpu"), "{:.2f}"),
        ("vol ctx sw", lambda r: r.get("ctx_vol"), "{:.0f}"),
        ("invol ctx sw", lambda r: r.get("ctx_invol"), "{:.0f}"),
        ("start s", lambda r: r.get("start_s"), "{:.3f}"),
        ("tail s", lambda r: r.get("tail_s"), "{:.3f}"),
    ]


def run_download(args, clients, sets, size, timeout, build_failed):
    results = {}
    # Interleaved: every round runs every leecher once (ccbt, libtorrent, rqbit, ccbt, ...), so a
    # machine that speeds up or slows down during the run affects every client alike.
    for run in range(1, args.runs + 1):
        for layout, torrent, content in sets:
            for client in clients:
                if is_ccbt(client) and build_failed and client == "ccbt":
                    r = {"ok": False, "reason": build_failed}
                else:
                    r = run_one(client, layout, torrent, content, args.work, timeout)
                log(f"round {run} {layout}/{client}: " + (f"{r['wall']:.2f}s, ctx sw {r['ctx_vol']}/{r['ctx_invol']} "
                                                          f"(sampled per thread: {r['ctx_vol_sampled']}/"
                                                          f"{r['ctx_invol_sampled']})" if r["ok"] else r["reason"]))
                results.setdefault((layout, client), []).append(r)
    title = f"download from one libtorrent seeder, {args.size_mib} MiB, piece {args.piece_size // 1024} KiB"
    notes = ["CPU and peak RSS of the leecher process (wait4); RssAnon and RssFile: sampled peaks "
             "(RssFile = mapped file pages, i.e. page cache). vol/invol ctx sw: voluntary and involuntary "
             "context switches of all the leecher's threads (wait4). start s: leecher process start to its first "
             "block request seen by the seeder; tail s: last block sent by the seeder to leecher exit."]
    return {"title": title, "notes": notes, "columns": download_columns(size), "results": results,
            "keys": ("layout", "client")}


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mode", default="download", choices=("download", "seed", "recheck"))
    p.add_argument("--size-mib", type=int, default=1024, help="content size (1024; 4096 for the 4 GiB case)")
    p.add_argument("--runs", type=int, default=1, help="interleaved rounds")
    p.add_argument("--only", default=None,
                   help="comma-separated clients (download: ccbt,libtorrent,rqbit,aria2; seed and recheck: "
                        "ccbt,libtorrent,rqbit)")
    p.add_argument("--layouts", default="single,multi", help="comma-separated subset of single,multi")
    p.add_argument("--piece-size", type=int, default=MIB)
    p.add_argument("--formats", default="v1",
                   help="comma-separated subset of v1,v2,hybrid: torrent formats, each a layout of its own")
    p.add_argument("--timeout", type=float, help="seconds per run (default 20 + 40 per GiB)")
    p.add_argument("--work", default="/tmp/ccbt-bench",
                   help="scratch dir; keep it on a disk, not tmpfs, or writes are RAM-speed")
    p.add_argument("--no-build", action="store_true", help="use the existing target/release/ccbt")
    p.add_argument("--per-run", action="store_true", help="also print every run's row (always in the saved file)")
    p.add_argument("--ccbt", action="append", default=[], metavar="NAME=PATH",
                   help="another ccbt binary to run as client NAME (e.g. ccbt-before=/tmp/ccbt); repeatable")
    p.add_argument("--lt", action="append", default=[], metavar="NAME=PYTHON",
                   help="libtorrent from another Python (e.g. lt-2.1=bench/.venv-lt21/bin/python3); repeatable")
    p.add_argument("--env", action="append", default=[], metavar="NAME:VAR=VALUE",
                   help="set VAR=VALUE in client NAME's environment (e.g. ccbt-direct:CCBT_DIRECT_IO=true); "
                        "repeatable")
    g = p.add_argument_group("seed mode")
    g.add_argument("--leecher-python", default=PY, help="Python of the libtorrent leecher (default: 2.0.8's)")
    g.add_argument("--leecher-default-settings", action="store_true",
                   help="the leecher starts from libtorrent's defaults instead of the high_performance_seed preset")
    g.add_argument("--dial", default="both", choices=("both", "leecher", "seeder"),
                   help="who dials: the seeder once ready and the leecher every --redial s (both, the default), "
                        "or only one of them")
    g.add_argument("--redial", type=float, default=0.05,
                   help="seconds between the leecher's dials while not connected (lt_leech.py: 1)")
    g.add_argument("--cold", action="store_true", help="evict the seeder's data from the page cache before each run")
    g.add_argument("--ccbt-checkpoint", action="store_true",
                   help="ccbt seeders start from a checkpoint written by a first, untimed start (no full check)")
    g = p.add_argument_group("recheck mode")
    g.add_argument("--cache", default="warm,cold", help="comma-separated subset of warm,cold")
    g.add_argument("--lt-hashing-threads", type=int, default=0,
                   help="libtorrent's hashing_threads for the recheck (0: the preset's, 1 in 2.0.8)")
    p.add_argument("--evict", default="fadvise", choices=("fadvise", "drop"),
                   help="how data is made cold: fadvise (POSIX_FADV_DONTNEED on the data's files only, the "
                        "default: the rest of a shared machine keeps its cache) or drop (sync; echo 3 > "
                        "/proc/sys/vm/drop_caches, needs root)")
    return p.parse_args()


def register_extras(args):
    for spec in args.env:
        name, sep, assignment = spec.partition(":")
        var, eq, value = assignment.partition("=")
        if not sep or not name or not eq or not var:
            raise SystemExit(f"error: expected NAME:VAR=VALUE, got {spec!r}")
        common.EXTRA_ENV.setdefault(name, {})[var] = value
    for spec, extra in [(x, common.EXTRA_CCBT) for x in args.ccbt] + [(x, common.EXTRA_LT) for x in args.lt]:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            raise SystemExit(f"error: expected NAME=PATH, got {spec!r}")
        extra[name] = os.path.abspath(path)


def build_ccbt(clients, no_build):
    """Build target/release/ccbt when ccbt is among the clients; returns why it failed, or None."""
    if "ccbt" not in clients or no_build:
        return None
    log("cargo build --release -p ccbt")
    b = subprocess.run(["cargo", "build", "--release", "-p", "ccbt"], cwd=ROOT,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if b.returncode == 0:
        return None
    log("ccbt build failed:\n" + "\n".join(b.stdout.splitlines()[-15:]))
    return "cargo build failed"


def main():
    args = parse_args()
    register_extras(args)
    args.work = os.path.abspath(args.work)
    base = CLIENTS if args.mode == "download" else ("ccbt", "libtorrent", "rqbit")
    clients = common.order_clients([c for c in (args.only or ",".join(base)).split(",") if c])
    known = base + tuple(common.EXTRA_CCBT) + tuple(common.EXTRA_LT)
    for name in list(common.EXTRA_ENV) + clients:
        if name not in known:
            raise SystemExit(f"error: unknown client {name!r} for mode {args.mode}; known: {', '.join(known)}")
    layouts = [x for x in args.layouts.split(",") if x]
    timeout = args.timeout or 20 + 40 * args.size_mib / 1024
    os.makedirs(args.work, exist_ok=True)
    if common.work_fs(args.work)["type"] == "tmpfs":
        log(f"warning: {args.work} is on tmpfs: disk writes cost nothing, results flatter every client")
    build_failed = build_ccbt(clients, args.no_build)
    formats = [f for f in args.formats.split(",") if f]
    for f in formats:
        if f not in common.FORMATS:
            raise SystemExit(f"error: unknown format {f!r}; known: {', '.join(common.FORMATS)}")
    sets = common.prepare(args.work, args.size_mib, args.piece_size, formats, layouts)
    size = args.size_mib * MIB
    load_before = load_average()
    if args.mode == "seed":
        import seeding
        report = seeding.run(args, clients, sets, size, timeout, build_failed)
    elif args.mode == "recheck":
        import recheck
        report = recheck.run(args, clients, sets, size, timeout, build_failed)
    else:
        report = run_download(args, clients, sets, size, timeout, build_failed)
    results = report["results"]

    now = datetime.datetime.now()
    header = [
        f"## {now:%Y-%m-%d %H:%M} {report['title']}, {args.runs} round(s)",
        "",
        f"- command: `{' '.join([PY] + [os.path.relpath(sys.argv[0], ROOT)] + sys.argv[1:])}`",
        *common.machine_info(args.work, common.EXTRA_CCBT, common.EXTRA_ENV, common.EXTRA_LT),
        f"- load average (1, 5, 15 min) before: {load_before}, after: {load_average()}",
        *[f"- {n}" for n in report["notes"]],
        "",
    ]
    per_run = common.table(report["columns"], results, True, report["keys"])
    medians = common.table(report["columns"], results, False, report["keys"])
    print("\n".join(header + (per_run if args.per_run else medians)) + "\n")
    outdir = os.path.join(ROOT, "bench", "out")
    os.makedirs(outdir, exist_ok=True)
    name = {"download": "results", "seed": "seed", "recheck": "recheck"}[args.mode]
    with open(os.path.join(outdir, f"{name}-{now:%Y-%m-%d}.md"), "a") as f:
        f.write("\n".join(header + per_run) + "\n\n")
    # Exit 1 when a reference client failed: that is a harness problem, not a ccbt one.
    ref_failed = any(not r["ok"] for key, rs in results.items() if not is_ccbt(key[-1]) for r in rs
                     if not r.get("reason", "").startswith("not installed"))
    return 1 if ref_failed else 0


if __name__ == "__main__":
    sys.exit(main())
