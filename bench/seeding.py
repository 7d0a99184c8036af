"""Seed mode of bench/download.py: each client seeds the content to one libtorrent leecher.

Per run: the leecher (bench/lt_bench.py leech, libtorrent 2.0.8 with the high_performance_seed
preset unless told otherwise) starts first and listens; then the seeder starts over the complete
data on a known port (ccbt with no checkpoint, so it checks every piece first; libtorrent in
seed mode, hashing each piece when first requested; rqbit, which checks every piece first),
told to dial the leecher, which it does once it is ready to serve; the leecher also dials the
seeder every 50 ms while not connected (libtorrent's own dial waits for its next connection
tick, a few hundred ms), whichever connects first. When the leecher has every piece it writes its
timestamps and exits; the seeder is then stopped (SIGTERM) and its CPU and peak RSS taken from
wait4. Every download is compared with the original byte for byte.
"""

import os
import shutil
import subprocess

import common
from common import LT_BENCH, RQBIT, Measured, free_port, is_ccbt, is_lt, log, read_json, verify, wait_for_file


def seeder_cmd(client, torrent, datadir, port, leecher, state, checkpoint):
    """The seeder's command line: it listens on `port` and dials `leecher` (HOST:PORT, unless
    None) itself."""
    dial = {"ccbt": ["--peer", leecher], "lt": ["--connect", leecher], "rqbit": ["--initial-peers", leecher]}
    if leecher is None:
        dial = dict.fromkeys(dial, [])
    if is_ccbt(client):
        cmd = [common.ccbt_binary(client), "seed", torrent, "-d", datadir, "--listen-port", str(port), "--no-dht",
               "--no-trackers", "--no-pex", "--state-dir", state, "-q", *dial["ccbt"]]
        cmd = cmd if checkpoint else cmd + ["--no-checkpoint"]
        # Older builds (compared with --ccbt) may lack some of these; without them they do less.
        return common.known_flags(cmd, {"--no-trackers": 0, "--no-pex": 0, "--state-dir": 1, "-q": 0,
                                        "--no-checkpoint": 0, "--no-dht": 0})
    if is_lt(client):
        return [common.lt_python(client), LT_BENCH, "seed", "--torrent", torrent, "--data", datadir,
                "--port", str(port), "--ready-file", os.path.join(state, "ready"), *dial["lt"]]
    if client == "rqbit":
        # Stateless `download` over complete data: rqbit checks every piece, then serves.
        return [RQBIT, *common.RQBIT_QUIET, "--listen-ip", "127.0.0.1", "--listen-port", str(port), "download",
                "--disable-http-api", "--overwrite", "--output-folder", datadir, *dial["rqbit"], torrent]
    raise ValueError(client)


def write_checkpoint(client, torrent, datadir, state, logf, timeout):
    """An untimed `ccbt download` over the complete data, which checks it and saves the
    checkpoint the timed seeder then starts from."""
    cmd = [common.ccbt_binary(client), "download", torrent, "-o", datadir, "--no-dht", "--no-trackers",
           "--no-pex", "--state-dir", state, "-q", "--listen-port", "0"]
    subprocess.run(cmd, stdout=logf, stderr=logf, env=common.client_env(client), timeout=timeout, check=True)


def run_one(args, client, layout, torrent, content, timeout):
    why = common.unavailable(client)
    if why:
        return {"ok": False, "reason": why}
    work = args.work
    tag = f"seed-{layout.replace('/', '-')}-{client}"
    out = os.path.join(work, f"out-{tag}")
    state = os.path.join(work, f"state-{tag}")
    for d in (out, state):
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
    datadir = os.path.dirname(content)
    ready = os.path.join(state, "leech.ready")
    result = os.path.join(state, "leech.json")
    logpath = os.path.join(work, f"{tag}.log")
    with open(logpath, "w") as logf:
        if args.ccbt_checkpoint and is_ccbt(client):
            write_checkpoint(client, torrent, datadir, state, logf, timeout)
        if args.cold:
            why = common.evict_cache(content, args.evict)
            if why:
                return {"ok": False, "reason": why}
        else:
            common.warm_cache(content)
        seed_port, leech_port = free_port(), free_port()
        leech = [args.leecher_python, LT_BENCH, "leech", "--torrent", torrent, "--out", out, "--port", str(leech_port),
                 "--ready-file", ready, "--result-file", result, "--timeout", str(timeout)]
        if args.dial in ("both", "leecher"):
            leech += ["--peer", f"127.0.0.1:{seed_port}", "--redial", str(args.redial)]
        if args.leecher_default_settings:
            leech.append("--default-settings")
        leecher = subprocess.Popen(leech, stdin=subprocess.DEVNULL, stdout=logf, stderr=logf, start_new_session=True)
        if not wait_for_file(ready, leecher, 30):
            common.stop(leecher)
            return {"ok": False, "reason": f"libtorrent leecher did not start (see {os.path.relpath(logpath)})"}
        dial_leecher = f"127.0.0.1:{leech_port}" if args.dial in ("both", "seeder") else None
        cmd = seeder_cmd(client, torrent, datadir, seed_port, dial_leecher, state, args.ccbt_checkpoint)
        log(f"seed {layout}/{client}: {' '.join(cmd)}")
        seeder = Measured(cmd, logf, env=common.client_env(client), cwd=state)
        try:
            leecher.wait(timeout)
            rc = leecher.returncode
        except subprocess.TimeoutExpired:
            rc = None
        finally:
            common.stop(leecher)
            seeder_died = not seeder.alive()
            s = seeder.terminate()
    if rc is None:
        return {"ok": False, "reason": f"timeout {timeout:.0f}s (see {os.path.relpath(logpath)})"}
    done = read_json(result)
    if rc != 0 or not done:
        why = f"the seeder exited on its own (exit {s['rc']})" if seeder_died else "the leecher failed"
        return {"ok": False, "reason": f"{why}, exit {rc} (see {os.path.relpath(logpath)})"}
    wrong = verify(content, os.path.join(out, os.path.basename(content)))
    shutil.rmtree(out, ignore_errors=True)
    if wrong:
        return {"ok": False, "reason": wrong}
    return dict(s, ok=True, first_byte_s=done["first_byte"] - s["start"], transfer_s=done["complete"] - done["first_byte"],
                total_s=done["complete"] - s["start"], steady_mb_s=steady_rate(done.get("timeline") or []))


