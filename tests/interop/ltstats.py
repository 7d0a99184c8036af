"""Per-peer payload accounting for the libtorrent helpers (--stats-file), so a swarm test or
benchmark can tell who sent what to whom. The file is plain text, one record a line:

  total_download N        payload bytes (torrent_status, exact), likewise total_upload,
  redundant N             redundant (duplicate) bytes, and failed (bytes of failed pieces)
  peer IP PORT DOWN UP CLIENT   payload bytes from and to one connection (CLIENT may be empty)

libtorrent forgets a peer's counters when its connection closes, so they are sampled on every
loop of the helper and the last sample of each connection is kept. The helpers keep connections
between two seeds open while accounting (`SETTINGS`), so libtorrent's own connections last until
the final sample; a connection the other side closes can miss the bytes of its last sampling
interval, so every per-peer figure is a lower bound. The torrent totals (torrent_status) are
exact.
"""

import os

# Applied by a helper given --stats-file: libtorrent would otherwise drop seed-to-seed
# connections, and their counters with them, as soon as both sides are complete.
SETTINGS = {"close_redundant_connections": False}


def _text(value):
    """The bindings give some strings as bytes (peer_info.client in 2.0)."""
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


class PeerStats:
    """Keeps the payload counters of every connection this torrent has had, keyed by the
    remote IP and peer id; a counter that went down means a new connection from the same peer,
    and the old connection's last figures are banked."""

    def __init__(self, path):
        self.path = path
        self.live = {}
        self.banked = []

    def tick(self, h):
        if not self.path:
            return
        for pi in h.get_peer_info():
            # By IP and peer id: libtorrent may report one connection under its remote port
            # and later under the peer's listen port. Before the handshake there is no id, and
            # no payload either.
            pid = str(pi.pid)
            if pid.strip("0") == "":
                continue
            key = (pi.ip[0], pid)
            now = {"ip": pi.ip[0], "port": pi.ip[1], "client": _text(pi.client),
                   "down": pi.total_download, "up": pi.total_upload}
            old = self.live.get(key)
            if old and (now["down"] < old["down"] or now["up"] < old["up"]):
                self.banked.append(old)
            if old and not now["client"]:
                now["client"] = old["client"]
            self.live[key] = now

    def write(self, h):
        """Take a last sample and write the JSON file (atomically), if one was asked for."""
        if not self.path:
            return
        self.tick(h)
        st = h.status()
        peers = [p for p in self.banked + list(self.live.values()) if p["down"] or p["up"]]
        lines = [
            f"total_download {st.total_payload_download}",
            f"total_upload {st.total_payload_upload}",
            f"redundant {st.total_redundant_bytes}",
            f"failed {st.total_failed_bytes}",
        ]
        for p in sorted(peers, key=lambda p: (p["ip"], p["port"])):
            client = " ".join(p["client"].split())
            lines.append(f"peer {p['ip']} {p['port']} {p['down']} {p['up']} {client}".rstrip())
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            f.write("\n".join(lines) + "\n")
        os.replace(tmp, self.path)
