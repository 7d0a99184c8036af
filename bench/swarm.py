#!/usr/bin/python3
"""Swarm benchmark: one libtorrent seeder and N leechers of one kind on loopback, all started
together and meeting through opentracker; the time until every leecher has the whole torrent.

Run with Debian's /usr/bin/python3. Each round runs every kind once, interleaved (ccbt, lt-2.0,
lt-2.1, ccbt, ...), each with a fresh tracker (tests/interop/tracker.py), a fresh libtorrent
seeder on 127.0.0.2 (tests/interop/lt_seed.py, seed mode, upload limited by --seed-limit so the
leechers must trade) and N fresh leechers:

  - ccbt: target/release/ccbt download --seed, listening on 127.0.0.1 (ccbt binds only its
    listener, so its dials and announces leave from 127.0.0.1 anyway; a config file raises
    max_connections_per_ip, since all N ccbt leechers then share one address);
  - libtorrent: tests/interop/lt_leech.py --keep-seeding on 127.0.0.{10..}, one address each.

Every leecher keeps seeding until the last one completes. Then the libtorrent processes write
their counters (--stats-file) and the ccbt leechers print their totals; downloaded bytes are
compared with the originals (a wrong download is a failure, never a time).

Per round and kind: seconds until all complete (from starting the leechers), seconds until the
first completes, payload the seeder uploaded (exact), wasted bytes of the leechers (ccbt:
`wasted`, duplicates and unrequested blocks included; libtorrent: total_redundant_bytes +
total_failed_bytes), and CPU seconds of every process of the round (seeder and tracker included).
The table goes to stdout and is appended to bench/out/results-<date>.md.
"""

import argparse
import datetime
import os
import resource
import shutil
import signal
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in bench/ from importing download.py
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402 (shared helpers: free_port, verify, warm_cache, stop, ...)

ROOT = common.ROOT
INTEROP = common.INTEROP
PY = common.PY
MIB = common.MIB
SEED_HOST = "127.0.0.2"
CCBT_HOST = "127.0.0.1"
log = common.log


def prepare(work, size_mib, piece_size):
    """Make (or reuse) one file of content and a v1 torrent of it; (torrent, content path)."""
    work = os.path.join(work, f"swarm-{size_mib}m-p{piece_size}")
    content = os.path.join(work, "src", "swarm.bin")
    torrent = os.path.join(work, "swarm.torrent")
    stamp = os.path.join(work, "STAMP")
    want = f"single:{size_mib}M piece={piece_size} gen=1\n"
    if not (os.path.exists(stamp) and open(stamp).read() == want and os.path.exists(torrent)):
        log(f"making {size_mib} MiB of content and its torrent")
        shutil.rmtree(work, ignore_errors=True)
        os.makedirs(work)
        common.run_quiet([PY, os.path.join(INTEROP, "make_data.py"), "--out", os.path.join(work, "src"),
                          "--layout", f"single:{size_mib}M", "--name", "swarm.bin"])
        common.run_quiet([PY, os.path.join(INTEROP, "lt_make_torrent.py"), "--path", content, "--out", torrent,
                          "--piece-size", str(piece_size), "--v1-only"])
        with open(stamp, "w") as f:
            f.write(want)
    return torrent, content


def with_tracker(torrent, url, out):
    """Writes a copy of `torrent` announcing to `url` (ccbt takes its trackers from the torrent).
    The announce key sorts before every key libtorrent's creator writes, so it goes first; the
    info dictionary, and with it the info hash, is untouched."""
    with open(torrent, "rb") as f:
        data = f.read()
    if not data.startswith(b"d") or data.startswith(b"d8:announce"):
        raise SystemExit(f"error: {torrent}: expected a torrent without an announce URL")
    key = b"8:announce" + str(len(url)).encode() + b":" + url.encode()
    with open(out, "wb") as f:
        f.write(b"d" + key + data[1:])
    return out


def wait_file(path, proc, what, timeout=30):
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start")
        time.sleep(0.02)


def start_tracker(work, torrent, logf):
    port = common.free_port()
    ready = os.path.join(work, f"tracker-{port}.ready")
    cmd = [PY, os.path.join(INTEROP, "tracker.py"), "start", "--host", "127.0.0.1", "--port", str(port),
           "--torrent", torrent, "--ready-file", ready]
    proc = subprocess.Popen(cmd, stdout=logf, stderr=logf, start_new_session=True)
    wait_file(ready, proc, "opentracker")
    return proc, f"http://127.0.0.1:{port}/announce"