def steady_rate(timeline, low=0.1, high=0.9):
    """MB/s between the polls where the leecher first had `low` and `high` of its final payload
    count: the transfer without its ramp-up and its tail (None without a usable timeline)."""
    if len(timeline) < 2:
        return None
    total = timeline[-1][1]
    t0, b0 = next((t, b) for t, b in timeline if b >= low * total)
    t1, b1 = next((t, b) for t, b in timeline if b >= high * total)
    return (b1 - b0) / 1e6 / (t1 - t0) if t1 > t0 else None


def columns(size):
    return [
        ("MB/s", lambda r: size / 1e6 / r["transfer_s"], "{:.0f}"),
        ("steady MB/s", lambda r: r.get("steady_mb_s"), "{:.0f}"),
        ("first byte s", lambda r: r["first_byte_s"], "{:.2f}"),
        ("MB/s from start", lambda r: size / 1e6 / r["total_s"], "{:.0f}"),
        ("seeder CPU s", lambda r: r["cpu"], "{:.2f}"),
        ("user s", lambda r: r["user"], "{:.2f}"),
        ("sys s", lambda r: r["sys"], "{:.2f}"),
        ("peak RSS MiB", lambda r: r["rss_kib"] / 1024, "{:.0f}"),
        ("RssAnon MiB", lambda r: r["peak_RssAnon"] / 1024, "{:.0f}"),
        ("RssFile MiB", lambda r: r["peak_RssFile"] / 1024, "{:.0f}"),
    ]


def run(args, clients, sets, size, timeout, build_failed):
    results = {}
    for run in range(1, args.runs + 1):
        for layout, torrent, content in sets:
            for client in clients:
                if client == "ccbt" and build_failed:
                    r = {"ok": False, "reason": build_failed}
                else:
                    r = run_one(args, client, layout, torrent, content, timeout)
                log(f"round {run} seed {layout}/{client}: "
                    + (f"{size / 1e6 / r['transfer_s']:.0f} MB/s, CPU {r['cpu']:.2f}s" if r["ok"] else r["reason"]))
                results.setdefault((layout, client), []).append(r)
    leecher = common.first_line([args.leecher_python, "-c", "import libtorrent; print(libtorrent.__version__)"])
    preset = "libtorrent's default settings" if args.leecher_default_settings else "the high_performance_seed preset"
    cache = f"cold (evicted by {args.evict} before each run)" if args.cold else "warm (read once before each run)"
    return {
        "title": f"seeding to one libtorrent {leecher} leecher, {args.size_mib} MiB, piece {args.piece_size // 1024} KiB",
        "notes": [
            f"leecher: bench/lt_bench.py leech, libtorrent {leecher}, {preset}; the seeder's data {cache}",
            "ccbt seeders: " + ("from a checkpoint written by an untimed first start" if args.ccbt_checkpoint
                                else "--no-checkpoint, so every piece is checked before seeding"),
            "MB/s: as the leecher saw it, first payload byte to last piece; steady MB/s: from 10 % to 90 % "
            "of the payload (no ramp-up, no tail); first byte s: seeder process start "
            "to the leecher's first payload byte (start-up and initial check); MB/s from start: the size over "
            "seeder start to completion; CPU and peak RSS: the seeder process (wait4), RssAnon and RssFile "
            "sampled peaks (RssFile = mapped file pages)",
        ],
        "columns": columns(size),
        "results": results,
        "keys": ("layout", "seeder"),
    }
