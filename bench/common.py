"""Shared pieces of the loopback benchmarks (bench/download.py and its seed and recheck modes):
test content and torrents, the page cache, byte-for-byte checks, measured processes, machine
details and the median tables. Standard library only; run with Debian's /usr/bin/python3.
"""

import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
INTEROP = os.path.join(ROOT, "tests", "interop")
LT_BENCH = os.path.join(ROOT, "bench", "lt_bench.py")
PY = "/usr/bin/python3"
CCBT = os.path.join(ROOT, "target", "release", "ccbt")
RQBIT = os.path.expanduser("~/.cargo/bin/rqbit")
MIB = 1 << 20
FORMATS = {"v1": "--v1-only", "v2": "--v2-only", "hybrid": "--hybrid"}
# rqbit with everything that could reach outside the loopback test off.
RQBIT_QUIET = ["-v", "warn", "--disable-dht", "--disable-dht-persistence", "--disable-lsd", "--disable-trackers",
               "--disable-upnp-port-forward", "--ipv4-only"]


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


def prepare(work, size_mib, piece_size, formats=("v1",), wanted=("single", "multi")):
    """Make (or reuse) the content of the `wanted` layouts and its torrents (one per format: v1,
    BitTorrent v2 only, hybrid, all made by libtorrent); return [(label, torrent, content path)],
    the label being the layout, followed by `/v2` or `/hybrid` for those formats."""
    total = size_mib * MIB
    # One folder per size and piece size, so alternating sizes does not remake the content.
    work = os.path.join(work, f"data-{size_mib}m-p{piece_size}")
    layouts = [
        ("single", f"single:{total}", os.path.join(work, "single", "data.bin")),
        ("multi", "multi:" + ",".join(map(str, multi_sizes(total))), os.path.join(work, "multi", "data")),
    ]
    out = []
    for name, spec, content in [x for x in layouts if x[0] in wanted]:
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
    """Paths of every file under `content` (a file or a folder), sorted, relative to it ("" for
    a single file)."""
    if os.path.isfile(content):
        return [""]
    found = []
    for dirpath, _dirs, files in os.walk(content):
        for f in files:
            found.append(os.path.relpath(os.path.join(dirpath, f), content))
    return sorted(found)


def content_paths(content):
    return [os.path.join(content, rel) if rel else content for rel in content_files(content)]


def warm_cache(content):
    """Read every byte of `content` once, so it is in the page cache."""
    for path in content_paths(content):
        with open(path, "rb") as f:
            while f.read(8 * MIB):
                pass


def evict_cache(content, method):
    """Drop `content` from the page cache. `fadvise` evicts only these files' pages
    (POSIX_FADV_DONTNEED after fsync) and leaves the rest of the machine's cache alone, which
    matters on a shared machine; `drop` is the global `sync; echo 3 > /proc/sys/vm/drop_caches`.
    Returns None when done, else why it could not be done."""
    if method == "drop":
        subprocess.run(["sync"], check=False)
        try:
            with open("/proc/sys/vm/drop_caches", "w") as f:
                f.write("3\n")
        except OSError as e:
            return f"cannot drop caches ({e.strerror}; needs root)"
    else:
        for path in content_paths(content):
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)
    left = resident_bytes(content)
    if left is not None and left > 16 * MIB:
        return f"{left / MIB:.0f} MiB of the data still cached after eviction"
    return None


def resident_bytes(content):
    """Bytes of `content` in the page cache (util-linux `fincore`), or None when unknown."""
    total = 0
    for path in content_paths(content):
        try:
            out = subprocess.run(["fincore", "-b", "-n", "-o", "RES", path], capture_output=True, text=True,
                                 timeout=10).stdout.split()
            total += int(out[0]) if out else 0
        except (OSError, ValueError, subprocess.SubprocessError):
            return None
    return total


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


