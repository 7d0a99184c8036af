"""Discovery helpers shared by the libtorrent helpers: trackers, magnets, peer lists, DHT settings.

Kept apart from ltcommon.py so the loopback defaults there stay exactly as the existing tests
expect; everything here is only switched on by an explicit option.
"""

import sys
import time

from ltcommon import lt

# peer_info.source bits, in the order they are printed.
_SOURCES = (
    (lt.peer_info.tracker, "tracker"),
    (lt.peer_info.dht, "dht"),
    (lt.peer_info.pex, "pex"),
    (lt.peer_info.lsd, "lsd"),
    (lt.peer_info.resume_data, "resume"),
    (lt.peer_info.local_connection, "incoming"),
)


def tracker_settings():
    """Settings a session needs to use trackers on loopback or in the test network.

    A torrent given both an HTTP and a UDP URL announces to both (by default libtorrent stops at
    the first tracker that works, and prefers UDP). Loopback trackers pass libtorrent's SSRF
    mitigation only because their path is exactly /announce.
    """
    return {"announce_to_all_trackers": True, "announce_to_all_tiers": True}


def set_trackers(atp, urls):
    """Replace the torrent's own announce list by `urls` (one tier each)."""
    if urls:
        atp.trackers = list(urls)
        atp.tracker_tiers = list(range(len(urls)))
        atp.flags |= lt.torrent_flags.override_trackers


def magnet_params(uri):
    """add_torrent_params for a magnet link, keeping its tr= trackers and x.pe= peers."""
    return lt.parse_magnet_uri(uri)


def describe_peer(pi):
    """One peer as "ip:port(out|in,source+source,seed)", the ip:port as libtorrent sees it.

    For an incoming connection the port is the remote's ephemeral port, not its listen port.
    """
    parts = ["out" if pi.flags & lt.peer_info.outgoing_connection else "in"]
    sources = [name for bit, name in _SOURCES if pi.source & bit]
    parts.append("+".join(sources) if sources else "direct")
    if pi.flags & lt.peer_info.seed:
        parts.append("seed")
    return f"{pi.ip[0]}:{pi.ip[1]}({','.join(parts)})"


class PeerPrinter:
    """Prints "PEERS t=<s> n=<count> <peer>..." to stdout every `interval` seconds (0 = never).

    Only fully connected peers are listed (not ones still connecting or in the handshake), so a
    test can assert on n=. t= counts from `start` (time.monotonic()).
    """

    def __init__(self, interval, start):
        self.interval = interval
        self.start = start
        self.last = None

    def tick(self, h):
        if self.interval <= 0:
            return
        now = time.monotonic()
        if self.last is not None and now - self.last < self.interval:
            return
        self.last = now
        peers = [
            pi for pi in h.get_peer_info()
            if not pi.flags & (lt.peer_info.connecting | lt.peer_info.handshake)
        ]
        listed = " ".join(sorted(describe_peer(pi) for pi in peers))
        sys.stdout.write(f"PEERS t={now - self.start:.1f} n={len(peers)} {listed}\n".rstrip() + "\n")
        sys.stdout.flush()


def dht_settings(host, port, bootstrap, announce_interval):
    """Settings for a libtorrent node of the private DHT test network (see lt_dht_node.py).

    - listen on host:port for TCP and UDP (the DHT runs on the UDP socket), nothing else;
    - dht_restrict_routing_ips / dht_restrict_search_ips off: with them on libtorrent keeps one
      node per /24 in its routing table and search results, and all test hosts share 10.77.0/24;
    - dht_prefer_verified_node_ids off: BEP 42 ids derive from the external IP, which the nodes
      of a private network cannot verify;
    - dht_announce_interval short, because a node that announces before its routing table has
      any node reaches nobody and would otherwise retry only after 15 minutes;
    - LSD, UPnP, NAT-PMP and uTP off so that the DHT is the only discovery mechanism.
    """
    return {
        "listen_interfaces": f"{host}:{port}",
        "outgoing_interfaces": host,
        "enable_dht": True,
        "dht_bootstrap_nodes": ",".join(f"{h}:{p}" for h, p in bootstrap),
        "dht_restrict_routing_ips": False,
        "dht_restrict_search_ips": False,
        "dht_prefer_verified_node_ids": False,
        "dht_announce_interval": announce_interval,
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "enable_outgoing_utp": False,
        "enable_incoming_utp": False,
        "enable_outgoing_tcp": True,
        "enable_incoming_tcp": True,
        "allow_multiple_connections_per_ip": True,
        "max_failcount": 1000,
        "min_reconnect_time": 0,
        "user_agent": "ccbt-interop/libtorrent-" + lt.__version__,
        "alert_mask": (
            lt.alert.category_t.error_notification
            | lt.alert.category_t.status_notification
            | lt.alert.category_t.storage_notification
            | lt.alert.category_t.peer_notification
            | lt.alert.category_t.dht_notification
        ),
    }
