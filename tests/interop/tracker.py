#!/usr/bin/env python3
"""opentracker on one address for interop tests: HTTP and UDP (BEP 15) on the same port.

Debian builds opentracker in whitelist mode (WANT_ACCESSLIST_WHITE): it answers only for info
hashes listed in its access list and fails every other announce with "Requested download is not
authorized". So the tracker is started with the hashes it may serve (--info-hash, --torrent) and
an optional --allow-file that a test can append hex hashes to; SIGHUP re-reads everything.

  tracker.py start --port P [--host 127.0.0.1] [--torrent F]... [--info-hash HEX]...
                   [--allow-file FILE] [--ready-file PATH]
  tracker.py hashes --torrent F          print the hashes a client announces for F

`start` prints (or writes to --ready-file) "READY <port>" once both the HTTP and the UDP socket
answer, then runs until SIGTERM/SIGINT and exits 0. Announce URLs: http://HOST:P/announce and
udp://HOST:P/announce. Uses only the standard library (any Python 3.8+).
"""

import argparse
import hashlib
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

NAME = "tracker"


class BencodeError(ValueError):
    """The .torrent is not well-formed bencode."""


def _skip(data, i):
    """Return the index just past the bencoded value starting at data[i]."""
    if i >= len(data):
        raise BencodeError("truncated")
    c = data[i : i + 1]
    if c == b"i":
        end = data.find(b"e", i)
        if end < 0:
            raise BencodeError("unterminated integer")
        return end + 1
    if c in (b"l", b"d"):
        i += 1
        while data[i : i + 1] != b"e":
            if i >= len(data):
                raise BencodeError("unterminated list or dict")
            i = _skip(data, i)
        return i + 1
    if c.isdigit():
        colon = data.find(b":", i)
        if colon < 0 or not data[i:colon].isdigit():
            raise BencodeError("bad string length")
        end = colon + 1 + int(data[i:colon])
        if end > len(data):
            raise BencodeError("truncated string")
        return end
    raise BencodeError(f"unexpected byte {c!r} at {i}")


def _dict_items(data, i):
    """Yield (key bytes, value start, value end) for the top-level dict starting at data[i]."""
    if data[i : i + 1] != b"d":
        raise BencodeError("expected a dictionary")
    i += 1
    while data[i : i + 1] != b"e":
        if i >= len(data):
            raise BencodeError("unterminated dictionary")
        key_end = _skip(data, i)
        colon = data.find(b":", i)
        key = data[colon + 1 : key_end]
        val_end = _skip(data, key_end)
        yield key, key_end, val_end
        i = val_end


def torrent_hashes(path):
    """The 20-byte hashes (hex) a client announces for a .torrent: v1 SHA-1 and/or truncated v2.

    Hashes are taken over the original bytes of the info dict, never a re-encoding.
    """
    with open(path, "rb") as f:
        data = f.read()
    info = None
    for key, start, end in _dict_items(data, 0):
        if key == b"info":
            info = data[start:end]
    if info is None:
        raise BencodeError(f"{path}: no info dictionary")
    keys = {key: info[s:e] for key, s, e in _dict_items(info, 0)}
    out = []
    if b"pieces" in keys:
        out.append(hashlib.sha1(info).hexdigest())
    if keys.get(b"meta version") == b"i2e":
        # BEP 52: trackers and the DHT see a v2 torrent under its SHA-256 truncated to 20 bytes.
        out.append(hashlib.sha256(info).hexdigest()[:40])
    if not out:
        raise BencodeError(f"{path}: neither v1 pieces nor meta version 2")
    return out


def normalise_hash(text):
    """A 40-hex v1 hash, or a 64-hex v2 hash truncated to the 20 bytes trackers see."""
    h = text.strip().lower()
    if len(h) not in (40, 64) or any(c not in "0123456789abcdef" for c in h):
        raise ValueError(f"expected a 40 or 64 hex digit info hash, got {text!r}")
    return h[:40]


def collect_hashes(args):
    """Every hash the tracker may serve, from the command line and the allow file."""
    hashes = [normalise_hash(h) for h in args.info_hash]
    for t in args.torrent:
        hashes.extend(torrent_hashes(t))
    if args.allow_file and os.path.exists(args.allow_file):
        with open(args.allow_file) as f:
            for line in f:
                if line.strip() and not line.startswith("#"):
                    hashes.append(normalise_hash(line))
    return sorted(set(hashes))