def stop(proc):
    """SIGTERM a process group started with start_new_session, SIGKILL after 10 s."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def start_seeder(torrent, content, logf, connect=None):
    """A libtorrent seeder (tests/interop/lt_seed.py, seed mode) on 127.0.0.1; returns (process, port)."""
    port = free_port()
    ready = os.path.join(os.path.dirname(torrent), f"seed-{port}.ready")
    cmd = [PY, os.path.join(INTEROP, "lt_seed.py"), "--torrent", torrent,
           "--data", os.path.dirname(content), "--port", str(port), "--ready-file", ready]
    if connect:
        cmd += ["--connect", connect]
    proc = subprocess.Popen(cmd, stdout=logf, stderr=logf, start_new_session=True)
    if not wait_for_file(ready, proc, 30):
        stop(proc)
        raise RuntimeError("libtorrent seeder did not start")
    os.unlink(ready)
    return proc, port


RSS_KEYS = ("VmRSS", "VmHWM", "RssAnon", "RssFile", "RssShmem")


def process_cpu_s(pid):
    """User + system CPU seconds of a running process (all its threads) from /proc/PID/stat;
    None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    # After the command name: state is field 3, utime and stime fields 14 and 15 (clock ticks).
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def sample_task_ctx_switches(pid, seen):
    """Records in `seen` (thread id -> (voluntary, involuntary)) the context switches of every
    live thread of `pid`; a thread that ends keeps its last sampled values there."""
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return
    for tid in tids:
        counts = {}
        try:
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                for line in f:
                    key, _, value = line.partition(":")
                    if key in ("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches"):
                        counts[key] = int(value)
        except (OSError, ValueError):
            continue  # the thread ended meanwhile
        if len(counts) == 2:
            seen[tid] = (counts["voluntary_ctxt_switches"], counts["nonvoluntary_ctxt_switches"])


class Measured:
    """A process run with its own measurements: start and exit on CLOCK_MONOTONIC (the clock
    time.monotonic() reads in every process, so other processes' timestamps compare), user and
    sys CPU from wait4, peak RSS from the process's own VmHWM (the high-water mark of its memory
    since exec; wait4's ru_maxrss is not used for it because it also counts the forked copy of
    this Python process before exec: /bin/true spawned from a 50 MiB Python reports 50 MiB), and
    the peaks of RssAnon (heap, stacks), RssFile (file pages mapped into the process: mmap'ed data
    counts here, and is page cache, not allocations) and RssShmem, sampled from
    /proc/PID/status every 20 ms (a sampled peak can miss a spike shorter than that). Context
    switches, voluntary and involuntary: ctx_vol and ctx_invol from wait4 (every thread the
    process ever had, exact), and as a cross-check ctx_vol_sampled and ctx_invol_sampled, the
    voluntary_ctxt_switches and nonvoluntary_ctxt_switches of /proc/PID/task/*/status, each
    thread's last sampled value, summed (it misses what a thread did after its last sample)."""

    def __init__(self, cmd, logf, env=None, cwd=None):
        self.cmd = cmd
        self.peaks = dict.fromkeys(RSS_KEYS, 0)
        self.ctx_by_task = {}
        self.start = time.monotonic()
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=logf, stderr=logf, env=env, cwd=cwd,
                                     start_new_session=True)
        self.result = None
        self._done = threading.Event()
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()

    def _sample(self):
        path = f"/proc/{self.proc.pid}/status"
        while True:
            try:
                with open(path) as f:
                    for line in f:
                        key, _, value = line.partition(":")
                        if key in self.peaks:
                            self.peaks[key] = max(self.peaks[key], int(value.split()[0]))
            except (OSError, ValueError, IndexError):
                pass
            sample_task_ctx_switches(self.proc.pid, self.ctx_by_task)
            if self._done.wait(0.02):
                return

    def alive(self):
        """True while the process runs (without reaping it: wait() must get its rusage)."""
        if self.result is not None:
            return False
        try:
            return os.waitid(os.P_PID, self.proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None
        except ChildProcessError:
            return False

    def wait(self, timeout):
        """Reap the process (killing its group after `timeout` s); returns the result dict:
        rc, wall, user, sys, cpu, rss_kib (peak, wait4) and the sampled peaks in KiB."""
        if self.result is not None:
            return self.result
        timed_out = []

        def kill():
            timed_out.append(True)
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except OSError:
                pass

        timer = threading.Timer(timeout, kill) if timeout else None
        if timer:
            timer.start()
        _, status, ru = os.wait4(self.proc.pid, 0)
        end = time.monotonic()
        if timer:
            timer.cancel()
        self._done.set()
        self._sampler.join()
        self.proc.returncode = os.waitstatus_to_exitcode(status)
        self.result = {
            "rc": self.proc.returncode, "timed_out": bool(timed_out), "start": self.start, "end": end,
            "wall": end - self.start, "user": ru.ru_utime, "sys": ru.ru_stime, "cpu": ru.ru_utime + ru.ru_stime,
            # VmHWM, read until the last sample before exit (Popen returns after the exec, so
            # every sample is the client's own); ru_maxrss only if no sample was taken.
            "rss_kib": self.peaks["VmHWM"] or ru.ru_maxrss, "rss_kib_wait4": ru.ru_maxrss,
            **{f"peak_{k}": v for k, v in self.peaks.items()},
            "ctx_vol": ru.ru_nvcsw, "ctx_invol": ru.ru_nivcsw,
            "ctx_vol_sampled": sum(v for v, _ in self.ctx_by_task.values()),
            "ctx_invol_sampled": sum(i for _, i in self.ctx_by_task.values()),
        }
        return self.result

    def terminate(self, grace=15):
        """SIGTERM the process group, SIGKILL after `grace` s; returns wait()'s result."""
        if self.result is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except OSError:
                pass
        return self.wait(grace)


def wait_for_file(path, proc, timeout):
    """Wait until `path` exists (a helper's ready file); False when the process died or time ran out."""
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if proc.poll() is not None or time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def load_average():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "n/a"


def first_line(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout.splitlines()[0]
    except (OSError, IndexError, subprocess.SubprocessError):
        return "n/a"


def work_fs(work):
    """The work dir's file system: type, device and mount options (findmnt)."""
    fs = first_line(["findmnt", "-n", "-o", "FSTYPE,SOURCE,OPTIONS", "--target", work]).split()
    return {"type": fs[0] if fs else "n/a", "source": fs[1] if len(fs) > 1 else "n/a",
            "options": fs[2] if len(fs) > 2 else ""}


def machine_line():
    """`- machine: N CPUs (model), memory RAM`."""
    cpu = mem = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), cpu)
        with open("/proc/meminfo") as f:
            mem = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("MemTotal")), mem)
    except OSError:
        pass
    return f"- machine: {os.cpu_count()} CPUs ({cpu}), {mem} RAM"


