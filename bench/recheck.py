"""Recheck mode of bench/download.py: each client hashes complete data once, with the data in
the page cache (warm) and not (cold), interleaved round by round.

  ccbt        `ccbt verify T -d DIR -q` (the check `seed`, `download` and the daemon's `recheck` run)
  libtorrent  bench/lt_bench.py recheck: the torrent added without resume data or seed mode, so
              every piece is checked; its own add-to-seeding time is reported beside the wall time
  rqbit       stateless `rqbit download --exit-on-finish` over the complete data, no listener and
              no peers: it checks every piece, finds nothing to fetch and exits

Wall time is the process's, start to exit (what a user waits for); CPU and peak RSS come from
wait4, RssAnon and RssFile are sampled peaks: a client that reads through memory maps shows the
mapped file pages as RssFile, which is page cache, not memory it allocated.
"""

import os
import shutil

import common
from common import LT_BENCH, RQBIT, Measured, is_ccbt, is_lt, log, read_json


def recheck_cmd(args, client, torrent, datadir, state, timeout):
    if is_ccbt(client):
        return [common.ccbt_binary(client), "verify", torrent, "-d", datadir, "-q"]
    if is_lt(client):
        cmd = [common.lt_python(client), LT_BENCH, "recheck", "--torrent", torrent, "--data", datadir,
               "--result-file", os.path.join(state, "lt.json"), "--timeout", str(timeout)]
        return cmd + (["--hashing-threads", str(args.lt_hashing_threads)] if args.lt_hashing_threads else [])
    if client == "rqbit":
        return [RQBIT, *common.RQBIT_QUIET, "--disable-tcp-listen", "download", "--disable-http-api", "--exit-on-finish",
                "--overwrite", "--output-folder", datadir, torrent]
    raise ValueError(client)


def run_one(args, client, cache, layout, torrent, content, timeout):
    why = common.unavailable(client)
    if why:
        return {"ok": False, "reason": why}
    tag = f"recheck-{cache}-{layout.replace('/', '-')}-{client}"
    state = os.path.join(args.work, f"state-{tag}")
    shutil.rmtree(state, ignore_errors=True)
    os.makedirs(state)
    logpath = os.path.join(args.work, f"{tag}.log")
    if cache == "cold":
        why = common.evict_cache(content, args.evict)
        if why:
            return {"ok": False, "reason": why}
    else:
        common.warm_cache(content)
    cmd = recheck_cmd(args, client, torrent, os.path.dirname(content), state, timeout)
    log(f"recheck {cache} {layout}/{client}: {' '.join(cmd)}")
    # A state home of its own, so no client finds state (resume data, checkpoints) of an earlier run.
    env = dict(common.client_env(client), XDG_STATE_HOME=state, XDG_CACHE_HOME=state, XDG_DATA_HOME=state)
    with open(logpath, "w") as logf:
        r = Measured(cmd, logf, env=env, cwd=state).wait(timeout)
    if r["timed_out"]:
        return {"ok": False, "reason": f"timeout {timeout:.0f}s (see {os.path.relpath(logpath)})"}
    if r["rc"] != 0:
        return {"ok": False, "reason": f"exit {r['rc']} (see {os.path.relpath(logpath)})"}
    if is_lt(client):
        lt = read_json(os.path.join(state, "lt.json"))
        if not lt:
            return {"ok": False, "reason": f"no result (see {os.path.relpath(logpath)})"}
        r["check_s"] = lt["check_s"]
    shutil.rmtree(state, ignore_errors=True)
    return dict(r, ok=True)


def columns(size):
    return [
        ("wall s", lambda r: r["wall"], "{:.2f}"),
        ("GB/s", lambda r: size / 1e9 / r["wall"], "{:.2f}"),
        ("CPU s (user+sys)", lambda r: r["cpu"], "{:.2f}"),
        ("user s", lambda r: r["user"], "{:.2f}"),
        ("sys s", lambda r: r["sys"], "{:.2f}"),
        ("peak RSS MiB", lambda r: r["rss_kib"] / 1024, "{:.0f}"),
        ("RssAnon MiB", lambda r: r["peak_RssAnon"] / 1024, "{:.0f}"),
        ("RssFile MiB", lambda r: r["peak_RssFile"] / 1024, "{:.0f}"),
        ("libtorrent's own check s", lambda r: r.get("check_s"), "{:.2f}"),
    ]


def run(args, clients, sets, size, timeout, build_failed):
    caches = [c for c in args.cache.split(",") if c]
    for c in caches:
        if c not in ("warm", "cold"):
            raise SystemExit(f"error: unknown cache state {c!r}; known: warm, cold")
    results = {}
    for run in range(1, args.runs + 1):
        for cache in caches:
            for layout, torrent, content in sets:
                for client in clients:
                    if client == "ccbt" and build_failed:
                        r = {"ok": False, "reason": build_failed}
                    else:
                        r = run_one(args, client, cache, layout, torrent, content, timeout)
                    log(f"round {run} recheck {cache} {layout}/{client}: "
                        + (f"{r['wall']:.2f}s, CPU {r['cpu']:.2f}s" if r["ok"] else r["reason"]))
                    results.setdefault((cache, layout, client), []).append(r)
    lt_threads = args.lt_hashing_threads or "the preset's"
    return {
        "title": f"recheck of complete data, {args.size_mib} MiB, piece {args.piece_size // 1024} KiB",
        "notes": [
            "warm: the data read once before each run; cold: evicted before each run by "
            + ("POSIX_FADV_DONTNEED on its files (the rest of the page cache untouched), checked with fincore"
               if args.evict == "fadvise" else "sync; echo 3 > /proc/sys/vm/drop_caches"),
            f"libtorrent: high_performance_seed preset, hashing_threads {lt_threads}; "
            "ccbt: `verify` with its default hash workers (CPUs, at most 4)",
            "wall s and GB/s: process start to exit; CPU and peak RSS: wait4; RssAnon and RssFile: sampled "
            "peaks (RssFile = file pages mapped into the process, i.e. page cache)",
        ],
        "columns": columns(size),
        "results": results,
        "keys": ("cache", "layout", "client"),
    }
