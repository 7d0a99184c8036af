#!/usr/bin/python3
"""Download benchmark: ccbt against real clients, each leeching from one libtorrent seeder on loopback.

Run with Debian's /usr/bin/python3 (it imports libtorrent for its version string and runs the
libtorrent helpers). For each layout (one 1 GiB file, and the same size spread over 16 files of
mixed sizes, including an empty and a one-byte file), and for each leecher in turn:

  1. a fresh libtorrent seeder (tests/interop/lt_seed.py, seed_mode) on 127.0.0.1,
  2. the seeder's data read once so the page cache is warm for every leecher alike,
  3. the leecher under /usr/bin/time (wall, user+sys CPU, peak RSS) into an empty directory,
  4. the downloaded bytes compared with the originals: a wrong download is a failure, never a time.

The table goes to stdout and is appended, with the machine's details, to bench/out/results-<date>.md.
A leecher that fails (not installed, build failed, timed out, wrong bytes) is reported as such and
the run continues.
"""

import argparse
import datetime
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
INTEROP = os.path.join(ROOT, "tests", "interop")
PY = "/usr/bin/python3"
CLIENTS = ("ccbt", "libtorrent", "rqbit", "aria2")
# Extra leechers added on the command line: other ccbt builds (--ccbt NAME=PATH) and libtorrent
# from another Python (--lt NAME=PYTHON, e.g. a venv with the PyPI wheel of libtorrent 2.1).
EXTRA_CCBT = {}
EXTRA_LT = {}
# Environment added to a leecher's process (--env NAME:VAR=VALUE), e.g. a ccbt config key through
# its CCBT_* variable, so one binary can run as two leechers with different settings.
EXTRA_ENV = {}
RQBIT = os.path.expanduser("~/.cargo/bin/rqbit")
MIB = 1 << 20


