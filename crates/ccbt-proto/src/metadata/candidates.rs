//! The peers the metadata phase may dial: bounded, with back-off, eviction of dead addresses,
//! a cap per address and bans for proven liars. The rules shared with the download phase's
//! [`CandidateList`](crate::candidates::CandidateList) (the back-off schedule and the SSRF
//! mitigation for addresses named by remote parties) are taken from it, not restated.
//!
//! Invariants: `entries.len() <= MAX_CANDIDATES`; `per_ip[ip]` is the number of entries with
//! that address (no zero counts kept) and at most [`MAX_CANDIDATES_PER_IP`]; no entry has a
//! banned address; `live[ip]` counts entries of `ip` that are connected.

use std::collections::{BTreeSet, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use crate::candidates::{backoff, refused_by_ssrf_mitigation, Source};

/// Most addresses remembered.
pub const MAX_CANDIDATES: usize = 500;
/// Most ports remembered per address, so that one host listing many ports (through PEX, a
/// tracker or the DHT) cannot fill the list.
pub const MAX_CANDIDATES_PER_IP: usize = 4;
/// Most connections at once to one address.
pub const MAX_CONNECTIONS_PER_IP: usize = 2;
/// Failed connections after which an address is forgotten.
pub const MAX_FAILURES: u32 = 5;

#[derive(Debug)]
struct Candidate {
    failures: u32,
    next_try: Instant,
    connected: bool,
}

/// Candidate peers for the metadata phase.
#[derive(Debug, Default)]
pub struct MetadataCandidates {
    /// Refuse local services named by remote parties (`ssrf_mitigation`).
    ssrf_mitigation: bool,
    entries: HashMap<SocketAddr, Candidate>,
    per_ip: HashMap<IpAddr, usize>,
    live: HashMap<IpAddr, usize>,
    banned: BTreeSet<IpAddr>,
}

impl MetadataCandidates {
    /// An empty list; `ssrf_mitigation` as in [`CandidateList`](crate::candidates::CandidateList).
    pub fn new(ssrf_mitigation: bool) -> MetadataCandidates {
        MetadataCandidates { ssrf_mitigation, ..MetadataCandidates::default() }
    }

    /// Addresses remembered.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no address is remembered.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Every address remembered, for the download phase.
    pub fn addrs(&self) -> impl Iterator<Item = SocketAddr> + '_ {
        self.entries.keys().copied()
    }

    /// Adds `addr`, learnt from `source`, due at once. When the list is full, the idle address
    /// with the most failures makes room; if none has failed, the newcomer is dropped (a fresh
    /// address is no better than another). Returns whether it was added.
    pub fn add(&mut self, now: Instant, source: Source, addr: SocketAddr) -> bool {
        let ip = addr.ip();
        if addr.port() == 0 || ip.is_unspecified() || ip.is_multicast() || self.banned.contains(&ip) {
            return false;
        }
        if self.ssrf_mitigation && source != Source::User && refused_by_ssrf_mitigation(addr) {
            return false;
        }
        if self.entries.contains_key(&addr)
            || self.per_ip.get(&ip).copied().unwrap_or(0) >= MAX_CANDIDATES_PER_IP
        {
            return false;
        }
        if self.entries.len() >= MAX_CANDIDATES && !self.evict_one() {
            return false;
        }
        self.entries.insert(addr, Candidate { failures: 0, next_try: now, connected: false });
        *self.per_ip.entry(ip).or_default() += 1;
        true
    }

    /// Removes the idle address with the most failures, if any has failed.
    fn evict_one(&mut self) -> bool {
        let worst = self
            .entries
            .iter()
            .filter(|(_, c)| !c.connected && c.failures > 0)
            .max_by_key(|(addr, c)| (c.failures, c.next_try, **addr))
            .map(|(addr, _)| *addr);
        match worst {
            Some(addr) => {
                self.remove(addr);
                true
            }
            None => false,
        }
    }

    fn remove(&mut self, addr: SocketAddr) {
        if self.entries.remove(&addr).is_some() {
            decrement(&mut self.per_ip, addr.ip());
        }
    }

    /// The next address to dial: due, not connected, under the per-address connection cap, with
    /// the fewest failures. It is marked connected until [`on_closed`](Self::on_closed).
    pub fn next_dial(&mut self, now: Instant) -> Option<SocketAddr> {
        let live = &self.live;
        let addr = self
            .entries
            .iter()
            .filter(|(addr, c)| {
                !c.connected
                    && c.next_try <= now
                    && live.get(&addr.ip()).copied().unwrap_or(0) < MAX_CONNECTIONS_PER_IP
            })
            .min_by_key(|(addr, c)| (c.failures, c.next_try, **addr))
            .map(|(addr, _)| *addr)?;
        if let Some(c) = self.entries.get_mut(&addr) {
            c.connected = true;
        }
        *self.live.entry(addr.ip()).or_default() += 1;
        Some(addr)
    }

    /// A connection to `addr` ended. One that delivered metadata is good and may be dialled
    /// again soon; otherwise the address backs off, and after [`MAX_FAILURES`] it is forgotten.
    pub fn on_closed(&mut self, now: Instant, addr: SocketAddr, served: bool) {
        let Some(c) = self.entries.get_mut(&addr) else { return };
        if !c.connected {
            return;
        }
        c.connected = false;
        decrement(&mut self.live, addr.ip());
        c.failures = if served { 0 } else { c.failures.saturating_add(1) };
        if c.failures >= MAX_FAILURES {
            self.remove(addr);
            return;
        }
        c.next_try = now.checked_add(backoff(c.failures)).unwrap_or(now);
    }

    /// Forgets every address of `ip` and refuses it from now on (a proven liar). Connected
    /// entries are forgotten too; their [`on_closed`](Self::on_closed) is then a no-op.
    pub fn ban(&mut self, ip: IpAddr) {
        self.banned.insert(ip);
        let addrs: Vec<SocketAddr> = self.entries.keys().filter(|a| a.ip() == ip).copied().collect();
        for addr in addrs {
            self.remove(addr);
        }
        self.live.remove(&ip);
    }

    /// The earliest time after `now` an idle address becomes due. Addresses due already but
    /// held back by a cap become dialable when a connection closes, not with time.
    pub fn poll_timeout(&self, now: Instant) -> Option<Instant> {
        self.entries.values().filter(|c| !c.connected && c.next_try > now).map(|c| c.next_try).min()
    }
}

fn decrement(counts: &mut HashMap<IpAddr, usize>, ip: IpAddr) {
    if let Some(n) = counts.get_mut(&ip) {
        *n = n.saturating_sub(1);
        if *n == 0 {
            counts.remove(&ip);
        }
    }
}
