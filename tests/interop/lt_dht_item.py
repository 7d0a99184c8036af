#!/usr/bin/python3
"""libtorrent DHT node that puts and gets BEP 44 mutable items on command (loopback tests).

Listens on --listen HOST:PORT (UDP DHT; TCP unused), DHT on, nothing else, bootstrapped only
from --node addresses (add_dht_node). Reads commands from stdin, one per line:

  NODE <host:port>                          add a DHT node
  PUT <seed hex> <pubkey hex> <salt> <text>  put the mutable item whose value is the bencoded
                                            string <text> (the binding puts strings only),
                                            signed by the ed25519 key of <seed>; seq is one
                                            more than the network's (libtorrent's rule)
  GET <pubkey hex> <salt>                   get the mutable item
  QUIT                                      exit 0
(<salt> "-" means no salt.) Prints on stdout:

  READY <port>
  NODES <n>                                 routing table size, when it changes
  PUT_DONE <num_success> <seq>              after a PUT
  ITEM <seq> <bencoded value hex>           after a GET that found a string item
  ITEM_TEXT <seq> <libtorrent's rendering>  after a GET that found another value (the binding
                                            converts only strings), e.g. { 'ih': '<hex>' }
  ITEM_NONE                                 after a GET that did not
"""

import argparse
import hashlib
import select
import sys
import time

from ltcommon import StopFlag, log_alert, lt, parse_hostport, wait_listening
from ltdiscovery import dht_settings

NAME = "lt_dht_item"


def out(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def secret_key(seed):
    """libtorrent's 64-byte ed25519 secret key of a 32-byte seed (orlp/ed25519's layout: the
    clamped SHA-512 of the seed, scalar then nonce prefix; signatures equal RFC 8032's)."""
    h = bytearray(hashlib.sha512(seed).digest())
    h[0] &= 248
    h[31] &= 63
    h[31] |= 64
    return bytes(h)


def salt_arg(text):
    return "" if text == "-" else text


def command(ses, line):
    """Runs one command line; returns False on QUIT."""
    parts = line.split(" ", 4)
    if parts[0] == "QUIT":
        return False
    if parts[0] == "NODE":
        ses.add_dht_node(parse_hostport(parts[1]))
    elif parts[0] == "PUT":
        seed, pk, salt, text = bytes.fromhex(parts[1]), bytes.fromhex(parts[2]), parts[3], parts[4]
        ses.dht_put_mutable_item(secret_key(seed), pk, text, salt_arg(salt))
    elif parts[0] == "GET":
        ses.dht_get_mutable_item(bytes.fromhex(parts[1]), salt_arg(parts[2]))
    else:
        sys.stderr.write(f"{NAME}: unknown command {line!r}\n")
    return True


def on_alert(a, state):
    if isinstance(a, lt.dht_stats_alert):
        n = sum(b.get("num_nodes", 0) for b in a.routing_table)
        if n != state["nodes"]:
            state["nodes"] = n
            out(f"NODES {n}")
    elif isinstance(a, lt.dht_put_alert):
        out(f"PUT_DONE {a.num_success} {a.seq}")
    elif isinstance(a, lt.dht_mutable_item_alert):
        # Reported once the lookup ends (authoritative); an empty item means none was found.
        # The binding gives the item as a dict (key, salt, seq, signature, value, ...).
        if not a.authoritative:
            return
        try:
            item = a.item
        except RuntimeError:
            # The binding converts string values only ("invalid type requested from entry"
            # for a dictionary, and for no item at all): report libtorrent's own rendering.
            text = a.message().partition(" [ ")[2].rpartition(" ]")[0]
            text = " ".join(text.split())
            if text and text != "<uninitialized>":
                out(f"ITEM_TEXT {a.seq} {text}")
            else:
                out("ITEM_NONE")
            return
        if not isinstance(item, dict) or "value" not in item:
            out("ITEM_NONE")
        else:
            out(f"ITEM {a.seq} {lt.bencode(item['value']).hex()}")
    elif a.category() & lt.alert.category_t.error_notification:
        log_alert(a, NAME)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--listen", required=True, metavar="HOST:PORT")
    p.add_argument("--node", action="append", default=[], metavar="HOST:PORT")
    args = p.parse_args()
    stop = StopFlag()
    host, port = parse_hostport(args.listen)
    settings = dht_settings(host, port, [], 900)
    # Loopback nodes all share 127.0.0.0/8 and make up ids: no IP or id restrictions.
    settings["dht_ignore_dark_internet"] = False
    settings["dht_enforce_node_id"] = False
    ses = lt.session(settings)
    port = wait_listening(ses)
    for n in args.node:
        ses.add_dht_node(parse_hostport(n))
    out(f"READY {port}")
    state = {"nodes": -1}
    last_stats = 0.0
    while not stop.stop:
        now = time.monotonic()
        if now - last_stats >= 0.5:
            last_stats = now
            ses.post_dht_stats()
        ready, _, _ = select.select([sys.stdin], [], [], 0.05)
        if ready:
            line = sys.stdin.readline()
            if not line or not command(ses, line.rstrip("\n")):
                return 0
        ses.wait_for_alert(50)
        for a in ses.pop_alerts():
            on_alert(a, state)
    return 0


if __name__ == "__main__":
    sys.exit(main())
