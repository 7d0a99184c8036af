"""Shared libtorrent setup for the interop helpers (run with Debian's /usr/bin/python3).

Every session here is loopback-only, TCP-only and has all discovery off, so a test swarm consists
of exactly the peers the test wires together and nothing leaks off the machine.
"""

import signal
import sys
import time

try:
    import libtorrent as lt
except ImportError:  # pragma: no cover - depends on the host
    sys.stderr.write(
        "error: cannot import libtorrent; run with Debian's /usr/bin/python3 "
        "after scripts/install-test-deps.sh (package python3-libtorrent)\n"
    )
    sys.exit(2)


def parse_hostport(text):
    """Parse "HOST:PORT" (or "[V6]:PORT") into a (host, port) tuple."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"expected HOST:PORT, got {text!r}")
    return host.strip("[]"), int(port)


def make_session(port, fast=True, host="127.0.0.1"):
    """A libtorrent session listening on host:port (a loopback address; outgoing connections and
    tracker requests leave from it too) with DHT/LSD/UPnP/NAT-PMP and uTP off.

    Local peers stay exempt from rate limits (libtorrent's default local peer class), which is what
    loopback benchmarks want. `fast` starts from libtorrent's high_performance_seed preset so the
    reference client is measured at its best, not at desktop defaults.
    """
    settings = lt.high_performance_seed() if fast else lt.default_settings()
    settings.update(
        {
            "listen_interfaces": f"{host}:{port}",
            "outgoing_interfaces": host,
            "enable_dht": False,
            "enable_lsd": False,
            "enable_upnp": False,
            "enable_natpmp": False,
            "enable_outgoing_utp": False,
            "enable_incoming_utp": False,
            "enable_outgoing_tcp": True,
            "enable_incoming_tcp": True,
            "allow_multiple_connections_per_ip": True,
            # A bench machine has no other traffic; do not let libtorrent's own timers throttle
            # connection attempts to the one peer we name.
            "connection_speed": 500,
            # Helpers dial named peers that may not be listening yet and redial them; with the
            # preset's max_failcount=1 and the default 60 s min_reconnect_time libtorrent would
            # give up on such a peer after the first refused connection.
            "max_failcount": 1000,
            "min_reconnect_time": 0,
            "user_agent": "ccbt-interop/libtorrent-" + lt.__version__,
            "alert_mask": (
                lt.alert.category_t.error_notification
                | lt.alert.category_t.status_notification
                | lt.alert.category_t.storage_notification
                | lt.alert.category_t.peer_notification
            ),
        }
    )
    return lt.session(settings)


def wait_listening(ses, timeout=10.0):
    """Block until the session reports a TCP listen socket; return its port or raise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ses.wait_for_alert(200)
        for a in ses.pop_alerts():
            if isinstance(a, lt.listen_failed_alert):
                raise RuntimeError(f"listen failed: {a.message()}")
            if isinstance(a, lt.listen_succeeded_alert):
                return a.port
        if ses.is_listening() and ses.listen_port():
            return ses.listen_port()
    raise RuntimeError("session did not start listening")


def log_alert(a, prefix):
    """Write one alert to stderr, one line, with the helper's name."""
    sys.stderr.write(f"{prefix}: {type(a).__name__}: {a.message()}\n")
    sys.stderr.flush()


class StopFlag:
    """Set by SIGTERM/SIGINT so loops can leave cleanly and the helper exits 0."""

    def __init__(self):
        self.stop = False
        signal.signal(signal.SIGTERM, self._handle)
        signal.signal(signal.SIGINT, self._handle)

    def _handle(self, _signum, _frame):
        self.stop = True
