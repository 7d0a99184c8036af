#!/usr/bin/python3
"""Restore benchmark: a daemon restarted over N complete torrents (10,000 by default), ccbt
against transmission-daemon, interleaved round by round.

Run with Debian's /usr/bin/python3 (libtorrent makes the torrents). Once per N (reused while N
stays the same) it makes N small complete torrents under WORK/restore-N: 1 to 4 files of
16 to 128 KiB each (random content, 16 KiB pieces, no trackers), their data on disk. Then, once
per client, the client adds all N with the data present, checks them once and stops: ccbt through
its API (`POST /api/v1/torrents`), transmission-daemon through its RPC (`torrent-add`). That
leaves ccbt's checkpoints and transmission's resume files.

Each round then restarts every client twice, interleaved:
  - over its N torrents: the time from starting the process until its list (ccbt:
    `GET /api/v1/torrents`; transmission: RPC `torrent-get`) returns all N, then until all N
    are seeding, and its RSS (VmRSS) after a settling pause with all N idle (no peers: no
    trackers, DHT, LSD, PEX and UPnP off);
  - over no torrent (an empty state/config folder), for the RSS of the process itself.
RSS per idle torrent = (RSS with N - RSS with none) / N.

The table (median [min-max] over the rounds) goes to stdout and to bench/out/restore-<date>.md
with the machine's details.
"""

import argparse
import base64
import datetime
import json
import os
import platform
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "interop"))
from ltcommon import lt  # noqa: E402

CCBT = os.path.join(ROOT, "target", "release", "ccbt")
KIB = 1024
PIECE = 16 * KIB
# Torrents ccbt adds (and checks) per daemon run when preparing (see Ccbt.prepare).
PREP_CHUNK = 4000


def log(text):
    sys.stderr.write(f"[restore] {text}\n")
    sys.stderr.flush()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------------------------------------
# The torrents


def make_corpus(base, count):
    """N torrents and their data under base/{data,torrents}; a marker file says it is complete."""
    marker = os.path.join(base, "corpus-done")
    data, torrents = os.path.join(base, "data"), os.path.join(base, "torrents")
    if os.path.exists(marker):
        return data, torrents
    log(f"making {count} torrents and their data in {base}")
    shutil.rmtree(base, ignore_errors=True)
    os.makedirs(data)
    os.makedirs(torrents)
    rng = random.Random(10_000)
    total = 0
    for i in range(count):
        name = f"t{i:05d}"
        nfiles = rng.randint(1, 4)
        sizes = [rng.randint(16 * KIB, 128 * KIB) for _ in range(nfiles)]
        if nfiles == 1:
            paths = [os.path.join(data, name + ".bin")]
            root = paths[0]
        else:
            root = os.path.join(data, name)
            os.makedirs(root)
            paths = [os.path.join(root, f"f{k}.bin") for k in range(nfiles)]
        for path, size in zip(paths, sizes):
            with open(path, "wb") as f:
                f.write(os.urandom(size))
            total += size
        fs = lt.file_storage()
        lt.add_files(fs, root)
        ct = lt.create_torrent(fs, PIECE, flags=lt.create_torrent.v1_only)
        lt.set_piece_hashes(ct, data)
        with open(os.path.join(torrents, name + ".torrent"), "wb") as f:
            f.write(lt.bencode(ct.generate()))
        if (i + 1) % 1000 == 0:
            log(f"  {i + 1} torrents")
    with open(marker, "w") as f:
        f.write(f"{count} torrents, {total} bytes\n")
    return data, torrents


def torrent_files(torrents):
    return sorted(os.path.join(torrents, n) for n in os.listdir(torrents) if n.endswith(".torrent"))


# ---------------------------------------------------------------------------------------------
# Processes


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def stop(proc, timeout=120):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            log(f"pid {proc.pid} did not stop in {timeout} s; killing it")
            proc.kill()
            proc.wait()


def poll(what, test, timeout, proc):
    deadline = time.monotonic() + timeout
    while True:
        result = test()
        if result:
            return result
        if proc.poll() is not None:
            raise RuntimeError(f"{what}: the process exited with {proc.returncode}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: not within {timeout} s")
        time.sleep(0.01)


