//! BEP 11 peer exchange: what to tell one connection about the torrent's other peers, and what
//! to make of what it tells us.
//!
//! One [`PexState`] per connection whose peer advertised `ut_pex` in its extension handshake.
//! Outgoing, it diffs the torrent's connected set against what this peer was last told and
//! rate-limits the result; incoming, it turns the peer's messages into fresh candidate
//! addresses and flags peers that flood us.

use std::collections::{BTreeSet, HashSet, VecDeque};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::time::{Duration, Instant};

use ccbt_wire::ext::pex::{PexFlags, PexMessage};
use thiserror::Error;

/// Shortest time between two messages we send on one connection (BEP 11: at most one a minute).
pub const MIN_INTERVAL: Duration = Duration::from_secs(60);

/// Delay between the connection starting and our first message, so that the handshakes have
/// settled and the peer has told us its listen port before we describe the swarm to it.
pub const FIRST_DELAY: Duration = Duration::from_secs(5);

/// When a message is due but nothing changed, how long until we look again. Short, so a change
/// after a quiet minute goes out promptly; the diff is cheap.
pub const IDLE_RECHECK: Duration = Duration::from_secs(5);

/// Most added and, separately, most dropped entries in one message we send (BEP 11). What does
/// not fit is carried over to the next message.
pub const MAX_SENT_ENTRIES: usize = 50;

/// Most added and, separately, most dropped entries (IPv4 and IPv6 together) we accept in one
/// incoming message. BEP 11 says 50, but libtorrent, the most common client, sends up to 100
/// added peers per message; flagging at 50 would flag honest peers.
pub const MAX_RECEIVED_ENTRIES: usize = 100;

/// Length of the window over which incoming messages are counted.
pub const RECEIVE_WINDOW: Duration = Duration::from_secs(60);

/// Most incoming messages accepted within [`RECEIVE_WINDOW`]: one per 20 s on average. A
/// window rather than a minimum gap, because messages that queued up behind a rate-limited
/// socket are read back to back without the peer being at fault.
pub const MAX_RECEIVED_PER_WINDOW: usize = 3;

/// Most addresses remembered per connection to deduplicate the peer's later messages. Beyond
/// it addresses are still reported, only possibly more than once; the torrent's own peer list
/// deduplicates again.
pub const MAX_REMEMBERED: usize = 1000;

/// A peer misusing PEX. The caller decides whether to ignore the message or drop the connection;
/// the message's entries were not used either way.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum PexError {
    /// More than [`MAX_RECEIVED_PER_WINDOW`] messages within [`RECEIVE_WINDOW`].
    #[error("peer sent more than {max} pex messages within {window_secs} s")]
    TooFrequent { max: usize, window_secs: u64 },
    /// A message with more than [`MAX_RECEIVED_ENTRIES`] added or dropped entries.
    #[error("pex message has {added} added and {dropped} dropped entries, more than {max} of either")]
    TooManyEntries { added: usize, dropped: usize, max: usize },
}

/// The PEX state of one connection.
///
/// Private torrents (BEP 27, `private=1` in the info dictionary) must never use PEX: the caller
/// must neither create a `PexState` for them nor advertise `ut_pex` in their extension handshake.
/// The caller also drives this only for peers that advertised `ut_pex`.
///
/// Sans-IO: time comes in as `now`. The caller asks [`PexState::poll_message`] when
/// [`PexState::poll_timeout`] has passed (calling it earlier is harmless) and hands incoming
/// messages to [`PexState::on_message`].
#[derive(Debug)]
pub struct PexState {
    /// The peer's address (its listen address once known), never reported back to it.
    peer: SocketAddr,
    /// Earliest time the next message may go out.
    next_send: Instant,
    /// What this peer has been told is connected: added and not dropped since.
    sent: BTreeSet<SocketAddr>,
    /// Arrival times of the last accepted incoming messages, oldest first.
    received: VecDeque<Instant>,
    /// Addresses this peer has reported and not dropped since, for deduplication.
    remembered: HashSet<SocketAddr>,
}

impl PexState {
    /// The state of a connection to `peer` that started at `now`. The first message is due
    /// [`FIRST_DELAY`] later.
    pub fn new(now: Instant, peer: SocketAddr) -> PexState {
        PexState {
            peer: canonical(peer),
            next_send: later(now, FIRST_DELAY),
            sent: BTreeSet::new(),
            received: VecDeque::with_capacity(MAX_RECEIVED_PER_WINDOW),
            remembered: HashSet::new(),
        }
    }

