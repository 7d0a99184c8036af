#!/usr/bin/python3
"""libtorrent DHT node for the private test network of scripts/netns.sh (run inside a namespace).

One session listening on --listen HOST:PORT (TCP for peers, UDP for the DHT), DHT on, no trackers,
no LSD/UPnP/NAT-PMP/uTP, bootstrapped only from the given --bootstrap nodes. Three roles:

  plain node   (neither --seed nor --magnet): routes DHT traffic until SIGTERM
  seeder       --seed --torrent F --data DIR: seeds and announces F to the DHT until SIGTERM
  downloader   --magnet URI --out DIR: finds peers through the DHT only (the magnet's tr= and x.pe=
               are dropped), fetches the metadata (ut_metadata) and the content, prints DONE

stdout lines (t= seconds since the torrent was added, or since start for a plain node):
  READY <port>                         listening (and, for the seeder, seeding)
  DHT_NODES t=<s> n=<routing table size>   whenever the size changes
  DHT_ANNOUNCE_IN <ip>:<port> <hash>   another node announced itself to this one (announce_peer)
  DHT_PEERS t=<s> n=<count>            first get_peers reply with peers for our torrent
  METADATA t=<s>                       the downloader has the info dict
  DONE <s>                             the downloader is complete (exits 0, or keeps seeding)
Exits 1 with the reason on --timeout or torrent error; 0 on SIGTERM/SIGINT.
"""

import argparse
import os
import sys
import time

from ltcommon import StopFlag, log_alert, lt, parse_hostport, wait_listening
from ltdiscovery import PeerPrinter, dht_settings

NAME = "lt_dht_node"


def out(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--listen", required=True, metavar="HOST:PORT",
                   help="address for TCP peers and the UDP DHT, e.g. 10.77.0.1:6881")
    p.add_argument("--bootstrap", action="append", default=[], metavar="HOST:PORT",
                   help="DHT router to bootstrap from (repeatable); none for the first node."
                        " libtorrent never puts routers in its routing table")
    p.add_argument("--node", action="append", default=[], metavar="HOST:PORT",
                   help="known DHT node (add_dht_node: may enter the routing table)")
    p.add_argument("--seed", action="store_true", help="seed --torrent from --data")
    p.add_argument("--torrent", help=".torrent to seed")
    p.add_argument("--data", help="directory holding the seeded content")
    p.add_argument("--magnet", metavar="URI", help="magnet link to download through the DHT")
    p.add_argument("--out", help="download directory for --magnet")
    p.add_argument("--timeout", type=float, default=180.0,
                   help="downloader: seconds before giving up")
    p.add_argument("--keep-seeding", action="store_true",
                   help="downloader: keep running after DONE until SIGTERM")
    p.add_argument("--announce-interval", type=int, default=10, metavar="SECS",
                   help="dht_announce_interval: how often torrents are announced (libtorrent: 900)")
    p.add_argument("--print-peers", type=float, default=0, metavar="SECS",
                   help="print 'PEERS t=.. n=.. ip:port(flags)...' every SECS")
    p.add_argument("--ready-file", help="write 'READY <port>' here instead of stdout")
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="override one libtorrent setting (true/false, integer or string)")
    p.add_argument("--verbose", action="store_true", help="log every alert to stderr")
    args = p.parse_args()
    if args.seed and args.magnet:
        p.error("--seed and --magnet exclude each other")
    if args.seed and not (args.torrent and args.data):
        p.error("--seed needs --torrent and --data")
    if args.magnet and not args.out:
        p.error("--magnet needs --out")
    return args


def parse_setting(text):
    """"name=value" -> (name, bool | int | str) for settings_pack overrides."""
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise ValueError(f"expected NAME=VALUE, got {text!r}")
    if value.lower() in ("true", "false"):
        return name, value.lower() == "true"
    try:
        return name, int(value)
    except ValueError:
        return name, value


def add_torrent(ses, args):
    """Add the seeded or downloaded torrent, with every peer source but the DHT removed."""
    if args.seed:
        atp = lt.add_torrent_params()
        atp.ti = lt.torrent_info(args.torrent)
        atp.save_path = os.path.abspath(args.data)
        flags = lt.torrent_flags.seed_mode
    else:
        atp = lt.parse_magnet_uri(args.magnet)
        os.makedirs(args.out, exist_ok=True)
        atp.save_path = os.path.abspath(args.out)
        atp.peers = []
        flags = 0
    atp.trackers = []
    atp.url_seeds = []
    flags |= lt.torrent_flags.default_flags | lt.torrent_flags.override_trackers
    flags &= ~(lt.torrent_flags.auto_managed | lt.torrent_flags.paused)
    # disable_pex stays clear: PEX is harmless here, but LSD is off at session level.
    atp.flags = flags
    return ses.add_torrent(atp)