def start_seeder(work, torrent, content, url, limit, logf):
    ready = os.path.join(work, "seed.ready")
    stats = os.path.join(work, "seed.stats")
    for f in (ready, stats):
        if os.path.exists(f):
            os.unlink(f)
    cmd = [PY, os.path.join(INTEROP, "lt_seed.py"), "--torrent", torrent, "--data", os.path.dirname(content),
           "--host", SEED_HOST, "--port", "0", "--ready-file", ready, "--tracker", url,
           "--upload-limit", str(limit), "--stats-file", stats]
    proc = subprocess.Popen(cmd, stdout=logf, stderr=logf, start_new_session=True)
    wait_file(ready, proc, "libtorrent seeder")
    return proc, stats


def seeder_announced(url, info_hash):
    """Whether the tracker lists a seeder for the torrent (HTTP scrape)."""
    import urllib.request
    scrape = url.replace("/announce", "/scrape") + "?info_hash=" + "".join(
        f"%{info_hash[i:i + 2]}" for i in range(0, 40, 2))
    try:
        body = urllib.request.urlopen(scrape, timeout=2).read()
    except OSError:
        return False
    return b"8:completei0e" not in body and b"8:complete" in body


def info_hash(torrent):
    out = subprocess.run([PY, os.path.join(INTEROP, "tracker.py"), "hashes", "--torrent", torrent],
                         capture_output=True, text=True, check=True).stdout
    return out.split()[0]


class Leecher:
    def __init__(self, kind, cmd, out, stats, logpath):
        self.kind = kind
        self.out = out
        self.stats = stats
        self.logpath = logpath
        self.stdout_path = logpath + ".out"
        self.done_at = None
        with open(logpath, "w") as err, open(self.stdout_path, "w") as out_f:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out_f, stderr=err,
                                         start_new_session=True)

    def stdout(self):
        with open(self.stdout_path, errors="replace") as f:
            return f.read()

    def check_done(self, now):
        if self.done_at is None:
            text = self.stdout()
            if (" verified in " in text) if self.stats is None else ("DONE " in text):
                self.done_at = now
        return self.done_at is not None


def leecher_cmd(kind, binary, i, torrent, out, url, config, timeout):
    if kind == "ccbt":
        # A state folder per leecher: ccbt allows one session per state folder.
        return [binary, "download", torrent, "-o", out, "--listen-port", "0", "--no-dht", "--seed", "-q",
                "--config", config, "--state-dir", out + ".state"], None
    stats = out + ".stats"
    host = f"127.0.0.{10 + i}"
    return [binary, os.path.join(INTEROP, "lt_leech.py"), "--torrent", torrent, "--out", out, "--port", "0",
            "--host", host, "--tracker", url, "--keep-seeding", "--stats-file", stats,
            "--timeout", str(timeout)] + (["--default-settings"] if LT_DEFAULTS else []), stats


def read_lt_stats(path):
    totals = {}
    with open(path) as f:
        for line in f:
            parts = line.split()
            if parts and parts[0] != "peer":
                totals[parts[0]] = int(parts[1])
    return totals


