//! The connection candidates of one torrent: addresses learnt from the user, trackers, the DHT
//! and peer exchange, when each may be dialled again (back-off after failures), and the IPs
//! banned for corrupt data. The engine asks [`CandidateList::poll_dial`] whom to dial and tells
//! the list how each attempt and connection ended; it checks [`CandidateList::is_banned`] before
//! completing any handshake, incoming or outgoing. Bans live here and nowhere else.
//!
//! Invariants: at most `max_candidates` addresses are remembered; an address is handed out by
//! `poll_dial` only while it is idle, its back-off has passed, its IP is not banned and it is not
//! one of our own addresses; a banned IP is never handed out again.

mod evict;
mod ssrf;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

pub use evict::{choose_eviction, choose_excess, ConnActivity, EvictionOptions};
pub use ssrf::refused_by_ssrf_mitigation;

/// Where a candidate address came from. Only addresses the user gave are exempt from the SSRF
/// mitigation: everything else is named by a remote party.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    User,
    Tracker,
    Dht,
    Pex,
}

/// Settings of a [`CandidateList`].
#[derive(Clone, Copy, Debug)]
pub struct CandidateOptions {
    /// Addresses remembered at most (`max_peer_candidates`).
    pub max_candidates: usize,
    /// Refuse addresses of local services named by remote parties (see [`refused_by_ssrf_mitigation`]).
    pub ssrf_mitigation: bool,
}

/// Back-off after failed connection attempts: 5 s doubled per failure, at most 10 minutes.
pub fn backoff(failures: u32) -> Duration {
    Duration::from_secs(5u64 << failures.min(7)).min(Duration::from_secs(600))
}

/// Failures after which a disconnected candidate may be forgotten to make room for a new one.
const FORGETTABLE_FAILURES: u32 = 3;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Not connected; may be dialled from `next_try` on.
    Idle,
    /// Handed out by `poll_dial` or connected; not dialled again until it ends.
    Busy,
}

#[derive(Clone, Copy, Debug)]
struct Candidate {
    failures: u32,
    next_try: Instant,
    state: State,
}

/// Why an address was not added.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// Port 0 or an unspecified address.
    Invalid,
    Banned,
    /// One of our own listen addresses.
    Ourselves,
    /// A local service named by a remote party (`ssrf_mitigation`).
    Ssrf,
    /// The list is full of candidates that may still work.
    Full,
}

/// The candidate list of one torrent. See the module docs.
#[derive(Debug)]
pub struct CandidateList {
    options: CandidateOptions,
    /// Ordered so that dialling order is deterministic (tests, simulation).
    known: BTreeMap<SocketAddr, Candidate>,
    banned: HashSet<IpAddr>,
    ourselves: HashSet<SocketAddr>,
}

impl CandidateList {
    pub fn new(options: CandidateOptions) -> CandidateList {
        CandidateList { options, known: BTreeMap::new(), banned: HashSet::new(), ourselves: HashSet::new() }
    }

    /// Adds addresses from `source`; returns how many were new. When the list is full, a new
    /// address replaces an idle candidate that failed [`FORGETTABLE_FAILURES`] times, or is dropped.
    pub fn handle_discovered(
        &mut self,
        now: Instant,
        source: Source,
        addrs: impl IntoIterator<Item = SocketAddr>,
    ) -> usize {
        addrs.into_iter().filter(|&addr| self.add(now, source, addr).is_ok()).count()
    }

    /// Adds one address (see [`CandidateList::handle_discovered`]); `Ok(false)` when it was known.
    pub fn add(&mut self, now: Instant, source: Source, addr: SocketAddr) -> Result<bool, Refused> {
        if addr.port() == 0 || addr.ip().is_unspecified() {
            return Err(Refused::Invalid);
        }
        if self.banned.contains(&addr.ip()) {
            return Err(Refused::Banned);
        }
        if self.ourselves.contains(&addr) {
            return Err(Refused::Ourselves);
        }
        if self.options.ssrf_mitigation && source != Source::User && refused_by_ssrf_mitigation(addr) {
            return Err(Refused::Ssrf);
        }
        if self.known.contains_key(&addr) {
            return Ok(false);
        }
        if self.known.len() >= self.options.max_candidates {
            let stale = self
                .known
                .iter()
                .find(|(_, c)| c.state == State::Idle && c.failures >= FORGETTABLE_FAILURES)
                .map(|(a, _)| *a);
            match stale {
                Some(old) => self.known.remove(&old),
                None => return Err(Refused::Full),
            };
        }
        self.known.insert(addr, Candidate { failures: 0, next_try: now, state: State::Idle });
        Ok(true)
    }

    /// The next address to dial, if one is due; it is marked busy until
    /// [`CandidateList::handle_ended`] (or [`CandidateList::handle_ourselves`]).
    pub fn poll_dial(&mut self, now: Instant) -> Option<SocketAddr> {
        let banned = &self.banned;
        let (addr, c) = self
            .known
            .iter_mut()
            .find(|(a, c)| c.state == State::Idle && c.next_try <= now && !banned.contains(&a.ip()))?;
        c.state = State::Busy;
        Some(*addr)
    }

    /// Whether a candidate is due for dialling (and so waits for a free connection slot).
    pub fn has_due(&self, now: Instant) -> bool {
        self.known
            .iter()
            .any(|(a, c)| c.state == State::Idle && c.next_try <= now && !self.banned.contains(&a.ip()))
    }

    /// A dial attempt or a connection we made ended. Closed connections back off like failed
    /// attempts: a peer that drops us right away must not be redialled in a tight loop.
    pub fn handle_ended(&mut self, now: Instant, addr: SocketAddr) {
        if let Some(c) = self.known.get_mut(&addr) {
            c.state = State::Idle;
            c.failures = c.failures.saturating_add(1);
            c.next_try = now + backoff(c.failures);
        }
    }

    /// The address turned out to be our own (trackers and PEX list us too): never dialled again.
    pub fn handle_ourselves(&mut self, addr: SocketAddr) {
        self.known.remove(&addr);
        self.ourselves.insert(addr);
    }

    /// Every idle candidate becomes due now (the torrent was resumed).
    pub fn retry_all(&mut self, now: Instant) {
        for c in self.known.values_mut() {
            c.next_try = now;
        }
    }

    /// Bans `ip` for sending corrupt data; returns false if it was already banned. Its
    /// candidates are forgotten.
    pub fn ban(&mut self, ip: IpAddr) -> bool {
        self.known.retain(|a, _| a.ip() != ip);
        self.banned.insert(ip)
    }

    /// Whether connections from or to `ip` must be refused (checked before any handshake completes).
    pub fn is_banned(&self, ip: IpAddr) -> bool {
        self.banned.contains(&ip)
    }

    pub fn banned_count(&self) -> usize {
        self.banned.len()
    }

    pub fn len(&self) -> usize {
        self.known.len()
    }

    pub fn is_empty(&self) -> bool {
        self.known.is_empty()
    }

    /// When the next idle candidate becomes due (None: nothing to wait for).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.known
            .iter()
            .filter(|(a, c)| c.state == State::Idle && !self.banned.contains(&a.ip()))
            .map(|(_, c)| c.next_try)
            .min()
    }

    /// Every remembered address (e.g. to hand over after the metadata phase).
    pub fn addresses(&self) -> impl Iterator<Item = SocketAddr> + '_ {
        self.known.keys().copied()
    }
}