def log(text):
    sys.stderr.write(f"[bench] {text}\n")
    sys.stderr.flush()


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def multi_sizes(total):
    """16 file sizes summing to `total`: an empty file, a one-byte file, two odd small ones, and
    twelve large ones of uneven (odd) sizes so files start and end in the middle of pieces."""
    small = [0, 1, 16385, 1000003]
    weights = [1, 2, 3, 5, 8, 13, 1, 2, 3, 5, 8, 13]
    rest = total - sum(small)
    if rest < len(weights):
        raise SystemExit(f"error: {total} bytes is too small for the multi-file layout")
    big = [max(1, rest * w // sum(weights)) | 1 for w in weights[:-1]]
    big.append(rest - sum(big))
    sizes = small[:2] + big[:6] + small[2:] + big[6:]
    assert sum(sizes) == total and all(s >= 0 for s in sizes)
    return sizes


def run_quiet(cmd, **kw):
    return subprocess.run(cmd, check=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)


FORMATS = {"v1": "--v1-only", "v2": "--v2-only", "hybrid": "--hybrid"}


def prepare(work, size_mib, piece_size, formats=("v1",)):
    """Make (or reuse) the content and its torrents (one per format: v1, BitTorrent v2 only,
    hybrid, all made by libtorrent); return [(label, torrent, content path)], the label being
    the layout, followed by `/v2` or `/hybrid` for those formats."""
    total = size_mib * MIB
    # One folder per size and piece size, so alternating sizes does not remake the content.
    work = os.path.join(work, f"data-{size_mib}m-p{piece_size}")
    layouts = [
        ("single", f"single:{total}", os.path.join(work, "single", "data.bin")),
        ("multi", "multi:" + ",".join(map(str, multi_sizes(total))), os.path.join(work, "multi", "data")),
    ]
    out = []
    for name, spec, content in layouts:
        stamp = os.path.join(work, name, "STAMP")
        torrent = os.path.join(work, f"{name}.torrent")
        want = f"{spec} piece={piece_size} gen=1\n"
        have = open(stamp).read() if os.path.exists(stamp) else ""
        if have != want or not os.path.exists(torrent):
            log(f"making {name} content ({size_mib} MiB) and torrent")
            shutil.rmtree(os.path.join(work, name), ignore_errors=True)
            run_quiet([PY, os.path.join(INTEROP, "make_data.py"), "--out", os.path.join(work, name),
                       "--layout", spec])
            for f in FORMATS:
                stale = os.path.join(work, f"{name}-{f}.torrent")
                if os.path.exists(stale):
                    os.remove(stale)
            run_quiet([PY, os.path.join(INTEROP, "lt_make_torrent.py"), "--path", content, "--out", torrent,
                       "--piece-size", str(piece_size), "--v1-only"])
            with open(stamp, "w") as f:
                f.write(want)
        for fmt in formats:
            if fmt == "v1":
                out.append((name, torrent, content))
                continue
            made = os.path.join(work, f"{name}-{fmt}.torrent")
            if not os.path.exists(made):
                log(f"making the {fmt} torrent of {name}")
                run_quiet([PY, os.path.join(INTEROP, "lt_make_torrent.py"), "--path", content, "--out", made,
                           "--piece-size", str(piece_size), FORMATS[fmt]])
            out.append((f"{name}/{fmt}", made, content))
    return out


def content_files(content):
    """Relative paths of every file under `content` (a file or a folder), sorted."""
    if os.path.isfile(content):
        return [""]
    found = []
    for dirpath, _dirs, files in os.walk(content):
        for f in files:
            found.append(os.path.relpath(os.path.join(dirpath, f), content))
    return sorted(found)


def warm_cache(content):
    for rel in content_files(content):
        with open(os.path.join(content, rel) if rel else content, "rb") as f:
            while f.read(8 * MIB):
                pass


def same_bytes(a, b):
    try:
        if os.path.getsize(a) != os.path.getsize(b):
            return False
        with open(a, "rb") as fa, open(b, "rb") as fb:
            while True:
                x, y = fa.read(4 * MIB), fb.read(4 * MIB)
                if x != y:
                    return False
                if not x:
                    return True
    except OSError:
        return False


def verify(content, got):
    """None when `got` holds exactly the bytes of `content`, else what is wrong."""
    for rel in content_files(content):
        a = os.path.join(content, rel) if rel else content
        b = os.path.join(got, rel) if rel else got
        if not os.path.exists(b):
            return f"missing {os.path.relpath(b)}"
        if not same_bytes(a, b):
            return f"wrong bytes in {os.path.relpath(b)}"
    return None


CCBT = os.path.join(ROOT, "target", "release", "ccbt")


def unavailable(client):
    """Why `client` cannot run here, or None when it can."""
    if client == "ccbt" and not os.access(CCBT, os.X_OK):
        return "target/release/ccbt missing"
    if client in EXTRA_CCBT and not os.access(EXTRA_CCBT[client], os.X_OK):
        return f"{EXTRA_CCBT[client]} missing"
    if client in EXTRA_LT and not os.access(EXTRA_LT[client], os.X_OK):
        return f"{EXTRA_LT[client]} missing"
    if client == "rqbit" and not os.access(RQBIT, os.X_OK):
        return "not installed"
    if client == "aria2" and not shutil.which("aria2c"):
        return "not installed"
    return None


def leecher_cmd(client, torrent, out, seed_port, my_port, timeout):
    """The leecher's command line."""
    peer = f"127.0.0.1:{seed_port}"
    if client == "ccbt" or client in EXTRA_CCBT:
        binary = EXTRA_CCBT.get(client, CCBT)
        return [binary, "download", torrent, "-o", out, "--peer", peer, "--listen-port", str(my_port), "--no-dht"]
    if client == "libtorrent" or client in EXTRA_LT:
        return [EXTRA_LT.get(client, PY), os.path.join(INTEROP, "lt_leech.py"), "--torrent", torrent, "--out", out,
                "--port", str(my_port), "--peer", peer, "--timeout", str(timeout)]
    if client == "rqbit":
        return [RQBIT, "-v", "warn", "--disable-dht", "--disable-dht-persistence", "--disable-lsd",
                "--disable-trackers", "--disable-upnp-port-forward", "--listen-ip", "127.0.0.1",
                "--listen-port", str(my_port), "--ipv4-only", "download", "--disable-http-api",
                "--exit-on-finish", "--output-folder", out, "--initial-peers", peer, torrent]
    if client == "aria2":
        # aria2 cannot be given a peer: the seeder dials aria2's listen port instead.
        return ["aria2c", "--enable-dht=false", "--enable-dht6=false", "--bt-enable-lpd=false",
                "--enable-peer-exchange=false", "--seed-time=0", "--disable-ipv6=true",
                f"--listen-port={my_port}", f"--bt-stop-timeout={int(timeout)}", "--summary-interval=0",
                "--console-log-level=warn", "--file-allocation=falloc", "--dir", out, torrent]
    raise ValueError(client)


def start_seeder(torrent, content, logf, connect=None):
    port = free_port()
    ready = os.path.join(os.path.dirname(torrent), f"seed-{port}.ready")
    cmd = [PY, os.path.join(INTEROP, "lt_seed.py"), "--torrent", torrent,
           "--data", os.path.dirname(content), "--port", str(port), "--ready-file", ready]
    if connect:
        cmd += ["--connect", connect]
    proc = subprocess.Popen(cmd, stdout=logf, stderr=logf, start_new_session=True)
    deadline = time.monotonic() + 30
    while not os.path.exists(ready):
        if proc.poll() is not None or time.monotonic() > deadline:
            stop(proc)
            raise RuntimeError("libtorrent seeder did not start")
        time.sleep(0.02)
    os.unlink(ready)
    return proc, port


def stop(proc):
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def run_one(client, layout, torrent, content, work, timeout):
    """One leecher run; returns a result dict (ok, reason, wall, user, sys, rss_kib)."""
    out = os.path.join(work, f"out-{client}")
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    logpath = os.path.join(work, f"{layout.replace('/', '-')}-{client}.log")
    my_port = free_port()
    why = unavailable(client)
    if why:
        return {"ok": False, "reason": why}
    warm_cache(content)
    timef = os.path.join(work, "time.out")
    with open(logpath, "w") as logf:
        connect = f"127.0.0.1:{my_port}" if client == "aria2" else None
        seeder, seed_port = start_seeder(torrent, content, logf, connect)
        cmd = leecher_cmd(client, torrent, out, seed_port, my_port, timeout)
        log(f"{layout}/{client}: {' '.join(cmd)}")
        try:
            env = dict(os.environ, **EXTRA_ENV.get(client, {}))
            proc = subprocess.Popen(["/usr/bin/time", "-f", "%e %U %S %M", "-o", timef] + cmd,
                                    stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
                                    start_new_session=True, env=env)
            try:
                rc = proc.wait(timeout)
            except subprocess.TimeoutExpired:
                stop(proc)
                return {"ok": False, "reason": f"timeout {timeout:.0f}s"}
        finally:
            stop(seeder)
    if rc != 0:
        return {"ok": False, "reason": f"exit {rc} (see {os.path.relpath(logpath)})"}
    with open(timef) as f:
        wall, user, sys_, rss = f.read().split()[-4:]
    wrong = verify(content, os.path.join(out, os.path.basename(content)))
    shutil.rmtree(out, ignore_errors=True)
    if wrong:
        return {"ok": False, "reason": wrong}
    return {"ok": True, "wall": float(wall), "cpu": float(user) + float(sys_), "user": float(user),
            "sys": float(sys_), "rss_kib": int(rss)}


def fmt_row(layout, client, run, r, size):
    if not r["ok"]:
        return f"| {layout} | {client} | {run} | FAIL: {r['reason']} | | | | |"
    mbs = size / 1e6 / r["wall"] if r["wall"] > 0 else float("inf")
    return (f"| {layout} | {client} | {run} | ok | {r['wall']:.2f} | {mbs:.0f} | {r['cpu']:.2f} "
            f"({r['user']:.2f} + {r['sys']:.2f}) | {r['rss_kib'] / 1024:.0f} |")


def summary_rows(results, size):
    """One row per (layout, client): medians over the successful runs with [min-max] ranges."""
    rows = []
    for (layout, client), rs in results.items():
        good = [r for r in rs if r["ok"]]
        if not good:
            rows.append(f"| {layout} | {client} | 0/{len(rs)} | | | | | | |")
            continue

        def cell(values, fmt):
            values = sorted(values)
            med = statistics.median(values)
            if len(values) == 1:
                return fmt.format(med)
            return f"{fmt.format(med)} [{fmt.format(values[0])}-{fmt.format(values[-1])}]"

        rows.append(
            f"| {layout} | {client} | {len(good)}/{len(rs)} "
            f"| {cell([r['wall'] for r in good], '{:.2f}')} "
            f"| {cell([size / 1e6 / r['wall'] for r in good if r['wall'] > 0], '{:.0f}')} "
            f"| {cell([r['cpu'] for r in good], '{:.2f}')} "
            f"| {cell([r['user'] for r in good], '{:.2f}')} "
            f"| {cell([r['sys'] for r in good], '{:.2f}')} "
            f"| {cell([r['rss_kib'] / 1024 for r in good], '{:.0f}')} |")
    return rows


def order_clients(named):
    """The leechers of one round: each extra ccbt right after `ccbt`, each extra libtorrent right
    after `libtorrent` (ccbt, ccbt-x, libtorrent, lt-2.1, rqbit, ...), so related clients run
    close together; an extra whose base client is not named goes last."""
    out = []
    for c in named:
        out.append(c)
        if c == "ccbt":
            out += [x for x in EXTRA_CCBT if x not in named]
        if c == "libtorrent":
            out += [x for x in EXTRA_LT if x not in named]
    return out + [x for x in list(EXTRA_CCBT) + list(EXTRA_LT) if x not in out]


def load_average():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "n/a"


def machine_info(work):
    def first_line(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout.splitlines()[0]
        except (OSError, IndexError, subprocess.SubprocessError):
            return "n/a"

    cpu = "unknown"
    mem = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), cpu)
        with open("/proc/meminfo") as f:
            mem = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("MemTotal")), mem)
    except OSError:
        pass
    try:
        import libtorrent
        lt_version = libtorrent.__version__
    except ImportError:
        lt_version = "n/a"
    fs = first_line(["findmnt", "-n", "-o", "FSTYPE", "--target", work])
    return [
        f"- machine: {os.cpu_count()} CPUs ({cpu}), {mem} RAM, Linux {platform.release()}",
        f"- work dir: {work} ({fs})",
        f"- ccbt {first_line(['git', '-C', ROOT, 'rev-parse', '--short', 'HEAD'])}, "
        f"libtorrent {lt_version}, {first_line([RQBIT, '--version'])}, {first_line(['aria2c', '--version'])}",
        *[f"- {name}: {path}" for name, path in EXTRA_CCBT.items()],
        *[f"- {name} environment: {' '.join(f'{k}={v}' for k, v in env.items())}" for name, env in EXTRA_ENV.items()],
        *[f"- {name}: libtorrent {first_line([py, '-c', 'import libtorrent; print(libtorrent.__version__)'])}"
          for name, py in EXTRA_LT.items()],
    ]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size-mib", type=int, default=1024)
    p.add_argument("--runs", type=int, default=1)
    p.add_argument("--only", default=",".join(CLIENTS), help=f"comma-separated subset of {','.join(CLIENTS)}")
    p.add_argument("--layouts", default="single,multi", help="comma-separated subset of single,multi")
    p.add_argument("--piece-size", type=int, default=MIB)
    p.add_argument("--formats", default="v1",
                   help="comma-separated subset of v1,v2,hybrid: torrent formats, each a layout of its own")
    p.add_argument("--timeout", type=float, help="seconds per leecher (default 20 + 40 per GiB)")
    p.add_argument("--work", default="/tmp/ccbt-bench",
                   help="scratch dir; keep it on a disk, not tmpfs, or writes are RAM-speed")
    p.add_argument("--no-build", action="store_true", help="use the existing target/release/ccbt")
    p.add_argument("--ccbt", action="append", default=[], metavar="NAME=PATH",
                   help="another ccbt binary to run as leecher NAME (e.g. ccbt-before=/tmp/ccbt); repeatable")
    p.add_argument("--lt", action="append", default=[], metavar="NAME=PYTHON",
                   help="libtorrent from another Python (e.g. lt-2.1=/tmp/venv/bin/python3); repeatable")
    p.add_argument("--env", action="append", default=[], metavar="NAME:VAR=VALUE",
                   help="set VAR=VALUE in leecher NAME's environment (e.g. ccbt-direct:CCBT_DIRECT_IO=true); "
                        "repeatable")
    args = p.parse_args()
    for spec in args.env:
        name, sep, assignment = spec.partition(":")
        var, eq, value = assignment.partition("=")
        if not sep or not name or not eq or not var:
            raise SystemExit(f"error: expected NAME:VAR=VALUE, got {spec!r}")
        EXTRA_ENV.setdefault(name, {})[var] = value
    for spec, table in [(x, EXTRA_CCBT) for x in args.ccbt] + [(x, EXTRA_LT) for x in args.lt]:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            raise SystemExit(f"error: expected NAME=PATH, got {spec!r}")
        table[name] = os.path.abspath(path)

    clients = order_clients([c for c in args.only.split(",") if c])
    layouts = [x for x in args.layouts.split(",") if x]
    known = CLIENTS + tuple(EXTRA_CCBT) + tuple(EXTRA_LT)
    for name in EXTRA_ENV:
        if name not in known:
            raise SystemExit(f"error: --env names unknown leecher {name!r}; known: {', '.join(known)}")
    for c in clients:
        if c not in known:
            raise SystemExit(f"error: unknown client {c!r}; known: {', '.join(known)}")
    timeout = args.timeout or 20 + 40 * args.size_mib / 1024
    os.makedirs(args.work, exist_ok=True)
    fs = subprocess.run(["findmnt", "-n", "-o", "FSTYPE", "--target", args.work],
                        capture_output=True, text=True).stdout.strip()
    if fs == "tmpfs":
        log(f"warning: {args.work} is on tmpfs: disk writes cost nothing, results flatter every client")

    build_failed = None
    if "ccbt" in clients and not args.no_build:
        log("cargo build --release -p ccbt")
        b = subprocess.run(["cargo", "build", "--release", "-p", "ccbt"], cwd=ROOT,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if b.returncode != 0:
            build_failed = "cargo build failed"
            log("ccbt build failed:\n" + "\n".join(b.stdout.splitlines()[-15:]))

    formats = [f for f in args.formats.split(",") if f]
    for f in formats:
        if f not in FORMATS:
            raise SystemExit(f"error: unknown format {f!r}; known: {', '.join(FORMATS)}")
    sets = [s for s in prepare(args.work, args.size_mib, args.piece_size, formats)
            if s[0].split("/")[0] in layouts]
    size = args.size_mib * MIB
    rows = []
    results = {}
    load_before = load_average()
    # Interleaved: every round runs every leecher once (ccbt, libtorrent, rqbit, ccbt, ...), so a
    # machine that speeds up or slows down during the run affects every client alike.
    for run in range(1, args.runs + 1):
        for layout, torrent, content in sets:
            for client in clients:
                if client == "ccbt" and build_failed:
                    r = {"ok": False, "reason": build_failed}
                else:
                    r = run_one(client, layout, torrent, content, args.work, timeout)
                log(f"round {run} {layout}/{client}: " + (f"{r['wall']:.2f}s" if r["ok"] else r["reason"]))
                rows.append(fmt_row(layout, client, run, r, size))
                results.setdefault((layout, client), []).append(r)
    summary = summary_rows(results, size)

    now = datetime.datetime.now()
    header = [
        f"## {now:%Y-%m-%d %H:%M} download from one libtorrent seeder, {args.size_mib} MiB, "
        f"piece {args.piece_size // 1024} KiB, {args.runs} run(s)",
        "",
        *machine_info(args.work),
        f"- load average (1, 5, 15 min) before: {load_before}, after: {load_average()}",
        "",
        "| layout | client | run | result | wall s | MB/s | CPU s (user + sys) | peak RSS MiB |",
        "|---|---|---|---|---:|---:|---:|---:|",
    ]
    text = "\n".join(header + rows) + "\n"
    if summary:
        text += "\n".join(["", "Medians over the successful rounds, [min-max]:", "",
                           "| layout | client | ok | wall s | MB/s | CPU s (user+sys) | user s | sys s "
                           "| peak RSS MiB |",
                           "|---|---|---:|---:|---:|---:|---:|---:|---:|", *summary]) + "\n"
    print(text)
    outdir = os.path.join(ROOT, "bench", "out")
    os.makedirs(outdir, exist_ok=True)
    with open(os.path.join(outdir, f"results-{now:%Y-%m-%d}.md"), "a") as f:
        f.write(text + "\n")
    # Exit 1 when a reference client failed: that is a harness problem, not a ccbt one.
    ref_failed = any(not r["ok"] for (_, c), rs in results.items()
                     if c != "ccbt" and c not in EXTRA_CCBT for r in rs
                     if not r.get("reason", "").startswith("not installed"))
    return 1 if ref_failed else 0


if __name__ == "__main__":
    sys.exit(main())