def ccbt_totals(text):
    """(downloaded, uploaded, wasted) from ccbt's last totals line, or None."""
    for line in reversed(text.splitlines()):
        if ": downloaded " in line and " bytes), uploaded " in line:
            nums = [int(part.split(" bytes)")[0]) for part in line.split("(")[1:]]
            if len(nums) >= 3:
                return nums[-3], nums[-2], nums[-1]
    return None


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_round(kind, binary, torrent, content, work, args):
    """One swarm; a result dict (ok, reason, all_s, first_s, seed_up, wasted, uploaded, cpu)."""
    rwork = os.path.join(work, f"round-{kind}")
    shutil.rmtree(rwork, ignore_errors=True)
    os.makedirs(rwork)
    config = os.path.join(rwork, "ccbt.toml")
    with open(config, "w") as f:
        f.write(f'[network]\nlisten_host = "{CCBT_HOST}"\nmax_connections_per_ip = {4 * args.leechers}\n')
    common.warm_cache(content)
    cpu0 = children_cpu()
    leechers = []
    with open(os.path.join(rwork, "swarm.log"), "w") as logf:
        tracker, url = start_tracker(rwork, torrent, logf)
        torrent = with_tracker(torrent, url, os.path.join(rwork, "swarm.torrent"))
        seeder = None
        try:
            seeder, seed_stats = start_seeder(rwork, torrent, content, url, args.seed_limit, logf)
            hash_ = info_hash(torrent)
            deadline = time.monotonic() + 30
            while not seeder_announced(url, hash_):
                if time.monotonic() > deadline:
                    return {"ok": False, "reason": "seeder never announced"}
                time.sleep(0.1)
            start = time.monotonic()
            for i in range(args.leechers):
                out = os.path.join(rwork, f"out{i}")
                cmd, stats = leecher_cmd(kind_family(kind), binary, i, torrent, out, url, config, args.timeout)
                leechers.append(Leecher(kind, cmd, out, stats, os.path.join(rwork, f"leech{i}.log")))
            log(f"{kind}: {args.leechers} leechers started")
            failed = None
            while True:
                now = time.monotonic() - start
                if all(lc.check_done(now) for lc in leechers):
                    break
                dead = [lc for lc in leechers if lc.proc.poll() is not None and lc.done_at is None]
                if dead:
                    failed = f"a leecher exited ({dead[0].proc.returncode}, see {dead[0].logpath})"
                    break
                if now > args.timeout:
                    failed = f"timeout {args.timeout:.0f}s"
                    break
                time.sleep(0.05)
            # libtorrent first, while its connections are up; then ccbt prints its totals.
            common.stop(seeder)
            for lc in sorted(leechers, key=lambda lc: lc.stats is None):
                common.stop(lc.proc)
            if failed:
                return {"ok": False, "reason": failed}
            for lc in leechers:
                wrong = common.verify(content, os.path.join(lc.out, "swarm.bin"))
                if wrong:
                    return {"ok": False, "reason": wrong}
            wasted = uploaded = 0
            for lc in leechers:
                if lc.stats is None:
                    t = ccbt_totals(lc.stdout())
                    if t is None:
                        return {"ok": False, "reason": f"no totals line (see {lc.stdout_path})"}
                    uploaded += t[1]
                    wasted += t[2]
                else:
                    s = read_lt_stats(lc.stats)
                    uploaded += s["total_upload"]
                    wasted += s["redundant"] + s["failed"]
            seed_up = read_lt_stats(seed_stats)["total_upload"]
        finally:
            for lc in leechers:
                common.stop(lc.proc)
            if seeder is not None:
                common.stop(seeder)
            common.stop(tracker)
    cpu = children_cpu() - cpu0
    times = [lc.done_at for lc in leechers]
    shutil.rmtree(rwork, ignore_errors=True)
    return {"ok": True, "all_s": max(times), "first_s": min(times), "seed_up": seed_up, "wasted": wasted,
            "uploaded": uploaded, "cpu": cpu}


EXTRA_CCBT = {}
EXTRA_LT = {}
# --lt-default-settings: libtorrent leechers start from default settings, not the preset.
LT_DEFAULTS = False


def kind_family(kind):
    return "ccbt" if kind == "ccbt" or kind in EXTRA_CCBT else "lt"


def binary_of(kind):
    if kind == "ccbt":
        return common.CCBT
    return EXTRA_CCBT.get(kind) or EXTRA_LT.get(kind) or PY


