#!/usr/bin/env python3
"""Xet update benchmark: bytes on the wire and time to move from version 1 of a dataset to
version 2, for the mutations of the Xet research (section 6), three ways in one run:

  plain   re-download v2 into an empty folder (Xet off)
  reuse   BEP 52 piece reuse only: the folder already holds the v1 files at the same paths, Xet
          off; the data check keeps every piece that still matches and the rest is downloaded
  xet     the leecher's chunk store has v1 indexed (v1 checked once with xet_enabled, in a
          fresh state dir per run); v2 downloads into an empty folder with the store on, so
          every piece made entirely of chunks v1 already has is copied locally
  both    (only with --modes) reuse and xet together: the v1 files in the folder and v1 in the
          store; the check keeps the pieces that match, the store fills what it can of the rest

One ccbt seeder of v2 per mutation on loopback. Each leecher dials it through a TCP proxy in
this script that counts every byte both ways (payload and protocol), with DHT, PEX and trackers
off. Rounds are interleaved (plain, reuse, xet, plain, ...); every result is compared byte for
byte with v2, and a mismatch stops the run with exit status 1. Next to the measured bytes the
script prints what the data implies: the distinct v2 chunks v1 lacks (`ccbt xet hash --chunks`),
the v2 pieces that differ from v1's piece at the same path and index (what piece reuse must
fetch), and the v2 pieces not made entirely of chunks v1 has (what the local chunk fill leaves
to download while ccbt fetches missing data by pieces), and for `both` the pieces in both sets.

Needs Python 3.9+ (standard library only) and the release binary: cargo build --release -p ccbt
(done unless --no-build).
"""

import argparse
import asyncio
import datetime
import filecmp
import functools
import hashlib
import os
import platform
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

KIB = 1024
MIB = 1024 * KIB
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CCBT = os.path.join(ROOT, "target", "release", "ccbt")
NAME = "data"  # the torrents' name: v1 and v2 files live at the same paths under it
MODES = ("plain", "reuse", "xet", "both")
DEFAULT_MODES = MODES[:3]
# name: (kind, number of edits); every mutation changes --percent of the dataset in total.
MUTATIONS = {
    "overwrite-1": ("overwrite", 1),
    "overwrite-100": ("overwrite", 100),
    "overwrite-1000": ("overwrite", 1000),
    "overwrite-10000": ("overwrite", 10000),
    "insert-100": ("insert", 100),
    "insert-1000": ("insert", 1000),
    "delete-100": ("delete", 100),
}
DEFAULT_MUTATIONS = [m for m in MUTATIONS if m != "overwrite-10000"]
# A few files of uneven, unaligned sizes (shares of the total).
FILE_SHARES = (0.4, 0.3, 0.2, 0.1)


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class BenchError(Exception):
    """A failure that ends the run with a message (a mismatch, a leecher that failed)."""


# ---------------------------------------------------------------- dataset


def file_sizes(total):
    sizes = [int(total * s) + 4099 * i for i, s in enumerate(FILE_SHARES)]
    sizes[-1] = total - sum(sizes[:-1])
    return sizes


def make_v1(folder, total, seed):
    rng = random.Random(seed)
    os.makedirs(folder)
    for i, size in enumerate(file_sizes(total)):
        with open(os.path.join(folder, f"part{i}.bin"), "wb") as f:
            left = size
            while left:
                n = min(left, 16 * MIB)
                f.write(rng.randbytes(n))
                left -= n


def edit_positions(total, kind, count, edit_len, rng):
    """One edit per equal slot of the byte stream, at a random place inside it: spread out,
    never overlapping."""
    slot = total // count
    room = slot - (edit_len if kind != "insert" else 0)
    if room <= 0:
        raise BenchError(f"{count} edits of {edit_len} B do not fit in {total} B")
    return [i * slot + rng.randrange(room) for i in range(count)]


def mutate(data, start, edits, kind, rng):
    """Applies the edits whose stream offset falls in this file (`start` = its offset)."""
    out, pos = [], 0
    for at, n in edits:
        local = at - start
        if local < 0 or local >= len(data) or local < pos:
            continue
        out.append(data[pos:local])
        if kind == "overwrite":
            n = min(n, len(data) - local)
            out.append(rng.randbytes(n))
            pos = local + n
        elif kind == "insert":
            out.append(rng.randbytes(n))
            pos = local
        else:  # delete
            pos = min(len(data), local + n)
    out.append(data[pos:])
    return b"".join(out)