# ---------------------------------------------------------------------------------------------
# ccbt


class Ccbt:
    name = "ccbt"

    def __init__(self, binary, base, label="ccbt"):
        self.binary, self.label = binary, label
        self.state = os.path.join(base, f"{label}-state")
        self.empty = os.path.join(base, f"{label}-empty")

    def version(self):
        return subprocess.run([self.binary, "--version"], capture_output=True, text=True).stdout.strip()

    def start(self, state, logf):
        cmd = [self.binary, "daemon", "start", "--foreground", "--state-dir", state, "--api-port", "0",
               "--listen-port", "0", "--no-dht"]
        for name in ("daemon.lock", "api_token"):
            try:
                os.remove(os.path.join(state, name))
            except FileNotFoundError:
                pass
        return subprocess.Popen(cmd, stdout=logf, stderr=logf, start_new_session=True)

    def api(self, state, proc):
        """(url, token) once the daemon published them."""
        def ready():
            try:
                with open(os.path.join(state, "daemon.lock")) as f:
                    fields = dict(line.split(" ", 1) for line in f.read().splitlines() if " " in line)
                with open(os.path.join(state, "api_token")) as f:
                    token = f.read().strip()
            except FileNotFoundError:
                return None
            return (fields["url"].strip(), token) if "url" in fields and token else None
        return poll("ccbt API", ready, 600, proc)

    def request(self, api, method, path, body=None):
        url, token = api
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(url + path, data=data, method=method,
                                     headers={"Authorization": f"Bearer {token}",
                                              "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            raise RuntimeError(f"ccbt {method} {path}: {e.code} {e.read().decode(errors='replace')}") from None

    def torrents(self, api):
        return self.request(api, "GET", "/api/v1/torrents")["torrents"]

    def prepared(self):
        return os.path.exists(os.path.join(self.state, "prepared"))

    def prepare(self, data, files, logf):
        """Adds every torrent once with its data present, waits for all to seed, stops. The
        check of a torrent's existing data leaves its files open, and 10,000 torrents have
        about 25,000 files: more than this machine's limit of open files. So the torrents are
        added PREP_CHUNK at a time with a restart in between (restored torrents open no file)."""
        shutil.rmtree(self.state, ignore_errors=True)
        os.makedirs(self.state)
        for first in range(0, len(files), PREP_CHUNK):
            proc = self.start(self.state, logf)
            try:
                api = self.api(self.state, proc)
                for i, path in enumerate(files[first:first + PREP_CHUNK], first):
                    self.request(api, "POST", "/api/v1/torrents", {"source": path, "save_path": data})
                    if (i + 1) % 1000 == 0:
                        log(f"  ccbt: {i + 1} added")
                poll("ccbt seeding all", lambda: all(t["state"] == "seeding" for t in self.torrents(api)),
                     1800, proc)
            finally:
                stop(proc)
        open(os.path.join(self.state, "prepared"), "w").close()

    def measure(self, count, settle, logf):
        os.makedirs(self.empty, exist_ok=True)
        return measure_restart(self, self.state, count, settle, logf)


# ---------------------------------------------------------------------------------------------
# transmission-daemon


class Transmission:
    name = "transmission"

    def __init__(self, base):
        self.config = os.path.join(base, "tr-config")
        self.empty = os.path.join(base, "tr-empty")
        self.session_id = ""

    def version(self):
        out = subprocess.run(["transmission-daemon", "--version"], capture_output=True, text=True)
        return (out.stdout + out.stderr).strip().splitlines()[0]

    def start(self, config, logf, data=None):
        self.port = free_port()
        settings = {
            "dht-enabled": False, "lpd-enabled": False, "pex-enabled": False, "utp-enabled": False,
            "port-forwarding-enabled": False, "peer-port": free_port(), "peer-port-random-on-start": False,
            "rpc-enabled": True, "rpc-bind-address": "127.0.0.1", "rpc-port": self.port,
            "rpc-authentication-required": False, "rpc-whitelist-enabled": False,
            "rpc-host-whitelist-enabled": False, "start-added-torrents": True,
            "incomplete-dir-enabled": False, "watch-dir-enabled": False, "message-level": 1,
            "download-queue-enabled": False, "seed-queue-enabled": False, "queue-stalled-enabled": False,
        }
        if data:
            settings["download-dir"] = data
        os.makedirs(config, exist_ok=True)
        path = os.path.join(config, "settings.json")
        if os.path.exists(path):
            with open(path) as f:
                current = json.load(f)
            current.update(settings)
            settings = current
        with open(path, "w") as f:
            json.dump(settings, f, indent=1)
        self.session_id = ""
        return subprocess.Popen(["transmission-daemon", "-f", "-g", config], stdout=logf, stderr=logf,
                                start_new_session=True)

    def rpc(self, method, arguments):
        body = json.dumps({"method": method, "arguments": arguments}).encode()
        for _ in range(3):
            req = urllib.request.Request(f"http://127.0.0.1:{self.port}/transmission/rpc", data=body,
                                         headers={"X-Transmission-Session-Id": self.session_id})
            try:
                with urllib.request.urlopen(req, timeout=60) as r:
                    reply = json.loads(r.read())
            except urllib.error.HTTPError as e:
                if e.code == 409:
                    self.session_id = e.headers.get("X-Transmission-Session-Id", "")
                    continue
                raise
            if reply.get("result") != "success":
                raise RuntimeError(f"transmission {method}: {reply.get('result')}")
            return reply["arguments"]
        raise RuntimeError("transmission: no session id")

    def api(self, config, proc):
        def ready():
            try:
                self.rpc("session-get", {"fields": ["version"]})
                return (self.port,)
            except (urllib.error.URLError, ConnectionError, OSError):
                return None
        return poll("transmission RPC", ready, 600, proc)

    def torrents(self, api):
        # Status 6: seeding.
        found = self.rpc("torrent-get", {"fields": ["id", "status"]})["torrents"]
        return [{"state": "seeding" if t["status"] == 6 else str(t["status"])} for t in found]

    def prepared(self):
        return os.path.exists(os.path.join(self.config, "prepared"))

    def prepare(self, data, files, logf):
        shutil.rmtree(self.config, ignore_errors=True)
        proc = self.start(self.config, logf, data)
        try:
            self.api(self.config, proc)
            for i, path in enumerate(files):
                with open(path, "rb") as f:
                    metainfo = base64.b64encode(f.read()).decode()
                self.rpc("torrent-add", {"metainfo": metainfo, "download-dir": data})
                if (i + 1) % 1000 == 0:
                    log(f"  transmission: {i + 1} added")
            poll("transmission seeding all", lambda: all(t["state"] == "seeding" for t in self.torrents(None)),
                 1800, proc)
        finally:
            stop(proc)
        open(os.path.join(self.config, "prepared"), "w").close()

    def measure(self, count, settle, logf):
        return measure_restart(self, self.config, count, settle, logf)


# ---------------------------------------------------------------------------------------------
# One restart


def quiesce():
    """Lets the writes of the client stopped last (10,000 resume files or checkpoints) reach the
    disk before the next start, so no start pays for the one before."""
    os.sync()
    time.sleep(3)


def measure_restart(client, folder, count, settle, logf):
    """Restarts `client` over `folder` (N torrents) and over an empty one."""
    quiesce()
    t0 = time.monotonic()
    proc = client.start(folder, logf)
    try:
        api = client.api(folder, proc)
        listed = poll("listing all", lambda: len(client.torrents(api)) >= count, 600, proc)
        t_listed = time.monotonic() - t0
        poll("all seeding", lambda: sum(t["state"] == "seeding" for t in client.torrents(api)) >= count,
             600, proc)
        t_seeding = time.monotonic() - t0
        time.sleep(settle)
        full = rss_kib(proc.pid)
        assert listed
    finally:
        stop(proc)
    shutil.rmtree(client.empty, ignore_errors=True)
    os.makedirs(client.empty)
    quiesce()
    proc = client.start(client.empty, logf)
    try:
        api = client.api(client.empty, proc)
        poll("empty list", lambda: client.torrents(api) == [], 60, proc)
        time.sleep(settle)
        empty = rss_kib(proc.pid)
    finally:
        stop(proc)
    return {"listed": t_listed, "seeding": t_seeding, "rss_full": full, "rss_empty": empty,
            "per_torrent": (full - empty) / count}


# ---------------------------------------------------------------------------------------------
# Report


def cell(values, fmt):
    if not values:
        return "failed"
    med = statistics.median(values)
    if len(values) == 1:
        return fmt(med)
    return f"{fmt(med)} [{fmt(min(values))}-{fmt(max(values))}]"


def machine():
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    mem = next((l.split()[1] for l in open("/proc/meminfo") if l.startswith("MemTotal")), "0")
    return f"{cpu}, {os.cpu_count()} cores, {int(mem) // (1024 * 1024)} GiB RAM, Linux {platform.release()}"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--torrents", type=int, default=10_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--settle", type=float, default=5.0, help="seconds idle before reading RSS")
    ap.add_argument("--work", default="/tmp/ccbt-bench")
    ap.add_argument("--only", default="ccbt,transmission")
    ap.add_argument("--ccbt", action="append", default=[], metavar="NAME=PATH",
                    help="another ccbt binary, measured like ccbt (repeatable)")
    ap.add_argument("--no-build", action="store_true")
    args = ap.parse_args()
    only = set(args.only.split(","))
    if not args.no_build and "ccbt" in only:
        subprocess.run(["cargo", "build", "--release", "-p", "ccbt"], cwd=ROOT, check=True)
    base = os.path.join(args.work, f"restore-{args.torrents}")
    data, torrents = make_corpus(base, args.torrents)
    files = torrent_files(torrents)
    clients = []
    if "ccbt" in only:
        clients.append(Ccbt(CCBT, base))
    for spec in args.ccbt:
        name, path = spec.split("=", 1)
        clients.append(Ccbt(os.path.abspath(path), base, name))
    if "transmission" in only:
        clients.append(Transmission(base))
    logf = open(os.path.join(base, "clients.log"), "a")
    for c in clients:
        if not c.prepared():
            log(f"{getattr(c, 'label', c.name)}: adding {len(files)} torrents once (checks the data)")
            t = time.monotonic()
            c.prepare(data, files, logf)
            log(f"  done in {time.monotonic() - t:.0f} s")
    results = {getattr(c, "label", c.name): [] for c in clients}
    for r in range(args.rounds):
        for c in clients:
            label = getattr(c, "label", c.name)
            try:
                m = c.measure(args.torrents, args.settle, logf)
            except (RuntimeError, OSError, AssertionError) as e:
                log(f"round {r + 1} {label}: FAIL {e}")
                continue
            log(f"round {r + 1} {label}: listed {m['listed']:.2f} s, seeding {m['seeding']:.2f} s, "
                f"RSS {m['rss_full'] // 1024} MiB - {m['rss_empty'] // 1024} MiB empty = "
                f"{m['per_torrent']:.1f} KiB/torrent")
            results[label].append(m)
    lines = [f"Restore of {args.torrents} torrents, {args.rounds} rounds (median [min-max])", "",
             "| client | all listed s | all seeding s | RSS with all MiB | RSS empty MiB | KiB per idle torrent |",
             "|---|---|---|---|---|---|"]
    for label, ms in results.items():
        col = lambda k: [m[k] for m in ms]  # noqa: E731
        lines.append(f"| {label} | {cell(col('listed'), lambda v: f'{v:.2f}')} | "
                     f"{cell(col('seeding'), lambda v: f'{v:.2f}')} | "
                     f"{cell([v / 1024 for v in col('rss_full')], lambda v: f'{v:.0f}')} | "
                     f"{cell([v / 1024 for v in col('rss_empty')], lambda v: f'{v:.0f}')} | "
                     f"{cell(col('per_torrent'), lambda v: f'{v:.1f}')} |")
    lines += ["", f"Machine: {machine()}.", "Versions: " + "; ".join(
        f"{getattr(c, 'label', c.name)}: {c.version()}" for c in clients) + "."]
    text = "\n".join(lines)
    print(text)
    os.makedirs(os.path.join(ROOT, "bench", "out"), exist_ok=True)
    with open(os.path.join(ROOT, "bench", "out", f"restore-{datetime.date.today()}.md"), "a") as f:
        f.write(f"\n## {datetime.datetime.now():%Y-%m-%d %H:%M}\n\n{text}\n")


if __name__ == "__main__":
    main()
