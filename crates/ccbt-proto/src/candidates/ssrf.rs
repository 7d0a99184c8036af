//! SSRF mitigation for peer candidates. A tracker, a DHT node or a PEX peer can name any address
//! as a peer, and ccbt then opens a TCP connection to it and writes a handshake: a public party
//! could make ccbt poke services on the user's machine or local network. libtorrent's
//! `ssrf_mitigation` guards its tracker and web seed requests (loopback trackers only on an
//! `/announce` path, no query strings for local web seeds); ccbt applies the same concern to the
//! peers such sources name: an address on loopback or the local network is refused when its port
//! is privileged (below 1024), where system services (ssh, http, smtp, printers, ...) listen and
//! BitTorrent clients do not. Peers on ephemeral ports (every client on a LAN, loopback test
//! swarms) and addresses the user gave are unaffected.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Ports below this are system services: never BitTorrent listen ports in practice.
const FIRST_UNPRIVILEGED_PORT: u16 = 1024;

/// Whether the SSRF mitigation refuses `addr` when a remote party names it as a peer.
pub fn refused_by_ssrf_mitigation(addr: SocketAddr) -> bool {
    addr.port() < FIRST_UNPRIVILEGED_PORT && is_local(addr.ip())
}

/// Loopback, private (RFC 1918, RFC 4193), link-local or carrier-grade NAT addresses: this
/// machine or its local network.
fn is_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_local_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_local_v4(v4),
            None => is_local_v6(v6),
        },
    }
}

fn is_local_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_loopback() || ip.is_private() || ip.is_link_local() || (a == 100 && (64..128).contains(&b))
}

fn is_local_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    ip.is_loopback() || (first & 0xfe00) == 0xfc00 || (first & 0xffc0) == 0xfe80
}