def make_v2(v1, v2, mutation, total, percent, seed):
    kind, count = MUTATIONS[mutation]
    rng = random.Random(f"{seed}/{mutation}")
    edit_len = max(1, int(total * percent / 100) // count)
    edits = [(p, edit_len) for p in edit_positions(total, kind, count, edit_len, rng)]
    os.makedirs(v2)
    start = 0
    for name in sorted(os.listdir(v1)):
        with open(os.path.join(v1, name), "rb") as f:
            data = f.read()
        with open(os.path.join(v2, name), "wb") as f:
            f.write(mutate(data, start, edits, kind, rng))
        start += len(data)
    return edit_len


def run_ok(cmd, what, **kw):
    p = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if p.returncode != 0:
        raise BenchError(f"{what} failed ({p.returncode}): {' '.join(cmd)}\n{p.stderr.strip()[-2000:]}")
    return p.stdout


def create_torrent(folder, out, piece):
    run_ok([CCBT, "create", folder, "-o", out, "--xet", "--piece-size", str(piece), "--name", NAME,
            "--force", "-q"], "ccbt create")


def chunks_of(path):
    """[(offset, length, id)] of a file, from `ccbt xet hash --chunks`."""
    lines = run_ok([CCBT, "xet", "hash", path, "--chunks"], "ccbt xet hash").splitlines()[1:]
    return [(int(o), int(n), i) for o, n, i in (ln.split() for ln in lines)]


def prepare(args, work):
    """Makes (or reuses) v1, every v2 and their torrents; returns the dataset folder."""
    base = os.path.join(work, f"xet-data-{args.size_mib}m-s{args.seed}-p{args.percent}-pc{args.piece_kib}k")
    total, piece = args.size_mib * MIB, args.piece_kib * KIB
    v1 = os.path.join(base, "v1", NAME)
    if not os.path.exists(os.path.join(base, "v1.done")):
        shutil.rmtree(base, ignore_errors=True)
        log(f"making v1: {args.size_mib} MiB in {len(FILE_SHARES)} files")
        make_v1(v1, total, args.seed)
        create_torrent(v1, os.path.join(base, "v1.torrent"), piece)
        open(os.path.join(base, "v1.done"), "w").close()
    for m in args.mutations:
        done = os.path.join(base, f"v2-{m}.done")
        if os.path.exists(done):
            continue
        v2 = os.path.join(base, f"v2-{m}", NAME)
        shutil.rmtree(os.path.dirname(v2), ignore_errors=True)
        log(f"making v2 for {m}")
        edit_len = make_v2(v1, v2, m, total, args.percent, args.seed)
        create_torrent(v2, os.path.join(base, f"v2-{m}.torrent"), piece)
        with open(done, "w") as f:
            f.write(str(edit_len))
    return base


# ---------------------------------------------------------------- what the data implies


def piece_digests(path, piece):
    out = []
    with open(path, "rb") as f:
        while True:
            block = f.read(piece)
            if not block:
                return out
            out.append(hashlib.sha256(block).digest())


@functools.lru_cache(maxsize=None)
def chunk_ids(folder):
    """The chunk ids of every file in `folder` (v1's, computed once per run)."""
    ids = set()
    for name in os.listdir(folder):
        ids.update(c[2] for c in chunks_of(os.path.join(folder, name)))
    return frozenset(ids)


def theory(base, mutation, piece):
    """Bytes the data implies for v1 -> v2 (dict), from the chunk lists and piece contents."""
    v1, v2 = os.path.join(base, "v1", NAME), os.path.join(base, f"v2-{mutation}", NAME)
    v1_ids = chunk_ids(v1)
    new_ids, new_bytes, chunks, changed, unfillable, both, total = set(), 0, 0, 0, 0, 0, 0
    for name in sorted(os.listdir(v2)):
        path = os.path.join(v2, name)
        size = os.path.getsize(path)
        total += size
        cs = chunks_of(path)
        chunks += len(cs)
        for _, n, cid in cs:
            if cid not in v1_ids and cid not in new_ids:
                new_ids.add(cid)
                new_bytes += n
        old = piece_digests(os.path.join(v1, name), piece) if os.path.exists(os.path.join(v1, name)) else []
        new = piece_digests(path, piece)
        differ = {i for i, d in enumerate(new) if i >= len(old) or old[i] != d}
        changed += sum(min(piece, size - i * piece) for i in differ)
        # A piece the chunk fill completes: every chunk overlapping it is one v1 has.
        bad = set()
        for off, n, cid in cs:
            if cid not in v1_ids:
                bad.update(range(off // piece, (off + n - 1) // piece + 1))
        unfillable += sum(min(piece, size - p * piece) for p in bad)
        both += sum(min(piece, size - p * piece) for p in bad & differ)
    return {"total": total, "chunks": chunks, "new_chunks": len(new_ids), "new_bytes": new_bytes,
            "changed_pieces": changed, "unfillable": unfillable, "both": both, "manifest": 36 * chunks}


# ---------------------------------------------------------------- the counting proxy


class Proxy:
    """Listens on 127.0.0.1:<ephemeral> and forwards each connection to the seeder, counting the
    bytes that cross it: `down` towards the leecher, `up` from it. Runs in its own thread."""

    def __init__(self, target_port):
        self.target_port = target_port
        self.up = self.down = self.connections = 0
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(ready,), daemon=True)
        self.thread.start()
        ready.wait()

    def _run(self, ready):
        asyncio.set_event_loop(self.loop)
        self.server = self.loop.run_until_complete(asyncio.start_server(self._client, "127.0.0.1", 0))
        self.port = self.server.sockets[0].getsockname()[1]
        ready.set()
        self.loop.run_forever()

    async def _client(self, reader, writer):
        self.connections += 1
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        try:
            await asyncio.gather(self._pipe(reader, up_writer, "up"), self._pipe(up_reader, writer, "down"))
        except asyncio.CancelledError:
            pass  # the proxy is closing

    async def _pipe(self, reader, writer, direction):
        try:
            while True:
                data = await reader.read(256 * KIB)
                if not data:
                    break
                setattr(self, direction, getattr(self, direction) + len(data))
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            try:
                writer.close()
            except Exception:
                pass

    def close(self):
        async def stop():
            self.server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(timeout=10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)


# ---------------------------------------------------------------- runs


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_config(path, xet, store=None):
    with open(path, "w") as f:
        f.write('[network]\nlisten_host = "127.0.0.1"\n')
        f.write(f"[xet]\nxet_enabled = {'true' if xet else 'false'}\n")
        if store:
            f.write(f'xet_store_dir = "{store}"\n')


def quiet_flags(state, quiet=True):
    """No discovery but the peer named, and a private state dir."""
    return ["--no-dht", "--no-pex", "--no-trackers", "--state-dir", state] + (["-q"] if quiet else [])


def start_seeder(base, mutation, tmp):
    port = free_port()
    state = os.path.join(tmp, "seed-state")
    os.makedirs(state)
    cfg = os.path.join(tmp, "seed.toml")
    write_config(cfg, xet=False)
    log_path = os.path.join(tmp, "seeder.log")
    # Not quiet: the seeder's "all N pieces present; seeding" line says its check is over. It
    # accepts connections while checking, and a leecher that came too early would wait for a
    # reconnect, which is no part of an update's cost.
    cmd = [CCBT, "--config", cfg, "seed", os.path.join(base, f"v2-{mutation}.torrent"),
           "-o", os.path.join(base, f"v2-{mutation}"), "--listen-port", str(port), *quiet_flags(state, quiet=False)]
    with open(log_path, "w") as lf:
        proc = subprocess.Popen(cmd, stdout=lf, stderr=subprocess.STDOUT)
    deadline = time.time() + 300
    while time.time() < deadline:
        with open(log_path) as lf:
            text = lf.read()
        if proc.poll() is not None:
            raise BenchError(f"seeder exited {proc.returncode}:\n{text[-2000:]}")
        if "present; seeding on port" in text:
            return proc, port
        if "missing" in text:
            proc.kill()
            proc.wait()
            raise BenchError(f"the seeder does not have all of v2:\n{text[-2000:]}")
        time.sleep(0.2)
    proc.kill()
    proc.wait()
    raise BenchError("the seeder did not finish checking v2 within 300 s")


def index_v1(base, run_dir, cfg, state):
    """Mode xet's precondition: check v1 in place with the store on, so its files are indexed."""
    out = run_ok([CCBT, "--config", cfg, "download", os.path.join(base, "v1.torrent"), "-o",
                  os.path.join(base, "v1"), "--listen-port", "0", *quiet_flags(state)], "indexing v1")
    status = run_ok([CCBT, "--config", cfg, "xet", "status"], "ccbt xet status")
    files = re.search(r"(\d+) files", status)
    if not files or int(files.group(1)) != len(FILE_SHARES):
        raise BenchError(f"v1 was not indexed by the chunk store:\n{out}\n{status}")


def run_leecher(args, base, mutation, mode, seed_port, run_dir):
    """One leecher run; returns its measurements. Raises BenchError on any failure."""
    state, out = os.path.join(run_dir, "state"), os.path.join(run_dir, "out")
    os.makedirs(state)
    os.makedirs(out)
    cfg = os.path.join(run_dir, "leech.toml")
    write_config(cfg, xet=mode in ("xet", "both"), store=os.path.join(state, "xet"))
    extra = []
    if mode in ("reuse", "both"):
        shutil.copytree(os.path.join(base, "v1", NAME), os.path.join(out, NAME))
        extra = ["--overwrite"]  # the v1 files are ours: let the check keep what matches
    if mode in ("xet", "both"):
        index_v1(base, run_dir, cfg, state)
    proxy = Proxy(seed_port)
    cmd = [CCBT, "--config", cfg, "download", os.path.join(base, f"v2-{mutation}.torrent"), "-o", out,
           "--peer", f"127.0.0.1:{proxy.port}", "--listen-port", "0", *quiet_flags(state), *extra]
    log_path = os.path.join(run_dir, "leecher.log")
    try:
        with open(log_path, "w") as lf:
            started = time.monotonic()
            proc = subprocess.Popen(cmd, stdout=lf, stderr=subprocess.STDOUT)
            try:
                status, usage = wait_with_timeout(proc, args.timeout)
            except BaseException:
                if proc.returncode is None:
                    proc.kill()
                    os.waitpid(proc.pid, 0)
                raise
            wall = time.monotonic() - started
    finally:
        proxy.close()
    with open(log_path) as lf:
        text = lf.read()
    if status != 0:
        raise BenchError(f"{mode} leecher of {mutation} exited {status}:\n{text[-2000:]}")
    problem = check_identical(os.path.join(base, f"v2-{mutation}", NAME), os.path.join(out, NAME), mode, mutation)
    payload = re.search(r"downloaded [^(]*\((\d+) bytes\)", text)
    return {"down": proxy.down, "up": proxy.up, "conns": proxy.connections, "wall": wall,
            "cpu": usage.ru_utime + usage.ru_stime, "payload": int(payload.group(1)) if payload else None,
            "problem": problem}


def wait_with_timeout(proc, timeout):
    deadline = time.monotonic() + timeout
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return proc.returncode, usage
        if time.monotonic() > deadline:
            raise BenchError(f"leecher timed out after {timeout} s")
        time.sleep(0.02)


def check_identical(want, got, mode, mutation):
    """None when `got` is v2 exactly. A file that holds v2's bytes followed by extra bytes is
    returned as a note for the report: ccbt never truncates an existing file longer than the
    torrent's (ccbt-storage `FileStorage`, as libtorrent), so piece reuse in place leaves v1's
    tail after a file that shrank. Any other difference raises (exit status 1)."""
    names = sorted(os.listdir(want))
    found = sorted(os.listdir(got)) if os.path.isdir(got) else []
    if found != names:
        raise BenchError(f"MISMATCH ({mutation}, {mode}): files {found} instead of {names}")
    long = []
    for n in names:
        a, b = os.path.join(want, n), os.path.join(got, n)
        if filecmp.cmp(a, b, shallow=False):
            continue
        size, got_size = os.path.getsize(a), os.path.getsize(b)
        if got_size > size and same_prefix(a, b, size):
            long.append(f"{n} +{got_size - size} B")
            continue
        raise BenchError(f"MISMATCH ({mutation}, {mode}): {n} differs from v2 ({got_size} B, v2 {size} B)")
    return "; ".join(long) or None


def same_prefix(a, b, n):
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while n:
            k = min(n, 4 * MIB)
            if fa.read(k) != fb.read(k):
                return False
            n -= k
    return True


# ---------------------------------------------------------------- report


def mib(n):
    return n / MIB


def cell(values, fmt):
    med = statistics.median(values)
    if len(values) < 2:
        return fmt.format(med)
    return f"{fmt.format(med)} [{fmt.format(min(values))}-{fmt.format(max(values))}]"


def report(args, results, theories, edit_lens):
    lines = ["", f"Theory (from the data; piece {args.piece_kib} KiB; {args.size_mib} MiB, "
             f"{args.percent}% changed per mutation; percentages of v2's size):", "",
             "| mutation | edit size B | v2 chunks | new chunks | new chunk MiB (%) "
             "| changed pieces MiB (%) | pieces not all-v1 chunks MiB (%) | both MiB (%) | manifests KiB |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for m in args.mutations:
        t = theories[m]
        pct = lambda n: f"{mib(n):.1f} ({100 * n / t['total']:.2f}%)"
        lines.append(f"| {m} | {edit_lens[m]} | {t['chunks']} | {t['new_chunks']} | {pct(t['new_bytes'])} "
                     f"| {pct(t['changed_pieces'])} | {pct(t['unfillable'])} | {pct(t['both'])} "
                     f"| {t['manifest'] / KIB:.0f} |")
    if not results:
        return lines
    lines += ["", f"Measured ({args.rounds} interleaved rounds; medians [min-max]):", "",
              "| mutation | mode | wire down MiB | % of v2 | wire up MiB | payload MiB | wall s | CPU s | result |",
              "|---|---|---:|---:|---:|---:|---:|---:|---|"]
    problems = []
    for m in args.mutations if results else []:
        for mode in args.modes:
            rs = results[(m, mode)]
            bad = sorted({r["problem"] for r in rs if r["problem"]})
            problems += [f"- {m}, {mode}: {b}" for b in bad]
            pay = [r["payload"] for r in rs if r["payload"] is not None]
            lines.append(
                f"| {m} | {mode} | {cell([mib(r['down']) for r in rs], '{:.1f}')} "
                f"| {cell([100 * r['down'] / theories[m]['total'] for r in rs], '{:.1f}')} "
                f"| {cell([mib(r['up']) for r in rs], '{:.2f}')} "
                f"| {cell([mib(p) for p in pay], '{:.1f}') if pay else 'n/a'} "
                f"| {cell([r['wall'] for r in rs], '{:.2f}')} | {cell([r['cpu'] for r in rs], '{:.2f}')} "
                f"| {'v2 + old tail' if bad else 'identical'} |")
    if problems:
        lines += ["", "Files holding v2's bytes then extra bytes of v1 (ccbt does not truncate a longer existing file):",
                  *problems]
    return lines


def machine_info(work):
    def first_line(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout.splitlines()[0]
        except (OSError, IndexError, subprocess.SubprocessError):
            return "n/a"

    cpu = mem = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), cpu)
        with open("/proc/meminfo") as f:
            mem = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("MemTotal")), mem)
    except OSError:
        pass
    return [f"- {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, ccbt "
            f"{first_line(['git', '-C', ROOT, 'rev-parse', '--short', 'HEAD'])} (release)",
            f"- machine: {os.cpu_count()} CPUs ({cpu}), {mem} RAM, Linux {platform.release()}, "
            f"load average {os.getloadavg()[0]:.1f}",
            f"- work dir: {work} ({first_line(['findmnt', '-n', '-o', 'FSTYPE', '--target', work])})"]


