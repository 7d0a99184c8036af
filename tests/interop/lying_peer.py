#!/usr/bin/env python3
"""A scripted BitTorrent seeder that lies: it serves blocks whose bytes are corrupted.

Plain sockets, no libtorrent. It speaks just enough of BEP 3: handshake, a full bitfield, unchoke,
and a Piece answer to every valid Request. Blocks of the pieces named by --corrupt (default: all)
have their first byte flipped, so every such piece fails its hash check at the receiver. With
--corrupt none it is an honest minimal seeder, a baseline for the same tests.

Listens on --host (default 127.0.0.1):--port (keeps accepting connections), prints "READY <port>" on stdout, logs
every block it sends to stderr as "SENT piece=I begin=B len=N corrupt=0|1", and exits 0 on
SIGTERM/SIGINT. --connect HOST:PORT also dials out (and redials when a connection ends).
Only v1 (and hybrid) torrents: it serves the v1 piece space.
"""

import argparse
import hashlib
import os
import signal
import socket
import struct
import sys
import threading
import time

PROTOCOL = b"\x13BitTorrent protocol"
MAX_MESSAGE = 16 + (1 << 17)  # a Piece of the largest block we accept to serve, plus headers
MAX_REQUEST = 1 << 17

MSG_CHOKE, MSG_UNCHOKE, MSG_INTERESTED, MSG_NOT_INTERESTED = 0, 1, 2, 3
MSG_HAVE, MSG_BITFIELD, MSG_REQUEST, MSG_PIECE, MSG_CANCEL = 4, 5, 6, 7, 8

log_lock = threading.Lock()


def log(text):
    with log_lock:
        sys.stderr.write(text + "\n")
        sys.stderr.flush()


class BencodeError(ValueError):
    pass


def bdecode(data, i=0):
    """Decode one bencoded value at data[i:]; return (value, end). Dicts keep raw value spans
    under the key (b"__raw__", key) so the info hash is taken over the original bytes."""
    if i >= len(data):
        raise BencodeError("truncated input")
    c = data[i : i + 1]
    if c == b"i":
        end = data.index(b"e", i)
        return int(data[i + 1 : end]), end + 1
    if c == b"l":
        out, i = [], i + 1
        while data[i : i + 1] != b"e":
            v, i = bdecode(data, i)
            out.append(v)
        return out, i + 1
    if c == b"d":
        out, i = {}, i + 1
        while data[i : i + 1] != b"e":
            k, i = bdecode(data, i)
            if not isinstance(k, bytes):
                raise BencodeError("dict key is not a string")
            start = i
            v, i = bdecode(data, i)
            out[k] = v
            out[(b"__raw__", k)] = data[start:i]
        return out, i + 1
    if c.isdigit():
        colon = data.index(b":", i)
        n = int(data[i:colon])
        if n < 0 or colon + 1 + n > len(data):
            raise BencodeError("string runs past the end")
        return data[colon + 1 : colon + 1 + n], colon + 1 + n
    raise BencodeError(f"unexpected byte {c!r} at {i}")