def work_dir_line(work):
    """`- work dir: DIR: fs on device (options), I/O scheduler ...`."""
    fs = work_fs(work)
    dev = os.path.basename(os.path.realpath(fs["source"])) if fs["source"].startswith("/dev/") else ""
    sched = ""
    if dev:
        try:
            with open(f"/sys/class/block/{dev}/queue/scheduler") as f:
                sched = f", I/O scheduler {f.read().strip()}"
        except OSError:
            pass
    return f"- work dir: {work}: {fs['type']} on {fs['source']} ({fs['options']}){sched}"


def machine_info(work, extra_ccbt=None, extra_env=None, extra_lt=None):
    """Markdown lines describing the machine, the kernel, the work dir's file system and the
    clients (the extra ones registered in this module unless given)."""
    extra_ccbt = EXTRA_CCBT if extra_ccbt is None else extra_ccbt
    extra_env = EXTRA_ENV if extra_env is None else extra_env
    extra_lt = EXTRA_LT if extra_lt is None else extra_lt
    lt_version = first_line([PY, "-c", "import libtorrent; print(libtorrent.__version__)"])
    return [
        machine_line(),
        f"- kernel: Linux {platform.release()} ({platform.version()})",
        work_dir_line(work),
        f"- ccbt {first_line(['git', '-C', ROOT, 'rev-parse', '--short', 'HEAD'])}, "
        f"libtorrent {lt_version}, {first_line([RQBIT, '--version'])}, {first_line(['aria2c', '--version'])}",
        *[f"- {name}: {path}" for name, path in extra_ccbt.items()],
        *[f"- {name} environment: {' '.join(f'{k}={v}' for k, v in env.items())}" for name, env in extra_env.items()],
        *[f"- {name}: libtorrent {first_line([py, '-c', 'import libtorrent; print(libtorrent.__version__)'])}"
          for name, py in extra_lt.items()],
    ]


def cell(values, fmt):
    """`median [min-max]` of the values (just the value when there is one, empty when none)."""
    values = sorted(v for v in values if v is not None)
    if not values:
        return ""
    med = statistics.median(values)
    if len(values) == 1:
        return fmt.format(med)
    return f"{fmt.format(med)} [{fmt.format(values[0])}-{fmt.format(values[-1])}]"