# ---------------------------------------------------------------- main


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size-mib", type=int, default=256, help="dataset size (default 256; e.g. 1024)")
    p.add_argument("--mutations", default=",".join(DEFAULT_MUTATIONS),
                   help=f"comma-separated subset of {','.join(MUTATIONS)} (default: all but overwrite-10000)")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds of the three modes (default 3)")
    p.add_argument("--modes", default=",".join(DEFAULT_MODES),
                   help="comma-separated subset of plain,reuse,xet,both (default plain,reuse,xet)")
    p.add_argument("--percent", type=float, default=1.0, help="share of the dataset each mutation changes (1)")
    p.add_argument("--piece-kib", type=int, default=256, help="piece size of both torrents in KiB (256)")
    p.add_argument("--seed", type=int, default=14, help="seed of the data and the edits (14)")
    p.add_argument("--timeout", type=float, default=600, help="seconds per leecher run (600)")
    p.add_argument("--work", default="/tmp/ccbt-bench", help="work folder (default /tmp/ccbt-bench); the "
                   "dataset is kept there for the next run, the per-run folders are removed")
    p.add_argument("--remove-data", action="store_true", help="delete the dataset at the end too")
    p.add_argument("--no-build", action="store_true", help="use the existing target/release/ccbt")
    p.add_argument("--out", help="also append the report to this file")
    p.add_argument("--theory-only", action="store_true", help="make the data, print what it implies, run nothing")
    args = p.parse_args()
    args.mutations = [m.strip() for m in args.mutations.split(",") if m.strip()]
    bad = [m for m in args.mutations if m not in MUTATIONS]
    args.modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    bad += [m for m in args.modes if m not in MODES]
    if bad:
        p.error(f"unknown mutation or mode: {', '.join(bad)}")
    if args.rounds < 1 or args.size_mib < 8 or args.piece_kib < 16 or args.piece_kib & (args.piece_kib - 1):
        p.error("need --rounds >= 1, --size-mib >= 8, --piece-kib a power of two >= 16")
    return args