def write_ready(args, port):
    line = f"READY {port}\n"
    if args.ready_file:
        tmp = args.ready_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(line)
        os.replace(tmp, args.ready_file)
    else:
        sys.stdout.write(line)
        sys.stdout.flush()


class Node:
    """The alert loop shared by the three roles."""

    def __init__(self, ses, args, start):
        self.ses = ses
        self.args = args
        self.start = start
        self.nodes = -1
        self.last_stats = 0.0
        self.saw_peers = False
        self.saw_metadata = False

    def since(self):
        return time.monotonic() - self.start

    def pump(self, h):
        """Handle pending alerts; return an error message if the torrent failed."""
        now = time.monotonic()
        if now - self.last_stats >= 1.0:
            self.last_stats = now
            self.ses.post_dht_stats()
        self.ses.wait_for_alert(200)
        for a in self.ses.pop_alerts():
            if isinstance(a, lt.dht_stats_alert):
                n = sum(b.get("num_nodes", 0) for b in a.routing_table)
                if n != self.nodes:
                    self.nodes = n
                    out(f"DHT_NODES t={self.since():.1f} n={n}")
            elif isinstance(a, lt.dht_announce_alert):
                out(f"DHT_ANNOUNCE_IN {a.ip}:{a.port} {a.info_hash}")
            elif isinstance(a, lt.dht_reply_alert):
                if not self.saw_peers and a.num_peers > 0:
                    self.saw_peers = True
                    out(f"DHT_PEERS t={self.since():.3f} n={a.num_peers}")
            elif isinstance(a, lt.metadata_received_alert):
                if not self.saw_metadata:
                    self.saw_metadata = True
                    out(f"METADATA t={self.since():.3f}")
            elif isinstance(a, lt.torrent_error_alert):
                return a.message()
            elif self.args.verbose or a.category() & lt.alert.category_t.error_notification:
                log_alert(a, NAME)
        return None


def main():
    args = parse_args()
    stop = StopFlag()
    host, port = parse_hostport(args.listen)
    bootstrap = [parse_hostport(b) for b in args.bootstrap]
    settings = dht_settings(host, port, bootstrap, args.announce_interval)
    # dht_reply_alert (peers found for our torrent) is a tracker notification.
    settings["alert_mask"] |= lt.alert.category_t.tracker_notification
    settings.update(dict(parse_setting(s) for s in args.set))
    ses = lt.session(settings)
    port = wait_listening(ses)
    for n in args.node:
        ses.add_dht_node(parse_hostport(n))
    start = time.monotonic()
    node = Node(ses, args, start)

    if not (args.seed or args.magnet):
        write_ready(args, port)
        while not stop.stop:
            node.pump(None)
        return 0

    h = add_torrent(ses, args)
    printer = PeerPrinter(args.print_peers, start)
    if args.seed:
        while not stop.stop and not h.status().is_seeding:
            err = node.pump(h)
            if err:
                sys.stderr.write(f"{NAME}: torrent error: {err}\n")
                return 1
        write_ready(args, port)
        while not stop.stop:
            printer.tick(h)
            err = node.pump(h)
            if err:
                sys.stderr.write(f"{NAME}: torrent error: {err}\n")
                return 1
        return 0

    write_ready(args, port)
    deadline = start + args.timeout
    while not stop.stop:
        st = h.status()
        if st.has_metadata and (st.is_seeding or st.is_finished):
            h.flush_cache()
            out(f"DONE {node.since():.3f}")
            while args.keep_seeding and not stop.stop:
                printer.tick(h)
                node.pump(h)
            return 0
        if time.monotonic() > deadline:
            sys.stderr.write(
                f"{NAME}: timeout after {args.timeout:.0f}s at {st.progress * 100:.1f}% "
                f"(metadata {'yes' if st.has_metadata else 'no'}, {st.num_peers} peers, "
                f"{node.nodes} DHT nodes)\n"
            )
            return 1
        printer.tick(h)
        err = node.pump(h)
        if err:
            sys.stderr.write(f"{NAME}: torrent error: {err}\n")
            return 1
    sys.stderr.write(f"{NAME}: interrupted\n")
    return 1


if __name__ == "__main__":
    sys.exit(main())