class Torrent:
    """The v1 piece space of a torrent: piece geometry and the file spans that hold it."""

    def __init__(self, torrent_path, data_dir):
        with open(torrent_path, "rb") as f:
            meta, _ = bdecode(f.read())
        info = meta.get(b"info")
        if not isinstance(info, dict) or b"pieces" not in info:
            raise SystemExit("error: not a v1 or hybrid torrent (no info.pieces)")
        self.info_hash = hashlib.sha1(meta[(b"__raw__", b"info")]).digest()
        self.piece_length = info[b"piece length"]
        name = info[b"name"].decode("utf-8", "replace")
        # Spans of the v1 concatenation: (length, path or None for a BEP 47 pad file).
        self.spans = []
        if b"files" in info:
            for fe in info[b"files"]:
                parts = [p.decode("utf-8", "replace") for p in fe[b"path"]]
                is_pad = b"p" in fe.get(b"attr", b"")
                path = None if is_pad else os.path.join(data_dir, name, *parts)
                self.spans.append((fe[b"length"], path))
        else:
            self.spans.append((info[b"length"], os.path.join(data_dir, name)))
        self.total = sum(n for n, _ in self.spans)
        self.num_pieces = len(info[b"pieces"]) // 20
        if self.num_pieces != -(-self.total // self.piece_length):
            raise SystemExit("error: piece count does not match total length")

    def piece_size(self, index):
        return min(self.piece_length, self.total - index * self.piece_length)

    def read(self, offset, length):
        """Read `length` bytes at `offset` of the v1 concatenation (pad files read as zeros)."""
        out = bytearray()
        pos = 0
        for n, path in self.spans:
            if length == 0:
                break
            if offset < pos + n:
                start = offset - pos
                take = min(n - start, length)
                if path is None:
                    out += bytes(take)
                else:
                    with open(path, "rb") as f:
                        f.seek(start)
                        chunk = f.read(take)
                    if len(chunk) != take:
                        raise OSError(f"{path} is shorter than the torrent says")
                    out += chunk
                offset += take
                length -= take
            pos += n
        return bytes(out)

    def bitfield(self):
        bits = bytearray((self.num_pieces + 7) // 8)
        for i in range(self.num_pieces):
            bits[i // 8] |= 0x80 >> (i % 8)
        return bytes(bits)


def recv_exact(sock, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("peer closed the connection")
        buf += chunk
    return bytes(buf)


def send_msg(sock, msg_id, payload=b""):
    sock.sendall(struct.pack(">IB", len(payload) + 1, msg_id) + payload)


class Peer:
    def __init__(self, args, torrent, peer_id):
        self.args = args
        self.torrent = torrent
        self.peer_id = peer_id
        self.corrupt_all = args.corrupt == "all"
        self.corrupt = set()
        if args.corrupt not in ("all", "none"):
            self.corrupt = {int(x) for x in args.corrupt.split(",") if x.strip()}

    def should_corrupt(self, index):
        return self.corrupt_all or index in self.corrupt

    def handshake(self, sock, initiator):
        ours = PROTOCOL + bytes(8) + self.torrent.info_hash + self.peer_id
        if initiator:
            sock.sendall(ours)
        theirs = recv_exact(sock, 68)
        if theirs[:20] != PROTOCOL:
            raise ConnectionError("not a BitTorrent handshake")
        if theirs[28:48] != self.torrent.info_hash:
            raise ConnectionError("handshake for another torrent")
        if not initiator:
            sock.sendall(ours)

    def serve(self, sock, addr, initiator):
        name = f"{addr[0]}:{addr[1]}"
        sent = 0
        try:
            sock.settimeout(120)
            self.handshake(sock, initiator)
            log(f"CONNECTED {name} initiator={int(initiator)}")
            send_msg(sock, MSG_BITFIELD, self.torrent.bitfield())
            send_msg(sock, MSG_UNCHOKE)
            while not STOP.is_set():
                (length,) = struct.unpack(">I", recv_exact(sock, 4))
                if length == 0:
                    continue  # keep-alive
                if length > MAX_MESSAGE:
                    raise ConnectionError(f"message of {length} bytes is too long")
                body = recv_exact(sock, length)
                msg_id, payload = body[0], body[1:]
                if msg_id == MSG_REQUEST and len(payload) == 12:
                    index, begin, blen = struct.unpack(">III", payload)
                    if (
                        index >= self.torrent.num_pieces
                        or blen == 0
                        or blen > MAX_REQUEST
                        or begin + blen > self.torrent.piece_size(index)
                    ):
                        raise ConnectionError(f"invalid request {index}/{begin}/{blen}")
                    offset = index * self.torrent.piece_length + begin
                    block = bytearray(self.torrent.read(offset, blen))
                    bad = self.should_corrupt(index)
                    if bad:
                        block[0] ^= 0xFF
                    send_msg(sock, MSG_PIECE, struct.pack(">II", index, begin) + bytes(block))
                    sent += 1
                    log(f"SENT piece={index} begin={begin} len={blen} corrupt={int(bad)}")
                elif msg_id == MSG_INTERESTED:
                    send_msg(sock, MSG_UNCHOKE)
                # Everything else (have, bitfield, cancel, extensions) needs no answer from a seed.
        except (OSError, ConnectionError, struct.error) as e:
            log(f"CLOSED {name}: {e} ({sent} blocks sent)")
        finally:
            sock.close()


STOP = threading.Event()


def dial_loop(peer, host, port):
    """Keep one outgoing connection to host:port alive until asked to stop."""
    while not STOP.is_set():
        try:
            sock = socket.create_connection((host, port), timeout=5, source_address=(peer.args.host, 0))
        except OSError as e:
            log(f"DIAL {host}:{port} failed: {e}")
            STOP.wait(1.0)
            continue
        peer.serve(sock, (host, port), initiator=True)
        STOP.wait(1.0)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--torrent", required=True)
    p.add_argument("--data", required=True, help="directory holding the torrent's content")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on and dial from (default 127.0.0.1; tests give a liar its own 127.0.0.N)")
    p.add_argument("--port", type=int, required=True, help="listen port on --host (0 = any)")
    p.add_argument("--corrupt", default="all",
                   help="'all' (default), 'none', or comma-separated piece indices to corrupt")
    p.add_argument("--connect", action="append", default=[], metavar="HOST:PORT")
    args = p.parse_args()

    try:
        torrent = Torrent(args.torrent, args.data)
    except (OSError, ValueError, KeyError, TypeError, IndexError) as e:
        sys.stderr.write(f"error: cannot load {args.torrent}: {e!r}\n")
        return 2
    peer_id = b"-LY0001-" + os.urandom(12)
    peer = Peer(args, torrent, peer_id)

    def on_signal(_signum, _frame):
        STOP.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((args.host, args.port))
    listener.listen(64)
    listener.settimeout(0.2)
    port = listener.getsockname()[1]

    for target in args.connect:
        host, _, cport = target.rpartition(":")
        threading.Thread(target=dial_loop, args=(peer, host.strip("[]"), int(cport)), daemon=True).start()

    sys.stdout.write(f"READY {port}\n")
    sys.stdout.flush()
    log(f"lying_peer: serving {torrent.num_pieces} pieces, corrupt={args.corrupt}")
    while not STOP.is_set():
        try:
            sock, addr = listener.accept()
        except socket.timeout:
            continue
        except OSError:
            if STOP.is_set():
                break
            raise
        threading.Thread(target=peer.serve, args=(sock, addr, False), daemon=True).start()
    listener.close()
    log("lying_peer: exiting")
    return 0


if __name__ == "__main__":
    sys.exit(main())