    /// The peer's address as this state knows it.
    pub fn peer_addr(&self) -> SocketAddr {
        self.peer
    }

    /// Updates the peer's address, e.g. to its listen address once the extension handshake of
    /// an incoming connection told us its port. If the new address was already sent to the
    /// peer, the next message reports it dropped.
    pub fn set_peer_addr(&mut self, addr: SocketAddr) {
        self.peer = canonical(addr);
    }

    /// When [`PexState::poll_message`] should next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        Some(self.next_send)
    }

    /// The message to send now, if one is due and something changed.
    ///
    /// `connected` is the torrent's current set of connected peers, by the listen addresses we
    /// know for them (for a peer that connected to us, the port from its extension handshake),
    /// with their flags. This peer itself, unspecified addresses and port 0 are left out. The
    /// message adds what the peer has not been told and drops what it was told but is no longer
    /// connected, at most [`MAX_SENT_ENTRIES`] of each in the order of `connected` (dropped ones
    /// in address order); the rest waits for the next message. The first message therefore
    /// carries the connected set. A message goes out at most every [`MIN_INTERVAL`].
    pub fn poll_message(&mut self, now: Instant, connected: &[(SocketAddr, PexFlags)]) -> Option<PexMessage> {
        if now < self.next_send {
            return None;
        }
        let mut current = HashSet::with_capacity(connected.len());
        let mut added = Vec::new();
        for &(addr, flags) in connected {
            let addr = canonical(addr);
            if addr == self.peer || !is_connectable(addr) || !current.insert(addr) {
                continue;
            }
            if added.len() < MAX_SENT_ENTRIES && !self.sent.contains(&addr) {
                added.push((addr, flags));
            }
        }
        let dropped: Vec<SocketAddr> =
            self.sent.iter().filter(|a| !current.contains(a)).take(MAX_SENT_ENTRIES).copied().collect();
        if added.is_empty() && dropped.is_empty() {
            self.next_send = later(now, IDLE_RECHECK);
            return None;
        }
        self.next_send = later(now, MIN_INTERVAL);
        let mut msg = PexMessage::default();
        for (addr, flags) in added {
            self.sent.insert(addr);
            match addr {
                SocketAddr::V4(a) => msg.added.push((a, flags)),
                SocketAddr::V6(a) => msg.added6.push((a, flags)),
            }
        }
        for addr in dropped {
            self.sent.remove(&addr);
            match addr {
                SocketAddr::V4(a) => msg.dropped.push(a),
                SocketAddr::V6(a) => msg.dropped6.push(a),
            }
        }
        Some(msg)
    }

    /// Takes in a message from the peer and returns the addresses (with their flags) it reported
    /// that are new: not reported before by this peer (unless dropped since), not repeated within
    /// the message, not the peer itself, not unspecified, multicast or port 0, and not a
    /// loopback or private address unless the peer itself is on one (a remote peer has no
    /// business pointing us into our own network).
    ///
    /// # Errors
    /// The peer sends too often or too many entries; the message is then not used.
    pub fn on_message(
        &mut self,
        now: Instant,
        msg: &PexMessage,
    ) -> Result<Vec<(SocketAddr, PexFlags)>, PexError> {
        let added = msg.added.len().saturating_add(msg.added6.len());
        let dropped = msg.dropped.len().saturating_add(msg.dropped6.len());
        if added > MAX_RECEIVED_ENTRIES || dropped > MAX_RECEIVED_ENTRIES {
            return Err(PexError::TooManyEntries { added, dropped, max: MAX_RECEIVED_ENTRIES });
        }
        while self.received.front().is_some_and(|&t| now.saturating_duration_since(t) >= RECEIVE_WINDOW) {
            self.received.pop_front();
        }
        if self.received.len() >= MAX_RECEIVED_PER_WINDOW {
            return Err(PexError::TooFrequent {
                max: MAX_RECEIVED_PER_WINDOW,
                window_secs: RECEIVE_WINDOW.as_secs(),
            });
        }
        self.received.push_back(now);

        let v4_dropped = msg.dropped.iter().copied().map(SocketAddr::V4);
        let v6_dropped = msg.dropped6.iter().copied().map(SocketAddr::V6);
        for addr in v4_dropped.chain(v6_dropped) {
            self.remembered.remove(&canonical(addr));
        }
        let v4_added = msg.added.iter().map(|&(a, f)| (SocketAddr::V4(a), f));
        let v6_added = msg.added6.iter().map(|&(a, f)| (SocketAddr::V6(a), f));
        let peer_is_local = is_local(self.peer.ip());
        let mut seen = HashSet::with_capacity(added);
        let mut fresh = Vec::new();
        for (addr, flags) in v4_added.chain(v6_added) {
            let addr = canonical(addr);
            if addr == self.peer
                || !is_connectable(addr)
                || (is_local(addr.ip()) && !peer_is_local)
                || !seen.insert(addr)
                || self.remembered.contains(&addr)
            {
                continue;
            }
            if self.remembered.len() < MAX_REMEMBERED {
                self.remembered.insert(addr);
            }
            fresh.push((addr, flags));
        }
        Ok(fresh)
    }
}