def build(args):
    if not args.no_build:
        log("cargo build --release -p ccbt")
        b = subprocess.run(["cargo", "build", "--release", "-p", "ccbt"], cwd=ROOT, capture_output=True, text=True)
        if b.returncode != 0:
            raise BenchError("cargo build --release -p ccbt failed:\n" + "\n".join(b.stderr.splitlines()[-15:]))
    if not os.access(CCBT, os.X_OK):
        raise BenchError(f"{CCBT} missing: run `cargo build --release -p ccbt` (or drop --no-build)")


def run_all(args, base, tmp_root):
    results = {(m, mode): [] for m in args.mutations for mode in args.modes}
    for m in args.mutations:
        seed_tmp = tempfile.mkdtemp(prefix="seed-", dir=tmp_root)
        seeder, port = start_seeder(base, m, seed_tmp)
        try:
            for rnd in range(args.rounds):
                for mode in args.modes:
                    run_dir = tempfile.mkdtemp(prefix=f"{m}-{mode}-", dir=tmp_root)
                    r = run_leecher(args, base, m, mode, port, run_dir)
                    shutil.rmtree(run_dir)
                    log(f"{m} round {rnd + 1} {mode}: down {mib(r['down']):.1f} MiB, up {mib(r['up']):.2f} MiB, "
                        f"{r['wall']:.2f} s, CPU {r['cpu']:.2f} s, connections {r['conns']}"
                        + (f"; {r['problem']}" if r["problem"] else ""))
                    results[(m, mode)].append(r)
        finally:
            seeder.terminate()
            try:
                seeder.wait(timeout=20)
            except subprocess.TimeoutExpired:
                seeder.kill()
                seeder.wait()
    return results


def main():
    args = parse_args()
    os.makedirs(args.work, exist_ok=True)
    tmp_root = tempfile.mkdtemp(prefix="xet-update-", dir=args.work)
    base = None
    try:
        build(args)
        base = prepare(args, args.work)
        edit_lens = {m: int(open(os.path.join(base, f"v2-{m}.done")).read()) for m in args.mutations}
        log("computing what the data implies (chunk lists, piece digests)")
        theories = {m: theory(base, m, args.piece_kib * KIB) for m in args.mutations}
        results = {} if args.theory_only else run_all(args, base, tmp_root)
    except BenchError as e:
        print(f"xet_update: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("xet_update: interrupted", file=sys.stderr)
        return 130
    finally:
        shutil.rmtree(tmp_root, ignore_errors=True)
        if args.remove_data and base:
            shutil.rmtree(base, ignore_errors=True)
    lines = machine_info(args.work) + report(args, results, theories, edit_lens)
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        with open(args.out, "a") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