def write_whitelist(workdir, hashes):
    """Write opentracker's access list atomically, readable by the unprivileged tracker user."""
    tmp = os.path.join(workdir, "whitelist.txt.tmp")
    with open(tmp, "w") as f:
        f.write("".join(h + "\n" for h in hashes))
    os.chmod(tmp, 0o644)
    os.replace(tmp, os.path.join(workdir, "whitelist.txt"))


def http_ready(host, port):
    """True once opentracker answers an HTTP request on host:port."""
    try:
        with socket.create_connection((host, port), timeout=0.5) as s:
            s.sendall(b"GET /stats?mode=peer HTTP/1.0\r\n\r\n")
            return s.recv(16).startswith(b"HTTP/")
    except OSError:
        return False


def udp_ready(host, port):
    """True once opentracker answers a BEP 15 connect request on host:port."""
    txid = 0x0CCB7000
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(0.5)
            s.sendto(struct.pack(">QII", 0x41727101980, 0, txid), (host, port))
            reply = s.recv(64)
    except OSError:
        return False
    return len(reply) >= 16 and struct.unpack(">II", reply[:8]) == (0, txid)


def start(args):
    opentracker = shutil.which("opentracker")
    if not opentracker:
        sys.stderr.write(f"{NAME}: opentracker not found (Debian package opentracker)\n")
        return 2
    # opentracker chroots into its working directory and drops to the user "nobody" when run as
    # root, so the directory and the access list in it must be world-readable.
    workdir = tempfile.mkdtemp(prefix="ccbt-tracker.")
    os.chmod(workdir, 0o755)
    stopping = []
    proc = None
    try:
        write_whitelist(workdir, collect_hashes(args))
        cmd = [opentracker, "-i", args.host, "-p", str(args.port), "-P", str(args.port),
               "-d", workdir, "-w", "whitelist.txt", "-A", args.host]
        log = open(os.path.join(workdir, "opentracker.log"), "w+")
        proc = subprocess.Popen(cmd, cwd=workdir, stdout=log, stderr=subprocess.STDOUT)

        def on_stop(_signum, _frame):
            stopping.append(True)

        def on_reload(_signum, _frame):
            try:
                hashes = collect_hashes(args)
            except (OSError, ValueError) as e:
                sys.stderr.write(f"{NAME}: reload failed, keeping the old list: {e}\n")
                return
            write_whitelist(workdir, hashes)
            proc.send_signal(signal.SIGHUP)
            sys.stderr.write(f"{NAME}: reloaded, {len(hashes)} info hashes allowed\n")

        signal.signal(signal.SIGTERM, on_stop)
        signal.signal(signal.SIGINT, on_stop)
        signal.signal(signal.SIGHUP, on_reload)

        deadline = time.monotonic() + 10.0
        while not (http_ready(args.host, args.port) and udp_ready(args.host, args.port)):
            if proc.poll() is not None or time.monotonic() > deadline or stopping:
                log.seek(0)
                reason = log.read().strip() or f"exit status {proc.poll()}"
                sys.stderr.write(f"{NAME}: opentracker did not come up: {reason}\n")
                return 0 if stopping else 1
            time.sleep(0.05)

        ready = f"READY {args.port}\n"
        if args.ready_file:
            tmp = args.ready_file + ".tmp"
            with open(tmp, "w") as f:
                f.write(ready)
            os.replace(tmp, args.ready_file)
        else:
            sys.stdout.write(ready)
            sys.stdout.flush()

        while not stopping:
            if proc.poll() is not None:
                log.seek(0)
                sys.stderr.write(f"{NAME}: opentracker exited ({proc.returncode}): {log.read()}\n")
                return 1
            time.sleep(0.1)
        return 0
    finally:
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(workdir, ignore_errors=True)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("start", help="run opentracker until SIGTERM")
    s.add_argument("--port", type=int, required=True, help="HTTP (TCP) and UDP port")
    s.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    s.add_argument("--torrent", action="append", default=[], help="allow this torrent's hashes")
    s.add_argument("--info-hash", action="append", default=[], metavar="HEX",
                   help="allow this info hash (40 hex, or 64 hex for v2)")
    s.add_argument("--allow-file", help="file of hex info hashes, one a line; re-read on SIGHUP")
    s.add_argument("--ready-file", help="write 'READY <port>' here instead of stdout")
    h = sub.add_parser("hashes", help="print the hashes announced for a .torrent")
    h.add_argument("--torrent", required=True)
    args = p.parse_args()

    try:
        if args.cmd == "hashes":
            for x in torrent_hashes(args.torrent):
                print(x)
            return 0
        return start(args)
    except (OSError, ValueError) as e:
        sys.stderr.write(f"{NAME}: {e}\n")
        return 2


if __name__ == "__main__":
    sys.exit(main())