/// `now + d`, saturating instead of panicking at the far end of the clock.
fn later(now: Instant, d: Duration) -> Instant {
    now.checked_add(d).unwrap_or(now)
}

/// IPv4-mapped IPv6 addresses as IPv4, so one peer has one spelling and goes in the IPv4 lists.
fn canonical(addr: SocketAddr) -> SocketAddr {
    match addr {
        SocketAddr::V6(a) => match a.ip().to_ipv4_mapped() {
            Some(ip) => SocketAddr::V4(SocketAddrV4::new(ip, a.port())),
            None => SocketAddr::V6(SocketAddrV6::new(*a.ip(), a.port(), 0, 0)),
        },
        v4 => v4,
    }
}

/// Whether anyone could open a connection to `addr` at all.
fn is_connectable(addr: SocketAddr) -> bool {
    let ip = addr.ip();
    let broadcast = matches!(ip, IpAddr::V4(v4) if v4 == Ipv4Addr::BROADCAST);
    addr.port() != 0 && !ip.is_unspecified() && !ip.is_multicast() && !broadcast
}

/// Loopback, private (RFC 1918, unique local) and link-local addresses.
fn is_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback() || v4.is_private() || v4.is_link_local(),
        IpAddr::V6(v6) => v6.is_loopback() || is_unique_local(v6) || is_unicast_link_local(v6),
    }
}

/// fc00::/7 (`Ipv6Addr::is_unique_local` needs a newer Rust than the workspace minimum).
fn is_unique_local(ip: Ipv6Addr) -> bool {
    ip.segments()[0] & 0xfe00 == 0xfc00
}

/// fe80::/10.
fn is_unicast_link_local(ip: Ipv6Addr) -> bool {
    ip.segments()[0] & 0xffc0 == 0xfe80
}

#[cfg(test)]
mod tests {
    use super::*;