def table(columns, keyed_results, per_run, key_names=("layout", "client")):
    """Markdown tables. `columns` is [(header, fn(result) -> number or None, fmt)];
    `keyed_results` maps a tuple of labels (e.g. layout, client) to the list of that key's
    results in round order, each a dict with `ok` and, when not ok, `reason`. Returns the lines
    of the per-run table (when `per_run`) and of the medians over the successful rounds."""
    key_names = list(key_names)
    lines = []
    if per_run:
        lines += ["| " + " | ".join(key_names + ["run", "result"] + [c[0] for c in columns]) + " |",
                  "|" + "---|" * (len(key_names) + 2) + "---:|" * len(columns)]
        rounds = max((len(rs) for rs in keyed_results.values()), default=0)
        for i in range(rounds):
            for key, rs in keyed_results.items():
                if i >= len(rs):
                    continue
                r = rs[i]
                if not r["ok"]:
                    lines.append("| " + " | ".join(list(key) + [str(i + 1), f"FAIL: {r['reason']}"]) + " |"
                                 + " |" * len(columns))
                    continue
                vals = [c[2].format(v) if (v := c[1](r)) is not None else "" for c in columns]
                lines.append("| " + " | ".join(list(key) + [str(i + 1), "ok"] + vals) + " |")
        lines.append("")
    lines += ["Medians over the successful rounds, [min-max]:", "",
              "| " + " | ".join(key_names + ["ok"] + [c[0] for c in columns]) + " |",
              "|" + "---|" * len(key_names) + "---:|" * (len(columns) + 1)]
    for key, rs in keyed_results.items():
        good = [r for r in rs if r["ok"]]
        vals = [cell([c[1](r) for r in good], c[2]) for c in columns]
        lines.append("| " + " | ".join(list(key) + [f"{len(good)}/{len(rs)}"] + vals) + " |")
    return lines


# Clients. Extra ones come from the command line: other ccbt builds (--ccbt NAME=PATH) and
# libtorrent from another Python (--lt NAME=PYTHON, e.g. the venv with libtorrent 2.1), and
# environment for one client (--env NAME:VAR=VALUE, e.g. a ccbt setting through its CCBT_*
# variable, so one binary can run as two clients with different settings).
EXTRA_CCBT = {}
EXTRA_LT = {}
EXTRA_ENV = {}


def is_ccbt(client):
    return client == "ccbt" or client in EXTRA_CCBT


def is_lt(client):
    return client == "libtorrent" or client in EXTRA_LT


def ccbt_binary(client):
    return EXTRA_CCBT.get(client, CCBT)


def lt_python(client):
    return EXTRA_LT.get(client, PY)


def client_env(client):
    return dict(os.environ, **EXTRA_ENV.get(client, {}))


_HELP = {}


def known_flags(cmd, flags):
    """`cmd` (a ccbt command line: binary, subcommand, arguments) without the flags in `flags`
    that this binary's `--help` of that subcommand does not list, with their values (each flag in
    `flags` maps to how many values follow it), so an older build can run the same benchmark;
    what was dropped is logged."""
    binary, sub = cmd[0], cmd[1]
    if (binary, sub) not in _HELP:
        _HELP[binary, sub] = subprocess.run([binary, sub, "--help"], capture_output=True, text=True).stdout
    text = _HELP[binary, sub]
    out, dropped, i = [], [], 0
    while i < len(cmd):
        arg = cmd[i]
        n = flags.get(arg)
        if n is not None and i >= 2 and f"{arg} " not in text and f"{arg}\n" not in text and f"{arg}," not in text:
            dropped.append(" ".join(cmd[i:i + 1 + n]))
            i += 1 + n
            continue
        out.append(arg)
        i += 1
    if dropped:
        log(f"{os.path.basename(binary)} {sub} does not know {', '.join(dropped)}: left out")
    return out


def unavailable(client):
    """Why `client` cannot run here, or None when it can."""
    if is_ccbt(client) and not os.access(ccbt_binary(client), os.X_OK):
        return f"{os.path.relpath(ccbt_binary(client), ROOT)} missing"
    if client in EXTRA_LT and not os.access(EXTRA_LT[client], os.X_OK):
        return f"{EXTRA_LT[client]} missing"
    if client == "rqbit" and not os.access(RQBIT, os.X_OK):
        return "not installed"
    if client == "aria2" and not shutil.which("aria2c"):
        return "not installed"
    return None


def order_clients(named):
    """The clients of one round: each extra ccbt right after `ccbt`, each extra libtorrent right
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


def read_json(path):
    import json
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None
