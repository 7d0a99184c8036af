#!/usr/bin/python3
"""Per-peer tracing benchmark: what tracing costs a ccbt download, off and on.

Run with Debian's /usr/bin/python3. One libtorrent seeder (tests/interop/lt_seed.py, seed mode)
on 127.0.0.1 and `ccbt download` from it, in rounds; each round runs every variant once, in an
order that alternates from round to round, so drift of the machine hits them alike:

  off   tracing off (the default: each message costs one test of an empty Option),
  on    `enable_peer_tracing = true` (CCBT_ENABLE_PEER_TRACING=true): the one peer is traced,
        every message a line in <state>/traces/<info hash>/127.0.0.1_<port>.log,
  NAME  with --baseline NAME=PATH, another ccbt binary (e.g. a build without the tracing code).

Each run gets a fresh seeder with its data read once (warm page cache), a fresh output folder
and state folder, and runs under /usr/bin/time; the downloaded bytes are compared with the
originals (a wrong download is a failure, never a time). The table (medians with [min-max]
ranges of wall seconds and CPU seconds, user+sys) goes to stdout and, with the machine's
details and load, to bench/out/results-<date>.md.
"""

import argparse
import datetime
import os
import shutil
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as dl  # noqa: E402  (the content, seeder and verification helpers)


def run_one(variant, binary, torrent, content, work, timeout):
    """One download; a result dict (ok, reason, wall, cpu, trace_bytes)."""
    out = os.path.join(work, f"out-{variant}")
    state = os.path.join(work, f"state-{variant}")
    for d in (out, state):
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
    dl.warm_cache(content)
    timef = os.path.join(work, "time.out")
    logpath = os.path.join(work, f"{variant}.log")
    env = dict(os.environ)
    env.pop("CCBT_ENABLE_PEER_TRACING", None)
    if variant == "on":
        env["CCBT_ENABLE_PEER_TRACING"] = "true"
    with open(logpath, "w") as logf:
        seeder, seed_port = dl.start_seeder(torrent, content, logf)
        cmd = [binary, "download", torrent, "-o", out, "--peer", f"127.0.0.1:{seed_port}",
               "--listen-port", str(dl.free_port()), "--no-dht", "--no-checkpoint", "--state-dir", state]
        dl.log(f"{variant}: {' '.join(cmd)}")
        try:
            proc = subprocess.Popen(["/usr/bin/time", "-f", "%e %U %S %M", "-o", timef] + cmd, env=env,
                                    stdin=subprocess.DEVNULL, stdout=logf, stderr=logf, start_new_session=True)
            try:
                rc = proc.wait(timeout)
            except subprocess.TimeoutExpired:
                dl.stop(proc)
                return {"ok": False, "reason": f"timeout {timeout:.0f}s"}
        finally:
            dl.stop(seeder)
    if rc != 0:
        return {"ok": False, "reason": f"exit {rc} (see {logpath})"}
    with open(timef) as f:
        wall, user, sys_, _rss = f.read().split()[-4:]
    wrong = dl.verify(content, os.path.join(out, os.path.basename(content)))
    trace_bytes = 0
    for dirpath, _dirs, files in os.walk(os.path.join(state, "traces")):
        trace_bytes += sum(os.path.getsize(os.path.join(dirpath, f)) for f in files)
    if variant == "on" and trace_bytes == 0:
        wrong = wrong or "no trace file written"
    if variant != "on" and trace_bytes:
        wrong = wrong or "a trace file was written with tracing off"
    shutil.rmtree(out, ignore_errors=True)
    if wrong:
        return {"ok": False, "reason": wrong}
    return {"ok": True, "wall": float(wall), "cpu": float(user) + float(sys_), "trace_bytes": trace_bytes}