def cell(values, fmt):
    values = sorted(values)
    med = values[len(values) // 2] if len(values) % 2 else (values[len(values) // 2 - 1] + values[len(values) // 2]) / 2
    if len(values) == 1:
        return fmt.format(med)
    return f"{fmt.format(med)} [{fmt.format(values[0])}-{fmt.format(values[-1])}]"


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size-mib", type=int, default=256)
    p.add_argument("--piece-size", type=int, default=256 * 1024)
    p.add_argument("--leechers", type=int, default=8)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--seed-limit", type=int, default=20_000_000, metavar="BYTES",
                   help="the seeder's upload limit in bytes/s (0 = unlimited; default 20 MB/s)")
    p.add_argument("--timeout", type=float, default=300, help="seconds per swarm")
    p.add_argument("--work", default="/tmp/ccbt-bench", help="scratch dir, on a disk (not tmpfs)")
    p.add_argument("--no-ccbt", action="store_true", help="leave out target/release/ccbt")
    p.add_argument("--no-lt", action="store_true", help="leave out Debian's libtorrent (/usr/bin/python3)")
    p.add_argument("--ccbt", action="append", default=[], metavar="NAME=PATH", help="another ccbt binary")
    p.add_argument("--lt", action="append", default=[], metavar="NAME=PYTHON",
                   help="libtorrent from another Python (e.g. lt-2.1=bench/.venv-lt21/bin/python3)")
    p.add_argument("--lt-default-settings", action="store_true",
                   help="libtorrent leechers use libtorrent's defaults instead of high_performance_seed")
    p.add_argument("--keep-data", action="store_true", help="keep the generated content and torrent")
    args = p.parse_args()
    global LT_DEFAULTS
    LT_DEFAULTS = args.lt_default_settings
    for spec, table in [(x, EXTRA_CCBT) for x in args.ccbt] + [(x, EXTRA_LT) for x in args.lt]:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            raise SystemExit(f"error: expected NAME=PATH, got {spec!r}")
        table[name] = os.path.abspath(path)
    if args.leechers > 200:
        raise SystemExit("error: at most 200 leechers (one loopback address each)")
    kinds = ([] if args.no_ccbt else ["ccbt"]) + list(EXTRA_CCBT) + ([] if args.no_lt else ["lt-2.0"]) + list(EXTRA_LT)
    if "ccbt" in kinds and not os.access(common.CCBT, os.X_OK):
        raise SystemExit("error: target/release/ccbt missing: cargo build --release -p ccbt")
    os.makedirs(args.work, exist_ok=True)
    torrent, content = prepare(args.work, args.size_mib, args.piece_size)

    results = {k: [] for k in kinds}
    rows = []
    for rnd in range(1, args.rounds + 1):
        for kind in kinds:
            r = run_round(kind, binary_of(kind), torrent, content, args.work, args)
            results[kind].append(r)
            if r["ok"]:
                log(f"round {rnd} {kind}: all {r['all_s']:.2f}s first {r['first_s']:.2f}s seed up "
                    f"{r['seed_up'] / MIB:.0f} MiB wasted {r['wasted'] / MIB:.2f} MiB cpu {r['cpu']:.1f}s")
                rows.append(f"| {kind} | {rnd} | ok | {r['all_s']:.2f} | {r['first_s']:.2f} "
                            f"| {r['seed_up'] / MIB:.0f} | {r['uploaded'] / MIB:.0f} | {r['wasted'] / MIB:.2f} "
                            f"| {r['cpu']:.1f} |")
            else:
                log(f"round {rnd} {kind}: FAIL {r['reason']}")
                rows.append(f"| {kind} | {rnd} | FAIL: {r['reason']} | | | | | | |")

    summary = []
    for kind, rs in results.items():
        good = [r for r in rs if r["ok"]]
        if not good:
            summary.append(f"| {kind} | 0/{len(rs)} | | | | | | |")
            continue
        summary.append(
            f"| {kind} | {len(good)}/{len(rs)} | {cell([r['all_s'] for r in good], '{:.2f}')} "
            f"| {cell([r['first_s'] for r in good], '{:.2f}')} "
            f"| {cell([r['seed_up'] / MIB for r in good], '{:.0f}')} "
            f"| {cell([r['uploaded'] / MIB for r in good], '{:.0f}')} "
            f"| {cell([r['wasted'] / MIB for r in good], '{:.2f}')} "
            f"| {cell([r['cpu'] for r in good], '{:.1f}')} |")

    now = datetime.datetime.now()
    limit = f"{args.seed_limit / 1e6:g} MB/s" if args.seed_limit else "unlimited"
    common.EXTRA_CCBT.update(EXTRA_CCBT)
    common.EXTRA_LT.update(EXTRA_LT)
    header = [
        f"## {now:%Y-%m-%d %H:%M} swarm: 1 libtorrent seeder ({limit}) + {args.leechers} leechers of one kind, "
        f"{args.size_mib} MiB, piece {args.piece_size // 1024} KiB, {args.rounds} round(s)"
        + (", libtorrent leechers with default settings" if LT_DEFAULTS else ""),
        "",
        *common.machine_info(args.work),
        "",
        "| leechers | round | result | all done s | first done s | seeder up MiB | leechers up MiB "
        "| wasted MiB | CPU s (all) |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    text = "\n".join(header + rows) + "\n"
    text += "\n".join(["", "Medians over the successful rounds, [min-max]:", "",
                       "| leechers | ok | all done s | first done s | seeder up MiB | leechers up MiB "
                       "| wasted MiB | CPU s (all) |",
                       "|---|---:|---:|---:|---:|---:|---:|---:|", *summary]) + "\n"
    print(text)
    outdir = os.path.join(ROOT, "bench", "out")
    os.makedirs(outdir, exist_ok=True)
    with open(os.path.join(outdir, f"results-{now:%Y-%m-%d}.md"), "a") as f:
        f.write(text + "\n")
    if not args.keep_data:
        shutil.rmtree(os.path.dirname(os.path.dirname(content)), ignore_errors=True)
    return 0 if all(r["ok"] for rs in results.values() for r in rs) else 1


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    sys.exit(main())