    const PEER: &str = "203.0.113.9:6881";

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    /// Public-looking IPv4 peers 198.51.100.x:(1000 + i).
    fn public(i: u16) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::new(198, 51, 100, (i % 250) as u8), 1000 + i))
    }

    fn with_flags(addrs: &[SocketAddr]) -> Vec<(SocketAddr, PexFlags)> {
        addrs.iter().map(|&a| (a, PexFlags::NONE)).collect()
    }

    fn added(m: &PexMessage) -> Vec<SocketAddr> {
        let v4 = m.added.iter().map(|&(a, _)| SocketAddr::V4(a));
        v4.chain(m.added6.iter().map(|&(a, _)| SocketAddr::V6(a))).collect()
    }

    fn dropped(m: &PexMessage) -> Vec<SocketAddr> {
        let v4 = m.dropped.iter().map(|&a| SocketAddr::V4(a));
        v4.chain(m.dropped6.iter().map(|&a| SocketAddr::V6(a))).collect()
    }

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn first_message_after_the_handshake_settles() {
        let t0 = Instant::now();
        let mut pex = PexState::new(t0, addr(PEER));
        let connected = [
            (public(1), PexFlags::SEED),
            (addr("[2001:db8::1]:51413"), PexFlags::UTP),
            (addr("[::ffff:198.51.100.7]:7000"), PexFlags::NONE),
        ];
        assert_eq!(pex.poll_timeout(), Some(t0 + FIRST_DELAY));
        assert_eq!(pex.poll_message(t0 + secs(4), &connected), None);
        let m = pex.poll_message(t0 + FIRST_DELAY, &connected).unwrap();
        let SocketAddr::V4(p1) = public(1) else { unreachable!() };
        assert_eq!(
            m.added,
            vec![(p1, PexFlags::SEED), ("198.51.100.7:7000".parse().unwrap(), PexFlags::NONE)]
        );
        assert_eq!(m.added6, vec![("[2001:db8::1]:51413".parse().unwrap(), PexFlags::UTP)]);
        assert!(m.dropped.is_empty() && m.dropped6.is_empty());
        assert_eq!(pex.poll_timeout(), Some(t0 + FIRST_DELAY + MIN_INTERVAL));
    }

    #[test]
    fn first_message_carries_at_most_fifty() {
        let t0 = Instant::now();
        let mut pex = PexState::new(t0, addr(PEER));
        let all: Vec<SocketAddr> = (0..120).map(public).collect();
        let m = pex.poll_message(t0 + secs(5), &with_flags(&all)).unwrap();
        assert_eq!(added(&m), all[..50].to_vec());
        // The overflow goes out a minute later, then the rest.
        let t1 = t0 + secs(5) + MIN_INTERVAL;
        assert_eq!(pex.poll_message(t1 - secs(1), &with_flags(&all)), None);
        let m = pex.poll_message(t1, &with_flags(&all)).unwrap();
        assert_eq!(added(&m), all[50..100].to_vec());
        let m = pex.poll_message(t1 + MIN_INTERVAL, &with_flags(&all)).unwrap();
        assert_eq!(added(&m), all[100..].to_vec());
        assert_eq!(pex.poll_message(t1 + MIN_INTERVAL * 2, &with_flags(&all)), None);
    }

    #[test]
    fn once_per_minute_with_a_virtual_clock() {
        let t0 = Instant::now();
        let mut pex = PexState::new(t0, addr(PEER));
        let mut connected = vec![public(1)];
        let mut sent_at = Vec::new();
        // Every second for ten minutes, the set changes.
        for s in 0..600u16 {
            connected.push(public(100 + s));
            let now = t0 + secs(u64::from(s));
            if pex.poll_message(now, &with_flags(&connected)).is_some() {
                sent_at.push(s);
            }
        }
        assert_eq!(sent_at, (0..10).map(|i| 5 + 60 * i).collect::<Vec<_>>());
    }

    #[test]
    fn nothing_changed_means_no_message_and_a_quick_recheck() {
        let t0 = Instant::now();
        let mut pex = PexState::new(t0, addr(PEER));
        // No other peers: nothing to say, look again shortly.
        assert_eq!(pex.poll_message(t0 + secs(5), &[]), None);
        assert_eq!(pex.poll_timeout(), Some(t0 + secs(5) + IDLE_RECHECK));
        let connected = with_flags(&[public(1)]);
        assert!(pex.poll_message(t0 + secs(10), &connected).is_some());
        let t1 = t0 + secs(10) + MIN_INTERVAL;
        assert_eq!(pex.poll_message(t1, &connected), None);
        assert_eq!(pex.poll_timeout(), Some(t1 + IDLE_RECHECK));
        // A change after a quiet minute goes out at the next recheck.
        let m = pex.poll_message(t1 + IDLE_RECHECK, &[]).unwrap();
        assert_eq!(dropped(&m), vec![public(1)]);
    }

    #[test]
    fn diff_adds_and_drops_with_limits_and_carry_over() {
        let t0 = Instant::now();
        let mut pex = PexState::new(t0, addr(PEER));
        let first: Vec<SocketAddr> = (0..50).map(public).collect();
        let m = pex.poll_message(t0 + secs(5), &with_flags(&first)).unwrap();
        assert_eq!(added(&m).len(), 50);
        let t1 = t0 + secs(5) + MIN_INTERVAL;
        let m = pex.poll_message(t1, &with_flags(&first[..48])).unwrap();
        assert_eq!(added(&m), vec![]);
        let mut gone = dropped(&m);
        gone.sort();
        assert_eq!(gone, vec![public(48), public(49)]);

        // All 48 leave and 70 new arrive: 50 of each now, the rest next time.
        let second: Vec<SocketAddr> = (200..270).map(public).collect();
        let v6 = addr("[2001:db8::5]:6000");
        let mut connected = second.clone();
        connected.push(v6);
        let t2 = t1 + MIN_INTERVAL;
        let m = pex.poll_message(t2, &with_flags(&connected)).unwrap();
        assert_eq!(added(&m), second[..50].to_vec());
        assert_eq!(dropped(&m).len(), 50 - 2);
        let m = pex.poll_message(t2 + MIN_INTERVAL, &with_flags(&connected)).unwrap();
        let mut rest = second[50..].to_vec();
        rest.push(v6);
        assert_eq!(added(&m), rest);
        assert_eq!(dropped(&m), vec![]);
        assert_eq!(pex.poll_message(t2 + MIN_INTERVAL * 2, &with_flags(&connected)), None);
    }

    #[test]
    fn dropped_overflow_is_carried() {
        let t0 = Instant::now();
        let mut pex = PexState::new(t0, addr(PEER));
        let all: Vec<SocketAddr> = (0..100).map(public).collect();
        pex.poll_message(t0 + secs(5), &with_flags(&all)).unwrap();
        pex.poll_message(t0 + secs(65), &with_flags(&all)).unwrap();
        let m = pex.poll_message(t0 + secs(125), &[]).unwrap();
        assert_eq!(dropped(&m).len(), 50);
        let m = pex.poll_message(t0 + secs(185), &[]).unwrap();
        assert_eq!(dropped(&m).len(), 50);
        assert_eq!(pex.poll_message(t0 + secs(245), &[]), None);
    }

    #[test]
    fn excludes_the_peer_itself_and_bad_addresses() {
        let t0 = Instant::now();
        let mut pex = PexState::new(t0, addr("[::ffff:203.0.113.9]:6881"));
        assert_eq!(pex.peer_addr(), addr(PEER));
        let connected = with_flags(&[
            addr(PEER),
            addr("0.0.0.0:6881"),
            addr("198.51.100.1:0"),
            addr("224.0.0.1:6881"),
            addr("255.255.255.255:6881"),
            addr("[::]:6881"),
            public(1),
            public(1),
        ]);
        let m = pex.poll_message(t0 + secs(5), &connected).unwrap();
        assert_eq!(added(&m), vec![public(1)]);

        // Learning the peer's listen address later: if we had already told it about that
        // address, it is dropped (and the old address, now another peer's, is added).
        pex.set_peer_addr(public(1));
        let m = pex.poll_message(t0 + secs(65), &connected).unwrap();
        assert_eq!(dropped(&m), vec![public(1)]);
        assert_eq!(added(&m), vec![addr(PEER)]);
    }

    fn msg(added: &[SocketAddr], dropped: &[SocketAddr]) -> PexMessage {
        let mut m = PexMessage::default();
        for &a in added {
            match a {
                SocketAddr::V4(a) => m.added.push((a, PexFlags::SEED)),
                SocketAddr::V6(a) => m.added6.push((a, PexFlags::NONE)),
            }
        }
        for &a in dropped {
            match a {
                SocketAddr::V4(a) => m.dropped.push(a),
                SocketAddr::V6(a) => m.dropped6.push(a),
            }
        }
        m
    }

    fn addrs(v: Vec<(SocketAddr, PexFlags)>) -> Vec<SocketAddr> {
        v.into_iter().map(|(a, _)| a).collect()
    }

    #[test]
    fn incoming_is_deduplicated_and_filtered() {
        let t0 = Instant::now();
        let mut pex = PexState::new(t0, addr(PEER));
        let v6 = addr("[2001:db8::1]:51413");
        let m = msg(
            &[
                public(1),
                public(1),
                addr(PEER),
                addr("0.0.0.0:1"),
                addr("198.51.100.2:0"),
                addr("192.168.1.5:6881"),
                addr("127.0.0.1:6881"),
                addr("[fe80::1]:6881"),
                addr("[fd00::1]:6881"),
                v6,
            ],
            &[],
        );
        let fresh = pex.on_message(t0, &m).unwrap();
        assert_eq!(fresh, vec![(public(1), PexFlags::SEED), (v6, PexFlags::NONE)]);

        // Reported again: nothing new, apart from what was dropped in between.
        let fresh = pex.on_message(t0 + secs(60), &msg(&[public(1), public(2), v6], &[])).unwrap();
        assert_eq!(addrs(fresh), vec![public(2)]);
        let fresh = pex.on_message(t0 + secs(120), &msg(&[], &[public(1)])).unwrap();
        assert_eq!(fresh, vec![]);
        let fresh = pex.on_message(t0 + secs(180), &msg(&[public(1), public(2)], &[])).unwrap();
        assert_eq!(addrs(fresh), vec![public(1)]);
    }

    #[test]
    fn local_candidates_only_from_local_peers() {
        let t0 = Instant::now();
        let mut pex = PexState::new(t0, addr("127.0.0.1:7000"));
        let m = msg(&[addr("127.0.0.1:7001"), addr("10.0.0.2:6881"), addr("127.0.0.1:7000")], &[]);
        assert_eq!(
            addrs(pex.on_message(t0, &m).unwrap()),
            vec![addr("127.0.0.1:7001"), addr("10.0.0.2:6881")]
        );
    }

    #[test]
    fn flags_peers_that_send_too_often() {
        let t0 = Instant::now();
        let mut pex = PexState::new(t0, addr(PEER));
        let too_frequent = Err(PexError::TooFrequent { max: 3, window_secs: 60 });
        // A burst of three (e.g. read back to back after a stall) is fine, a fourth is not.
        for i in 0..3u16 {
            assert!(pex.on_message(t0 + secs(1), &msg(&[public(i)], &[])).is_ok());
        }
        assert_eq!(pex.on_message(t0 + secs(2), &msg(&[public(9)], &[])), too_frequent);
        // The flagged message was not used, nor counted: once the window moves on, it is accepted.
        assert_eq!(pex.on_message(t0 + secs(60), &msg(&[public(9)], &[])), too_frequent);
        assert_eq!(pex.on_message(t0 + secs(61), &msg(&[public(9)], &[])).map(addrs), Ok(vec![public(9)]));
        assert!(pex.on_message(t0 + secs(62), &msg(&[], &[])).is_ok());
        assert!(pex.on_message(t0 + secs(63), &msg(&[], &[])).is_ok());
        assert_eq!(pex.on_message(t0 + secs(64), &msg(&[], &[])), too_frequent);
        // A well-behaved peer at one a minute is never flagged.
        let mut pex = PexState::new(t0, addr(PEER));
        for i in 0..20u16 {
            let now = t0 + secs(3) + MIN_INTERVAL * u32::from(i);
            assert!(pex.on_message(now, &msg(&[public(i)], &[])).is_ok());
        }
    }

    #[test]
    fn flags_oversized_messages() {
        let t0 = Instant::now();
        let mut pex = PexState::new(t0, addr(PEER));
        let hundred: Vec<SocketAddr> = (0..100).map(public).collect();
        let many: Vec<SocketAddr> = (0..101).map(public).collect();
        assert_eq!(
            pex.on_message(t0, &msg(&many, &[])),
            Err(PexError::TooManyEntries { added: 101, dropped: 0, max: MAX_RECEIVED_ENTRIES })
        );
        assert_eq!(
            pex.on_message(t0, &msg(&[], &many)),
            Err(PexError::TooManyEntries { added: 0, dropped: 101, max: MAX_RECEIVED_ENTRIES })
        );
        // libtorrent's 100 added (and 100 dropped) is accepted.
        assert_eq!(pex.on_message(t0, &msg(&hundred, &hundred)).map(|v| v.len()), Ok(100));
    }

    #[test]
    fn remembered_addresses_are_bounded() {
        let t0 = Instant::now();
        let mut pex = PexState::new(t0, addr(PEER));
        let mut total = 0;
        for round in 0..30u32 {
            let batch: Vec<SocketAddr> = (0..100u32)
                .map(|i| SocketAddr::from((Ipv4Addr::from(0x0800_0000 + round * 100 + i), 6881)))
                .collect();
            total += pex.on_message(t0 + MIN_INTERVAL * round, &msg(&batch, &[])).unwrap().len();
        }
        assert_eq!(total, 3000);
        assert_eq!(pex.remembered.len(), MAX_REMEMBERED);
    }

    #[test]
    fn error_messages_are_lower_case() {
        let e = PexError::TooManyEntries { added: 101, dropped: 0, max: 100 };
        assert_eq!(e.to_string(), "pex message has 101 added and 0 dropped entries, more than 100 of either");
        let e = PexError::TooFrequent { max: 3, window_secs: 60 };
        assert_eq!(e.to_string(), "peer sent more than 3 pex messages within 60 s");
    }
}