def cell(values, fmt):
    values = sorted(values)
    med = statistics.median(values)
    if len(values) == 1:
        return fmt.format(med)
    return f"{fmt.format(med)} [{fmt.format(values[0])}-{fmt.format(values[-1])}]"


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size-mib", type=int, default=512)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--piece-size", type=int, default=dl.MIB)
    p.add_argument("--baseline", action="append", default=[], metavar="NAME=PATH",
                   help="another ccbt binary as an extra variant (repeatable)")
    p.add_argument("--timeout", type=float, help="seconds per download (default 20 + 40 per GiB)")
    p.add_argument("--work", default="/tmp/ccbt-bench",
                   help="scratch dir; keep it on a disk, not tmpfs, or writes are RAM-speed")
    p.add_argument("--no-build", action="store_true", help="use the existing target/release/ccbt")
    args = p.parse_args()
    variants = [("off", dl.CCBT), ("on", dl.CCBT)]
    for spec in args.baseline:
        name, _, path = spec.partition("=")
        if not name or not path or name in ("off", "on"):
            raise SystemExit(f"error: --baseline wants NAME=PATH with a new name, not {spec!r}")
        variants.append((name, os.path.abspath(path)))
    timeout = args.timeout or 20 + 40 * args.size_mib / 1024
    if not args.no_build:
        dl.log("cargo build --release -p ccbt")
        subprocess.run(["cargo", "build", "--release", "-p", "ccbt"], cwd=dl.ROOT, check=True)
    os.makedirs(args.work, exist_ok=True)
    layouts = dl.prepare(args.work, args.size_mib, args.piece_size)
    _layout, torrent, content = next(x for x in layouts if x[0] == "single")
    work = os.path.join(args.work, "peer-trace")
    os.makedirs(work, exist_ok=True)
    load_before = os.getloadavg()
    results = {name: [] for name, _ in variants}
    rows = []
    for rnd in range(args.rounds):
        # Alternate the order so neither variant always runs first (page cache, CPU boost).
        order = variants if rnd % 2 == 0 else list(reversed(variants))
        for name, binary in order:
            r = run_one(name, binary, torrent, content, work, timeout)
            results[name].append(r)
            if r["ok"]:
                rows.append(f"| {rnd + 1} | {name} | ok | {r['wall']:.2f} | {r['cpu']:.2f} "
                            f"| {r['trace_bytes'] / dl.MIB:.1f} |")
            else:
                rows.append(f"| {rnd + 1} | {name} | FAIL: {r['reason']} | | | |")
            dl.log(rows[-1])
    load_after = os.getloadavg()
    size = args.size_mib * dl.MIB
    lines = [
        f"## Per-peer tracing, {args.size_mib} MiB from one libtorrent seeder, {args.rounds} rounds "
        f"({datetime.datetime.now().isoformat(timespec='seconds')})",
        "",
        *dl.machine_info(args.work),
        f"- load average (1, 5, 15 min) before: {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}, "
        f"after: {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f}",
        "",
        "| round | variant | result | wall s | CPU s | trace MiB |",
        "|---|---|---|---|---|---|",
        *rows,
        "",
        "| variant | ok | wall s, median [min-max] | MB/s | CPU s (user+sys) | trace MiB |",
        "|---|---|---|---|---|---|",
    ]
    for name, _ in variants:
        good = [r for r in results[name] if r["ok"]]
        if not good:
            lines.append(f"| {name} | 0/{len(results[name])} | | | | |")
            continue
        lines.append(
            f"| {name} | {len(good)}/{len(results[name])} | {cell([r['wall'] for r in good], '{:.2f}')} "
            f"| {cell([size / 1e6 / r['wall'] for r in good], '{:.0f}')} "
            f"| {cell([r['cpu'] for r in good], '{:.2f}')} "
            f"| {cell([r['trace_bytes'] / dl.MIB for r in good], '{:.1f}')} |")
    text = "\n".join(lines) + "\n"
    print(text)
    out_dir = os.path.join(dl.ROOT, "bench", "out")
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, f"results-{datetime.date.today()}.md"), "a") as f:
        f.write(text + "\n")
    failed = any(not r["ok"] for rs in results.values() for r in rs)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
